"""Benchmark: every HTML page's server-side time on the demo clinic, against GET /healthz.

Run from the repository root:

    .venv/bin/python bench/pages.py                         # SQLite (a file in a temp dir)
    .venv/bin/python bench/pages.py --database-url postgresql://postgres@127.0.0.1:5432/db

A fresh database is built by the Alembic migrations (a new SQLite file, or a throwaway schema in
the given PostgreSQL database, dropped at the end; nothing else there is touched) and seeded with
the demo clinic by the function `flask seed-demo` calls (scheduler.demo_clinic.seed),
with the command's own defaults (read from its options: 24 clients, 12 weeks of sessions). The
clock (scheduler.clock) is frozen for the seeding and the timing at 17:30 clinic time on
the Wednesday of the current week, so the pages see the same shape of data on any day the
benchmark runs: this week's sessions made, the evening group (Monday, Wednesday, Thursday 18:00)
meeting today, the clinician's day holding sessions.

The pages are found at run time in app.url_map: every rule of the web blueprints (calendar,
client_pages, report_pages, clinician, portal, kiosk_pages, home, signin, audit_pages) that answers
GET; static files, /api, /feeds, /healthz and POST-only rules are left out. Each page's URL
arguments are filled from the demo data by their names: session_id is the busiest session today
that the demo clinician facilitates (its series, room, program follow), client_id the demo client
login's client, staff_id the clinician's staff record, any other <thing>_id the first row of the
model whose name ends in <thing> (the client's own row when the table has a client_id), date-like
names today's date. A page whose arguments cannot be filled is skipped and listed.

Each page is opened by the least privileged role that may open it, the way it is used: the roles
come from the page's @page_roles (clinician before coordinator before admin, client for the
portal); a page without that decorator is opened signed out when that gives a 200 (/, /login), or
else by the first of client, clinician, coordinator, admin that gets a 200. The demo's own logins
are used (admin, coordinator, clinician linked to a facilitating staff member, client linked to a
client), each signed in through the Flask test client's session (_user_id, _fresh), one test
client per role.

Timing: the whole server-side request through the Flask test client (routing, Flask-Login's user
load, the view, its queries, Jinja, the response; no HTTP, no network). Each page gets one
warm-up, then --repeats requests, each interleaved with a GET /healthz by the same client (the
baseline: routing, the before/after-request stack, one SELECT 1 and a JSON body), so drift of the
noisy machine hits both alike. Printed per page: status, median and p95 ms, the ratio of its
median to the median of its interleaved /healthz, and the SQL statements one request executes.
A status other than 200 fails the run (exit 1), as does an exception.

Target: every page under 150 ms median; "met"/"MISSED" per page and overall. A missed page is
profiled once (cProfile, top 15 by cumulative time within scheduler/) and its SQL statements are
grouped by text, most repeated first, so an N+1 shows. Exit status 0 even when missed (it is a
report); 1 on errors.
"""

import argparse
import cProfile
import io
import os
import pstats
import re
import statistics
import sys
import tempfile
import time as timer
import traceback
from collections import Counter
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from flask import url_for  # noqa: E402
from sqlalchemy import event, func, select  # noqa: E402
from sqlalchemy import inspect as sa_inspect  # noqa: E402

from bench.support import (  # noqa: E402
    database_url_argument,
    describe,
    fresh_database,
    make_app,
    migrate_to_head,
    percentile,
)
from scheduler import clock, demo_clinic  # noqa: E402
from scheduler.cli import seed_demo  # noqa: E402
from scheduler.extensions import db  # noqa: E402
from scheduler.models import (  # noqa: E402
    Booking,
    Client,
    Session,
    User,
    session_facilitators,
)
from scheduler.services import accounts  # noqa: E402
from scheduler.services.audit import Actor  # noqa: E402

WEB_BLUEPRINTS = ("calendar", "client_pages", "plan_pages", "report_pages", "clinician", "portal",
                  "kiosk_pages", "home", "signin", "audit_pages")
