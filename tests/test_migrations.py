"""The Alembic migrations build exactly the models' schema, and unwind cleanly."""

import ast
import logging
import os
import re
import secrets
from contextlib import contextmanager
from pathlib import Path

import flask_migrate
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import CheckConstraint, create_engine, inspect, text
from sqlalchemy.engine import make_url

from config import normalize_database_url
from scheduler import create_app
from scheduler.extensions import db
from scheduler.languages import LANGUAGES
from scheduler.models import (
    attendance,
    bookings,
    clients,
    feeds,
    interop,
    jobs,
    plans,
    programs,
    proposals,
    series,
    sessions,
    staff,
    users,
)

ROOT = Path(__file__).resolve().parent.parent
PG_URL = normalize_database_url(os.environ.get("TEST_DATABASE_URL"))

@contextmanager
def _logging_kept():
    """Restore logger state that running the migrations changed."""
    # migrations/env.py calls logging.config.fileConfig, which replaces the root logger's
    # level and handlers (pytest's capture among them).
    manager = logging.Logger.manager
    before = {
        name: (logger.disabled, logger.level)
        for name, logger in manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    root_level, root_handlers = logging.root.level, list(logging.root.handlers)
    try:
        yield
    finally:
        for name, (disabled, level) in before.items():
            logger = manager.loggerDict[name]
            logger.disabled, logger.level = disabled, level
        logging.root.setLevel(root_level)
        logging.root.handlers[:] = root_handlers


@contextmanager
def _empty_database(tmp_path, name: str):
    """An empty database: a new SQLite file, or a throwaway PostgreSQL schema."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / f'{name}.sqlite'}"
        return
    schema = f"mig_{secrets.token_hex(4)}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield make_url(PG_URL).update_query_dict(
            {"options": f"-csearch_path={schema}"}
        ).render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def empty_database_url(tmp_path):
    with _empty_database(tmp_path, "migrated") as url:
        yield url


@pytest.fixture
def migration_app(empty_database_url):
    app = create_app({"CONFIG_NAME": "testing", "SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def upgrade(revision: str = "head") -> None:
    with _logging_kept():
        flask_migrate.upgrade(revision=revision)


def downgrade(revision: str) -> None:
    with _logging_kept():
        flask_migrate.downgrade(revision=revision)


def _schema_differences() -> list:
    # compare_type as `flask db migrate` has it (scheduler.extensions.migrate), and server
    # defaults too: neither side declares any, so any that appears is a drift.
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return compare_metadata(context, db.metadata)


def _tables() -> set[str]:
    with db.engine.connect() as conn:
        return set(inspect(conn).get_table_names()) - {"alembic_version"}


def test_upgrade_on_an_empty_database_builds_exactly_the_models_schema(migration_app):
    upgrade()
    assert _tables() == set(db.metadata.tables)
    assert _schema_differences() == []


def test_upgrade_builds_every_check_constraint_the_models_declare(migration_app):
    # Autogenerate does not compare CHECK constraints, so they are checked by name here.
    upgrade()
    with db.engine.connect() as conn:
        inspector = inspect(conn)
        built = {
            (table, check["name"])
            for table in db.metadata.tables
            for check in inspector.get_check_constraints(table)
        }
    declared = {
        (table.name, str(constraint.name))
        for table in db.metadata.tables.values()
        for constraint in table.constraints
        if isinstance(constraint, CheckConstraint)
    }
    assert built == declared


def _check_definitions(engine) -> dict[tuple[str, str], str]:
    """Each CHECK's text as the database gives it back (PostgreSQL rewrites it in its own
    words, the same for both sides of a comparison)."""
    with engine.connect() as conn:
        inspector = inspect(conn)
        return {(table, check["name"]): check["sqltext"]
                for table in db.metadata.tables
                for check in inspector.get_check_constraints(table)}


def test_every_check_constraint_says_in_the_migrations_what_it_says_in_the_models(
        migration_app, tmp_path):
    """The names match (above); this compares what they allow, which autogenerate does not:
    a value added to a model's tuple without a migration fails here."""
    upgrade()
    migrated = _check_definitions(db.engine)
    with _empty_database(tmp_path, "models") as url:
        engine = create_engine(url)
        try:
            db.metadata.create_all(engine)
            modelled = _check_definitions(engine)
        finally:
            engine.dispose()
    assert ("sessions", "ck_sessions_kind") in modelled
    assert migrated == modelled


