"""Benchmark: 500 bookings from 8 concurrent callers against gunicorn, with a /healthz baseline.

Run from the repository root:

    .venv/bin/python bench/booking.py                       # SQLite (a file in a temp dir)
    .venv/bin/python bench/booking.py --database-url postgresql://postgres@127.0.0.1:5432/db

A fresh database is built by the Alembic migrations (a new SQLite file, or a throwaway schema in
the given PostgreSQL database, dropped at the end; nothing else there is touched) and seeded
through the services: one program, three weekday series (09:00, 13:00, 18:00; 12 seats each)
over three weeks, 600 clients and one coordinator per caller with an API token. gunicorn then
serves the app on loopback with the production configuration (SCHEDULER_CONFIG=production,
DATABASE_URL and SECRET_KEY passed in its environment; 4 workers of one thread by default, the
README's deployment; --workers/--threads change it), and the callers send

  - POST /api/v1/sessions/{id}/bookings: 500 different clients spread unevenly over the
    sessions, so popular sessions fill and queue clients on their waitlist;
  - the baseline: GET /healthz (one SELECT 1), 500 times.

Each request uses its own loopback connection. A short warm-up (not counted) first lets every
worker build its app and connection. Latency is the client's view, connect to last byte. The CPU
line splits the machine's CPU time over the phase into gunicorn, the callers and the rest (the
database, and anything else running).
Targets (PostgreSQL, 2 cores): over 200 bookings/s and a p95 under 50 ms. When one is missed,
or with --profile, the booking request is profiled in-process (cProfile plus SQL statement
count and time) to show where the time goes.

Bounded: at most --max-seconds for the load, 30 s per request; gunicorn is stopped at the end.
"""

import argparse
import cProfile
import http.client
import io
import json
import os
import pstats
import random
import secrets
import sys
import tempfile
import threading
import time as timer
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from sqlalchemy import create_engine, event, func, select  # noqa: E402

from bench.support import (  # noqa: E402
    database_url_argument,
    describe,
    fresh_database,
    gunicorn,
    make_app,
    migrate_to_head,
    percentile,
    process_tree_cpu,
    tail,
)
from scheduler import create_app  # noqa: E402
from scheduler.extensions import db  # noqa: E402
from scheduler.models import Booking, Session  # noqa: E402
from scheduler.services import accounts, clients, programs, rooms, series, staff  # noqa: E402
from scheduler.services.audit import Actor  # noqa: E402

BOOKINGS = 500
CALLERS = 8
WORKERS = 4
THREADS = 1  # 4 sync workers, as the README deploys it; see --threads
N_CLIENTS = 600
WARMUP_CLIENTS = 48
PROFILE_BOOKINGS = 100
CAPACITY = 12
WEEKS = 3
TZ_NAME = "America/New_York"
TRACKS = ((time(9, 0), "Morning group"), (time(13, 0), "Afternoon skills"),
          (time(18, 0), "Evening relapse prevention"))
TARGET_RATE = 200.0
TARGET_P95_MS = 50.0
REQUEST_TIMEOUT = 30
ACTOR = Actor.system("bench")


# --- databases ---------------------------------------------------------------------------------