LEFT_OUT_PREFIXES = ("/static", "/api", "/feeds", "/healthz")
BASELINE = "/healthz"
REPEATS = 20
TARGET_MS = 150.0
# Least privileged first: a page is opened by the first of these its @page_roles allows.
ROLE_PREFERENCE = ("client", "clinician", "coordinator", "admin")
DATE_NAMES = {"day", "date", "on", "week", "week_of", "start", "monday", "when"}
ACTOR = Actor.system("bench")


def frozen_now() -> datetime:
    """17:30 clinic time on the Wednesday of the current week (the evening group meets at 18:00)."""
    tz = ZoneInfo(demo_clinic.DEMO_TZ)
    today = datetime.now(tz).date()
    wednesday = today - timedelta(days=today.weekday()) + timedelta(days=2)
    return datetime.combine(wednesday, time(17, 30), tzinfo=tz)


def seed_defaults() -> dict:
    """`flask seed-demo`'s own defaults, read from its options."""
    defaults = {p.name: p.default for p in seed_demo.params}
    return {"n_clients": defaults["n_clients"], "weeks": defaults["weeks"]}


# --- the demo data: users and URL arguments ----------------------------------------------------


def pick_data(now: datetime) -> dict:
    """The users per role and the rows URL arguments are filled from."""
    s = db.session
    users = {}
    for role in ROLE_PREFERENCE:
        user = s.scalar(select(User).where(User.role == role, User.is_active.is_(True))
                        .order_by(User.id))
        users[role] = user
    tz = ZoneInfo(demo_clinic.DEMO_TZ)
    day = now.astimezone(tz).date()
    lo = datetime.combine(day, time.min, tzinfo=tz)
    hi = lo + timedelta(days=1)
    booked = (select(Booking.session_id, func.count().label("n"))
              .where(Booking.status == "booked").group_by(Booking.session_id).subquery())
    today = (select(Session.id, session_facilitators.c.staff_id, booked.c.n)
             .join(session_facilitators, session_facilitators.c.session_id == Session.id)
             .join(booked, booked.c.session_id == Session.id)
             .where(Session.starts_at >= lo, Session.starts_at < hi,
                    Session.status == "scheduled")
             .order_by(booked.c.n.desc(), Session.starts_at, Session.id))
    rows = s.execute(today).all()
    clinician = users["clinician"]
    mine = [r for r in rows if clinician is not None and r.staff_id == clinician.staff_id]
    notes = []
    if not mine:
        if not rows:
            raise SystemExit(f"No booked session on {day} in the demo clinic; nothing to open.")
        # No clinician login facilitating today: make one for the busiest session's facilitator.
        staff_id = rows[0].staff_id
        clinician = s.scalar(select(User).where(User.staff_id == staff_id))
        if clinician is None:
            clinician = accounts.create_user(s, ACTOR, email="bench-clinician@demo.clinic",
                                             role="clinician", staff_id=staff_id)
            s.commit()
            notes.append(f"created clinician login {clinician.email} (staff {staff_id})")
        users["clinician"] = clinician
        mine = [r for r in rows if r.staff_id == staff_id]
    if users["client"] is None:
        first = s.scalar(select(Client).order_by(Client.id))
        users["client"] = accounts.create_user(s, ACTOR, email="bench-client@demo.clinic",
                                               role="client", client_id=first.id)
        s.commit()
        notes.append(f"created client login {users['client'].email}")
    for role in ("coordinator", "admin"):
        if users[role] is None:
            users[role] = accounts.create_user(s, ACTOR, email=f"bench-{role}@demo.clinic",
                                               role=role)
            s.commit()
            notes.append(f"created {role} login {users[role].email}")
    session = s.get(Session, mine[0].id)
    client = s.get(Client, users["client"].client_id)
    booking = s.scalar(select(Booking).where(Booking.client_id == client.id)
                       .order_by(Booking.id))
    values = {
        "session_id": session.id, "series_id": session.series_id, "room_id": session.room_id,
        "program_id": client.program_id, "client_id": client.id,
        "staff_id": users["clinician"].staff_id, "booking_id": booking.id if booking else None,
        "user_id": users["client"].id,
    }
    return {
        "users": {role: (u.id, u.email) for role, u in users.items()},
        "values": values, "client_id": client.id, "day": day, "notes": notes,
        "session": (session.id, session.title, session.starts_at.astimezone(tz), mine[0].n),
    }


