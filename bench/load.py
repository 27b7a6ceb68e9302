"""Benchmark: a clinic network's load on one deployment, through gunicorn, on a large database.

Run from the repository root, against a PostgreSQL database holding the demo clinic at scale:

    createdb -h 127.0.0.1 -U postgres load
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/load .venv/bin/flask --app wsgi db upgrade
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/load \\
        .venv/bin/flask --app wsgi seed-demo --clients 20000 --weeks 52
    .venv/bin/python bench/load.py --database-url postgresql://postgres@127.0.0.1:5432/load

The database is used as it is (it is not copied): setup adds, through the services, a feed link
for --feeds clients, --coordinators coordinator logins each scoped to one to three sites
(services/sites.set_user_sites, as PUT /api/v1/users/{id}/sites does) and enrolled afresh in
two-step sign-in, as production requires of coordinators (they sign in with a recovery code;
the server gets the bench's MFA_SECRET_KEY), and per program of
those sites one extra Saturday "Family education" session of 500 seats that the booking
requests fill. Run it on a database kept for benchmarking.

gunicorn serves the app with the production configuration (--workers sync workers, one per core
by default). --callers threads (one per worker by default: the server is kept busy without a
queue in front of it), each with its own connection, send a shuffled mix of these requests, the
same number of each, spread over the scoped coordinators' sites so no one row is hot. Each
request is sent as the coordinator whose sites it concerns (their bearer token for the API,
their session cookie for the pages):

  - feed:    GET /feeds/<token>.ics, a repeat poll of one of --feeds clients whose calendar
             the warm-up rendered (200, the whole calendar, from the render cache);
  - feed_new: the first poll of a calendar nobody has fetched since it changed (200, rendered
             from the database: a client's year of sessions);
  - week:    GET /week?program=<id>&week=<this Monday>, the coordinator's calendar page;
  - week_mine: GET /week?week=<this Monday> with the page's default "my sites" view (while the
             page has no such default, /week?program=<one of their programs>: see --week-mine);
  - roster:  PUT /api/v1/sessions/<id>/attendance, every booked client present, on a session
             that began in the last seven days (the clinician's one tap, for the whole room);
  - booking: POST /api/v1/sessions/<id>/bookings, a client not yet booked into the Saturday
             session of their program;
  - report:  GET /api/v1/reports/weekly-hours for one program over the last four weeks;
  - search:  GET /api/v1/clients?q=<a word start or two of a client of their sites>, the
             client list's search;
  - picker:  the same search as the enrol picker asks it: &program_id=&status=active&per_page=20.

GET /healthz is sent as often as each of them and is the baseline: its p50/p95 under the same
load, so the ratios say what our work costs over the stack's own. Every answer is checked
(status, and the feed's calendar body); a wrong one fails the run.

Targets (p95 under this load): feed, booking, roster, search and picker under 50 ms; week views
and report under 200 ms. Then the SQL each kind runs (captured in-process with the Flask test
client, as the same coordinator) is EXPLAINed on the same database, and any sequential scan of
a large table is listed (--show-plans prints every plan; --explain-only skips the mix).

Bounded: at most --max-seconds for the mix; gunicorn is stopped at the end.
"""

import argparse
import http.client
import inspect
import json
import os
import random
import re
import secrets
import statistics
import sys
import tempfile
import threading
import time as timer
from datetime import datetime, time, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pyotp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from sqlalchemy import event, func, select, text  # noqa: E402

from bench.support import (  # noqa: E402
    database_url_argument,
    describe,
    gunicorn,
    percentile,
    process_tree_cpu,
    tail,
)
from scheduler import clock, create_app  # noqa: E402
from scheduler.demo_clinic import DEMO_PASSWORD, DEMO_TZ  # noqa: E402
from scheduler.extensions import db  # noqa: E402
from scheduler.feeds import tokens as feed_tokens  # noqa: E402
from scheduler.models import Booking, Client, Program, Session, Site, User  # noqa: E402
from scheduler.services import accounts, mfa, sessions  # noqa: E402
from scheduler.services import sites as site_service  # noqa: E402
from scheduler.services.audit import Actor  # noqa: E402
from scheduler.web.calendar import week as week_page  # noqa: E402