def seed(url: str) -> dict:
    """Program, rooms, staff, three weekday series, clients and one token per caller."""
    app = make_app(url)
    now = datetime.now(UTC)
    tz = ZoneInfo(TZ_NAME)
    tomorrow = now.astimezone(tz).date() + timedelta(days=1)
    with app.app_context():
        migrate_to_head()
        s = db.session
        program = programs.create_program(
            s, ACTOR, name="Bench Program", level_of_care="2.1", population="adult",
            timezone=TZ_NAME, address="200 Main Street, Suite 200",
        )
        for i, (start, title) in enumerate(TRACKS):
            room = rooms.create_room(s, ACTOR, name=f"Room {i + 1}", capacity=14)
            lead = staff.create_staff(s, ACTOR, name=f"Clinician {i + 1}", role="therapist",
                                      email=f"staff{i + 1}@bench.test")
            series.create_series(
                s, ACTOR, now=now, horizon_days=WEEKS * 7 + 1, program_id=program.id,
                kind="group", title=title, timezone=TZ_NAME, start_date=tomorrow,
                end_date=tomorrow + timedelta(days=WEEKS * 7 - 1), start_time=start,
                duration_minutes=180, rrule="FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
                capacity=CAPACITY, room_id=room.id, facilitator_ids=[lead.id],
            )
        people = [
            clients.create_client(s, ACTOR, name=f"Client {i + 1}", program_id=program.id,
                                  admitted_on=now.astimezone(tz).date())
            for i in range(N_CLIENTS + WARMUP_CLIENTS + PROFILE_BOOKINGS)
        ]
        tokens = []
        for i in range(CALLERS):
            user = accounts.create_user(s, ACTOR, email=f"coordinator{i + 1}@bench.test",
                                        role="coordinator")
            token, _ = accounts.issue_api_token(s, user, now, ttl_hours=2)
            tokens.append(token)
        s.commit()
        session_ids = list(s.scalars(
            select(Session.id).where(Session.starts_at > now).order_by(Session.starts_at)
        ))
        client_ids = [c.id for c in people]
        db.session.remove()
        db.engine.dispose()
    if len(session_ids) < 30:
        raise SystemExit(f"Seeding made only {len(session_ids)} future sessions.")
    return {"sessions": session_ids, "clients": client_ids, "tokens": tokens}


# --- gunicorn ----------------------------------------------------------------------------------


# --- where the CPU goes ------------------------------------------------------------------------


def _machine_ticks() -> int:
    with open("/proc/stat") as fh:
        parts = fh.readline().split()[1:]
    # user nice system (idle iowait excluded) irq softirq steal
    return sum(int(parts[i]) for i in (0, 1, 2, 5, 6, 7))


def cpu_snapshot(gunicorn_pid: int | None) -> dict:
    """CPU used so far by gunicorn (master and workers), by this process, and by the machine."""
    own = os.times()
    snap = {"bench": own.user + own.system, "machine": 0.0, "gunicorn": 0.0}
    hz = os.sysconf("SC_CLK_TCK")
    if os.path.exists("/proc/stat"):
        snap["machine"] = _machine_ticks() / hz
        if gunicorn_pid:
            snap["gunicorn"] = process_tree_cpu(gunicorn_pid)
    return snap


def cpu_report(before: dict, after: dict, requests: int) -> str:
    used = {k: after[k] - before[k] for k in before}
    rest = max(used["machine"] - used["gunicorn"] - used["bench"], 0.0)  # ticks round
    per = 1000 / max(requests, 1)
    return (f"CPU per request: gunicorn {used['gunicorn'] * per:.2f} ms, callers (this "
            f"process) {used['bench'] * per:.2f} ms, rest of the machine (database, other "
            f"work) {rest * per:.2f} ms; {used['machine']:.2f} CPU-s in all")


# --- load --------------------------------------------------------------------------------------


def request(port, method, path, body, headers, timeout=REQUEST_TIMEOUT):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        payload = json.dumps(body) if body is not None else None
        conn.request(method, path, body=payload,
                     headers={**headers, "Content-Type": "application/json",
                              "Connection": "close"})
        response = conn.getresponse()
        raw = response.read()
    finally:
        conn.close()
    return response.status, raw


