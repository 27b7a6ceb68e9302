"""Fixtures: a fresh app and database per test, on SQLite or on TEST_DATABASE_URL."""

import contextvars
import os
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import text

from config import normalize_database_url
from scheduler import create_app
from scheduler.extensions import db as _db
from scheduler.services import clock
from tests import helpers
from tests.fuzz_report import pytest_terminal_summary  # noqa: F401  (the schemathesis counts)

PG_URL = normalize_database_url(os.environ.get("TEST_DATABASE_URL"))
_pg_schema_ready = False


def reset_postgresql() -> None:
    """Create the schema once per run, then empty every table between tests."""
    global _pg_schema_ready
    if not _pg_schema_ready:
        _db.drop_all()
        _db.create_all()
        _pg_schema_ready = True
        return
    tables = ", ".join(f'"{t.name}"' for t in _db.metadata.sorted_tables)
    with _db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


class IsolatedClient(FlaskClient):
    """Each request gets its own app context and database session, as in production."""

    def open(self, *args, **kwargs):
        # An empty contextvars context hides the test's app context from the request, so
        # nothing (g, the logged-in user, uncommitted rows) leaks between test and request.
        return contextvars.Context().run(super().open, *args, **kwargs)


class IsolatedCliRunner(FlaskCliRunner):
    """Each command gets its own app context, as when run from a shell."""

    def invoke(self, *args, **kwargs):
        return contextvars.Context().run(super().invoke, *args, **kwargs)


@pytest.fixture
def database_url(tmp_path):
    # A file, not :memory:, so threaded servers and second app instances share it.
    return PG_URL or f"sqlite:///{tmp_path / 'test.sqlite'}"


@pytest.fixture
def app_config():
    """More configuration for the `app` fixture; a test module overrides it (e.g. the rate
    limits' storage in tests/test_security.py)."""
    return {}


@pytest.fixture
def app(database_url, app_config):
    app = create_app({"CONFIG_NAME": "testing", "SQLALCHEMY_DATABASE_URI": database_url,
                      **app_config})
    app.test_client_class = IsolatedClient
    app.test_cli_runner_class = IsolatedCliRunner
    with app.app_context():
        if PG_URL:
            reset_postgresql()
        else:
            _db.create_all()
        yield app
        _db.session.remove()
        _db.engine.dispose()


@pytest.fixture
def db(app):
    return _db.session


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def now():
    """A fixed 'now' in the middle of a normal clinic week (Tuesday 2027-02-16, 12:00 UTC)."""
    at = datetime(2027, 2, 16, 12, 0, tzinfo=UTC)
    with clock.frozen(at):
        yield at


@pytest.fixture
def make(db):
    """Factories that create rows through the services, stating only what a test cares about."""
    return helpers.Factory(db)


@pytest.fixture
def auth(db, make):
    """Bearer headers for a user of a given role: auth('coordinator')."""
    return helpers.AuthHeaders(db, make)