# Every CHECK that lists allowed values, and the tuple the code validates against.
ALLOWED_VALUES = {
    ("alerts", "kind"): jobs.ALERT_KINDS,
    ("attendance", "method"): attendance.METHODS,
    ("attendance", "reason_code"): attendance.REASON_CODES,
    ("attendance", "status"): attendance.ATTENDANCE_STATUSES,
    ("bookings", "status"): bookings.BOOKING_STATUSES,
    ("clients", "status"): clients.CLIENT_STATUSES,
    ("clients", "language"): LANGUAGES,
    ("users", "language"): LANGUAGES,
    ("enrollments", "status"): bookings.ENROLLMENT_STATUSES,
    ("feed_tokens", "owner_kind"): feeds.FEED_OWNERS,
    ("feed_versions", "owner_kind"): feeds.FEED_OWNERS,
    ("job_runs", "outcome"): jobs.RUN_OUTCOMES,
    ("notifications", "status"): jobs.NOTIFICATION_STATUSES,
    ("plan_requirements", "kind"): series.SESSION_KINDS,
    ("programs", "feed_privacy"): feeds.PRIVACY_LEVELS,
    ("programs", "level_of_care"): programs.LEVELS_OF_CARE,
    ("programs", "population"): programs.POPULATIONS,
    ("schedule_proposals", "kind"): proposals.PROPOSAL_KINDS,
    ("schedule_proposals", "status"): proposals.PROPOSAL_STATUSES,
    ("session_series", "kind"): series.SESSION_KINDS,
    ("session_series", "status"): series.SERIES_STATUSES,
    ("sessions", "kind"): series.SESSION_KINDS,
    ("sessions", "status"): sessions.SESSION_STATUSES,
    ("staff", "role"): staff.STAFF_ROLES,
    ("treatment_plans", "status"): plans.PLAN_STATUSES,
    ("users", "role"): users.USER_ROLES,
    ("account_tokens", "purpose"): users.ACCOUNT_TOKEN_PURPOSES,
    ("recipients", "kind"): interop.RECIPIENT_KINDS,
    ("disclosures", "channel"): interop.DISCLOSURE_CHANNELS,
    ("disclosures", "scope"): interop.CONSENT_SCOPES,
    ("webhook_deliveries", "status"): interop.DELIVERY_STATUSES,
}


def test_each_check_allows_exactly_the_values_the_code_validates_against():
    listed = {}
    for table in db.metadata.tables.values():
        for constraint in table.constraints:
            if isinstance(constraint, CheckConstraint):
                for column, values in re.findall(r"(\w+) IN \(([^)]*)\)", str(constraint.sqltext)):
                    listed[(table.name, column)] = tuple(re.findall(r"'([^']*)'", values))
    assert listed == ALLOWED_VALUES


def test_no_check_in_the_models_spells_out_its_allowed_values():
    """They come from the tuple (models.checks.one_of), so the two cannot drift apart."""
    spelled = []
    for path in sorted((ROOT / "scheduler" / "models").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "CheckConstraint"
                    and any(" IN (" in part.value for part in ast.walk(node.args[0])
                            if isinstance(part, ast.Constant) and isinstance(part.value, str))):
                spelled.append(f"{path.name}:{node.lineno}")
    assert spelled == []


def test_upgrade_stamps_the_database_with_the_single_head_revision(migration_app):
    upgrade()
    config = migration_app.extensions["migrate"].migrate.get_config()
    heads = ScriptDirectory.from_config(config).get_heads()
    with db.engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_heads()
    # Two heads would make `flask db upgrade` refuse to run on a fresh install.
    assert len(heads) == 1
    assert current == tuple(heads)


def test_downgrade_to_base_removes_every_table(migration_app):
    upgrade()
    downgrade(revision="base")
    assert _tables() == set()


def test_upgrade_after_a_downgrade_to_base_builds_the_schema_again(migration_app):
    upgrade()
    downgrade(revision="base")
    upgrade()
    assert _schema_differences() == []


def test_upgrade_twice_changes_nothing(migration_app):
    upgrade()
    upgrade()
    assert _schema_differences() == []