def run_load(port: int, jobs: list, callers: int, max_seconds: float):
    """Callers take jobs (method, path, body, headers) from one list until it is empty.

    Returns (wall seconds, [(status, latency seconds, body bytes)], errors).
    """
    lock = threading.Lock()
    pending = iter(enumerate(jobs))
    results = [None] * len(jobs)
    errors = []
    barrier = threading.Barrier(callers + 1)
    deadline = [0.0]

    def caller():
        barrier.wait()
        while True:
            with lock:
                item = next(pending, None)
            if item is None or timer.perf_counter() > deadline[0]:
                return
            i, (method, path, body, headers) = item
            started = timer.perf_counter()
            try:
                status, raw = request(port, method, path, body, headers)
            except Exception as error:  # noqa: BLE001 - counted and reported, never hidden
                with lock:
                    errors.append(f"{method} {path}: {type(error).__name__}: {error}")
                continue
            results[i] = (status, timer.perf_counter() - started, raw)

    threads = [threading.Thread(target=caller, daemon=True) for _ in range(callers)]
    for t in threads:
        t.start()
    deadline[0] = timer.perf_counter() + max_seconds
    started = timer.perf_counter()
    barrier.wait()
    for t in threads:
        t.join(max_seconds + REQUEST_TIMEOUT + 5)
    wall = timer.perf_counter() - started
    done = [r for r in results if r is not None]
    if len(done) + len(errors) < len(jobs):
        errors.append(f"{len(jobs) - len(done) - len(errors)} requests not sent before the "
                      f"{max_seconds:.0f} s limit")
    return wall, done, errors


def summarise(label: str, wall: float, done: list, errors: list, cpu: str = "") -> dict:
    latencies = sorted(r[1] * 1000 for r in done)
    statuses = {}
    for status, _, _ in done:
        statuses[status] = statuses.get(status, 0) + 1
    stats = {
        "rate": len(done) / wall if wall else 0.0,
        "p50": percentile(latencies, 50), "p95": percentile(latencies, 95),
        "p99": percentile(latencies, 99), "max": latencies[-1] if latencies else float("nan"),
        "statuses": statuses, "errors": errors,
    }
    codes = ", ".join(f"{n}×{s}" for s, n in sorted(statuses.items()))
    print(f"  {label}")
    print(f"    {len(done)} answers in {wall:.2f} s ({codes}); {len(errors)} transport errors")
    print(f"    throughput {stats['rate']:8.1f} /s   p50 {stats['p50']:6.1f} ms   "
          f"p95 {stats['p95']:6.1f} ms   p99 {stats['p99']:6.1f} ms   max {stats['max']:6.1f} ms")
    if cpu:
        print(f"    {cpu}")
    for line in errors[:3]:
        print(f"    error: {line}")
    return stats


def booking_jobs(session_ids, client_ids, tokens, n, seed=7):
    """n bookings of different clients, spread unevenly so the popular sessions overflow."""
    rng = random.Random(seed)
    popular = list(session_ids)
    rng.shuffle(popular)
    weights = [1.0 / (rank + 1) ** 0.7 for rank in range(len(popular))]
    chosen = rng.choices(popular, weights=weights, k=n)
    return [
        ("POST", f"/api/v1/sessions/{sid}/bookings", {"client_id": cid},
         {"Authorization": f"Bearer {tokens[i % len(tokens)]}"})
        # Each booking takes a client of its own: too few clients must fail, not shrink the load.
        for i, (sid, cid) in enumerate(zip(chosen, client_ids[:n], strict=True))
    ]


def check_database(url: str, answers: list) -> list[str]:
    """The invariants after the run: no session over capacity, one queue place per client."""
    problems = []
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(Session.id, Session.capacity, func.count(Booking.id))
                .join(Booking, Booking.session_id == Session.id)
                .where(Booking.status == "booked")
                .group_by(Session.id, Session.capacity)
            ).all()
            over = [(sid, cap, n) for sid, cap, n in rows if n > cap]
            if over:
                problems.append(f"sessions over capacity (id, capacity, booked): {over[:5]}")
    finally:
        engine.dispose()
    places = {}
    for status, _, raw in answers:
        if status == 201:
            body = json.loads(raw)
            if body["status"] == "waitlisted":
                key = (body["session_id"], body["waitlist_position"])
                if key in places:
                    problems.append(f"two clients told position {key[1]} in session {key[0]}")
                places[key] = body["client_id"]
    return problems


# --- profile -----------------------------------------------------------------------------------


