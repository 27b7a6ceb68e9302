"""A database restart in the middle of the day: 503s with Retry-After, never a 500 or a lost write.

These tests run their own PostgreSQL cluster (tests/pg_cluster.py) so that they can stop it
while a real HTTP server is answering bookings, and start it again, without touching the
shared server. The database under test is always the private cluster, whatever TEST_DATABASE_URL
says, so they run in the SQLite lane of `make test` only.
"""

import dataclasses
import http.client
import json
import logging
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from itertools import count
from pathlib import Path
from urllib.parse import quote, quote_plus, urlencode

import psycopg
import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import object_session
from werkzeug.serving import make_server

from scheduler import clock, create_app, outage
from scheduler.extensions import db as _db
from scheduler.feeds import tokens
from scheduler.jobs import registry, runner, worker
from scheduler.models import AuditEvent, Booking, JobRun, Session, User
from scheduler.services import account_links, accounts, logins
from scheduler.services import booking as booking_service
from scheduler.services import clients as client_service
from tests import helpers
from tests.conftest import PG_URL
from tests.pg_cluster import PrivateCluster, free_port, unavailable_reason

API = "/api/v1"
BOOKINGS = 200
# One request leaves every SPACING seconds, so the loop spans the whole outage: the server
# stops once STOP_AFTER bookings have been answered and starts again OUTAGE_SECONDS later.
SPACING = 0.04
STOP_AFTER = 50
OUTAGE_SECONDS = 3.0
# The last ones wait for the restart, so some are always sent after it however slow the
# machine.
AFTER_RESTART = 30
CALLERS = 6
REQUEST_TIMEOUT = 30

_databases = count(1)


@pytest.fixture(scope="module")
def cluster():
    if PG_URL:
        pytest.skip("the private cluster is the same whichever lane runs; the SQLite lane ran it")
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
    db = object_session(user)
    key, _ = logins.start_session(db, user, clock.now(), logins.Where("127.0.0.1", "tests"))
    db.commit()
    serializer = app.session_interface.get_signing_serializer(app)
    value = serializer.dumps(helpers.signed_in_session(user, key))
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
    # Admitted in one transaction (the factory commits each): setup is not what is tested.
    clients = [client_service.create_client(
        db, helpers.ACTOR, name=f"Outage Client {i}", program_id=program.id,
        admitted_on=date(2027, 1, 4)).id for i in range(BOOKINGS)]
    db.commit()
    coordinator = make.user("coordinator")
    bearer = helpers.AuthHeaders(db, make).for_user(coordinator)
    page = session_cookie(outage_app, coordinator)
    feed_token = tokens.issue(db, helpers.ACTOR, "client", clients[0], now)
    client_user = make.user("client", client_id=clients[1])
    as_client = helpers.AuthHeaders(db, make).for_user(client_user)
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
    # Self check-in's rate limit is counted per signed-in account: the limiter loads the user.
    checkin = ("POST", f"{API}/checkin", {"code": "000000"}, as_client)
    assert call(server, *checkin).status < 500
    # Feed lookups keep one connection per thread outside the pool: this thread's must be
    # replaced after the restart. (The test server starts a thread per request.)
    engine = _db.engine
    assert tokens.resolve(engine, feed_token) is not None

    run = _book_through_a_restart(server, cluster, book, probes, checkin, engine, feed_token)
    answers, sent, received, timeline = run.answers, run.sent, run.received, run.timeline

    statuses = [answers[i].status for i in range(BOOKINGS)]
    tally = {status: statuses.count(status) for status in sorted(set(statuses))}
    outage_length = timeline["started"] - timeline["stopping"]
    print(f"\n{BOOKINGS} bookings, outage {outage_length:.1f} s: {tally}")

    assert 500 not in tally, f"a booking answered 500: {tally}"
    assert set(tally) <= {201, 503}, f"only created or 'try again' are right here: {tally}"
    assert tally.get(503, 0) > 0, "the outage must have been felt, or this tested nothing"
    before = [answers[i].status for i in answers if received[i] < timeline["stopping"]]
    assert len(before) >= STOP_AFTER and set(before) == {201}, "served before the stop"
    after = [answers[i].status for i in answers if sent[i] > timeline["started"]]
    assert len(after) >= AFTER_RESTART and set(after) == {201}, \
        "served again after the restart, without restarting the app"
    for answer in answers.values():
        if answer.status == 503:
            assert_outage_answer(answer, "api")
    for name, (*_, kind) in probes.items():
        assert_outage_answer(run.during[name], kind)
    assert_outage_answer(run.during["checkin"], "api")
    assert outage.is_outage(run.lookup_failed[0]), run.lookup_failed

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
    assert call(server, *checkin).status < 500
    assert tokens.resolve(engine, feed_token) is not None

    db.rollback()
    per_client = db.execute(select(Booking.client_id, func.count(Booking.id))
                            .group_by(Booking.client_id)).all()
    assert len(per_client) == BOOKINGS and {n for _, n in per_client} == {1}, \
        "each client holds exactly one booking"
    assert db.scalar(select(func.count(AuditEvent.id)).where(
        AuditEvent.entity_type == "booking", AuditEvent.action == "book")) == BOOKINGS, \
        "each booking is audited exactly once"