def test_feeds_handed_out_before_uid_keys_each_get_their_own(migration_app):
    """Every existing feed gets a key of its own, so their UIDs differ from the first poll on."""
    upgrade("0007_account_lockout")
    with db.engine.begin() as conn:
        for kind, owner_id in (("client", 1), ("client", 2), ("staff", 1), ("program", 1)):
            conn.execute(text("INSERT INTO feed_versions (owner_kind, owner_id, version, "
                              "changed_at) VALUES (:kind, :owner, 3, :at)"),
                         {"kind": kind, "owner": owner_id, "at": "2027-02-16 12:00:00+00:00"})
    upgrade("0008_feed_uid_keys")
    with db.engine.connect() as conn:
        keys = conn.execute(text("SELECT uid_key FROM feed_versions")).scalars().all()
    assert len(keys) == len(set(keys)) == 4
    assert all(len(key) == 64 and int(key, 16) for key in keys)


def test_every_client_before_episodes_gets_one_from_its_own_fields(migration_app):
    """0016: one episode per client, with its program's level of care and its current plan."""
    upgrade("0012_account_lifecycle")
    at = "2027-02-16 12:00:00+00:00"
    with db.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO programs (id, name, level_of_care, population, timezone, is_active,"
            " created_at, updated_at) VALUES (1, 'Evening IOP', '2.5', 'adult',"
            " 'America/New_York', :yes, :at, :at)"), {"at": at, "yes": True})
        for cid, admitted, discharged, status in ((1, "2027-01-04", None, "active"),
                                                  (2, "2026-10-01", "2026-12-01", "discharged")):
            conn.execute(text(
                "INSERT INTO clients (id, name, program_id, admitted_on, discharged_on, status,"
                " created_at, updated_at) VALUES (:id, :name, 1, :admitted, :discharged,"
                " :status, :at, :at)"),
                {"id": cid, "name": f"Client {cid}", "admitted": admitted,
                 "discharged": discharged, "status": status, "at": at})
        for pid, version, status in ((1, 1, "superseded"), (2, 2, "active")):
            conn.execute(text(
                "INSERT INTO treatment_plans (id, client_id, version, status, start_date,"
                " created_at) VALUES (:id, 1, :version, :status, '2027-01-04', :at)"),
                {"id": pid, "version": version, "status": status, "at": at})
    upgrade()
    with db.engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT client_id, program_id, admitted_on, discharged_on, level_of_care, plan_id"
            " FROM episodes ORDER BY client_id")).all()
        born = conn.execute(text("SELECT date_of_birth FROM clients")).scalars().all()
    assert [(r[0], r[1], str(r[2]), r[3] and str(r[3]), r[4], r[5]) for r in rows] == [
        (1, 1, "2027-01-04", None, "2.5", 2),
        (2, 1, "2026-10-01", "2026-12-01", "2.5", None)]
    assert born == [None, None]
    downgrade("0012_account_lifecycle")
    assert "episodes" not in _tables()


def test_plans_a_discharge_left_active_end_with_an_audit_event(migration_app):
    """0018: before it, a discharge left the plan active until a re-admission."""
    upgrade("0017_proposals")
    at = "2027-02-16 12:00:00+00:00"
    with db.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO programs (id, name, level_of_care, population, timezone, is_active,"
            " country, created_at, updated_at) VALUES (1, 'Evening IOP', '2.5', 'adult',"
            " 'America/New_York', :yes, 'US', :at, :at)"), {"at": at, "yes": True})
        for cid, discharged, status in ((1, None, "active"), (2, "2026-12-01", "discharged")):
            conn.execute(text(
                "INSERT INTO clients (id, name, program_id, admitted_on, discharged_on, status,"
                " created_at, updated_at) VALUES (:id, :name, 1, '2026-10-01', :discharged,"
                " :status, :at, :at)"),
                {"id": cid, "name": f"Client {cid}", "discharged": discharged,
                 "status": status, "at": at})
            conn.execute(text(
                "INSERT INTO treatment_plans (id, client_id, version, status, start_date,"
                " created_at) VALUES (:id, :id, 1, 'active', '2026-10-01', :at)"),
                {"id": cid, "at": at})
    upgrade()
    with db.engine.connect() as conn:
        statuses = conn.execute(text(
            "SELECT client_id, status FROM treatment_plans ORDER BY client_id")).all()
        events = conn.execute(text(
            "SELECT entity_id, action, reason FROM audit_events"
            " WHERE entity_type = 'treatment_plan'")).all()
    assert [tuple(r) for r in statuses] == [(1, "active"), (2, "ended")]
    assert [tuple(r) for r in events] == [(2, "end", "Client discharged")]
    downgrade("0017_proposals")
    upgrade()