def profile_in_process(url: str, session_ids, client_ids, token: str) -> None:
    """Book PROFILE_BOOKINGS clients one at a time through the app in-process, under cProfile,
    counting SQL statements and the time spent in them."""
    app = create_app({"CONFIG_NAME": "production", "SQLALCHEMY_DATABASE_URI": url,
                      "SECRET_KEY": secrets.token_hex(16),
                      "RATELIMIT_ONE_PROCESS": True})
    statements = {"n": 0, "seconds": 0.0, "by_kind": {}}

    with app.app_context():
        engine = db.engine

        @event.listens_for(engine, "before_cursor_execute")
        def _before(conn, cursor, statement, params, context, executemany):
            conn.info.setdefault("bench_started", []).append(timer.perf_counter())

        @event.listens_for(engine, "after_cursor_execute")
        def _after(conn, cursor, statement, params, context, executemany):
            took = timer.perf_counter() - conn.info["bench_started"].pop()
            statements["n"] += 1
            statements["seconds"] += took
            words = statement.split()
            kind = " ".join(words[:1] + [w for w in words[1:6] if w.isupper()][:2])
            head = f"{kind} … {next((w for w in words if w.islower() or '.' in w), '')}"
            slot = statements["by_kind"].setdefault(head[:70], [0, 0.0])
            slot[0] += 1
            slot[1] += took

    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    jobs = booking_jobs(session_ids, client_ids, [token], PROFILE_BOOKINGS, seed=11)
    profile = cProfile.Profile()
    started = timer.perf_counter()
    profile.enable()
    for _, path, body, _ in jobs:
        response = client.post(path, json=body, headers=headers)
        if response.status_code != 201:
            print(f"    profile request answered {response.status_code}: {response.get_data()}")
    profile.disable()
    wall = timer.perf_counter() - started
    n = len(jobs)
    print(f"\nIn-process profile: {n} bookings one after another (Flask test client, no HTTP, "
          f"cProfile on)")
    print(f"    {wall / n * 1000:.2f} ms per booking; {statements['n'] / n:.1f} SQL statements "
          f"per booking taking {statements['seconds'] / n * 1000:.2f} ms "
          f"({statements['seconds'] / wall:.0%} of the time)")
    print("    statements by kind (count per booking, ms per booking):")
    for head, (count, seconds) in sorted(statements["by_kind"].items(),
                                         key=lambda kv: -kv[1][1])[:15]:
        print(f"      {count / n:5.2f}  {seconds / n * 1000:6.3f} ms  {head}")
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("cumulative").print_stats("scheduler/", 20)
    print(out.getvalue())
    with app.app_context():
        db.engine.dispose()


