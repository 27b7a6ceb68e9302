"""Benchmark: a clinic network's load on one deployment, through gunicorn, on a large database.

Run from the repository root, against a PostgreSQL database holding the demo clinic at scale:

    createdb -h 127.0.0.1 -U postgres load
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/load .venv/bin/flask --app wsgi db upgrade
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/load \\
        .venv/bin/flask --app wsgi seed-demo --clients 20000 --weeks 52
    .venv/bin/python bench/load.py --database-url postgresql://postgres@127.0.0.1:5432/load

The database is used as it is (it is not copied): setup adds, through the services, a feed link
for --feeds clients, and per site program one extra Saturday "Family education" session of 500
seats that the booking requests fill. Run it on a database kept for benchmarking.

gunicorn serves the app with the production configuration (--workers sync workers, one per core
by default). --callers threads (one per worker by default: the server is kept busy without a
queue in front of it), each with its own connection, send a shuffled mix of these requests, the
same number of each, spread over every site so no one row is hot:

  - feed:    GET /feeds/<token>.ics, a repeat poll of one of --feeds clients whose calendar
             the warm-up rendered (200, the whole calendar, from the render cache);
  - feed_new: the first poll of a calendar nobody has fetched since it changed (200, rendered
             from the database: a client's year of sessions);
  - week:    GET /week?program=<id>&week=<this Monday>, the coordinator's calendar page;
  - roster:  PUT /api/v1/sessions/<id>/attendance, every booked client present, on a session
             that started earlier this week (the clinician's one tap, for the whole room);
  - booking: POST /api/v1/sessions/<id>/bookings, a client not yet booked into the Saturday
             session of their program;
  - report:  GET /api/v1/reports/weekly-hours for one program over the last four weeks.

GET /healthz is sent as often as each of them and is the baseline: its p50/p95 under the same
load, so the ratios say what our work costs over the stack's own. Every answer is checked
(status, and the feed's calendar body); a wrong one fails the run.

Targets (p95 under this load): feed, booking and roster under 50 ms; week view and report under
200 ms. Then the SQL each kind runs (captured in-process with the Flask test client) is
EXPLAINed on the same database, and any sequential scan of a large table is listed.

Bounded: at most --max-seconds for the mix; gunicorn is stopped at the end.
"""

import argparse
import http.client
import json
import os
import random
import re
import statistics
import sys
import tempfile
import threading
import time as timer
from datetime import datetime, time, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

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
from scheduler.models import Booking, Client, Program, Session, User  # noqa: E402
from scheduler.services import accounts, sessions  # noqa: E402
from scheduler.services.audit import Actor  # noqa: E402

KINDS = ("feed", "feed_new", "week", "roster", "booking", "report", "healthz")
TARGETS_MS = {"feed": 50.0, "feed_new": 50.0, "booking": 50.0, "roster": 50.0, "week": 200.0,
              "report": 200.0}
WARM_POLLS = 6
# Tables past this many rows must be read through an index on a hot path.
LARGE_TABLE_ROWS = 10_000
REQUEST_TIMEOUT = 30
ACTOR = Actor.system("bench-load")


# --- setup: who sends what ---------------------------------------------------------------------


