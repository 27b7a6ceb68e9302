"""Benchmark: one client's calendar feed (12 months, ~156 sessions) served by gunicorn, against
the same bytes served from memory by a route of the same app (the floor).

Run from the repository root:

    .venv/bin/python bench/feeds.py                         # SQLite (a file in a temp dir)
    .venv/bin/python bench/feeds.py --database-url postgresql://postgres@127.0.0.1:5432/db

A fresh database is built by the Alembic migrations (a new SQLite file, or a throwaway schema in
the given PostgreSQL database, dropped at the end; nothing else there is touched) and seeded
through the services: one program, three weekly evening series (Monday, Wednesday, Thursday;
12 seats each; each its own room and clinician) over the next 12 months, made with a 366-day
horizon, and 12 clients enrolled in all three (scheduler.services.booking.enroll_client), so the
measured client holds ~156 booked sessions and the tables hold ~1,900 bookings. Every client
gets a feed token (scheduler.feeds.tokens.issue) and a 60-minute alarm, so each event carries a
VALARM. The measured feed is the first client's.

gunicorn then serves, on loopback with the production configuration (SCHEDULER_CONFIG=production,
DATABASE_URL and SECRET_KEY in its environment; 2 sync workers by default, one per core), a WSGI
module the benchmark writes into its temp dir: scheduler.create_app() plus one extra route,
GET /floor.ics, which returns the feed's bytes from a module-level variable with the same
Content-Type, ETag, Last-Modified, Cache-Control and Content-Disposition headers. Both go through
the same gunicorn, Flask, Flask-Limiter and before-request stack; the floor does no database
work at all. The bytes and headers it serves are those of the first full GET, written to the
temp dir for it to load on its first call. Three requests are measured:

  - full:  GET /feeds/<token>.ics (200, the cached render; token lookup, validators);
  - 304:   the same with If-None-Match: <its ETag> (304, empty body);
  - floor: GET /floor.ics (200, same bytes from memory): the baseline.

A warm-up (not counted) sends each of them from several concurrent connections, so every
worker has built its app, its database connection and its cached render. Then two phases:

  - latency: one caller, one persistent http.client connection, the three requests interleaved
    (full, 304, floor, full, ...) --requests times each, so any drift of the machine hits all
    three alike. No queueing: this is the per-request time a phone sees on an idle server, and
    the targets are judged on it (median; p95 printed too).
  - throughput: for each request in turn, --callers threads (2 per worker by default), each with
    its own http.client connection, send --requests requests between them; requests/s, and the
    latency under that load (which includes waiting for a free worker).

gunicorn's sync workers close the connection after each response (they do not keep alive); the
client's connections reconnect transparently, so every request pays a loopback connect, the
same for all three. --threads N (N > 1) runs gunicorn's gthread worker instead, which keeps
connections alive. Latency is the client's view, request written to last byte read. Every
response is checked: 200s carry exactly the rendered bytes and the same ETag, 304s an empty body
and that ETag; anything else fails the run. The CPU line of each throughput phase gives the
gunicorn processes' CPU per request.

Targets: a full GET under 10 ms median; a 304 within 1.5x of the floor's median. When one is
missed, or with --profile, the feed request is profiled in-process (Flask test client, no HTTP):
time per request for each kind, SQL statements and their time, the token lookup timed on its
own, and cProfile's view of the rest.

Bounded: at most --max-seconds per phase, 30 s per request; gunicorn is stopped at the end.
"""

import argparse
import cProfile
import http.client
import io
import json
import os
import pstats
import secrets
import statistics
import sys
import tempfile
import threading
import time as timer
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from sqlalchemy import bindparam, event, func, select  # noqa: E402

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
from scheduler.feeds import tokens as feed_tokens  # noqa: E402
from scheduler.models import Booking, FeedToken, FeedVersion  # noqa: E402
from scheduler.services import booking, clients, programs, rooms, series, staff  # noqa: E402
from scheduler.services.audit import Actor  # noqa: E402

REQUESTS = 2000
WORKERS = 2
THREADS = 1
CALLERS = 4
N_CLIENTS = 12
CAPACITY = 12
DAYS = 365
TZ_NAME = "America/New_York"
TRACKS = (("MO", time(18, 0), "Monday evening group"),
          ("WE", time(18, 0), "Wednesday skills group"),
          ("TH", time(18, 0), "Thursday relapse prevention"))