# --- main --------------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="run against PostgreSQL (a database of yours; "
                        "the run uses and drops its own schema in it)")
    parser.add_argument("--bookings", type=int, default=BOOKINGS)
    parser.add_argument("--callers", type=int, default=CALLERS)
    parser.add_argument("--workers", type=int, default=WORKERS, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=THREADS,
                        help="threads per worker (more than 1: gunicorn's gthread worker)")
    parser.add_argument("--max-seconds", type=float, default=120,
                        help="stop sending after this long per phase")
    parser.add_argument("--profile", action="store_true",
                        help="profile the booking request in-process even when on target")
    parser.add_argument("--strict", action="store_true",
                        help="exit with status 2 when a target is missed")
    args = parser.parse_args(argv)
    base_url = database_url_argument(parser, args)
    if args.bookings > N_CLIENTS:
        parser.error(f"--bookings may be at most {N_CLIENTS} (one client each).")

    print(f"Booking benchmark on {describe(base_url)}: gunicorn {args.workers} workers × "
          f"{args.threads} thread(s), {args.callers} concurrent callers, loopback")
    with tempfile.TemporaryDirectory(prefix="bench-booking-") as workdir, \
            fresh_database(base_url, workdir, "booking") as url:
        started = timer.perf_counter()
        data = seed(url)
        sessions, people, tokens = data["sessions"], data["clients"], data["tokens"]
        measured = people[:N_CLIENTS]
        warm_clients = people[N_CLIENTS:N_CLIENTS + WARMUP_CLIENTS]
        profile_clients = people[N_CLIENTS + WARMUP_CLIENTS:]
        # The last sessions are left for the warm-up and the profile, out of the measured set.
        load_sessions, warm_sessions, profile_sessions = sessions[:-8], sessions[-8:-4], \
            sessions[-4:]
        print(f"  seeded {len(people)} clients, {len(sessions)} sessions of {CAPACITY} seats, "
              f"{len(tokens)} coordinator tokens in {timer.perf_counter() - started:.1f} s")

        with gunicorn(url, workdir, args.workers, args.threads) as (port, log_path, pid):
            warm = booking_jobs(warm_sessions, warm_clients, tokens, WARMUP_CLIENTS, seed=3)
            warm += [("GET", "/healthz", None, {})] * 40
            _, warm_done, warm_errors = run_load(port, warm, args.callers, args.max_seconds)
            bad = [r for r in warm_done if r[0] >= 400] + warm_errors
            if bad:
                print(f"  warm-up failed: {bad[:3]}\n{tail(log_path)}")
                return 1
            print(f"  warm-up: {WARMUP_CLIENTS} bookings and 40 health checks (not counted)")

            jobs = booking_jobs(load_sessions, measured, tokens, args.bookings)
            before = cpu_snapshot(pid)
            wall, done, errors = run_load(port, jobs, args.callers, args.max_seconds)
            cpu = cpu_report(before, cpu_snapshot(pid), len(done))
            book = summarise(f"POST /api/v1/sessions/{{id}}/bookings × {args.bookings}",
                             wall, done, errors, cpu)
            outcomes = [json.loads(raw)["status"] for status, _, raw in done if status == 201]
            print(f"    {outcomes.count('booked')} booked, {outcomes.count('waitlisted')} "
                  f"waitlisted over {len({j[1] for j in jobs})} sessions")

            before = cpu_snapshot(pid)
            wall, hdone, herrors = run_load(port, [("GET", "/healthz", None, {})] * args.bookings,
                                            args.callers, args.max_seconds)
            cpu = cpu_report(before, cpu_snapshot(pid), len(hdone))
            health = summarise(f"GET /healthz × {args.bookings} (baseline)", wall, hdone,
                               herrors, cpu)
            with open(log_path) as fh:
                server_errors = [line for line in fh if "Traceback" in line]

        print(f"  ratio booking / healthz: throughput {book['rate'] / health['rate']:.2f}×, "
              f"p95 {book['p95'] / health['p95']:.1f}×")
        problems = check_database(url, done)
        failures = [s for s in book["statuses"] if s != 201] + \
            [s for s in health["statuses"] if s != 200]
        if failures or book["errors"] or health["errors"] or server_errors:
            problems.append(f"unexpected answers {book['statuses']} / {health['statuses']}, "
                            f"{len(server_errors)} tracebacks in the gunicorn log")
        print("  invariants: " + ("no session over capacity, waitlist places unique"
                                  if not problems else "; ".join(problems)))
        on_rate = book["rate"] > TARGET_RATE
        on_p95 = book["p95"] < TARGET_P95_MS
        print(f"  target > {TARGET_RATE:.0f} bookings/s:   {'met' if on_rate else 'MISSED'}")
        print(f"  target p95 < {TARGET_P95_MS:.0f} ms:       {'met' if on_p95 else 'MISSED'}")
        if base_url is None:
            print("  (the targets are set for PostgreSQL; SQLite takes one writer at a time)")

        if args.profile or not (on_rate and on_p95):
            profile_in_process(url, profile_sessions, profile_clients, tokens[0])
    if problems:
        return 1
    return 2 if args.strict and not (on_rate and on_p95) else 0


if __name__ == "__main__":
    sys.exit(main())
