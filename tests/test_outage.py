"""A database restart in the middle of the day: 503s with Retry-After, never a 500 or a lost write.

These tests run their own PostgreSQL cluster (tests/pg_cluster.py) so that they can stop it
while a real HTTP server is answering bookings, and start it again, without touching the
shared server. They run in either lane of `make test`: the database under test is always the
private cluster, whatever TEST_DATABASE_URL says.
"""

import dataclasses
import http.client
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from itertools import count

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server

from scheduler import create_app
from scheduler.extensions import db as _db
from scheduler.feeds import tokens
from scheduler.jobs import registry, worker
from scheduler.models import AuditEvent, Booking, JobRun, Session
from tests import helpers
from tests.pg_cluster import PrivateCluster, unavailable_reason

API = "/api/v1"
BOOKINGS = 200
# One request leaves every SPACING seconds, so the loop spans the whole outage whatever the
# machine's speed: the server stops once STOP_AFTER requests have been sent and starts again
# OUTAGE_SECONDS later.
SPACING = 0.04
STOP_AFTER = 50
OUTAGE_SECONDS = 3.0
CALLERS = 6
REQUEST_TIMEOUT = 30

_databases = count(1)


@pytest.fixture(scope="module")
def cluster():
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    made = PrivateCluster()
    try:
        made.start()
        yield made
    finally:
        made.destroy()


@pytest.fixture
def outage_app(cluster, now):
    """The app on a fresh database of the private cluster, configured as in production."""
    if not cluster_is_up(cluster):
        cluster.start()  # a failed test may have left it stopped
    url = cluster.create_database(f"outage_{next(_databases)}")
    app = create_app({"CONFIG_NAME": "testing", "SQLALCHEMY_DATABASE_URI": url,
                      # As in production: an unhandled error becomes a 500, not a traceback
                      # raised into the server.
                      "PROPAGATE_EXCEPTIONS": False})
    with app.app_context():
        _db.create_all()
        yield app
        _db.session.remove()
        _db.engine.dispose()


def cluster_is_up(cluster) -> bool:
    import psycopg

    try:
        psycopg.connect(f"host=127.0.0.1 port={cluster.port} user=postgres dbname=postgres",
                        connect_timeout=2).close()
        return True
    except psycopg.OperationalError:
        return False


@pytest.fixture
def server(outage_app):
    _db.session.commit()
    httpd = make_server("127.0.0.1", 0, outage_app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              name="outage-http-server", daemon=True)
    thread.start()
    try:
        yield httpd.server_address[:2]
    finally:
        httpd.shutdown()
        thread.join(timeout=10)
        httpd.server_close()


class Answer:
    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw

    @property
    def json(self):
        return json.loads(self.raw)

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")

    def __repr__(self):
        return f"<{self.status} {self.content_type} {self.raw[:200]!r}>"