def models_by_suffix() -> dict:
    """snake_case class name -> mapped class, for every model."""
    out = {}
    for mapper in db.Model.registry.mappers:
        cls = mapper.class_
        out[re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()] = cls
    return out


def fill_argument(name: str, data: dict, cache: dict):
    """A value for one URL argument, or None when the demo data has none."""
    if name in data["values"] and data["values"][name] is not None:
        return data["values"][name]
    if name in cache:
        return cache[name]
    value = None
    if name in DATE_NAMES or name.endswith(("_date", "_day")):
        value = data["day"].isoformat()
    elif name.endswith("_id"):
        thing = name[:-3]
        models = models_by_suffix()
        match = models.get(thing) or next(
            (cls for snake, cls in sorted(models.items()) if snake.endswith("_" + thing)), None)
        if match is not None:
            columns = sa_inspect(match).columns
            query = select(match).order_by(*sa_inspect(match).primary_key)
            row = None
            if "client_id" in columns:
                row = db.session.scalar(query.where(columns["client_id"] == data["client_id"]))
            if row is None:
                row = db.session.scalar(query)
            if row is not None:
                value = sa_inspect(row).identity[0]
    cache[name] = value
    return value


def declared_roles(view) -> tuple | None:
    """The roles given to @page_roles (read from its wrapper's closure), else None."""
    seen = set()
    while view is not None and id(view) not in seen:
        seen.add(id(view))
        code = getattr(view, "__code__", None)
        if code is not None and view.__closure__ and "roles" in code.co_freevars:
            roles = view.__closure__[code.co_freevars.index("roles")].cell_contents
            if isinstance(roles, tuple | list | set | frozenset):
                return tuple(roles)
        view = getattr(view, "__wrapped__", None)
    return None


def discover_pages(app, data: dict) -> tuple[list, list]:
    """(pages, skipped): pages as dicts with endpoint, rule, url, roles to try."""
    pages, skipped, cache = [], [], {}
    with app.app_context():
        for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
            blueprint = rule.endpoint.rsplit(".", 1)[0] if "." in rule.endpoint else None
            if blueprint not in WEB_BLUEPRINTS or "GET" not in (rule.methods or ()):
                continue
            if rule.rule.startswith(LEFT_OUT_PREFIXES):
                continue
            args, missing = {}, []
            for name in sorted(rule.arguments):
                if rule.defaults and name in rule.defaults:
                    continue
                value = fill_argument(name, data, cache)
                if value is None:
                    missing.append(name)
                else:
                    args[name] = value
            if missing:
                skipped.append((rule.endpoint, rule.rule,
                                f"no demo value for {', '.join(missing)}"))
                continue
            with app.test_request_context():
                url = url_for(rule.endpoint, **args)
            roles = declared_roles(app.view_functions[rule.endpoint])
            if roles:
                order = [r for r in ROLE_PREFERENCE if r in roles]
                if blueprint != "portal":
                    # Staff pages go to staff even if a client role were listed too.
                    order = sorted(order, key=lambda r: r == "client")
            elif blueprint == "portal":
                order = ["client", None]
            else:
                order = [None, "client", "clinician", "coordinator", "admin"]
            pages.append({"endpoint": rule.endpoint, "rule": rule.rule, "url": url,
                          "declared": roles, "order": order})
    return pages, skipped


# --- requests ----------------------------------------------------------------------------------


def clients_per_role(app, users: dict) -> dict:
    out = {None: app.test_client()}
    for role, (user_id, _) in users.items():
        client = app.test_client()
        with client.session_transaction() as s:
            s["_user_id"] = str(user_id)
            s["_fresh"] = True
        out[role] = client
    return out


def request_once(client, url: str) -> tuple[float, int, str | None]:
    """ms, status, Location (for redirects)."""
    started = timer.perf_counter()
    response = client.get(url)
    response.get_data()
    took = (timer.perf_counter() - started) * 1000
    location = response.headers.get("Location")
    response.close()
    return took, response.status_code, location