KINDS = ("feed", "feed_new", "week", "week_mine", "roster", "booking", "report", "search",
         "picker", "healthz")
TARGETS_MS = {"feed": 50.0, "feed_new": 50.0, "booking": 50.0, "roster": 50.0, "week": 200.0,
              "week_mine": 200.0, "report": 200.0, "search": 50.0, "picker": 50.0}
# The enrol picker's page size (static/js/picker.js's SHOWN).
PICKER_SHOWN = 20
COORDINATOR_EMAIL = "load-coordinator-{}@bench.load"
WARM_POLLS = 6
# Tables past this many rows must be read through an index on a hot path.
LARGE_TABLE_ROWS = 10_000
REQUEST_TIMEOUT = 30
ACTOR = Actor.system("bench-load")


# --- setup: who sends what ---------------------------------------------------------------------


def _enrol(s, user: User, settings: mfa.MfaSettings, now: datetime) -> list[str]:
    """Two-step sign-in for the login, afresh (production requires it of coordinators); its
    recovery codes, which the bench signs in with."""
    if mfa.enrolment(s, user) is not None:
        mfa.reset(s, ACTOR, user.id, now)
    pending = mfa.begin(s, ACTOR, user, settings, now)
    code = pyotp.TOTP(pending.secret, digits=mfa.DIGITS, interval=mfa.STEP_SECONDS).at(now)
    codes = mfa.confirm(s, ACTOR, user, code, settings, now)
    assert codes, "the bench's own code was refused"
    return codes


def _coordinators(s, n: int, rng: random.Random, settings: mfa.MfaSettings, now: datetime
                  ) -> list[tuple[User, list[int], list[str]]]:
    """`n` coordinator logins (made once, kept), each scoped to its own one to three sites and
    enrolled in two-step sign-in; with their sites and recovery codes."""
    sites = s.scalars(select(Site.id).order_by(Site.id)).all()
    rng.shuffle(sites)
    chosen = []
    for i in range(n):
        email = COORDINATOR_EMAIL.format(i + 1)
        user = s.scalar(select(User).where(User.email == email))
        if user is None:
            user = accounts.create_user(s, ACTOR, email=email, role="coordinator",
                                        password=DEMO_PASSWORD)
        mine = [sites.pop() for _ in range(min(rng.randint(1, 3), len(sites)))]
        if not mine:
            break
        site_service.set_user_sites(s, ACTOR, user, mine)
        chosen.append((user, mine, _enrol(s, user, settings, now)))
    return chosen


def _search_term(name: str, rng: random.Random) -> str:
    """What a coordinator types to find this client: a word start, sometimes two."""
    words = [w for w in name.replace("-", " ").split() if w[:1].isalpha()]
    picked = rng.sample(words, min(len(words), rng.choice((1, 1, 2))))
    return " ".join(w[:rng.randint(2, 4)] for w in picked)


def _week_mine_uses_default(mode: str) -> bool:
    """Whether "week of my sites" asks for the page's default view or one of their programs."""
    if mode != "auto":
        return mode == "default"
    source = inspect.getsource(week_page)
    return "site_choice" in source or "my_site_ids" in source


def _booking_requests(s, now, tz, monday, programs, clients, per_kind, rng):
    """One big Saturday session per program (nothing else meets then: no clashes), and
    (program, session, client) for clients not yet booked into it."""
    saturday = {}
    day = monday + timedelta(days=5)
    if datetime.combine(day, time(10), tzinfo=tz) <= now:
        day += timedelta(days=7)
    for program_id in programs:
        existing = s.scalar(select(Session.id).where(
            Session.program_id == program_id, Session.title == "Family education (bench)",
            Session.starts_at == datetime.combine(day, time(10), tzinfo=tz)))
        if existing is None:
            made = sessions.create_one_off(
                s, ACTOR, now=now, program_id=program_id, kind="education",
                title="Family education (bench)",
                starts_at=datetime.combine(day, time(10), tzinfo=tz),
                ends_at=datetime.combine(day, time(11), tzinfo=tz), capacity=500)
            existing = made.id
        saturday[program_id] = existing
    s.commit()
    booked = set(s.execute(select(Booking.session_id, Booking.client_id).where(
        Booking.session_id.in_(list(saturday.values())))).tuples())
    by_program: dict[int, list[int]] = {}
    for client_id, program_id, _ in clients:
        if (saturday[program_id], client_id) not in booked:
            by_program.setdefault(program_id, []).append(client_id)
    bookings: list[tuple[int, int, int]] = []
    while len(bookings) < per_kind and by_program:
        program_id = rng.choice(list(by_program))
        bookings.append((program_id, saturday[program_id], by_program[program_id].pop()))
        if not by_program[program_id]:
            del by_program[program_id]
    return bookings