def call(server, method, path, body=None, headers=None) -> Answer:
    host, port = server
    conn = http.client.HTTPConnection(host, port, timeout=REQUEST_TIMEOUT)
    try:
        payload = json.dumps(body) if body is not None else None
        conn.request(method, path, body=payload,
                     headers={"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        return Answer(response.status, dict(response.getheaders()), response.read())
    finally:
        conn.close()


def session_cookie(app, user) -> dict:
    """The Cookie header of a signed-in page session, as the login form would leave it."""
    serializer = app.session_interface.get_signing_serializer(app)
    value = serializer.dumps({"_user_id": str(user.id), "_fresh": True})
    return {"Cookie": f"{app.config['SESSION_COOKIE_NAME']}={value}"}


def assert_outage_answer(answer: Answer, kind: str) -> None:
    """A 503 the caller can act on: Retry-After, and the shape its kind of route promises."""
    assert answer.status == 503, answer
    assert int(answer.headers.get("Retry-After", "0")) > 0, answer
    if kind == "api":
        body = answer.json
        assert body["code"] == 503 and body["status"] == "Service Unavailable", body
        assert body["message"], body
    elif kind == "health":
        assert answer.json["status"] == "unavailable", answer
    elif kind == "page":
        assert answer.content_type.startswith("text/html"), answer
        assert b"try again" in answer.raw.lower(), answer
    else:
        assert answer.content_type.startswith("text/plain"), answer


def test_bookings_through_a_database_restart(outage_app, server, cluster, now):
    """200 bookings while PostgreSQL stops and starts: 201 or 503, nothing lost or doubled."""
    db = _db.session
    make = helpers.Factory(db)
    program = make.program()
    series = make.series(program, kind="education", title="Life skills", capacity=40,
                         end_date=date(2027, 3, 15))
    sessions = list(db.scalars(select(Session.id).where(Session.series_id == series.id)
                               .order_by(Session.starts_at)))
    clients = [make.client(program, name=f"Outage Client {i}").id for i in range(BOOKINGS)]
    coordinator = make.user("coordinator")
    bearer = helpers.AuthHeaders(db, make).for_user(coordinator)
    page = session_cookie(outage_app, coordinator)
    feed_token = tokens.issue(db, helpers.ACTOR, "client", clients[0], now)
    db.commit()
    assert len(sessions) * 40 >= BOOKINGS, "every client has a seat to take"

    def book(i: int) -> Answer:
        return call(server, "POST", f"{API}/sessions/{sessions[i % len(sessions)]}/bookings",
                    {"client_id": clients[i]}, bearer)

    probes = {
        "health": ("GET", "/healthz", None, {}, "health"),
        "api": ("GET", f"{API}/clients/{clients[0]}", None, bearer, "api"),
        "page": ("GET", "/week", None, page, "page"),
        "feed": ("GET", f"/feeds/{feed_token}.ics", None, {}, "feed"),
    }
    for name, (method, path, body, headers, _) in probes.items():
        assert call(server, method, path, body, headers).status == 200, name

    answers: dict[int, Answer] = {}
    during: dict[str, Answer] = {}
    timeline: dict[str, float] = {}
    start = time.monotonic() + 0.2

    slots = iter(range(BOOKINGS))
    lock = threading.Lock()

    def next_slot():
        with lock:
            return next(slots, None)

    def caller():
        while (i := next_slot()) is not None:
            wait = start + i * SPACING - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            answers[i] = book(i)

    def restart():
        time.sleep(max(0.0, start + STOP_AFTER * SPACING - time.monotonic()))
        timeline["stopping"] = time.monotonic()
        cluster.stop("fast")
        timeline["stopped"] = time.monotonic()
        for name, (method, path, body, headers, _) in probes.items():
            during[name] = call(server, method, path, body, headers)
        time.sleep(max(0.0, timeline["stopping"] + OUTAGE_SECONDS - time.monotonic()))
        timeline["starting"] = time.monotonic()
        cluster.start()
        timeline["started"] = time.monotonic()

    with ThreadPoolExecutor(max_workers=CALLERS + 1) as pool:
        outage = pool.submit(restart)
        callers = [pool.submit(caller) for _ in range(CALLERS)]
        for future in [outage, *callers]:
            future.result()

    statuses = [answers[i].status for i in range(BOOKINGS)]
    tally = {status: statuses.count(status) for status in sorted(set(statuses))}
    outage_length = timeline["started"] - timeline["stopping"]
    print(f"\n{BOOKINGS} bookings, outage {outage_length:.1f} s: {tally}")

    assert 500 not in tally, f"a booking answered 500: {tally}"
    assert set(tally) <= {201, 503}, f"only created or 'try again' are right here: {tally}"
    assert tally.get(503, 0) > 0, "the outage must have been felt, or this tested nothing"
    assert statuses[:STOP_AFTER - CALLERS].count(201) == STOP_AFTER - CALLERS, \
        "bookings before the stop are served"
    assert statuses[-10:] == [201] * 10, "bookings after the restart are served again"
    for i, answer in answers.items():
        if answer.status == 503:
            assert_outage_answer(answer, "api")
    for name, (*_, kind) in probes.items():
        assert_outage_answer(during[name], kind)

    # Everything the callers were told was saved is saved, once.
    db.rollback()
    for i, answer in answers.items():
        if answer.status == 201:
            row = db.get(Booking, answer.json["id"])
            assert row is not None and row.client_id == clients[i], answer

    # Without restarting the app: the refused bookings go through when sent again (200 for
    # one that was saved after all just as the connection dropped), and every probe answers.
    for i, answer in answers.items():
        if answer.status != 201:
            again = book(i)
            assert again.status in (200, 201), again
    for name, (method, path, body, headers, _) in probes.items():
        assert call(server, method, path, body, headers).status == 200, name

    db.rollback()
    per_client = db.execute(select(Booking.client_id, func.count(Booking.id))
                            .group_by(Booking.client_id)).all()
    assert len(per_client) == BOOKINGS and {n for _, n in per_client} == {1}, \
        "each client holds exactly one booking"
    assert db.scalar(select(func.count(AuditEvent.id)).where(
        AuditEvent.entity_type == "booking", AuditEvent.action == "book")) == BOOKINGS, \
        "each booking is audited exactly once"


# --- the embedded jobs ---------------------------------------------------------------------


def wait_until(condition, what: str, timeout: float = 30.0):
    """Poll until `condition` is truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)
    return value


def test_the_embedded_jobs_wait_out_a_database_restart(outage_app, cluster, caplog,
                                                       monkeypatch):
    """The jobs in `serve` keep running across a restart, saying so in a line, not a traceback
    every tick."""
    # One job firing every second, so the test need not wait for the real schedules
    # (tests/test_worker.py does the same); the scheduler, job store, lock and runner are the
    # shipped ones.
    job = registry.JOBS["extend-horizon"]
    for name in list(registry.JOBS):
        monkeypatch.delitem(registry.JOBS, name)
    monkeypatch.setitem(registry.JOBS, job.name, dataclasses.replace(
        job, trigger="interval", trigger_args={"seconds": 1}))

    def finished_runs() -> int:
        with outage_app.app_context():
            try:
                return _db.session.scalar(select(func.count(JobRun.id))
                                          .where(JobRun.outcome == "ok"))
            finally:
                _db.session.remove()

    stop = threading.Event()
    ended: list[str] = []
    thread = threading.Thread(target=lambda: ended.append(
        worker.run_embedded(outage_app, stop, poll_seconds=0.2)), name="embedded-jobs-test")
    thread.start()
    try:
        wait_until(lambda: finished_runs() >= 1, "the first job run")
        caplog.clear()
        caplog.set_level(logging.DEBUG)
        cluster.stop("fast")
        time.sleep(OUTAGE_SECONDS)  # the scheduler ticks three times meanwhile
        cluster.start()
        during = list(caplog.records)
        before = finished_runs()
        wait_until(lambda: finished_runs() > before, "a job run after the restart")
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive() and ended == ["stopped"], "the jobs thread stops when told"

    tracebacks = [r for r in caplog.records if r.exc_info or r.exc_text]
    assert not tracebacks, f"no traceback for an outage: {tracebacks[0].exc_text}"
    said = [r.getMessage() for r in during if r.levelno >= logging.WARNING]
    assert sum("database unavailable" in line for line in said) == 1, said
    assert len(said) <= 3, f"a line or two for an outage, not one per tick: {said}"