ALARM_MINUTES = 60
TARGET_FULL_MS = 10.0
TARGET_RATIO = 1.5
PROFILE_REQUESTS = 300
PROFILE_ROUNDS = 12
PROFILE_BATCH = 50
# (label, file suffix, function) whose cumulative time the profile prints, outermost first.
PROFILE_SPLIT = (
    ("Flask wsgi_app (the whole request)", "flask/app.py", "wsgi_app"),
    ("Flask-Limiter before_request + decorator checks", "flask_limiter/_extension.py",
     "_check_request_limit"),
    ("views.feed", "scheduler/feeds/views.py", "feed"),
    ("  tokens.resolve", "scheduler/feeds/tokens.py", "resolve"),
    ("    its lookup connection", "scheduler/feeds/tokens.py", "fetch"),
    ("  tokens.mark_used (no write within the hour)", "scheduler/feeds/tokens.py", "mark_used"),
    ("  RenderCache.get", "scheduler/feeds/cache.py", "get"),
    ("  Flask-Limiter storage: test", "limits/strategies.py", "test"),
    ("teardown: Flask-SQLAlchemy session remove", "flask_sqlalchemy/extension.py",
     "_teardown_session"),
)
REQUEST_TIMEOUT = 30
# The view's own headers, which the floor copies; the rest (Date, Server, Content-Length,
# Connection) the stack adds to both.
FEED_HEADERS = ("Content-Type", "ETag", "Last-Modified", "Cache-Control", "Content-Disposition")
ACTOR = Actor.system("bench")

FLOOR_MODULE = '''"""Written by bench/feeds.py: the app and GET /floor.ics, the feed from memory."""

import json
import os

from flask import Response

from scheduler import create_app

HERE = os.path.dirname(os.path.abspath(__file__))
app = create_app()
_floor = {}


@app.get("/floor.ics")
def floor():
    if not _floor:  # loaded once per worker, during the warm-up
        with open(os.path.join(HERE, "floor.ics"), "rb") as fh:
            body = fh.read()
        with open(os.path.join(HERE, "floor.json")) as fh:
            headers = json.load(fh)
        _floor.update(body=body, headers=headers)
    return Response(_floor["body"], headers=_floor["headers"])
'''


# --- data --------------------------------------------------------------------------------------


def seed(url: str) -> dict:
    """Program, three weekly series over 12 months, 12 clients in all three, a token each."""
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
        series_ids = []
        for i, (day, start, title) in enumerate(TRACKS):
            room = rooms.create_room(s, ACTOR, name=f"Room {i + 1}", capacity=14)
            lead = staff.create_staff(s, ACTOR, name=f"Clinician {i + 1}", role="therapist",
                                      email=f"staff{i + 1}@bench.test")
            row, _ = series.create_series(
                s, ACTOR, now=now, horizon_days=DAYS + 1, program_id=program.id,
                kind="group", title=title, timezone=TZ_NAME, start_date=tomorrow,
                end_date=tomorrow + timedelta(days=DAYS - 1), start_time=start,
                duration_minutes=180, rrule=f"FREQ=WEEKLY;BYDAY={day}",
                capacity=CAPACITY, room_id=room.id, facilitator_ids=[lead.id],
            )
            series_ids.append(row.id)
        s.commit()
        people = [
            clients.create_client(s, ACTOR, name=f"Client {i + 1}", program_id=program.id,
                                  admitted_on=now.astimezone(tz).date(),
                                  feed_alarm_minutes=ALARM_MINUTES)
            for i in range(N_CLIENTS)
        ]
        s.commit()
        for person in people:
            for series_id in series_ids:
                booking.enroll_client(s, ACTOR, series_id, person.id, now=now)
            s.commit()
        feed_token = None
        for person in people:
            token = feed_tokens.issue(s, ACTOR, "client", person.id, now)
            feed_token = feed_token or token
        s.commit()
        client_id = people[0].id
        booked = s.scalar(select(func.count(Booking.id)).where(
            Booking.client_id == client_id, Booking.status == "booked"))
        total = s.scalar(select(func.count(Booking.id)))
        db.session.remove()
        db.engine.dispose()
    if booked < 140:
        raise SystemExit(f"Seeding booked the client into only {booked} sessions.")
    return {"token": feed_token, "client_id": client_id, "booked": booked, "bookings": total}


