"""`flask --app wsgi worker`, `jobs list`, `jobs run NAME` and `serve` (web + embedded jobs)."""

import logging
import signal
import threading

import click
import waitress
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from scheduler.jobs import worker as job_worker
from scheduler.jobs.registry import JOBS
from scheduler.jobs.runner import run_job, say_mail_trouble
from scheduler.log_privacy import error_line, is_database_error
from scheduler.services.mail import MailConfigError

jobs_cli = AppGroup("jobs", help="List the background jobs, or run one now.")


@jobs_cli.command("list")
@with_appcontext
def list_jobs():
    """Each job, its schedule and what it does."""
    for job in JOBS.values():
        schedule = ", ".join(f"{k}={v}" for k, v in job.trigger_args.items())
        click.echo(f"{job.name:<16} {job.trigger} {schedule:<22} {job.description}")


@jobs_cli.command("run")
@click.argument("name", type=click.Choice(sorted(JOBS)))
@with_appcontext
def run_one(name):
    """Run NAME now, through the worker's own code path; its run is recorded."""
    app = current_app._get_current_object()
    try:
        run = run_job(app, name, trigger="cli")
    except MailConfigError as error:
        raise click.ClickException(str(error)) from None
    except Exception as error:  # noqa: BLE001 - recorded in job_runs; say it plainly here
        # Cron mails and captures this: a database error without the values it quotes.
        detail = error_line(error) if is_database_error(error) else error
        raise click.ClickException(f"{name} failed: {detail}") from None
    click.echo(f"{name}: {run.outcome} {run.counts}")


@click.command("worker")
@click.option("--poll", default=15.0, show_default=True,
              help="Seconds between checks for the lock (standby) or of it (active).")
@with_appcontext
def worker_command(poll):
    """Run the job scheduler on its own; only one worker is active at a time."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    app = current_app._get_current_object()
    try:
        why = job_worker.run_worker(app, stop, poll_seconds=poll)
    except MailConfigError as error:
        raise click.ClickException(f"Cannot start the worker: {error}") from None
    if why == "lock-lost":
        raise SystemExit(3)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@with_appcontext
def serve_command(host, port):
    """Serve the app on one machine (`make run`), with the job scheduler inside it when
    SCHEDULER_EMBEDDED; until Ctrl-C."""
    app = current_app._get_current_object()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    if app.config["SCHEDULER_EMBEDDED"]:
        try:
            job_worker.check_configuration(app)
        except MailConfigError as error:
            # A laptop often has no mail server: run the jobs, keep messages queued.
            say_mail_trouble(error)
        threading.Thread(target=job_worker.run_embedded, args=(app,), daemon=True,
                         name="embedded-jobs").start()
    # Not app.run(): under the flask command it returns at once without serving (Flask guards
    # against a second server in `flask run`), which is how `make run` once exited 0. Nor
    # Werkzeug's development server, whose request log would print every feed URL, and a feed
    # URL is its token. Waitress is one process of threads, so the jobs thread lives beside it.
    click.echo(f"Serving on http://{host}:{port}/ (Ctrl-C to stop)")
    waitress.serve(app, host=host, port=port, threads=8, _quiet=True)
