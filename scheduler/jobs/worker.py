"""The worker: APScheduler with its job store in our database, one active worker at a time.

Following APScheduler's FAQ on multiple processes, the scheduler never runs inside web workers.
On PostgreSQL the active worker holds a session-level advisory lock on a connection of its
own; a second worker waits for it and takes over within a poll interval when the first dies
(the server drops a dead client's lock with its connection). On SQLite one process is the
design: the lock is not needed and not taken.
"""

import logging
import threading
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask
from sqlalchemy import update

from scheduler import clock, outage
from scheduler.extensions import db
from scheduler.jobs.context import database_notice, set_app_for_jobs
from scheduler.jobs.registry import JOBS
from scheduler.jobs.runner import run_scheduled
from scheduler.models import JobRun
from scheduler.services.mail import Mailer

log = logging.getLogger(__name__)
# Any fixed 64-bit number; it only has to differ from other users of advisory locks.
LOCK_KEY = 7_245_318_806_241_907_001
JOBSTORE_TABLE = "apscheduler_jobs"
# How often the scheduler looks again while the database is away.
OUTAGE_RETRY_SECONDS = 10


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


class PatientJobStore(SQLAlchemyJobStore):
    """The job store, waiting out a database outage instead of failing on every tick.

    APScheduler logs a warning on each retry when it cannot read the due jobs, and an error
    in get_next_run_time or update_job escapes its loop and ends the scheduler's thread for
    good, leaving a worker that holds the lock and runs nothing.
    """

    def __init__(self, *args, notice: outage.OutageNotice, **kwargs):
        super().__init__(*args, **kwargs)
        self.notice = notice

    def get_due_jobs(self, now):
        try:
            jobs = super().get_due_jobs(now)
        except Exception as error:
            if not outage.is_outage(error):
                raise
            self.notice.away(error)
            return []
        self.notice.back()
        return jobs

    def get_next_run_time(self):
        try:
            return super().get_next_run_time()
        except Exception as error:
            if not outage.is_outage(error):
                raise
            self.notice.away(error)
            return datetime.now(UTC) + timedelta(seconds=OUTAGE_RETRY_SECONDS)

    def update_job(self, job):
        try:
            super().update_job(job)
        except Exception as error:
            if not outage.is_outage(error):
                raise
            # The job keeps its old next run time, so it runs once more (coalesced) when the
            # database is back: every job is safe to run twice.
            self.notice.away(error)

    def shutdown(self):
        # APScheduler's disposes the engine, which is the app's: connections that requests
        # (or the worker lock) hold at that moment would be orphaned, never closed. The app
        # closes its engine itself.
        pass


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
        jobstores={"default": PatientJobStore(engine=engine, tablename=JOBSTORE_TABLE,
                                              notice=database_notice(app))},
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
               on_active=None, check_mail: bool = True, rejoin: bool = False) -> str:
    """Wait to become the active worker, then run the scheduler until `stop` is set or the
    lock is lost. Returns why it stopped: 'stopped' or 'lock-lost'.

    While the database is away it waits for it. A lost lock (on PostgreSQL it goes with its
    connection, e.g. when the server restarts) ends the run, so that a supervisor restarts
    the worker, unless `rejoin`: then it waits to take the lock again, as the jobs embedded
    in the web process do.
    """
    stop = stop or threading.Event()
    if check_mail:
        check_configuration(app)
    set_app_for_jobs(app)
    with app.app_context():
        leader = Leadership(db.engine)
    try:
        while True:
            if not _wait_for_lock(leader, stop, poll_seconds, database_notice(app)):
                return "stopped"
            log.info("this worker is active")
            try:
                why = _lead(app, leader, stop, poll_seconds, on_active)
            except Exception as error:
                if not (rejoin and outage.is_outage(error)):
                    raise
                database_notice(app).away(error)
                why = "lock-lost"
            if why == "stopped":
                return why
            if not rejoin:
                log.error("lost the worker lock; stopping so only one worker runs")
                return why
            log.warning("lost the worker lock with its database connection; waiting to take "
                        "it again")
            leader.release()
            if stop.wait(poll_seconds):
                return "stopped"
    finally:
        leader.release()


def run_embedded(app: Flask, stop: threading.Event | None = None,
                 poll_seconds: float = 15) -> str:
    """The jobs inside the web process (`serve`): no mail check (messages stay queued), and
    a lost lock is taken again, since nothing would restart this thread."""
    return run_worker(app, stop, poll_seconds=poll_seconds, check_mail=False, rejoin=True)


def _wait_for_lock(leader: Leadership, stop: threading.Event, poll_seconds: float,
                   notice: outage.OutageNotice) -> bool:
    """True once this worker holds the lock; False when told to stop first."""
    while True:
        try:
            if leader.try_take():
                notice.back()
                return True
            log.info("another worker is active; waiting")
        except Exception as error:
            if not outage.is_outage(error):
                raise
            leader.release()  # its connection is gone; the next try opens another
            notice.away(error)
        if stop.wait(poll_seconds):
            return False


def _lead(app: Flask, leader: Leadership, stop: threading.Event, poll_seconds: float,
          on_active) -> str:
    """Run the scheduler while this worker holds the lock: 'stopped' or 'lock-lost'."""
    _close_interrupted_runs(app)
    scheduler = make_scheduler(app)
    scheduler.start()
    try:
        if on_active is not None:
            on_active()
        while not stop.wait(poll_seconds):
            if not leader.still_held():
                return "lock-lost"
        return "stopped"
    finally:
        scheduler.shutdown(wait=True)
