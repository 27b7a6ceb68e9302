"""Setup shared by the benchmarks: a fresh database, the app on it, the migrations to head,
and gunicorn serving it.

Each benchmark builds its schema the way a deployment does (`flask db upgrade`, i.e. the Alembic
migrations run through the app), in a database nothing else uses: a new SQLite file in a
temporary directory, or a throwaway schema in the PostgreSQL database given with
--database-url, dropped afterwards. Nothing else in that database is touched.

Importable as `bench.support` once the repository root is on sys.path (the benchmarks put it
there themselves).
"""

import http.client
import logging
import os
import secrets
import signal
import socket
import subprocess
import time as timer
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from config import normalize_database_url
from scheduler import create_app


def database_url_argument(parser, args) -> str | None:
    """The --database-url given, normalised; None for SQLite. Errors out on anything else."""
    base_url = normalize_database_url(args.database_url)
    if base_url and not base_url.startswith("postgresql"):
        parser.error("--database-url must be a postgresql:// URL (SQLite is the default).")
    return base_url


@contextmanager
def fresh_database(base_url: str | None, workdir: str, label: str):
    """A URL to an empty database: a new SQLite file, or a throwaway PostgreSQL schema."""
    if base_url is None:
        path = os.path.join(workdir, f"{label}-{secrets.token_hex(4)}.sqlite")
        try:
            yield f"sqlite:///{path}"
        finally:
            if os.path.exists(path):
                os.remove(path)
        return
    schema = f"bench_{label}_{secrets.token_hex(4)}"
    admin = create_engine(base_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base_url).update_query_dict(
        {"options": f"-csearch_path={schema}"}
    ).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def make_app(url: str):
    return create_app({"CONFIG_NAME": "testing", "SQLALCHEMY_DATABASE_URI": url})


def migrate_to_head() -> None:
    """`flask db upgrade` for the app in context."""
    import flask_migrate

    # migrations/env.py reconfigures logging and Alembic narrates each step at INFO.
    logging.disable(logging.INFO)
    try:
        flask_migrate.upgrade()
    finally:
        logging.disable(logging.NOTSET)


def describe(url: str | None) -> str:
    if url is None:
        return "SQLite (a file in a temp dir)"
    return "PostgreSQL " + make_url(url).render_as_string(hide_password=True)


# --- gunicorn ----------------------------------------------------------------------------------

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(url: str, workdir: str, workers: int, threads: int,
             app: str = "scheduler:create_app()", pythonpath: str | None = None,
             env: dict | None = None):
    """gunicorn on loopback with the production configuration; stopped on the way out.

    `env` adds to (or overrides) the settings given. Yields (port, log path, master pid).
    """
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if k not in ("TEST_DATABASE_URL",)}
    environment.update(SCHEDULER_CONFIG="production", DATABASE_URL=url,
                       SECRET_KEY=secrets.token_hex(32), SCHEDULER_EMBEDDED="0")
    if not environment.get("RATELIMIT_STORAGE_URI"):
        # No benchmark counts guesses (valid feed polls and bookings never touch the
        # limiter's storage), so per-process counts are allowed here although N workers run.
        environment["RATELIMIT_ONE_PROCESS"] = "true"
    environment.update(env or {})
    log_path = os.path.join(workdir, "gunicorn.log")
    with open(log_path, "w") as log:
        command = [os.path.join(ROOT, ".venv", "bin", "gunicorn"), "--workers", str(workers),
                   "--threads", str(threads), "--bind", f"127.0.0.1:{port}",
                   "--log-level", "warning", "--graceful-timeout", "5"]
        if pythonpath:
            command += ["--pythonpath", pythonpath]
        proc = subprocess.Popen(command + [app], cwd=ROOT, env=environment, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_healthy(port, proc, log_path)
            yield port, log_path, proc.pid
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=5)


def wait_healthy(port: int, proc: subprocess.Popen, log_path: str, seconds: float = 30) -> None:
    deadline = timer.monotonic() + seconds
    while timer.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited ({proc.returncode}):\n{tail(log_path)}")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                return
        except OSError:
            pass
        finally:
            conn.close()
        timer.sleep(0.1)
    raise SystemExit(f"gunicorn did not answer /healthz within {seconds:.0f} s:\n{tail(log_path)}")


def tail(path: str, lines: int = 30) -> str:
    with open(path) as fh:
        return "".join(fh.readlines()[-lines:])


def process_tree_cpu(pid: int) -> float:
    """CPU seconds used so far by a process and its children (gunicorn's master and workers);
    0 without /proc."""
    def ticks(p: int) -> int:
        try:
            with open(f"/proc/{p}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            return int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            return 0

    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            children = [int(p) for p in fh.read().split()]
    except OSError:
        children = []
    return sum(ticks(p) for p in [pid, *children]) / os.sysconf("SC_CLK_TCK")


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)