# --- gunicorn ----------------------------------------------------------------------------------


@contextmanager
def serve(url: str, workdir: str, workers: int, threads: int):
    """gunicorn serving the app plus /floor.ics, production configuration; stopped at the end."""
    with open(os.path.join(workdir, "bench_feeds_app.py"), "w") as fh:
        fh.write(FLOOR_MODULE)
    with gunicorn(url, workdir, workers, threads, app="bench_feeds_app:app",
                  pythonpath=f"{workdir},{ROOT}") as served:
        yield served


# --- requests ----------------------------------------------------------------------------------


class Caller:
    """One client: a persistent http.client connection, reopened whenever the server closes it."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)

    def get(self, path: str, headers: dict):
        """(status, seconds, body, response headers); the time is request sent to last byte."""
        started = timer.perf_counter()
        try:
            self.conn.request("GET", path, headers=headers)
            response = self.conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()  # a fresh connection for the next request; this one is reported
            raise
        took = timer.perf_counter() - started
        return response.status, took, body, response.headers

    def close(self):
        self.conn.close()


class Kinds:
    """The three measured requests and what a correct answer to each looks like."""

    def __init__(self, token: str):
        self.token = token
        self.body = b""
        self.etag = ""
        self.requests = {}
        self.headers = {}

    def learn(self, body: bytes, headers) -> None:
        self.body = body
        self.etag = headers["ETag"]
        self.headers = {name: headers[name] for name in FEED_HEADERS}
        self.requests = {
            "full": (f"/feeds/{self.token}.ics", {}),
            "304": (f"/feeds/{self.token}.ics", {"If-None-Match": self.etag}),
            "floor": ("/floor.ics", {}),
        }

    def problem(self, kind: str, status: int, body: bytes, headers) -> str | None:
        expected = 304 if kind == "304" else 200
        if status != expected:
            return f"{kind}: status {status}, expected {expected}"
        if kind == "304":
            if body:
                return f"304 with a {len(body)}-byte body"
        elif body != self.body:
            return f"{kind}: {len(body)} bytes differing from the {len(self.body)} rendered"
        if headers.get("ETag") != self.etag:
            return f"{kind}: ETag {headers.get('ETag')!r}, expected {self.etag!r}"
        return None


def first_response(port: int, kinds: Kinds, workdir: str) -> None:
    """The first full GET renders the feed; its bytes and headers become the floor's."""
    caller = Caller(port)
    try:
        status, _, body, headers = caller.get(f"/feeds/{kinds.token}.ics", {})
    finally:
        caller.close()
    if status != 200 or not body.startswith(b"BEGIN:VCALENDAR"):
        raise SystemExit(f"the feed answered {status}: {body[:200]!r}")
    kinds.learn(body, headers)
    with open(os.path.join(workdir, "floor.ics"), "wb") as fh:
        fh.write(body)
    with open(os.path.join(workdir, "floor.json"), "w") as fh:
        json.dump(kinds.headers, fh)


def run_phase(port: int, kinds: Kinds, sequence: list[str], callers: int, max_seconds: float):
    """Callers take request kinds from `sequence` until it is empty.

    Returns (wall seconds, {kind: [latency seconds]}, problems, transport errors).
    """
    lock = threading.Lock()
    pending = iter(sequence)
    latencies = {kind: [] for kind in kinds.requests}
    problems, errors = [], []
    barrier = threading.Barrier(callers + 1)
    deadline = [0.0]

    def work():
        caller = Caller(port)
        barrier.wait()
        try:
            while True:
                with lock:
                    kind = next(pending, None)
                if kind is None or timer.perf_counter() > deadline[0]:
                    return
                path, headers = kinds.requests[kind]
                try:
                    status, took, body, answer = caller.get(path, headers)
                except Exception as error:  # noqa: BLE001 - counted and reported, never hidden
                    with lock:
                        errors.append(f"{kind}: {type(error).__name__}: {error}")
                    continue
                wrong = kinds.problem(kind, status, body, answer)
                with lock:
                    latencies[kind].append(took)
                    if wrong:
                        problems.append(wrong)
        finally:
            caller.close()

    threads = [threading.Thread(target=work, daemon=True) for _ in range(callers)]
    for t in threads:
        t.start()
    deadline[0] = timer.perf_counter() + max_seconds
    started = timer.perf_counter()
    barrier.wait()
    for t in threads:
        t.join(max_seconds + REQUEST_TIMEOUT + 5)
    wall = timer.perf_counter() - started
    sent = sum(len(v) for v in latencies.values()) + len(errors)
    if sent < len(sequence):
        errors.append(f"{len(sequence) - sent} requests not sent before the {max_seconds:.0f} s "
                      f"limit")
    return wall, latencies, problems, errors