def choose_role(page: dict, clients: dict) -> tuple[str | None, int, str | None]:
    """The first role in the page's order that gets a 200; else the first, with its status."""
    first = None
    for role in page["order"]:
        _, status, location = request_once(clients[role], page["url"])
        if first is None:
            first = (role, status, location)
        if status == 200:
            return role, status, location
    return first


def time_page(client, baseline_client, url: str, repeats: int) -> dict:
    """One warm-up, then `repeats` requests, each after a /healthz by the baseline client."""
    page_ms, base_ms, statuses = [], [], Counter()
    for i in range(repeats + 1):
        base_took, base_status, _ = request_once(baseline_client, BASELINE)
        took, status, _ = request_once(client, url)
        if base_status != 200:
            raise RuntimeError(f"{BASELINE} answered {base_status}")
        if i:
            page_ms.append(took)
            base_ms.append(base_took)
            statuses[status] += 1
    return {"ms": sorted(page_ms), "base": sorted(base_ms), "statuses": statuses}


class StatementLog:
    """Every SQL statement the engine executes while active."""

    def __init__(self, engine):
        self.engine = engine
        self.statements: list[str] = []

    def _before(self, conn, cursor, statement, params, context, executemany):
        self.statements.append(statement)

    def __enter__(self):
        self.statements = []
        event.listen(self.engine, "before_cursor_execute", self._before)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._before)


def count_statements(log: StatementLog, client, url: str) -> list[str]:
    with log:
        client.get(url).close()
    return list(log.statements)


def explain_miss(log: StatementLog, client, url: str) -> None:
    """cProfile of one request (top 15 within scheduler/) and its SQL grouped by text."""
    profile = cProfile.Profile()
    with log:
        started = timer.perf_counter()
        profile.enable()
        client.get(url).close()
        profile.disable()
        wall = (timer.perf_counter() - started) * 1000
    statements = list(log.statements)
    print(f"\n  Profile of {url} (one request, cProfile on: {wall:.0f} ms; "
          f"{len(statements)} SQL statements):")
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("cumulative").print_stats(r"scheduler/", 15)
    for line in out.getvalue().splitlines():
        if line.strip() and not line.startswith(("   Ordered by", "   List reduced")):
            print("    " + line)
    repeated = Counter(" ".join(s.split()) for s in statements)
    print(f"  SQL statements by text ({len(repeated)} distinct; most repeated first):")
    for statement, n in repeated.most_common(10):
        print(f"    {n:4d} x  {statement[:150]}")