def prepare(url: str, n_feeds: int, per_kind: int, rng: random.Random) -> dict:
    """Feed links, the Saturday sessions, tokens and the request lists, spread over the sites."""
    app = create_app({"CONFIG_NAME": "testing", "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        s = db.session
        if not s.scalar(select(func.count(Client.id))):
            raise SystemExit("The database holds no clients: run `flask seed-demo` on it first.")
        tz = ZoneInfo(DEMO_TZ)
        now = clock.now()
        monday = now.astimezone(tz).date() - timedelta(days=now.astimezone(tz).weekday())
        programs = s.scalars(select(Program.id).order_by(Program.id)).all()
        counts = {name: s.scalar(text(f"SELECT count(*) FROM {name}"))
                  for name in ("clients", "session_series", "sessions", "bookings")}

        clients = s.scalars(select(Client.id).where(Client.status == "active")
                            .order_by(Client.id)).all()
        feed_clients = rng.sample(clients, min(n_feeds + per_kind, len(clients)))
        tokens = [feed_tokens.issue(s, ACTOR, "client", client_id, now=now)
                  for client_id in feed_clients]
        s.commit()
        feeds, new_feeds = tokens[:n_feeds], tokens[n_feeds:]

        # One big Saturday session per program (nothing else meets then: no clashes).
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
        by_program = {}
        for client_id, program_id in s.execute(select(Client.id, Client.program_id).where(
                Client.status == "active")):
            if (saturday[program_id], client_id) not in booked:
                by_program.setdefault(program_id, []).append(client_id)
        bookings = []
        while len(bookings) < per_kind and by_program:
            program_id = rng.choice(list(by_program))
            bookings.append((saturday[program_id], by_program[program_id].pop()))
            if not by_program[program_id]:
                del by_program[program_id]

        # Rosters: sessions that began earlier this week and have clients booked.
        started = s.execute(
            select(Session.id, func.array_agg(Booking.client_id))
            .join(Booking, Booking.session_id == Session.id)
            .where(Session.starts_at >= datetime.combine(monday, time.min, tzinfo=tz),
                   Session.starts_at < now, Session.status == "scheduled",
                   Booking.status == "booked")
            .group_by(Session.id)).all()
        if not started:
            raise SystemExit("No session has started yet this week; run later in the week.")
        rosters = [started[i % len(started)] for i in rng.sample(range(len(started)),
                                                                 min(per_kind, len(started)))]
        while len(rosters) < per_kind:
            rosters.append(rng.choice(started))

        coordinator = s.scalar(select(User).where(User.role == "coordinator").order_by(User.id))
        admin = s.scalar(select(User).where(User.role == "admin").order_by(User.id))
        api_token, _ = accounts.issue_api_token(s, admin, now, 12)
        s.commit()
        four_weeks = (monday - timedelta(weeks=3)).isoformat(), (monday + timedelta(days=6))
        requests = {
            "feed": [("GET", f"/feeds/{rng.choice(feeds)}.ics", None) for _ in range(per_kind)],
            "feed_new": [("GET", f"/feeds/{token}.ics", None) for token in new_feeds],
            "week": [("GET", "/week?" + urlencode({"program": rng.choice(programs),
                                                   "week": monday.isoformat()}), None)
                     for _ in range(per_kind)],
            "roster": [("PUT", f"/api/v1/sessions/{sid}/attendance",
                        {"records": [{"client_id": c, "status": "present"} for c in ids]})
                       for sid, ids in rosters],
            "booking": [("POST", f"/api/v1/sessions/{sid}/bookings", {"client_id": cid})
                        for sid, cid in bookings],
            "report": [("GET", "/api/v1/reports/weekly-hours?" + urlencode(
                {"program_id": rng.choice(programs), "from": four_weeks[0],
                 "to": four_weeks[1].isoformat()}), None) for _ in range(per_kind)],
            "healthz": [("GET", "/healthz", None) for _ in range(per_kind)],
        }
        info = {"counts": counts, "programs": len(programs), "feeds": len(tokens),
                "warm_feeds": [("GET", f"/feeds/{token}.ics", None)
                               for token in feeds for _ in range(WARM_POLLS)],
                "coordinator": coordinator.email, "token": api_token}
        db.session.remove()
        db.engine.dispose()
    return {"requests": requests, **info}


# --- the callers -------------------------------------------------------------------------------


class Caller:
    """One keep-alive-capable connection with the coordinator's cookie and the API token."""

    def __init__(self, port: int, token: str, cookie: str):
        self.port, self.token, self.cookie = port, token, cookie
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)

    def send(self, method: str, path: str, body) -> tuple[int, float, bytes]:
        headers = {}
        if path.startswith("/api/"):
            headers["Authorization"] = f"Bearer {self.token}"
        elif path.startswith("/week"):
            headers["Cookie"] = self.cookie
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


def sign_in(port: int, email: str) -> str:
    """The coordinator's session cookie, from the login form as a browser gets it."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    conn.request("GET", "/login")
    response = conn.getresponse()
    page = response.read().decode()
    cookie = (response.getheader("Set-Cookie") or "").split(";", 1)[0]
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    form = urlencode({"email": email, "password": DEMO_PASSWORD,
                      "csrf_token": match.group(1) if match else ""})
    conn.close()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    conn.request("POST", "/login", body=form, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
    response = conn.getresponse()
    response.read()
    conn.close()
    signed = (response.getheader("Set-Cookie") or "").split(";", 1)[0]
    if response.status != 302 or not signed:
        raise SystemExit(f"Could not sign in as {email}: {response.status}")
    return signed


EXPECTED = {"feed": {200}, "feed_new": {200}, "week": {200}, "roster": {200},
            "booking": {201}, "report": {200}, "healthz": {200}}


def run_mix(port: int, info: dict, cookie: str, callers: int, max_seconds: float,
            rng: random.Random):
    """Send the shuffled mix from `callers` threads; {kind: [seconds]}, problems."""
    mix = [(kind, request) for kind in KINDS for request in info["requests"][kind]]
    rng.shuffle(mix)
    pending = iter(mix)
    lock = threading.Lock()
    latencies = {kind: [] for kind in KINDS}
    problems = []
    deadline = timer.perf_counter() + max_seconds

    def work():
        caller = Caller(port, info["token"], cookie)
        try:
            while timer.perf_counter() < deadline:
                with lock:
                    item = next(pending, None)
                if item is None:
                    return
                kind, (method, path, body) = item
                try:
                    status, took, data = caller.send(method, path, body)
                except Exception as error:  # noqa: BLE001 - reported, never hidden
                    with lock:
                        problems.append(f"{kind} {path}: {type(error).__name__}: {error}")
                    continue
                wrong = status not in EXPECTED[kind] or (
                    kind.startswith("feed") and not data.startswith(b"BEGIN:VCALENDAR"))
                with lock:
                    latencies[kind].append(took)
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
    return timer.perf_counter() - started, latencies, problems


# --- EXPLAIN -----------------------------------------------------------------------------------


def explain_hot_queries(url: str, info: dict, cookie_email: str) -> list[str]:
    """Run one request of each kind in-process, EXPLAIN what it ran; seq scans of large tables."""
    app = create_app({"CONFIG_NAME": "testing", "SQLALCHEMY_DATABASE_URI": url,
                      "WTF_CSRF_ENABLED": False})
    findings = []
    with app.app_context():
        large = {name for (name,) in db.session.execute(text(
            "SELECT relname FROM pg_class WHERE relkind = 'r' AND reltuples > :n"),
            {"n": LARGE_TABLE_ROWS})}
        captured = []

        def capture(conn, cursor, statement, parameters, context, executemany):
            if statement.lstrip().upper().startswith("SELECT") and not executemany:
                captured.append((statement, parameters))

        client = app.test_client()
        client.post("/login", data={"email": cookie_email, "password": DEMO_PASSWORD})
        headers = {"Authorization": f"Bearer {info['token']}"}
        for kind in ("feed_new", "week", "report", "roster", "booking"):
            method, path, body = info["requests"][kind][-1]
            captured.clear()
            event.listen(db.engine, "before_cursor_execute", capture)
            try:
                client.open(path, method=method, json=body, headers=headers)
            finally:
                event.remove(db.engine, "before_cursor_execute", capture)
            scans = set()
            with db.engine.connect() as conn:
                for statement, parameters in captured:
                    raw = conn.connection.driver_connection
                    with raw.cursor() as cursor:
                        cursor.execute("EXPLAIN " + statement, parameters)
                        plan = "\n".join(row[0] for row in cursor.fetchall())
                    for table in re.findall(r"Seq Scan on (\w+)", plan):
                        if table in large:
                            scans.add(table)
            findings.append(f"  {kind:<9} {len(captured):3d} SELECTs; "
                            + (f"sequential scans of: {', '.join(sorted(scans))}" if scans
                               else "every large table read through an index"))
        db.session.remove()
        db.engine.dispose()
    return findings


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
    parser.add_argument("--max-seconds", type=float, default=300)
    parser.add_argument("--seed", type=int, default=2027)
    args = parser.parse_args(argv)
    url = database_url_argument(parser, args)
    if url is None:
        parser.error("--database-url must be a PostgreSQL database (the scale target).")
    rng = random.Random(args.seed)
    args.callers = args.callers or args.workers

    print(f"Load benchmark on {describe(url)}: gunicorn {args.workers} sync workers, "
          f"{args.callers} callers, {args.requests} requests of each kind")
    started = timer.perf_counter()
    info = prepare(url, args.feeds, args.requests, rng)
    c = info["counts"]
    print(f"  data: {c['clients']:,} clients in {info['programs']:,} programs, "
          f"{c['session_series']:,} series, {c['sessions']:,} sessions, "
          f"{c['bookings']:,} bookings; {info['feeds']} feed links "
          f"(setup {timer.perf_counter() - started:.1f} s)")
    with (tempfile.TemporaryDirectory(prefix="bench-load-") as workdir,
          gunicorn(url, workdir, args.workers, 1) as (port, log_path, pid)):
        cookie = sign_in(port, info["coordinator"])
        # Every worker builds its app and connections, and renders the repeat-poll feeds.
        warm = {kind: info["requests"][kind][:2] for kind in ("week", "report", "healthz")}
        warm["feed"] = info["warm_feeds"]
        run_mix(port, {**info, "requests": {**{k: [] for k in KINDS}, **warm}}, cookie,
                args.callers, 120, rng)
        cpu_before = process_tree_cpu(pid)
        wall, latencies, problems = run_mix(port, info, cookie, args.callers,
                                            args.max_seconds, rng)
        cpu = process_tree_cpu(pid) - cpu_before
        with open(log_path) as log:
            server_errors = [line for line in log if "Traceback" in line]
        log_tail = tail(log_path) if server_errors else ""
    sent = sum(len(v) for v in latencies.values())
    print(f"  mix: {sent:,} requests in {wall:.1f} s ({sent / wall:,.0f}/s), "
          f"gunicorn CPU {cpu / max(sent, 1) * 1000:.2f} ms/request\n")
    base50, base95 = ms(latencies["healthz"], 50), ms(latencies["healthz"], 95)
    print(f"  {'kind':<9} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'p95/healthz':>12} "
          f"{'target p95':>11}  result")
    missed = []
    for kind in KINDS:
        values = latencies[kind]
        if not values:
            print(f"  {kind:<9} no answers")
            missed.append(kind)
            continue
        p50, p95 = ms(values, 50), ms(values, 95)
        target = TARGETS_MS.get(kind)
        verdict = "baseline" if target is None else ("met" if p95 < target else "MISSED")
        if verdict == "MISSED":
            missed.append(kind)
        print(f"  {kind:<9} {len(values):5d} {p50:8.1f} {p95:8.1f} {p95 / base95:11.1f}x "
              f"{(f'< {target:.0f}' if target else ''):>11}  {verdict}")
    print(f"\n  (healthz p50 {base50:.1f} ms, p95 {base95:.1f} ms; "
          f"mean of all {statistics.fmean(v * 1000 for k in KINDS for v in latencies[k]):.1f} ms)")
    print("\nEXPLAIN of the SQL each kind runs (large = over "
          f"{LARGE_TABLE_ROWS:,} rows):")
    for line in explain_hot_queries(url, info, info["coordinator"]):
        print(line)
    if problems or server_errors:
        print("\nProblems:")
        for line in problems[:20]:
            print("  " + line)
        if server_errors:
            print(f"  {len(server_errors)} tracebacks in the gunicorn log:\n{log_tail}")
        return 1
    print("\nTargets: " + ("met by every kind." if not missed
                           else "MISSED by " + ", ".join(missed) + "."))
    return 0


if __name__ == "__main__":
    sys.exit(main())
