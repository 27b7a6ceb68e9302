"""What the scheduled jobs share with the worker that starts them: its app, and the notice
they give while the database is away.

APScheduler's job store keeps a job as the dotted name of a module-level function and its
pickled arguments, so the app cannot travel with the job: the worker leaves it here before
the scheduler starts, and the runner reads it here. Both import this module; neither
imports the other for it.
"""

from flask import Flask

from scheduler import outage

_app: Flask | None = None


def set_app_for_jobs(app: Flask) -> None:
    global _app
    _app = app


def current_app_for_jobs() -> Flask:
    if _app is None:
        raise RuntimeError("The job worker has not started.")
    return _app


def database_notice(app: Flask) -> outage.OutageNotice:
    """One line when the database goes away and one when it is back, from every part of the
    jobs (lock, job store, runs)."""
    return outage.notice(app, "the jobs wait for it")