def _roster_requests(s, now, programs, per_kind, rng):
    """Sessions that began in the last seven days and have clients booked: (id, program,
    clients). (Early on a Monday nothing of this week has begun yet.)"""
    started = s.execute(
        select(Session.id, Session.program_id, func.array_agg(Booking.client_id))
        .join(Booking, Booking.session_id == Session.id)
        .where(Session.starts_at >= now - timedelta(days=7),
               Session.starts_at < now, Session.status == "scheduled",
               Session.program_id.in_(programs), Booking.status == "booked")
        .group_by(Session.id)).all()
    if not started:
        raise SystemExit("No session of these sites began in the last seven days.")
    rosters = [started[i] for i in rng.sample(range(len(started)), min(per_kind, len(started)))]
    while len(rosters) < per_kind:
        rosters.append(rng.choice(started))
    return rosters


def prepare(url: str, n_feeds: int, per_kind: int, n_coordinators: int, week_mine: str,
            mfa_key: str, rng: random.Random) -> dict:
    """Scoped coordinators, feed links, the Saturday sessions, tokens and the request lists,
    spread over the coordinators' sites."""
    app = create_app({"CONFIG_NAME": "testing", "SQLALCHEMY_DATABASE_URI": url,
                      "MFA_SECRET_KEY": mfa_key})
    with app.app_context():
        s = db.session
        if not s.scalar(select(func.count(Client.id))):
            raise SystemExit("The database holds no clients: run `flask seed-demo` on it first.")
        tz = ZoneInfo(DEMO_TZ)
        now = clock.now()
        monday = now.astimezone(tz).date() - timedelta(days=now.astimezone(tz).weekday())
        counts = {name: s.scalar(text(f"SELECT count(*) FROM {name}"))
                  for name in ("sites", "programs", "clients", "session_series", "sessions",
                               "bookings")}

        coordinators = _coordinators(s, n_coordinators, rng,
                                     mfa.MfaSettings.from_config(app.config), now)
        s.commit()
        # Who sends what: each program, and so each client and session, has its coordinator.
        owner_of_site = {site: i for i, (_, mine, _) in enumerate(coordinators)
                         for site in mine}
        owner = {program_id: owner_of_site[site_id] for program_id, site_id in s.execute(
            select(Program.id, Program.site_id).where(Program.site_id.in_(owner_of_site)))}
        programs = sorted(owner)
        mine_programs: dict[int, list[int]] = {}
        for program_id, i in owner.items():
            mine_programs.setdefault(i, []).append(program_id)

        clients = s.execute(select(Client.id, Client.program_id, Client.name)
                            .where(Client.status == "active", Client.program_id.in_(programs))
                            .order_by(Client.id)).all()
        if not clients:
            raise SystemExit("The coordinators' sites hold no active clients.")
        everyone = s.scalars(select(Client.id).where(Client.status == "active")
                             .order_by(Client.id)).all()
        feed_clients = rng.sample(everyone, min(n_feeds + per_kind, len(everyone)))
        tokens = [feed_tokens.issue(s, ACTOR, "client", client_id, now=now)
                  for client_id in feed_clients]
        s.commit()
        feeds, new_feeds = tokens[:n_feeds], tokens[n_feeds:]

        bookings = _booking_requests(s, now, tz, monday, programs, clients, per_kind, rng)

        rosters = _roster_requests(s, now, programs, per_kind, rng)

        api_tokens = [accounts.issue_api_token(s, user, now, 12)[0]
                      for user, _, _ in coordinators]
        s.commit()
        # Fresh statistics (autovacuum may not yet have seen a just-seeded database; without
        # them the planner guesses, and the EXPLAIN below would not say what production does).
        s.execute(text("ANALYZE"))
        s.commit()
        four_weeks = (monday - timedelta(weeks=3)).isoformat(), (monday + timedelta(days=6))
        default_view = _week_mine_uses_default(week_mine)

        def week_mine_request():
            i = rng.choice(list(mine_programs))
            args: dict[str, str | int] = {"week": monday.isoformat()}
            if not default_view:
                args = {"program": rng.choice(mine_programs[i]), **args}
            return ("GET", "/week?" + urlencode(args), None, i)

        def search(picker: bool):
            _, program_id, name = rng.choice(clients)
            args: dict[str, str | int] = {"q": _search_term(name, rng)}
            if picker:
                args.update(program_id=program_id, status="active", per_page=PICKER_SHOWN)
            return ("GET", "/api/v1/clients?" + urlencode(args), None, owner[program_id])

        def week_of(program_id: int):
            return ("GET", "/week?" + urlencode({"program": program_id,
                                                 "week": monday.isoformat()}), None,
                    owner[program_id])

        def report_of(program_id: int):
            return ("GET", "/api/v1/reports/weekly-hours?" + urlencode(
                {"program_id": program_id, "from": four_weeks[0],
                 "to": four_weeks[1].isoformat()}), None, owner[program_id])

        requests = {
            "feed": [("GET", f"/feeds/{rng.choice(feeds)}.ics", None, None)
                     for _ in range(per_kind)],
            "feed_new": [("GET", f"/feeds/{token}.ics", None, None) for token in new_feeds],
            "week": [week_of(rng.choice(programs)) for _ in range(per_kind)],
            "week_mine": [week_mine_request() for _ in range(per_kind)],
            "roster": [("PUT", f"/api/v1/sessions/{sid}/attendance",
                        {"records": [{"client_id": c, "status": "present"} for c in ids]},
                        owner[program_id])
                       for sid, program_id, ids in rosters],
            "booking": [("POST", f"/api/v1/sessions/{sid}/bookings", {"client_id": cid},
                         owner[program_id]) for program_id, sid, cid in bookings],
            "report": [report_of(rng.choice(programs)) for _ in range(per_kind)],
            "search": [search(False) for _ in range(per_kind)],
            "picker": [search(True) for _ in range(per_kind)],
            "healthz": [("GET", "/healthz", None, None) for _ in range(per_kind)],
        }
        info = {"counts": counts, "programs": len(programs), "feeds": len(tokens),
                "sites": sum(len(mine) for _, mine, _ in coordinators),
                "week_mine_default": default_view,
                "warm_feeds": [("GET", f"/feeds/{token}.ics", None, None)
                               for token in feeds for _ in range(WARM_POLLS)],
                "coordinators": [user.email for user, _, _ in coordinators],
                "recovery_codes": [codes for _, _, codes in coordinators],
                "programs_of": {i: set(p) for i, p in mine_programs.items()},
                "tokens": api_tokens}
        db.session.remove()
        db.engine.dispose()
    return {"requests": requests, **info}


