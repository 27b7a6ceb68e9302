"""The worker: APScheduler with its job store in our database, one active worker at a time.

Following APScheduler's FAQ on multiple processes, the scheduler never runs inside web workers.
On PostgreSQL the active worker holds a session-level advisory lock on a connection of its
own; a second worker waits for it and takes over within a poll interval when the first dies
(the server drops a dead client's lock with its connection). On SQLite one process is the
design: the lock is not needed and not taken.
"""

import logging
import threading

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask
from sqlalchemy import update

from scheduler.extensions import db
from scheduler.jobs.registry import JOBS
from scheduler.jobs.runner import run_scheduled
from scheduler.models import JobRun
from scheduler.services import clock
from scheduler.services.mail import Mailer

log = logging.getLogger(__name__)
# Any fixed 64-bit number; it only has to differ from other users of advisory locks.
LOCK_KEY = 7_245_318_806_241_907_001
JOBSTORE_TABLE = "apscheduler_jobs"
_app: Flask | None = None


def current_app_for_jobs() -> Flask:
    if _app is None:
        raise RuntimeError("The job worker has not started.")
    return _app


def check_configuration(app: Flask) -> None:
    """Refuse to start with mail that cannot go out: a missing sender or server, or a server
    that does not answer. Raises MailConfigError naming the setting."""
    if any(job.sends_mail for job in JOBS.values()):
        Mailer.from_config(app.config).check()


class Leadership:
    """The advisory lock that makes one worker the active one (PostgreSQL only)."""

    def __init__(self, engine):
        self.engine = engine
        self.conn = None

    @property
    def needed(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def try_take(self) -> bool:
        if not self.needed:
            return True
        if self.conn is None:
            self.conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return bool(self.conn.exec_driver_sql(
            "SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).scalar())

    def still_held(self) -> bool:
        """The lock lives with its connection: if that is gone, so is the lock."""
        if not self.needed:
            return True
        try:
            self.conn.exec_driver_sql("SELECT 1")
            return True
        except Exception:  # noqa: BLE001 - a broken connection means the lock is lost
            return False

    def release(self) -> None:
        if self.conn is not None:
            try:
                self.conn.exec_driver_sql("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
            except Exception:  # noqa: BLE001 - a broken connection took its lock with it
                # Discarded, not pooled: a connection that might still hold the lock is closed.
                self.conn.invalidate()
            finally:
                self.conn.close()
                self.conn = None


def _close_interrupted_runs(app: Flask) -> int:
    """Runs still 'running' when a worker becomes active belong to one that died mid-job."""
    with app.app_context():
        closed = db.session.execute(
            update(JobRun).where(JobRun.outcome == "running")
            .values(outcome="failed", finished_at=clock.now(),
                    error="Interrupted: the worker stopped during this run.")
        ).rowcount
        db.session.commit()
    return closed


def make_scheduler(app: Flask) -> BackgroundScheduler:
    """A scheduler holding every job, its store in our database, jobs run one at a time."""
    with app.app_context():
        engine = db.engine
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename=JOBSTORE_TABLE)},
        # One at a time: jobs write to the same tables, and SQLite has one writer anyway.
        executors={"default": ThreadPoolExecutor(1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 15 * 60},
        timezone="UTC",
    )
    for job in JOBS.values():
        scheduler.add_job(run_scheduled, job.trigger, args=[job.name], id=job.name,
                          name=job.description, replace_existing=True, **job.trigger_args)
    return scheduler


def run_worker(app: Flask, stop: threading.Event | None = None, poll_seconds: float = 15,
               on_active=None, check_mail: bool = True) -> str:
    """Wait to become the active worker, then run the scheduler until `stop` is set or the
    lock is lost. Returns why it stopped: 'stopped' or 'lock-lost'."""
    global _app
    stop = stop or threading.Event()
    if check_mail:
        check_configuration(app)
    _app = app
    with app.app_context():
        leader = Leadership(db.engine)
    try:
        while not leader.try_take():
            log.info("another worker is active; waiting")
            if stop.wait(poll_seconds):
                return "stopped"
        log.info("this worker is active")
        _close_interrupted_runs(app)
        scheduler = make_scheduler(app)
        scheduler.start()
        if on_active is not None:
            on_active()
        try:
            while not stop.wait(poll_seconds):
                if not leader.still_held():
                    log.error("lost the worker lock; stopping so only one worker runs")
                    return "lock-lost"
        finally:
            scheduler.shutdown(wait=True)
        return "stopped"
    finally:
        leader.release()
