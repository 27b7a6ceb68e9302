"""Fixtures: one app per test session (per xdist worker), a clean database per test.

Building the app (the API spec, every blueprint) costs about half a second, and used to be paid
by every test. Now each worker builds it once, on its own database: a SQLite file in the
worker's temporary folder, or on PostgreSQL a database of its own (`test_gw0`, `test_gw1`, …
beside TEST_DATABASE_URL's). Every test starts from empty tables: `database_url` empties them
(DELETE, and the ids start again at 1) before handing the URL out.

A test that changes the app itself (adds routes, needs other settings) gets an app of its own:
mark it `@pytest.mark.own_app`, or override `app_config` as tests/test_security.py does.
"""

import contextvars
import copy
import os
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url

from config import normalize_database_url
from scheduler import clock, create_app
from scheduler.extensions import db as _db
from scheduler.extensions import limiter
from scheduler.services import passwords
from tests import helpers

# The schemathesis counts (summed across xdist workers) and the fuzzed operations' node ids.
pytest_plugins = ["tests.fuzz_report"]

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")


def _worker_database(url: str | None) -> str | None:
    """This worker's own PostgreSQL database beside `url`'s, created on first use.

    Tests that read TEST_DATABASE_URL themselves (second schemas, subprocesses) see it too:
    the environment is rewritten before any test module is imported.
    """
    if not url or not WORKER:
        return url
    base = make_url(url)
    name = f"{base.database}_{WORKER}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            # A test's commit need not wait for the disk (a crash loses nothing a test needs);
            # servers and workers the tests start connect here too. About a tenth faster.
            conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    finally:
        admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


@event.listens_for(Engine, "connect")
def _sqlite_without_fsync(dbapi_connection, connection_record):
    """SQLite, likewise, need not sync a test's commits to the disk."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        dbapi_connection.execute("PRAGMA synchronous = OFF")


PG_URL = _worker_database(normalize_database_url(os.environ.get("TEST_DATABASE_URL")))
if PG_URL:
    os.environ["TEST_DATABASE_URL"] = PG_URL
_pg_schema_ready = False


def reset_postgresql() -> None:
    """Create the schema once per run, then empty every table between tests."""
    global _pg_schema_ready
    if not _pg_schema_ready:
        _db.drop_all()
        _db.create_all()
        _pg_schema_ready = True
        return
    _empty_tables(_db.engine)


def _empty_tables(engine) -> None:
    """Every table empty and ids counting from 1 again, in one round trip.

    DELETE, not TRUNCATE: on PostgreSQL TRUNCATE gives each of the tables new files, about
    0.3 s a test; a DELETE of a test's few rows costs milliseconds.
    """
    tables = list(reversed(_db.metadata.sorted_tables))  # children before their parents
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            sequences = conn.scalars(text("SELECT oid::regclass::text FROM pg_class "
                                          "WHERE relkind = 'S'")).all()
            restarts = ", ".join(f"setval('{name}', 1, false)" for name in sequences)
            conn.exec_driver_sql("; ".join(
                [f'DELETE FROM "{t.name}"' for t in tables]
                + ([f"SELECT {restarts}"] if restarts else [])))
            return
        for table in tables:
            conn.execute(table.delete())
        # Ids start again at 1, as after TRUNCATE … RESTART IDENTITY.
        if conn.scalar(text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'")):
            conn.execute(text("DELETE FROM sqlite_sequence"))


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


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "own_app: the test changes the app (routes, hooks), so it gets one of its own")


# Tests whose outcome no database can change run in the SQLite lane only: static checks of the
# code, the lock files and the drawn icons, and the browser tests, whose pages the PostgreSQL
# lane still tests over HTTP (the browser adds scripts, styles and the console, none of which
# reads a database).
ONE_LANE = ("tests/browser/", "tests/test_layout.py", "tests/test_dependencies.py",
            "tests/test_pages_brand.py::test_the_committed_icons_are_what_the_script_draws")


def pytest_collection_modifyitems(items):
    if PG_URL:
        once = pytest.mark.skip(reason="reads no database of its own: the SQLite lane ran it")
        for item in items:
            if item.nodeid.startswith(ONE_LANE):
                item.add_marker(once)


@pytest.fixture(scope="session")
def _worker_database_url(tmp_path_factory):
    """This worker's database, with the schema built once."""
    # A file, not :memory:, so threaded servers and second app instances share it.
    url = PG_URL or f"sqlite:///{tmp_path_factory.getbasetemp() / 'test.sqlite'}"
    engine = create_engine(url)
    global _pg_schema_ready
    if PG_URL:
        _db.metadata.drop_all(engine)
        _pg_schema_ready = True
    _db.metadata.create_all(engine)
    yield url, engine
    engine.dispose()


@pytest.fixture
def database_url(_worker_database_url):
    """The worker's database, every table empty."""
    url, engine = _worker_database_url
    _empty_tables(engine)
    return url


@pytest.fixture
def app_config():
    """More configuration for the `app` fixture; a test module overrides it (e.g. the rate
    limits' storage in tests/test_security.py). Any setting gives the test an app of its own."""
    return {}


def _build_app(database_url: str, config: dict):
    app = create_app({"CONFIG_NAME": "testing", "SQLALCHEMY_DATABASE_URI": database_url,
                      **config})
    app.test_client_class = IsolatedClient
    app.test_cli_runner_class = IsolatedCliRunner
    return app


@pytest.fixture(scope="session")
def _shared_app(_worker_database_url):
    """The app most tests share, with what each test may change saved to put back."""
    app = _build_app(_worker_database_url[0], {})
    yield app, copy.deepcopy(dict(app.config)), dict(app.extensions)
    with app.app_context():
        _db.engine.dispose()


def _restore(app, config: dict, extensions: dict) -> None:
    """Undo what the last test changed: settings, lazily built caches, rate-limit counts."""
    app.config.clear()
    app.config.update(copy.deepcopy(config))
    app.extensions.clear()
    app.extensions.update(extensions)
    # A fresh memory:// store: no test inherits another's counts. Also rebinds the one global
    # limiter to this app's storage, after a test that built an app of its own.
    limiter.init_app(app)
    # Likewise the hash method, after a test built a production app (scrypt).
    passwords.use_method(app.config["PASSWORD_HASH_METHOD"])


@pytest.fixture
def app(request, database_url, app_config, _shared_app):
    own = bool(app_config) or request.node.get_closest_marker("own_app") is not None
    if own:
        app = _build_app(database_url, app_config)
    else:
        app = _shared_app[0]
        _restore(*_shared_app)
    with app.app_context():
        yield app
        _db.session.remove()
        if own:
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


CLINIC_NOW = datetime(2027, 2, 16, 12, 0, tzinfo=UTC)


@pytest.fixture
def now():
    """A fixed 'now' in the middle of a normal clinic week (Tuesday 2027-02-16, 12:00 UTC)."""
    with clock.frozen(CLINIC_NOW):
        yield CLINIC_NOW


@pytest.fixture(autouse=True)
def _clinic_clock(now):
    """Every test runs at the frozen clinic 'now' (Tue 2027-02-16 12:00 UTC, 07:00 in New York),
    so no test depends on today's date."""


@pytest.fixture
def make(db):
    """Factories that create rows through the services, stating only what a test cares about."""
    return helpers.Factory(db)


@pytest.fixture
def auth(db, make):
    """Bearer headers for a user of a given role: auth('coordinator')."""
    return helpers.AuthHeaders(db, make)