# --- the callers -------------------------------------------------------------------------------


class Caller:
    """One keep-alive-capable connection; each request carries its coordinator's API token
    or session cookie."""

    def __init__(self, port: int, tokens: list[str], cookies: list[str]):
        self.port, self.tokens, self.cookies = port, tokens, cookies
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)

    def send(self, method: str, path: str, body, who: int | None) -> tuple[int, float, bytes]:
        headers = {}
        if who is not None and path.startswith("/api/"):
            headers["Authorization"] = f"Bearer {self.tokens[who]}"
        elif who is not None:
            headers["Cookie"] = self.cookies[who]
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            try:
                started = timer.perf_counter()
                self.conn.request(method, path, body=payload, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                took = timer.perf_counter() - started
                if response.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                return response.status, took, data
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        self.conn.close()


def _form(conn_port: int, path: str, cookie: str, fields: dict) -> tuple[int, str]:
    """GET a form page for its CSRF token, POST it; the status and the (new) session cookie."""
    conn = http.client.HTTPConnection("127.0.0.1", conn_port, timeout=REQUEST_TIMEOUT)
    conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
    response = conn.getresponse()
    page = response.read().decode()
    cookie = (response.getheader("Set-Cookie") or "").split(";", 1)[0] or cookie
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    form = urlencode({**fields, "csrf_token": match.group(1) if match else ""})
    conn.request("POST", path, body=form, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status, (response.getheader("Set-Cookie") or "").split(";", 1)[0] or cookie


def sign_in(port: int, email: str, recovery_code: str) -> str:
    """The coordinator's session cookie, from the login form and the two-step code page as a
    browser gets it (the code: one of their recovery codes)."""
    status, cookie = _form(port, "/login", "", {"email": email, "password": DEMO_PASSWORD})
    if status == 302:
        status, cookie = _form(port, "/login/code", cookie, {"otp": recovery_code})
    if status != 302 or not cookie:
        raise SystemExit(f"Could not sign in as {email}: {status}")
    return cookie


EXPECTED = {kind: {201 if kind == "booking" else 200} for kind in KINDS}


def _other_sites(info: dict, kind: str, who: int | None, data: bytes) -> int:
    """How many clients of a search answer belong to programs outside the caller's sites
    (none once the client list is site-scoped)."""
    if kind not in ("search", "picker") or who is None:
        return 0
    mine = info["programs_of"][who]
    return sum(item["program_id"] not in mine for item in json.loads(data)["items"])


def run_mix(port: int, info: dict, cookies: list[str], callers: int, max_seconds: float,
            rng: random.Random):
    """Send the shuffled mix from `callers` threads; {kind: [seconds]}, problems, and how many
    searched clients were of other sites."""
    mix = [(kind, request) for kind in KINDS for request in info["requests"][kind]]
    rng.shuffle(mix)
    pending = iter(mix)
    lock = threading.Lock()
    latencies: dict[str, list[float]] = {kind: [] for kind in KINDS}
    problems: list[str] = []
    leaked = [0]
    deadline = timer.perf_counter() + max_seconds

    def work():
        caller = Caller(port, info["tokens"], cookies)
        try:
            while timer.perf_counter() < deadline:
                with lock:
                    item = next(pending, None)
                if item is None:
                    return
                kind, (method, path, body, who) = item
                try:
                    status, took, data = caller.send(method, path, body, who)
                except Exception as error:  # noqa: BLE001 - reported, never hidden
                    with lock:
                        problems.append(f"{kind} {path}: {type(error).__name__}: {error}")
                    continue
                wrong = status not in EXPECTED[kind] or (
                    kind.startswith("feed") and not data.startswith(b"BEGIN:VCALENDAR"))
                others = 0 if wrong else _other_sites(info, kind, who, data)
                with lock:
                    latencies[kind].append(took)
                    leaked[0] += others
                    if wrong and len(problems) < 20:
                        problems.append(f"{kind} {method} {path}: {status} {data[:200]!r}")
        finally:
            caller.close()

    threads = [threading.Thread(target=work, daemon=True) for _ in range(callers)]
    started = timer.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(max_seconds + REQUEST_TIMEOUT + 5)
    return timer.perf_counter() - started, latencies, problems, leaked[0]


# --- EXPLAIN -----------------------------------------------------------------------------------


EXPLAINED = ("feed_new", "week", "week_mine", "report", "roster", "booking", "search", "picker")


def explain_hot_queries(url: str, info: dict, show_plans: bool) -> tuple[list[str], list[str]]:
    """Run one request of each kind in-process as its coordinator, EXPLAIN the SELECTs it ran;
    a line per kind, and the kinds that scan a large table sequentially."""
    app = create_app({"CONFIG_NAME": "testing", "SQLALCHEMY_DATABASE_URI": url,
                      "WTF_CSRF_ENABLED": False, "MFA_SECRET_KEY": info["mfa_key"],
                      "MFA_REQUIRED_ROLES": "admin,coordinator"})
    findings, scanning = [], []
    with app.app_context():
        large = {name for (name,) in db.session.execute(text(
            "SELECT relname FROM pg_class WHERE relkind = 'r' AND reltuples > :n"),
            {"n": LARGE_TABLE_ROWS})}
        captured = []

        def capture(conn, cursor, statement, parameters, context, executemany):
            if statement.lstrip().upper().startswith(("SELECT", "WITH")) and not executemany:
                captured.append((statement, parameters))

        for kind in EXPLAINED:
            method, path, body, who = info["requests"][kind][-1]
            client = app.test_client()
            headers = {}
            if who is not None and path.startswith("/api/"):
                headers["Authorization"] = f"Bearer {info['tokens'][who]}"
            elif who is not None:
                client.post("/login", data={"email": info["coordinators"][who],
                                            "password": DEMO_PASSWORD})
                client.post("/login/code", data={"otp": info["recovery_codes"][who].pop()})
            captured.clear()
            event.listen(db.engine, "before_cursor_execute", capture)
            try:
                client.open(path, method=method, json=body, headers=headers)
            finally:
                event.remove(db.engine, "before_cursor_execute", capture)
            scans = set()
            with db.engine.connect() as conn:
                raw = conn.connection.driver_connection
                for statement, parameters in captured:
                    with raw.cursor() as cursor:
                        cursor.execute("EXPLAIN " + statement, parameters)
                        plan = "\n".join(row[0] for row in cursor.fetchall())
                    seq = {table for table in re.findall(r"Seq Scan on (\w+)", plan)
                           if table in large}
                    scans |= seq
                    if show_plans or seq:
                        findings.append(f"  --- {kind}: {' '.join(statement.split())[:300]}")
                        findings.extend("      " + line for line in plan.splitlines())
            findings.append(f"  {kind:<9} {len(captured):3d} SELECTs; "
                            + (f"sequential scans of: {', '.join(sorted(scans))}" if scans
                               else "every large table read through an index"))
            if scans:
                scanning.append(kind)
        db.session.remove()
        db.engine.dispose()
    return findings, scanning


# --- main --------------------------------------------------------------------------------------


def ms(values: list[float], p: float) -> float:
    return percentile(sorted(v * 1000 for v in values), p)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True,
                        help="PostgreSQL database holding the seeded demo clinic")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--callers", type=int, default=None,
                        help="concurrent callers (default: one per worker; more queue in "
                             "gunicorn, and the wait counts in every kind's latency)")
    parser.add_argument("--requests", type=int, default=300, help="requests of each kind")
    parser.add_argument("--feeds", type=int, default=50,
                        help="clients whose feeds are polled again and again (plus --requests "
                             "clients whose feeds are polled once)")
    parser.add_argument("--coordinators", type=int, default=40,
                        help="coordinator logins, each scoped to one to three sites")
    parser.add_argument("--week-mine", choices=("auto", "default", "program"), default="auto",
                        help="'week of my sites' as the page's default view, or as /week?program="
                             "one of theirs (auto: the default once the page has one)")
    parser.add_argument("--max-seconds", type=float, default=300)
    parser.add_argument("--seed", type=int, default=2027)
    parser.add_argument("--explain-only", action="store_true",
                        help="set up and EXPLAIN, without the mix through gunicorn")
    parser.add_argument("--show-plans", action="store_true",
                        help="print every EXPLAINed statement and its plan")
    args = parser.parse_args(argv)
    url = database_url_argument(parser, args)
    if url is None:
        parser.error("--database-url must be a PostgreSQL database (the scale target).")
    rng = random.Random(args.seed)
    args.callers = args.callers or args.workers

    print(f"Load benchmark on {describe(url)}: gunicorn {args.workers} sync workers, "
          f"{args.callers} callers, {args.requests} requests of each kind")
    started = timer.perf_counter()
    mfa_key = secrets.token_hex(32)
    info = prepare(url, args.feeds, args.requests, args.coordinators, args.week_mine, mfa_key,
                   rng)
    info["mfa_key"] = mfa_key
    c = info["counts"]
    print(f"  data: {c['clients']:,} clients in {c['programs']:,} programs at {c['sites']:,} "
          f"sites, {c['session_series']:,} series, {c['sessions']:,} sessions, "
          f"{c['bookings']:,} bookings; {info['feeds']} feed links; "
          f"{len(info['coordinators'])} coordinators scoped to {info['sites']} sites "
          f"({info['programs']} programs); week_mine as "
          f"{'the default view' if info['week_mine_default'] else '/week?program=theirs'} "
          f"(setup {timer.perf_counter() - started:.1f} s)")
    print(f"  machine load before: {_load()}")
    if args.explain_only:
        return _explain(url, info, args.show_plans, [])
    with (tempfile.TemporaryDirectory(prefix="bench-load-") as workdir,
          gunicorn(url, workdir, args.workers, 1, env={"MFA_SECRET_KEY": mfa_key})
          as (port, log_path, pid)):
        cookies = [sign_in(port, email, codes.pop())
                   for email, codes in zip(info["coordinators"], info["recovery_codes"],
                                           strict=True)]
        # Every worker builds its app and connections, and renders the repeat-poll feeds.
        warm = {kind: info["requests"][kind][:2]
                for kind in ("week", "week_mine", "report", "search", "picker", "healthz")}
        warm["feed"] = info["warm_feeds"]
        run_mix(port, {**info, "requests": {**{k: [] for k in KINDS}, **warm}}, cookies,
                args.callers, 120, rng)
        cpu_before = process_tree_cpu(pid)
        wall, latencies, problems, leaked = run_mix(port, info, cookies, args.callers,
                                                    args.max_seconds, rng)
        cpu = process_tree_cpu(pid) - cpu_before
        with open(log_path) as log:
            server_errors = [line for line in log if "Traceback" in line]
        log_tail = tail(log_path) if server_errors else ""
    sent = sum(len(v) for v in latencies.values())
    print(f"  mix: {sent:,} requests in {wall:.1f} s ({sent / wall:,.0f}/s), "
          f"gunicorn CPU {cpu / max(sent, 1) * 1000:.2f} ms/request; "
          f"machine load after: {_load()}\n")
    base50, base95 = ms(latencies["healthz"], 50), ms(latencies["healthz"], 95)
    print(f"  {'kind':<9} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} "
          f"{'p95/healthz':>12} {'target p95':>11}  result")
    missed = []
    for kind in KINDS:
        values = latencies[kind]
        if not values:
            print(f"  {kind:<9} no answers")
            missed.append(kind)
            continue
        p50, p95, top = ms(values, 50), ms(values, 95), max(values) * 1000
        target = TARGETS_MS.get(kind)
        verdict = "baseline" if target is None else ("met" if p95 < target else "MISSED")
        if verdict == "MISSED":
            missed.append(kind)
        print(f"  {kind:<9} {len(values):5d} {p50:8.1f} {p95:8.1f} {top:8.1f} "
              f"{p95 / base95:11.1f}x {(f'< {target:.0f}' if target else ''):>11}  {verdict}")
    print(f"\n  (healthz p50 {base50:.1f} ms, p95 {base95:.1f} ms; "
          f"mean of all {statistics.fmean(v * 1000 for k in KINDS for v in latencies[k]):.1f} ms)")
    if leaked:
        print(f"  Searches answered {leaked:,} clients of sites other than the caller's: the "
              "client list is not site-scoped yet.")
    if problems or server_errors:
        print("\nProblems:")
        for line in problems[:20]:
            print("  " + line)
        if server_errors:
            print(f"  {len(server_errors)} tracebacks in the gunicorn log:\n{log_tail}")
        return 1
    return _explain(url, info, args.show_plans, missed)


def _load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg()) + " (1, 5, 15 min)"


def _explain(url: str, info: dict, show_plans: bool, missed: list[str]) -> int:
    print("\nEXPLAIN of the SQL each kind runs (large = over "
          f"{LARGE_TABLE_ROWS:,} rows):")
    findings, scanning = explain_hot_queries(url, info, show_plans)
    for line in findings:
        print(line)
    print("\nTargets: " + ("met by every kind" if not missed
                           else "MISSED by " + ", ".join(missed))
          + "; " + ("every path reads large tables through an index." if not scanning
                    else "sequential scans of a large table in " + ", ".join(scanning) + "."))
    return 1 if missed or scanning else 0


if __name__ == "__main__":
    sys.exit(main())
