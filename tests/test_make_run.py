"""`make run`, the README's first command, serves the demo clinic and keeps serving.

The first wave's `make run` installed, migrated and seeded, then exited 0 without serving (its
`app.run()` was a no-op under the flask command), and no test noticed. This one runs the
Makefile's own target on a free port, as a newcomer would, and asks the running app.
"""

import json
import os
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from scheduler.jobs.registry import JOBS

ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 120


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture
def make_run(tmp_path):
    """`make run` on a free port and its own SQLite file; stopped with Ctrl-C afterwards."""
    if os.environ.get("TEST_DATABASE_URL"):
        pytest.skip("make run serves a SQLite file whichever lane runs; the SQLite lane ran it")
    port = _free_port()
    database = tmp_path / "clinic.sqlite"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}",
           "SECRET_KEY": "make-run-test-not-secret", "PYTHONUNBUFFERED": "1"}
    env.pop("SCHEDULER_CONFIG", None)
    env.pop("MAIL_SERVER", None)
    with open(tmp_path / "make-run.log", "w+b") as log:
        # Its own process group, so Ctrl-C reaches make and the server under it, as in a terminal.
        process = subprocess.Popen(["make", "--no-print-directory", "run", f"PORT={port}"],
                                   cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        served = {"process": process, "url": f"http://127.0.0.1:{port}", "database": database,
                  "log": log}
        try:
            yield served
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


def _output(served) -> str:
    served["log"].flush()
    served["log"].seek(0)
    return served["log"].read().decode("utf-8", "replace")


def _wait_for_health(served) -> tuple[int, bytes]:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if served["process"].poll() is not None:
            pytest.fail(f"make run exited ({served['process'].returncode}) without serving:\n"
                        + _output(served)[-3000:])
        try:
            return _get(served["url"] + "/healthz")
        except OSError:
            time.sleep(0.25)
    pytest.fail(f"make run did not answer /healthz in {STARTUP_SECONDS} s:\n"
                + _output(served)[-3000:])


def test_make_run_serves_the_demo_clinic_with_its_jobs_until_ctrl_c(make_run):
    status, body = _wait_for_health(make_run)
    assert status == 200 and json.loads(body) == {"status": "ok", "database": "ok"}

    # The demo clinic is there: its coordinator can sign in to the page a newcomer opens.
    status, page = _get(make_run["url"] + "/login")
    assert status == 200 and b"<form" in page
    with sqlite3.connect(make_run["database"]) as conn:
        assert conn.execute("SELECT count(*) FROM users WHERE email = ?",
                            ("coordinator@demo.clinic",)).fetchone() == (1,)
        # The embedded job scheduler started: its job store holds every job. It starts just
        # after the server answers, so its table may not be there yet on a busy machine.
        deadline = time.monotonic() + 30
        while True:
            try:
                jobs = {row[0] for row in conn.execute("SELECT id FROM apscheduler_jobs")}
            except sqlite3.OperationalError as error:
                if "no such table" not in str(error):
                    raise
                jobs = set()
            if len(jobs) == len(JOBS) or time.monotonic() > deadline:
                break
            time.sleep(0.25)
    assert jobs == {"extend-horizon", "mark-no-shows", "absence-alerts", "send-reminders",
                    "notify-changes", "weekly-summary", "deliver-webhooks"} == set(JOBS)

    # Still serving a little later: not a server that answers once and goes away.
    time.sleep(1)
    assert make_run["process"].poll() is None
    assert _get(make_run["url"] + "/healthz")[0] == 200

    os.killpg(make_run["process"].pid, signal.SIGINT)
    make_run["process"].wait(timeout=60)
    output = _output(make_run)
    with pytest.raises(OSError):
        _get(make_run["url"] + "/healthz")
    # No mail server here: said once, plainly, and no traceback anywhere.
    assert output.count("messages stay queued") == 1, output
    assert "Traceback" not in output, output
    assert "Ignoring a call to 'app.run()'" not in output