def stats(samples: list[float]) -> dict:
    ms = sorted(s * 1000 for s in samples)
    return {"n": len(ms), "p50": percentile(ms, 50), "p95": percentile(ms, 95),
            "p99": percentile(ms, 99)}


# --- profile -----------------------------------------------------------------------------------


def profile_in_process(url: str, token: str, etag: str, body: bytes, headers: dict) -> None:
    """The feed request in-process (Flask test client, no HTTP): where its time goes.

    First the three requests and the parts of the token lookup, timed without a profiler in
    interleaved rounds (median of the rounds); then the SQL a 304 sends; then cProfile's split
    of the 304 (a profiler inflates Python calls, so read those as shares)."""
    app = create_app({"CONFIG_NAME": "production", "SQLALCHEMY_DATABASE_URI": url,
                      "SECRET_KEY": secrets.token_hex(16),
                      "RATELIMIT_ONE_PROCESS": True})
    app.add_url_rule("/floor.ics", "bench_floor",
                     lambda: app.response_class(body, headers=headers))
    with app.app_context():
        engine = db.engine
    statements = _statement_counter(engine)

    client = app.test_client()
    path = f"/feeds/{token}.ics"
    revalidate_headers = {"If-None-Match": etag}
    for check, expect in ((lambda: client.get(path), 200), (lambda: client.get("/floor.ics"), 200),
                          (lambda: client.get(path, headers=revalidate_headers), 304)):
        if check().status_code != expect:  # also warms the render cache and the pool
            raise SystemExit(f"profile: unexpected answer (wanted {expect})")

    _time_the_parts(app, client, path, revalidate_headers, token)
    _print_sql_per_304(client, path, revalidate_headers, statements)
    _print_cprofile_of_304(client, path, revalidate_headers)
    with app.app_context():
        db.engine.dispose()


def _statement_counter(engine) -> dict:
    """Counts and times the engine's statements, by text, while its "on" is true."""
    statements = {"on": False, "n": 0, "seconds": 0.0, "by_kind": {}}

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn, cursor, statement, params, context, executemany):
        conn.info.setdefault("bench_started", []).append(timer.perf_counter())

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn, cursor, statement, params, context, executemany):
        took = timer.perf_counter() - conn.info["bench_started"].pop()
        if statements["on"]:
            statements["n"] += 1
            statements["seconds"] += took
            slot = statements["by_kind"].setdefault(" ".join(statement.split())[:80], [0, 0.0])
            slot[0] += 1
            slot[1] += took

    return statements