@dataclasses.dataclass
class RestartRun:
    """What the callers and the controller saw while the database stopped and started."""

    answers: dict[int, Answer] = dataclasses.field(default_factory=dict)
    sent: dict[int, float] = dataclasses.field(default_factory=dict)
    received: dict[int, float] = dataclasses.field(default_factory=dict)
    # Each probe's answer, and self check-in's, while the database was away.
    during: dict[str, Answer] = dataclasses.field(default_factory=dict)
    lookup_failed: list[BaseException] = dataclasses.field(default_factory=list)
    # When the stop began ("stopping") and the start was done ("started").
    timeline: dict[str, float] = dataclasses.field(default_factory=dict)


def _book_through_a_restart(server, cluster, book, probes, checkin, engine,
                            feed_token) -> RestartRun:
    """BOOKINGS bookings, one every SPACING seconds from CALLERS threads, while a controller
    stops the cluster after STOP_AFTER answers, probes every kind of route, and starts it
    again OUTAGE_SECONDS later. The last AFTER_RESTART wait for the start."""
    run = RestartRun()
    answers, sent, received = run.answers, run.sent, run.received
    during, lookup_failed, timeline = run.during, run.lookup_failed, run.timeline
    restarted = threading.Event()
    start = time.monotonic() + 0.2

    slots = iter(range(BOOKINGS))
    lock = threading.Lock()

    def next_slot():
        with lock:
            return next(slots, None)

    def caller():
        while (i := next_slot()) is not None:
            if i >= BOOKINGS - AFTER_RESTART:
                restarted.wait(60)
            wait = start + i * SPACING - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            sent[i] = time.monotonic()
            answers[i] = book(i)
            received[i] = time.monotonic()

    def restart():
        try:
            deadline = time.monotonic() + 60
            while len(received) < STOP_AFTER and time.monotonic() < deadline:
                time.sleep(0.01)
            timeline["stopping"] = time.monotonic()
            cluster.stop("fast")
            for name, (method, path, body, headers, _) in probes.items():
                during[name] = call(server, method, path, body, headers)
            during["checkin"] = call(server, *checkin)
            lookup_failed.append(raised(lambda: tokens.resolve(engine, feed_token)))
            time.sleep(max(0.0, timeline["stopping"] + OUTAGE_SECONDS - time.monotonic()))
            cluster.start()
            timeline["started"] = time.monotonic()
        finally:
            restarted.set()

    with ThreadPoolExecutor(max_workers=CALLERS + 1) as pool:
        controller = pool.submit(restart)
        callers = [pool.submit(caller) for _ in range(CALLERS)]
        for future in [controller, *callers]:
            future.result()

    return run


def test_feed_polls_leave_no_connection_behind(outage_app, server, cluster, now):
    """werkzeug's server (`make run`) starts a thread per request: each poll's lookup
    connection must close with its thread, or the server runs out of connections."""
    db = _db.session
    person = helpers.Factory(db).client()
    feed_token = tokens.issue(db, helpers.ACTOR, "client", person.id, now)
    db.commit()
    database = db.get_bind().url.database
    db.rollback()

    def connections() -> int:
        with psycopg.connect(f"host=127.0.0.1 port={cluster.port} user=postgres "
                             "dbname=postgres") as conn:
            return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                                (database,)).fetchone()[0]

    assert call(server, "GET", f"/feeds/{feed_token}.ics").status == 200
    before = connections()
    for _ in range(30):
        assert call(server, "GET", f"/feeds/{feed_token}.ics").status == 200
    assert connections() <= before + 1, "one open connection per finished request thread"


