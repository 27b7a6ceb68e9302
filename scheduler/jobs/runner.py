"""Run one job now, through the same path the worker uses, and keep its history."""

import logging

from flask import Flask

from scheduler import clock, outage
from scheduler.extensions import db
from scheduler.jobs.context import current_app_for_jobs, database_notice
from scheduler.jobs.registry import JOBS
from scheduler.log_privacy import error_line
from scheduler.models import JobRun
from scheduler.services.mail import MailConfigError

log = logging.getLogger(__name__)
# What the scheduled runs last said about mail, so a missing or unreachable mail server is
# said once when it starts and once when it ends, not with a traceback every five minutes.
_mail_trouble: str | None = None


class UnknownJob(KeyError):
    """No job has that name."""


def run_job(app: Flask, name: str, trigger: str = "worker") -> JobRun:
    """Run `name` in an app context, recording start, end, outcome and counts; failures are
    recorded and raised again so the caller (CLI or worker log) sees them."""
    if name not in JOBS:
        raise UnknownJob(name)
    job = JOBS[name]
    with app.app_context():
        run = JobRun(job=name, started_at=clock.now(), outcome="running", trigger=trigger)
        db.session.add(run)
        db.session.commit()
        run_id = run.id
        try:
            counts = job.run(app, db.session, clock.now())
        except Exception as error:
            db.session.rollback()
            failed = db.session.get(JobRun, run_id)
            failed.outcome, failed.finished_at = "failed", clock.now()
            # Admins read this through the API: the kind of error, never the values a
            # database error quotes back (a client's email in a unique violation, say).
            failed.error = error_line(error)[:4000]
            db.session.commit()
            if not isinstance(error, MailConfigError):
                log.exception("job %s failed", name)
            raise
        done = db.session.get(JobRun, run_id)
        done.outcome, done.finished_at, done.counts = "ok", clock.now(), counts
        db.session.commit()
        # Loaded again and detached, so callers can read it after the app context ends.
        db.session.refresh(done)
        db.session.expunge(done)
        return done


def run_scheduled(name: str) -> None:
    """APScheduler's entry point (a module-level function, so its job store can name it)."""
    global _mail_trouble
    app = current_app_for_jobs()
    try:
        run = run_job(app, name, trigger="worker")
    except MailConfigError as error:
        # Recorded in job_runs; the messages stay pending and go once mail works.
        say_mail_trouble(error)
        return
    except Exception as error:  # noqa: BLE001 - the scheduler must keep going
        if outage.is_outage(error):
            # Not even the failure could be recorded; the job runs again at its next time.
            database_notice(app).away(error)
        # Anything else is recorded in job_runs and logged by run_job.
        return
    if _mail_trouble is not None and (run.counts or {}).get("sent"):
        _mail_trouble = None
        log.warning("Mail works again: queued messages are going out.")


def say_mail_trouble(error: MailConfigError) -> None:
    """Log that messages stay queued, unless this very trouble was the last thing said."""
    global _mail_trouble
    if str(error) != _mail_trouble:
        _mail_trouble = str(error)
        log.warning("Jobs run, but messages stay queued until mail works: %s", error)