def _time_the_parts(app, client, path: str, revalidate_headers: dict, token: str) -> None:
    """The three requests and the parts of the token lookup, in interleaved rounds."""
    digest = feed_tokens.hash_token(token)

    def lookup_statement(where):
        return (select(FeedToken.id, FeedToken.owner_kind, FeedToken.owner_id,
                       FeedVersion.version, FeedVersion.changed_at, FeedToken.last_used_at)
                .join(FeedVersion, (FeedVersion.owner_kind == FeedToken.owner_kind)
                      & (FeedVersion.owner_id == FeedToken.owner_id))
                .where(FeedToken.token_hash == where, FeedToken.revoked_at.is_(None)))

    prebuilt = lookup_statement(bindparam("token_hash"))

    def resolve_lookup():
        feed_tokens.resolve(db.engine, token)

    def resolve_core():
        with db.engine.connect() as conn:
            conn.execute(prebuilt, {"token_hash": digest}).first()

    def checkout():
        with db.engine.connect():
            pass

    parts = (
        ("floor", "GET /floor.ics, whole request", lambda: client.get("/floor.ics")),
        ("304", "GET feed with If-None-Match, whole request",
         lambda: client.get(path, headers=revalidate_headers)),
        ("full", "GET feed, whole request", lambda: client.get(path)),
        ("resolve", "tokens.resolve (its own lookup connection, as the view does)", resolve_lookup),
        ("build", "  building its select() alone", lambda: lookup_statement(digest)),
        ("checkout", "  pool checkout + pre-ping + return alone", checkout),
        ("core", "the same SELECT prebuilt, bound, via engine.connect()", resolve_core),
    )
    samples = {key: [] for key, _, _ in parts}
    with app.test_request_context():
        for _ in range(PROFILE_ROUNDS):
            for key, _, call in parts:
                started = timer.perf_counter()
                for _ in range(PROFILE_BATCH):
                    call()
                samples[key].append((timer.perf_counter() - started) / PROFILE_BATCH * 1000)
        db.session.remove()
    med = {key: statistics.median(values) for key, values in samples.items()}
    print(f"\nIn-process profile (Flask test client, no HTTP, production configuration): "
          f"{PROFILE_ROUNDS} interleaved rounds of {PROFILE_BATCH}, median per call")
    for key, label, _ in parts:
        print(f"    {med[key]:7.3f} ms  {label}")
    print(f"    304 − floor {med['304'] - med['floor']:.3f} ms, of which tokens.resolve "
          f"{med['resolve']:.3f} ms; a 1.5× floor 304 would be {TARGET_RATIO * med['floor']:.3f} "
          f"ms in-process")


def _print_sql_per_304(client, path: str, revalidate_headers: dict, statements: dict) -> None:
    statements.update(on=True)
    for _ in range(PROFILE_BATCH):
        client.get(path, headers=revalidate_headers)
    statements.update(on=False)
    n = PROFILE_BATCH
    print(f"    SQL per 304: {statements['n'] / n:.1f} statements, "
          f"{statements['seconds'] / n * 1000:.3f} ms at the driver")
    for head, (count, seconds) in sorted(statements["by_kind"].items(), key=lambda kv: -kv[1][1]):
        print(f"      {count / n:4.1f} × {seconds / n * 1000:6.3f} ms  {head}")


def _print_cprofile_of_304(client, path: str, revalidate_headers: dict) -> None:
    profile = cProfile.Profile()
    n = PROFILE_REQUESTS
    profile.enable()
    for _ in range(n):
        client.get(path, headers=revalidate_headers)
    profile.disable()
    table = pstats.Stats(profile).stats
    whole = None
    print(f"    cProfile of {n} 304s, cumulative ms per request (share of Flask's wsgi_app):")
    for label, suffix, name in PROFILE_SPLIT:
        ms = sum(row[3] for (file, _, func), row in table.items()
                 if file.endswith(suffix) and func == name) / n * 1000
        whole = whole or ms
        print(f"      {ms:7.3f} ms {ms / whole:5.0%}  {label}")
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(12)
    print("    by own time:")
    print("\n".join("    " + line for line in out.getvalue().splitlines()[6:20]))


