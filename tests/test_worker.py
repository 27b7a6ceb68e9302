"""The job worker as it runs in production: real `flask worker` processes on PostgreSQL.

Two workers: exactly one holds the advisory lock and runs the scheduler; when it dies (SIGKILL,
or its lock connection is cut) the other takes over within a few poll intervals. A worker
killed in the middle of send-reminders and then restarted sends every reminder, and re-sends
at most the one message that was in flight when it died.

Each worker is a subprocess with its own DATABASE_URL, tagged with an application_name, so
pg_locks joined to pg_stat_activity says which worker holds the lock. Mail goes to an aiosmtpd
server inside the test process, which can hold a message to freeze a worker mid-delivery.
The workers read the real clock (APScheduler fires on it), so the crash test builds its
sessions relative to the real now; nothing asserts on a date or on how long a step took, and
every wait polls with a deadline instead of sleeping.

On SQLite these are skipped: there one worker process is the design and no lock is taken.
"""

import asyncio
import email
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, make_url, select, text

from scheduler.extensions import db as _db
from scheduler.jobs.worker import LOCK_KEY
from scheduler.models import Notification
from scheduler.services import booking, sessions
from scheduler.services.audit import Actor
from tests.conftest import PG_URL

pytestmark = [
    pytest.mark.postgresql_only,
    pytest.mark.skipif(
        not PG_URL,
        reason="one worker process is the SQLite design; the advisory lock is PostgreSQL's"),
]

ROOT = Path(__file__).resolve().parents[1]
SETUP = Actor.system("tests")
POLL = "0.5"
# Generous for a slow CI machine; a broken worker fails here instead of hanging the run.
DEADLINE = 20.0
ACTIVE = "this worker is active"
WAITING = "another worker is active; waiting"
LOST = "lost the worker lock"

# The worker, with one change so the test need not wait five minutes: send-reminders is its
# only job and fires every second. Everything else (CLI, lock, scheduler, job store, runner,
# delivery) is the shipped code.
FAST_REMINDERS_WORKER = """
import dataclasses, sys
from flask.cli import main
from scheduler.jobs import registry
job = registry.JOBS["send-reminders"]
registry.JOBS.clear()
registry.JOBS[job.name] = dataclasses.replace(job, trigger="interval",
                                              trigger_args={"seconds": 1})
sys.argv = ["flask", "--app", "wsgi", "worker", "--poll", sys.argv[1]]
main()
"""


def wait_until(condition, what: str, timeout: float = DEADLINE, logs=()):
    """Poll `condition` until it returns something truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {w.name} ---\n{w.log()[-3000:]}" for w in logs)
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{tails}")
        time.sleep(0.05)


# --- a mail server that can hold a message ---------------------------------------------------


class Sink:
    """Records each message's Message-ID; the `hold_at`-th message is received (and recorded)
    but not answered until `release` is set, so its sender is stuck mid-delivery."""

    def __init__(self):
        self.received: list[str] = []
        self.hold_at: int | None = None
        self.held: str | None = None
        self.holding = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        message_id = email.message_from_bytes(envelope.content)["Message-ID"]
        with self._lock:
            self.received.append(message_id)
            hold = self.hold_at is not None and self.held is None \
                and len(self.received) == self.hold_at
            if hold:
                self.held = message_id
        if hold:
            self.holding.set()
            # In a thread, so the server keeps answering other connections meanwhile.
            await asyncio.to_thread(self.release.wait, DEADLINE * 3)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp():
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield sink, controller
    finally:
        sink.release.set()
        controller.stop()


# --- worker processes --------------------------------------------------------------------------


class Worker:
    def __init__(self, name: str, process: subprocess.Popen, log_path: Path):
        self.name, self.process, self.log_path = name, process, log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def says(self, line: str) -> bool:
        return line in self.log()

    def exit_code(self, timeout: float = DEADLINE) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.name} did not exit within {timeout:.0f} s\n{self.log()[-3000:]}")


@pytest.fixture
def start_worker(app, db, smtp, tmp_path):
    """Start a worker subprocess on the test database and the test mail server; every one is
    killed at teardown, whatever happened."""
    _, controller = smtp
    db.commit()  # the workers see only committed rows
    started: list[Worker] = []

    def start(name: str, fast_reminders: bool = False) -> Worker:
        env = dict(
            os.environ,
            SCHEDULER_CONFIG="production",
            # The worker serves no request: its own rate-limit counts are never used.
            RATELIMIT_ONE_PROCESS="true",
            SECRET_KEY="worker-tests-not-secret",
            DATABASE_URL=make_url(PG_URL).update_query_dict({"application_name": name})
            .render_as_string(hide_password=False),
            MAIL_SERVER=controller.hostname,
            MAIL_PORT=str(controller.port),
            MAIL_DEFAULT_SENDER="clinic@scheduler.test",
            MAIL_TIMEOUT="30",
            PYTHONUNBUFFERED="1",
        )
        env.pop("FLASK_APP", None)
        if fast_reminders:
            command = [sys.executable, "-c", FAST_REMINDERS_WORKER, POLL]
        else:
            command = [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--poll", POLL]
        log_path = tmp_path / f"{name}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        worker = Worker(name, process, log_path)
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            if worker.process.poll() is None:
                worker.process.kill()
        for worker in started:
            worker.process.wait(DEADLINE)


def lock_holders() -> list[tuple[int, str]]:
    """(backend pid, application_name) of every session holding the worker's advisory lock."""
    # A bigint key is stored in pg_locks as its high and low 32 bits, with objsubid 1.
    query = text("""
        SELECT DISTINCT l.pid, a.application_name
        FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND l.classid::text::bigint = :high AND l.objid::text::bigint = :low
        ORDER BY l.pid""")
    with _db.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(
            query, {"high": LOCK_KEY >> 32, "low": LOCK_KEY & 0xFFFFFFFF})]