# --- the embedded jobs ---------------------------------------------------------------------


def wait_until(condition, what: str, timeout: float = 30.0):
    """Poll until `condition` is truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)
    return value


def test_the_embedded_jobs_wait_out_a_database_restart(outage_app, cluster, caplog, request):
    """The jobs in `serve` keep running across a restart, saying so in a line, not a traceback
    every tick."""
    # One job firing every second, so the test need not wait for the real schedules
    # (tests/test_worker.py does the same); the scheduler, job store, lock and runner are the
    # shipped ones.
    shipped = dict(registry.JOBS)
    job = shipped["extend-horizon"]
    registry.JOBS.clear()
    registry.JOBS[job.name] = dataclasses.replace(job, trigger="interval",
                                                  trigger_args={"seconds": 1})
    # Put back in order: `jobs list` shows them as registered.
    request.addfinalizer(lambda: (registry.JOBS.clear(), registry.JOBS.update(shipped)))

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


# --- the logs ------------------------------------------------------------------------------

SECRET_NAME = "Zebulon Quixote-Farnsworth"
SECRET_EMAIL = "zebulon.quixote@example.org"
SECRET_GOAL = "Stay sober through the custody hearing"
SECRET_REASON = "Moving in with an aunt in Tulsa"
SECRET_PASSWORD = "wrong horse battery staple 91"
LOGGERS = ("", "werkzeug", "sqlalchemy", "apscheduler", "scheduler", "flask_limiter")


def everything_logged(caplog) -> str:
    """Each record as a handler would write it, plus its raw parts, in case a handler
    formats them differently."""
    parts = [caplog.text]
    for record in caplog.records:
        parts += [record.getMessage(), record.exc_text or "", repr(record.args)]
        if record.exc_info and record.exc_info[1] is not None:
            parts.append("".join(traceback.format_exception(*record.exc_info)))
    return "\n".join(parts)


def login_form(server, email, password) -> Answer:
    """The sign-in page, filled in and sent as a browser does (CSRF token and cookie)."""
    page = call(server, "GET", "/login")
    token = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', page.raw).group(1).decode()
    cookie = page.headers["Set-Cookie"].split(";", 1)[0]
    host, port = server
    conn = http.client.HTTPConnection(host, port, timeout=REQUEST_TIMEOUT)
    try:
        conn.request("POST", "/login", body=urlencode(
            {"csrf_token": token, "email": email, "password": password}),
            headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
        response = conn.getresponse()
        return Answer(response.status, dict(response.getheaders()), response.read())
    finally:
        conn.close()


def test_logs_carry_no_names_plans_reasons_tokens_or_passwords(outage_app, server, cluster,
                                                               caplog, monkeypatch, now):
    """Failing requests and jobs, on PostgreSQL (whose messages quote values), with every
    logger at DEBUG: none of the secrets they carried reaches a log line."""
    db = _db.session
    make = helpers.Factory(db)
    program = make.program()
    person = make.client(program, name=SECRET_NAME)
    accounts.create_user(db, helpers.ACTOR, email=SECRET_EMAIL, role="client",
                         client_id=person.id, password=None)
    coordinator = make.user("coordinator")
    bearer = helpers.AuthHeaders(db, make).for_user(coordinator)
    page = session_cookie(outage_app, coordinator)
    group = make.series(program, capacity=12, end_date=date(2027, 3, 3))
    session_id = db.scalar(select(Session.id).where(Session.series_id == group.id))
    seat, _ = booking_service.book_client(db, helpers.ACTOR, session_id, person.id, now=now)
    feed_token = tokens.issue(db, helpers.ACTOR, "client", person.id, now)
    db.commit()
    # Plain values: the test's own session must not reload a row while the server is down.
    person_id, seat_id, program_id, email = person.id, seat.id, program.id, coordinator.email
    db.rollback()  # and hold no connection through the outage
    secrets = {SECRET_NAME, SECRET_EMAIL, SECRET_GOAL, SECRET_REASON, SECRET_PASSWORD,
               feed_token, bearer["Authorization"].split()[1]}

    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    answers = {}
    # A rejected sign-in, on the page and the API.
    answers["login page"] = login_form(server, email, SECRET_PASSWORD)
    answers["login api"] = call(server, "POST", f"{API}/auth/token",
                                {"email": email, "password": SECRET_PASSWORD})
    # Feed polls: the token is in the request line.
    answers["feed"] = call(server, "GET", f"/feeds/{feed_token}.ics")
    # A search by name: the name is in the query string.
    answers["search"] = call(server, "GET", "/clients?" + urlencode({"q": SECRET_NAME}), None,
                             page)
    # A name PostgreSQL cannot store.
    answers["nul name"] = call(server, "POST", f"{API}/clients", {
        "name": SECRET_NAME + "\x00", "program_id": program_id, "admitted_on": "2027-02-01"},
        bearer)

    cluster.stop("fast")
    try:
        answers["outage: new client"] = call(server, "POST", f"{API}/clients", {
            "name": SECRET_NAME, "program_id": program_id, "admitted_on": "2027-02-01"}, bearer)
        answers["outage: plan"] = call(server, "POST", f"{API}/clients/{person_id}/plans", {
            "start_date": "2027-02-01", "goals": [SECRET_GOAL]}, bearer)
        answers["outage: cancel"] = call(server, "DELETE", f"{API}/bookings/{seat_id}?"
                                         + urlencode({"reason": SECRET_REASON}), None, bearer)
        answers["outage: override"] = call(
            server, "POST", f"{API}/sessions/{session_id}/bookings",
            {"client_id": person_id, "override": True, "reason": SECRET_REASON}, bearer)
        answers["outage: login"] = call(server, "POST", f"{API}/auth/token",
                                        {"email": SECRET_EMAIL, "password": SECRET_PASSWORD})
        answers["outage: feed"] = call(server, "GET", f"/feeds/{feed_token}.ics")
    finally:
        cluster.start()

    # A job that fails on a unique violation: PostgreSQL's DETAIL quotes the email. Run by
    # the scheduler's path and from the command line (whose output cron mails on).
    def duplicate_login(app, session, at):
        session.add(User(email=SECRET_EMAIL, role="admin"))
        session.flush()
        return {}

    monkeypatch.setitem(registry.JOBS, "extend-horizon", dataclasses.replace(
        registry.JOBS["extend-horizon"], run=duplicate_login))
    with pytest.raises(IntegrityError):
        runner.run_job(outage_app, "extend-horizon", trigger="worker")
    failed = db.scalar(select(JobRun).where(JobRun.trigger == "worker"))
    command = outage_app.test_cli_runner().invoke(args=["jobs", "run", "extend-horizon"])
    assert command.exit_code != 0 and "UniqueViolation" in command.output, command.output

    assert answers["login page"].status == 401 and answers["login api"].status == 401
    assert answers["feed"].status == 200 and answers["search"].status == 200
    for name, answer in answers.items():
        if name.startswith("outage"):
            assert answer.status == 503, (name, answer)
    assert failed.outcome == "failed" and "UniqueViolation" in failed.error, failed.error
    logged = everything_logged(caplog)
    assert "/feeds/" in logged and "database unavailable" in logged, "the logs were captured"
    for secret in sorted(secrets):
        for form in {secret, quote(secret), quote_plus(secret)}:
            assert form not in logged, f"{form!r} reached the logs"
            assert form not in failed.error, f"{form!r} reached job_runs.error"
            assert form not in command.output, f"{form!r} reached the command's output"


# --- telling an outage from a bug ----------------------------------------------------------


def raised(run) -> BaseException:
    try:
        run()
    except Exception as error:  # noqa: BLE001 - the error is what the test looks at
        return error
    pytest.fail("expected a database error")


def test_only_an_unreachable_or_busy_database_counts_as_an_outage(outage_app, cluster,
                                                                  tmp_path):
    """Real errors from the real drivers: the away ones are 503s, our mistakes stay 500s."""
    def run(sql, engine=None):
        def go():
            with (engine or _db.engine).connect() as conn:
                for statement in sql.split(";"):
                    conn.exec_driver_sql(statement)
        return go

    nobody = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/postgres")
    holder = sqlite3.connect(tmp_path / "busy.sqlite")
    holder.execute("CREATE TABLE t (x)")
    holder.commit()
    holder.execute("BEGIN IMMEDIATE")
    waiter = create_engine(f"sqlite:///{tmp_path / 'busy.sqlite'}",
                           connect_args={"timeout": 0})
    idle = create_engine(f"sqlite:///{tmp_path / 'idle.sqlite'}")
    small = create_engine(cluster.url(), pool_size=1, max_overflow=0, pool_timeout=0.1)
    try:
        with small.connect():
            exhausted = raised(run("SELECT 1", small))
        away = {
            "nothing listens": raised(run("SELECT 1", nobody)),
            "SQLite locked": raised(run("INSERT INTO t VALUES (1)", waiter)),
            "pool exhausted": exhausted,
        }
        bugs = {
            "no such table": raised(run("SELECT * FROM no_such_table")),
            "bad cast": raised(run("SELECT 'x'::integer")),
            "statement timeout": raised(run("SET statement_timeout = 1; SELECT pg_sleep(1)")),
            "SQLite no such table": raised(run("SELECT * FROM no_such_table", idle)),
        }
    finally:
        holder.close()
        for made in (nobody, waiter, idle, small):
            made.dispose()
    for name, error in away.items():
        assert outage.is_outage(error), (name, error)
    for name, error in bugs.items():
        assert not outage.is_outage(error), (name, error)

    # And through a request: a broken query is a 500 (and logged as one), not a 503.
    outage_app.add_url_rule("/broken-query", "broken_query", run("SELECT * FROM no_such_table"))
    answer = outage_app.test_client().get("/broken-query")
    assert answer.status_code == 500 and "Retry-After" not in answer.headers


def test_the_engine_hides_parameters(app, db):
    """On the lane's database too (SQLite's engine options are rewritten at start-up)."""
    assert db.get_bind().hide_parameters
    error = raised(lambda: db.execute(text("SELECT * FROM no_such_table WHERE name = :name"),
                                      {"name": SECRET_NAME}))
    db.rollback()
    assert SECRET_NAME not in str(error) and "hidden" in str(error)


def test_gunicorns_access_log_shows_no_feed_token_or_query(app, db, make, database_url,
                                                          now, tmp_path):
    """The production server's access log, for real: a feed poll and a search by name."""
    person = make.client(name=SECRET_NAME)
    feed_token = tokens.issue(db, helpers.ACTOR, "client", person.id, now)
    reset_token, _ = account_links.issue_link(db, make.user("coordinator"), "reset", now)
    invite_token, _ = account_links.issue_link(db, make.user("clinician"), "invite", now)
    db.commit()
    port = free_port()
    log_path = tmp_path / "access.log"
    env = {**os.environ, "SCHEDULER_CONFIG": "testing", "TEST_DATABASE_URL": database_url}
    root = Path(__file__).resolve().parents[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1",
         "--access-logfile", str(log_path), "wsgi:app"],
        cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: server.poll() is not None or _answers(port), "gunicorn to serve")
        assert server.poll() is None, server.stderr.read().decode(errors="replace")
        target = ("127.0.0.1", port)
        assert call(target, "GET", f"/feeds/{feed_token}.ics").status == 200
        assert call(target, "GET", "/login?" + urlencode({"next": f"/clients?q={SECRET_NAME}"}),
                    ).status == 200
        # The emailed one-time links: whoever reads the log must not be able to follow them.
        assert call(target, "GET", f"/reset/{reset_token}").status == 200
        assert call(target, "GET", f"/invite/{invite_token}").status == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
        server.stderr.close()
    logged = log_path.read_text()
    assert "/feeds/[token hidden].ics" in logged and "/login?[query hidden]" in logged, logged
    assert "/reset/[token hidden]" in logged and "/invite/[token hidden]" in logged, logged
    for secret in (feed_token, SECRET_NAME, quote(SECRET_NAME), quote_plus(SECRET_NAME),
                   reset_token, invite_token):
        assert secret not in logged


def _answers(port: int) -> bool:
    try:
        call(("127.0.0.1", port), "GET", "/healthz")
        return True
    except OSError:
        return False