# --- main --------------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="run against PostgreSQL (a database of yours; "
                        "the run uses and drops its own schema in it)")
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--profile", action="store_true",
                        help="profile every page once, even those on target")
    args = parser.parse_args(argv)
    base_url = database_url_argument(parser, args)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1.")

    now = frozen_now()
    defaults = seed_defaults()
    print(f"HTML pages on the demo clinic, on {describe(base_url)}")
    print(f"  seed: demo_clinic.seed(n_clients={defaults['n_clients']}, "
          f"weeks={defaults['weeks']}) at {now:%a %Y-%m-%d %H:%M} {demo_clinic.DEMO_TZ} "
          f"(clock frozen there)")
    print(f"  each page: 1 warm-up + {args.repeats} requests through the Flask test client, each "
          f"after a GET {BASELINE} (the baseline); target: median < {TARGET_MS:.0f} ms")
    errors: list[str] = []
    with clock.frozen(now), tempfile.TemporaryDirectory(prefix="bench-pages-") as workdir, \
            fresh_database(base_url, workdir, "pages") as url:
        app = make_app(url)
        with app.app_context():
            started = timer.perf_counter()
            migrate_to_head()
            demo_clinic.seed(db.session, now=clock.now(), **defaults)
            db.session.commit()
            data = pick_data(now)
            counts = {name: db.session.scalar(select(func.count()).select_from(model))
                      for name, model in (("clients", Client), ("sessions", Session),
                                          ("bookings", Booking))}
            engine = db.engine
            db.session.remove()
        sid, title, starts, n = data["session"]
        print(f"  seeded in {timer.perf_counter() - started:.1f} s: {counts['clients']} clients, "
              f"{counts['sessions']:,} sessions, {counts['bookings']:,} bookings")
        print(f"  URL arguments: session {sid} ({title}, {starts:%a %H:%M}, {n} booked), "
              + ", ".join(f"{k} {v}" for k, v in data["values"].items()
                          if k != "session_id" and v is not None))
        print("  logins: " + ", ".join(f"{role} {email}"
                                       for role, (_, email) in data["users"].items()))
        for note in data["notes"]:
            print(f"  note: {note}")

        # Requests run outside any app context, so each gets its own (and its own DB session).
        pages, skipped = discover_pages(app, data)
        clients = clients_per_role(app, data["users"])
        baseline_client = app.test_client()
        log = StatementLog(engine)
        if not pages:
            print("No GET pages found in the web blueprints.")
            return 1

        results = []
        for page in pages:
            try:
                role, _, location = choose_role(page, clients)
                client = clients[role]
                timing = time_page(client, baseline_client, page["url"], args.repeats)
                statements = count_statements(log, client, page["url"])
            except Exception as error:  # noqa: BLE001 - a page that raises fails; go on
                errors.append(f"{page['url']}: {type(error).__name__}: {error}")
                print(f"\n  ERROR on {page['url']}:")
                traceback.print_exc(limit=-4, file=sys.stdout)
                results.append({**page, "role": page["order"][0], "error": True})
                continue
            result = {**page, "role": role, "error": False, "sql": statements, **timing}
            result["median"] = statistics.median(timing["ms"])
            result["p95"] = percentile(timing["ms"], 95)
            result["base_median"] = statistics.median(timing["base"])
            result["status"] = timing["statuses"].most_common(1)[0][0]
            if set(timing["statuses"]) != {200}:
                seen = ", ".join(f"{k} x{v}" for k, v in sorted(timing["statuses"].items()))
                where = f" -> {location}" if location else ""
                errors.append(f"{page['url']} as {role or 'signed out'}: status {seen}{where}")
            results.append(result)

        width = max(len(r["url"]) for r in results) + 1
        print(f"\n  {'page':<{width}} {'as':<12} {'status':>6} {'median':>8} {'p95':>8} "
              f"{'x healthz':>9} {'SQL':>5}  target")
        missed = []
        for r in results:
            if r["error"]:
                print(f"  {r['url']:<{width}} {r['role'] or 'signed out':<12} {'ERROR':>6}")
                continue
            ok = r["median"] < TARGET_MS
            if not ok:
                missed.append(r)
            print(f"  {r['url']:<{width}} {r['role'] or 'signed out':<12} {r['status']:>6} "
                  f"{r['median']:7.1f}  {r['p95']:7.1f}  {r['median'] / r['base_median']:8.1f}x "
                  f"{len(r['sql']):5d}  {'met' if ok else 'MISSED'}")
        base_all = sorted(x for r in results if not r["error"] for x in r["base"])
        if base_all:
            label = "baseline GET " + BASELINE
            print(f"  {label:<{width + 20}} {statistics.median(base_all):7.1f}  "
                  f"{percentile(base_all, 95):7.1f}  (all {len(base_all)} interleaved requests)")
        for endpoint, rule, why in skipped:
            print(f"  skipped {rule} ({endpoint}): {why}")

        timed = [r for r in results if not r["error"]]
        print(f"\n  {len(timed)} pages timed, {len(skipped)} skipped, {len(errors)} failed; "
              f"target < {TARGET_MS:.0f} ms median: "
              + ("met by every page" if not missed and timed else
                 f"MISSED by {len(missed)} ({', '.join(r['url'] for r in missed)})"
                 if missed else "nothing timed"))
        for r in (timed if args.profile else missed):
            explain_miss(log, clients[r["role"]], r["url"])
    if errors:
        print("\nFailures:")
        for line in errors:
            print(f"  {line}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