def holder_names() -> list[str]:
    return [name for _, name in lock_holders()]


def elected(a: Worker, b: Worker) -> tuple[Worker, Worker] | None:
    """(active, standby) once one says it is active and the other that it is waiting."""
    for active, standby in ((a, b), (b, a)):
        if active.says(ACTIVE) and standby.says(WAITING):
            return active, standby
    return None


# --- election ------------------------------------------------------------------------------------


def test_two_workers_one_active_and_the_other_takes_over_when_it_is_killed(start_worker):
    a, b = start_worker("worker-a"), start_worker("worker-b")
    active, standby = wait_until(lambda: elected(a, b), "one worker active, one waiting",
                                 logs=(a, b))

    holders = lock_holders()
    assert len(holders) == 1, holders
    assert holder_names() == [active.name]
    assert not standby.says(ACTIVE)

    active.process.send_signal(signal.SIGKILL)
    assert active.exit_code() == -signal.SIGKILL
    wait_until(lambda: holder_names() == [standby.name] and standby.says(ACTIVE),
               f"{standby.name} to take the lock", logs=(active, standby))
    assert len(lock_holders()) == 1

    # A clean stop releases the lock at once.
    standby.process.send_signal(signal.SIGTERM)
    assert standby.exit_code() == 0, standby.log()
    assert lock_holders() == []


def test_a_worker_whose_lock_connection_dies_stops_and_the_other_takes_over(start_worker):
    a, b = start_worker("worker-a"), start_worker("worker-b")
    active, standby = wait_until(lambda: elected(a, b), "one worker active, one waiting",
                                 logs=(a, b))
    [(pid, name)] = lock_holders()
    assert name == active.name

    # The server drops the lock with the connection: the worker must notice and stop, not keep
    # running its scheduler beside the new active worker.
    with _db.engine.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    assert active.exit_code() == 3, active.log()
    assert active.says(LOST)
    wait_until(lambda: holder_names() == [standby.name] and standby.says(ACTIVE),
               f"{standby.name} to take the lock", logs=(active, standby))


# --- crash in the middle of send-reminders -------------------------------------------------------

CLIENTS, SESSIONS = 4, 5
HOLD_AT = 7  # the worker is killed while the 7th of 20 messages is in flight


@pytest.fixture
def reminders_due(db, make):
    """Four clients with an email, each booked into five group sessions starting 3 to 11 hours
    from the real now: twenty day-before reminders are due. Returns the bookings' (client,
    session) pairs."""
    real_now = datetime.now(UTC).replace(microsecond=0)
    program = make.program()
    admitted = (real_now - timedelta(days=30)).date()
    clients = [make.client(program, email=f"client{i}@example.test", admitted_on=admitted)
               for i in range(CLIENTS)]
    pairs = set()
    for k in range(SESSIONS):
        starts = real_now + timedelta(hours=3 + 2 * k)
        session = sessions.create_one_off(
            db, SETUP, now=real_now, program_id=program.id, kind="group", title="Group",
            starts_at=starts, ends_at=starts + timedelta(hours=1), capacity=CLIENTS)
        for client in clients:
            booking.book_client(db, SETUP, session.id, client.id, now=real_now)
            pairs.add((client.id, session.id))
        db.commit()
    return pairs


def notification_statuses() -> Counter:
    with _db.engine.connect() as conn:
        return Counter(dict(conn.execute(
            select(Notification.status, func.count()).group_by(Notification.status)).all()))


def test_a_worker_killed_mid_send_reminders_and_restarted_sends_no_duplicate(
    start_worker, smtp, reminders_due
):
    sink, _ = smtp
    sink.hold_at = HOLD_AT
    expected = len(reminders_due)

    first = start_worker("worker-1", fast_reminders=True)
    wait_until(sink.holding.is_set, f"message {HOLD_AT} to reach the mail server", logs=(first,))
    # Mid-delivery: all twenty queued and committed, the earlier ones marked sent.
    assert notification_statuses() == {"sent": HOLD_AT - 1, "pending": expected - HOLD_AT + 1}

    first.process.send_signal(signal.SIGKILL)
    assert first.exit_code() == -signal.SIGKILL
    sink.release.set()
    # The message was handed over but never marked: it is still pending.
    held_id = int(sink.held.removeprefix("<notification-").split("@")[0])
    assert _db.session.get(Notification, held_id).status == "pending"

    second = start_worker("worker-2", fast_reminders=True)
    wait_until(lambda: notification_statuses() == {"sent": expected},
               "every reminder to be sent", logs=(first, second))
    second.process.send_signal(signal.SIGTERM)
    assert second.exit_code() == 0, second.log()

    with _db.engine.connect() as conn:
        rows = conn.execute(select(Notification.id, Notification.kind, Notification.client_id,
                                   Notification.session_id)).all()
    # One reminder per booking, however many runs queued them.
    assert len(rows) == expected
    assert {(r.client_id, r.session_id) for r in rows} == reminders_due
    assert {r.kind for r in rows} == {"reminder-24h"}

    # Every message arrived; only the one in flight at the kill arrived twice.
    copies = Counter(sink.received)
    assert set(copies) == {f"<notification-{r.id}@scheduler.invalid>" for r in rows}
    assert len(sink.received) == expected + 1
    assert {mid for mid, n in copies.items() if n > 1} == {sink.held}