# --- main --------------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="run against PostgreSQL (a database of yours; "
                        "the run uses and drops its own schema in it)")
    parser.add_argument("--requests", type=int, default=REQUESTS,
                        help="requests of each kind, in each phase")
    parser.add_argument("--callers", type=int, default=CALLERS,
                        help="concurrent connections in the throughput phase")
    parser.add_argument("--workers", type=int, default=WORKERS, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=THREADS,
                        help="threads per worker (more than 1: gunicorn's gthread worker, "
                        "which keeps connections alive)")
    parser.add_argument("--max-seconds", type=float, default=120,
                        help="stop sending after this long per phase")
    parser.add_argument("--profile", action="store_true",
                        help="profile the feed request in-process even when on target")
    parser.add_argument("--strict", action="store_true",
                        help="exit with status 2 when a target is missed")
    args = parser.parse_args(argv)
    base_url = database_url_argument(parser, args)

    print(f"Feed benchmark on {describe(base_url)}: gunicorn {args.workers} workers × "
          f"{args.threads} thread(s), loopback")
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-feeds-") as workdir, \
            fresh_database(base_url, workdir, "feeds") as url:
        started = timer.perf_counter()
        data = seed(url)
        print(f"  seeded {N_CLIENTS} clients in {len(TRACKS)} weekly series over {DAYS} days: "
              f"the measured client holds {data['booked']} booked sessions "
              f"({data['bookings']} bookings in all) in {timer.perf_counter() - started:.1f} s")
        kinds = Kinds(data["token"])

        with serve(url, workdir, args.workers, args.threads) as (port, log_path, pid):
            first_response(port, kinds, workdir)
            print(f"  feed: {len(kinds.body):,} bytes, {kinds.body.count(b'BEGIN:VEVENT')} "
                  f"events, ETag {kinds.etag}")
            warm = [k for _ in range(30) for k in ("full", "304", "floor")]
            _, _, warm_problems, warm_errors = run_phase(port, kinds, warm, args.workers * 2,
                                                         args.max_seconds)
            if warm_problems or warm_errors:
                print(f"  warm-up failed: {(warm_problems + warm_errors)[:3]}\n{tail(log_path)}")
                return 1
            print(f"  warm-up: {len(warm)} requests from {args.workers * 2} connections "
                  f"(not counted)")

            n = args.requests
            print(f"  latency: one connection, the three interleaved, {n} of each")
            wall, lat, wrong, errors = run_phase(port, kinds, ["full", "304", "floor"] * n, 1,
                                                 args.max_seconds)
            problems += wrong + errors
            seq = {kind: stats(samples) for kind, samples in lat.items()}
            for kind, label in (("full", "full GET  "), ("304", "304       "),
                                ("floor", "floor     ")):
                s = seq[kind]
                print(f"    {label} p50 {s['p50']:6.2f} ms   p95 {s['p95']:6.2f} ms   "
                      f"p99 {s['p99']:6.2f} ms   ({s['n']} answers; × floor p50 "
                      f"{s['p50'] / seq['floor']['p50']:.2f})")

            print(f"  throughput: {args.callers} connections, {n} requests of each kind in turn")
            load = {}
            for kind, label in (("full", "full GET  "), ("304", "304       "),
                                ("floor", "floor     ")):
                cpu_before = process_tree_cpu(pid)
                wall, lat, wrong, errors = run_phase(port, kinds, [kind] * n, args.callers,
                                                     args.max_seconds)
                cpu = (process_tree_cpu(pid) - cpu_before) / max(len(lat[kind]), 1) * 1000
                problems += wrong + errors
                s = stats(lat[kind])
                s["rate"] = len(lat[kind]) / wall if wall else 0.0
                load[kind] = s
                print(f"    {label} {s['rate']:7.0f} /s   p50 {s['p50']:6.2f} ms   p95 "
                      f"{s['p95']:6.2f} ms   gunicorn CPU {cpu:.2f} ms/request")
            for kind in ("full", "304"):
                print(f"    {kind:4s} / floor: throughput "
                      f"{load[kind]['rate'] / load['floor']['rate']:.2f}×, p50 "
                      f"{load[kind]['p50'] / load['floor']['p50']:.2f}×")
            with open(log_path) as fh:
                server_errors = [line for line in fh if "Traceback" in line]
            if server_errors:
                problems.append(f"{len(server_errors)} tracebacks in the gunicorn log")

        print("  checks: " + ("every 200 carried the rendered bytes and ETag, every 304 an "
                              "empty body" if not problems else "; ".join(problems[:5])))
        full_ok = seq["full"]["p50"] < TARGET_FULL_MS
        ratio = seq["304"]["p50"] / seq["floor"]["p50"]
        ratio_ok = ratio <= TARGET_RATIO
        print(f"  target full GET p50 < {TARGET_FULL_MS:.0f} ms:   "
              f"{seq['full']['p50']:.2f} ms  {'met' if full_ok else 'MISSED'}")
        print(f"  target 304 p50 ≤ {TARGET_RATIO}× floor p50: {ratio:.2f}×     "
              f"{'met' if ratio_ok else 'MISSED'}")

        if args.profile or not (full_ok and ratio_ok):
            profile_in_process(url, kinds.token, kinds.etag, kinds.body, kinds.headers)
    if problems:
        return 1
    return 2 if args.strict and not (full_ok and ratio_ok) else 0


if __name__ == "__main__":
    sys.exit(main())