def test_an_existing_clinic_moves_into_one_main_site(migration_app):
    """0019: every program, room and staff member of a clinic is at "Main site", in the first
    program's zone and address; no login is scoped, so everyone sees what they saw before."""
    upgrade("0018_discharged_plans_end")
    at = "2027-02-16 12:00:00+00:00"
    with db.engine.begin() as conn:
        for pid, name, zone in ((1, "Evening IOP", "America/Chicago"),
                                (2, "Day IOP", "America/New_York")):
            conn.execute(text(
                "INSERT INTO programs (id, name, level_of_care, population, timezone, address,"
                " is_active, country, created_at, updated_at) VALUES (:id, :name, '2.1',"
                " 'adult', :zone, '12 Elm Street', :yes, 'US', :at, :at)"),
                {"id": pid, "name": name, "zone": zone, "at": at, "yes": True})
        for rid, name in ((1, "Room A"), (2, "Room B")):
            conn.execute(text(
                "INSERT INTO rooms (id, name, capacity, is_active, created_at, updated_at)"
                " VALUES (:id, :name, 12, :yes, :at, :at)"),
                {"id": rid, "name": name, "at": at, "yes": True})
        for sid, name in ((1, "Dana Reyes"), (2, "Lee Park")):
            conn.execute(text(
                "INSERT INTO staff (id, name, role, is_active, created_at, updated_at)"
                " VALUES (:id, :name, 'therapist', :yes, :at, :at)"),
                {"id": sid, "name": name, "at": at, "yes": True})
    upgrade("0019_sites")
    with db.engine.connect() as conn:
        sites = conn.execute(text("SELECT id, name, timezone, address FROM sites")).all()
        [(site_id, *site)] = [tuple(r) for r in sites]
        assert tuple(site) == ("Main site", "America/Chicago", "12 Elm Street")
        for table in ("programs", "rooms"):
            assert conn.execute(text(f"SELECT DISTINCT site_id FROM {table}")).scalars().all() \
                == [site_id], table
        assert conn.execute(text("SELECT staff_id, site_id FROM staff_sites"
                                 " ORDER BY staff_id")).all() == [(1, site_id), (2, site_id)]
        assert conn.execute(text("SELECT count(*) FROM user_sites")).scalar() == 0
    upgrade()
    assert _schema_differences() == []


def test_an_empty_database_gets_no_site_until_one_is_needed(migration_app):
    upgrade("0019_sites")
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM sites")).scalar() == 0


def test_going_back_before_sites_keeps_each_sites_room_b(migration_app):
    """Room names were unique across the network before 0019: the second "Room B" takes its
    site's name, and no room is lost."""
    upgrade()
    at = "2027-02-16 12:00:00+00:00"
    with db.engine.begin() as conn:
        for sid, name in ((1, "Eastside"), (2, "Westside")):
            conn.execute(text(
                "INSERT INTO sites (id, name, timezone, is_active, created_at, updated_at)"
                " VALUES (:id, :name, 'America/New_York', :yes, :at, :at)"),
                {"id": sid, "name": name, "at": at, "yes": True})
            conn.execute(text(
                "INSERT INTO rooms (id, site_id, name, capacity, is_active, created_at,"
                " updated_at) VALUES (:id, :id, 'Room B', 12, :yes, :at, :at)"),
                {"id": sid, "at": at, "yes": True})
    downgrade("0018_discharged_plans_end")
    with db.engine.connect() as conn:
        rooms = conn.execute(text("SELECT id, name FROM rooms ORDER BY id")).all()
    assert [tuple(r) for r in rooms] == [(1, "Room B"), (2, "Room B (Westside)")]
    assert "sites" not in _tables()
    upgrade()


def test_this_waves_migrations_go_down_and_up_again_with_a_clinic_in_the_database(
        migration_app, now):
    """Closures, working hours, the kiosk role and episodes undo without losing a session or
    booking: on SQLite, rebuilding the sessions table must not trip the rows pointing at it."""
    from scheduler import demo_clinic

    upgrade()
    demo_clinic.seed(db.session, n_clients=6, weeks=2, now=now)
    db.session.commit()

    def counts():
        with db.engine.connect() as conn:
            return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                    for t in ("programs", "sessions", "bookings", "clients", "attendance")}

    before = counts()
    assert before["bookings"] > 0
    db.session.remove()
    downgrade("0012_account_lifecycle")
    assert "closures" not in _tables() and "episodes" not in _tables()
    assert counts() == before
    upgrade()
    assert counts() == before
    assert _schema_differences() == []
