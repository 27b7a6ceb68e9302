"""Command-line tools: create-user and seed-demo."""

import os
import re
import secrets
from datetime import time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from config import normalize_database_url
from scheduler import create_app
from scheduler.extensions import db as _db
from scheduler.models import Client, Program, Room, Session, SessionSeries, Staff, User
from scheduler.services.demo_clinic import DEMO_PASSWORD

PG_URL = normalize_database_url(os.environ.get("TEST_DATABASE_URL"))
NEW_YORK = ZoneInfo("America/New_York")
# What the demo must reproduce exactly; users keep only fields that are not salted hashes.
DUMPED_TABLES = (
    "programs",
    "rooms",
    "staff",
    "clients",
    "session_series",
    "series_facilitators",
    "sessions",
    "session_facilitators",
    "users",
)
NOT_COMPARED = {"created_at", "updated_at", "password_hash", "last_login_at"}


def _token(client, email, password):
    return client.post("/api/v1/auth/token", json={"email": email, "password": password})


def _count(db, model) -> int:
    return db.scalar(select(func.count()).select_from(model))


# --- create-user -------------------------------------------------------------------------------


def test_create_user_makes_a_login_that_gets_an_api_token(runner, client, db):
    result = runner.invoke(args=[
        "create-user", "--email", "Boss@Clinic.test", "--role", "admin",
        "--password", "correct horse battery",
    ])
    assert result.exit_code == 0, result.output
    assert "Created admin boss@clinic.test" in result.output

    response = _token(client, "boss@clinic.test", "correct horse battery")
    assert response.status_code == 200
    me = client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {response.json['token']}"}
    )
    assert me.json["email"] == "boss@clinic.test"
    assert me.json["role"] == "admin"


def test_create_user_links_a_client_login_to_its_client(runner, client, make):
    record = make.client()
    result = runner.invoke(args=[
        "create-user", "--email", "pat@example.org", "--role", "client",
        "--password", "a long enough secret", "--client-id", str(record.id),
    ])
    assert result.exit_code == 0, result.output
    token = _token(client, "pat@example.org", "a long enough secret").json["token"]
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json["client_id"] == record.id


def test_create_user_refuses_a_short_password(runner, db):
    result = runner.invoke(args=[
        "create-user", "--email", "short@clinic.test", "--role", "coordinator",
        "--password", "short",
    ])
    assert result.exit_code != 0
    assert "password: must be at least 12 characters" in result.output
    assert "Traceback" not in result.output
    assert _count(db, User) == 0


def test_create_user_refuses_a_client_login_for_an_unknown_client(runner, db):
    result = runner.invoke(args=[
        "create-user", "--email", "ghost@example.org", "--role", "client",
        "--password", "a long enough secret", "--client-id", "4242",
    ])
    assert result.exit_code != 0
    assert "client_id: No client with id 4242." in result.output
    assert _count(db, User) == 0


def test_create_user_refuses_a_client_login_without_a_client(runner, db):
    result = runner.invoke(args=[
        "create-user", "--email", "nobody@example.org", "--role", "client",
        "--password", "a long enough secret",
    ])
    assert result.exit_code != 0
    assert "client_id: A client login must be linked to a client." in result.output


def test_create_user_refuses_an_email_already_in_use(runner, db):
    args = ["create-user", "--email", "twice@clinic.test", "--role", "admin",
            "--password", "a long enough secret"]
    assert runner.invoke(args=args).exit_code == 0
    result = runner.invoke(args=[*args[:2], "TWICE@clinic.test", *args[3:]])
    assert result.exit_code != 0
    assert "already exists" in result.output
    assert _count(db, User) == 1


def test_create_user_refuses_an_unknown_role(runner, db):
    result = runner.invoke(args=[
        "create-user", "--email", "x@clinic.test", "--role", "superuser",
        "--password", "a long enough secret",
    ])
    assert result.exit_code == 2
    assert "superuser" in result.output
    assert _count(db, User) == 0


# --- seed-demo ---------------------------------------------------------------------------------


def _seed(runner, *extra):
    return runner.invoke(args=["seed-demo", "--clients", "6", "--weeks", "2", *extra])


def _printed_logins(output: str) -> list[tuple[str, str]]:
    return re.findall(r"^\s+(\w+)\s+(\S+@\S+)\s*$", output, flags=re.MULTILINE)


def test_seed_demo_creates_an_adult_evening_and_an_adolescent_afternoon_program(runner, db, now):
    result = _seed(runner)
    assert result.exit_code == 0, result.output
    found = {p.population: p for p in db.scalars(select(Program))}
    assert set(found) == {"adult", "adolescent"}
    assert "Evening" in found["adult"].name
    assert "Afternoon" in found["adolescent"].name
    assert all(p.timezone == "America/New_York" for p in found.values())


def test_seed_demo_runs_morning_and_evening_group_tracks_three_times_a_week_for_three_hours(
    runner, db, now
):
    assert _seed(runner).exit_code == 0
    tracks = {
        s.title: s for s in db.scalars(select(SessionSeries).where(SessionSeries.kind == "group"))
    }
    morning = next(s for t, s in tracks.items() if "Morning" in t)
    evening = next(s for t, s in tracks.items() if "Evening" in t)
    for track in (morning, evening):
        assert track.duration_minutes == 180
        assert track.rrule.startswith("FREQ=WEEKLY;BYDAY=")
        assert len(track.rrule.split("BYDAY=")[1].split(";")[0].split(",")) == 3
        assert track.room_id is not None
        assert track.facilitators
    assert morning.start_time < time(12, 0)
    assert evening.start_time >= time(17, 0)


def test_seed_demo_group_sessions_keep_their_local_start_time(runner, db, now):
    assert _seed(runner).exit_code == 0
    for track in db.scalars(select(SessionSeries).where(SessionSeries.kind == "group")):
        sessions = db.scalars(select(Session).where(Session.series_id == track.id)).all()
        # Two weeks at three days a week.
        assert len(sessions) == 6
        for session in sessions:
            local = session.starts_at.astimezone(NEW_YORK)
            assert local.time() == track.start_time
            assert session.ends_at - session.starts_at == timedelta(hours=3)


def test_seed_demo_gives_every_client_weekly_individual_therapy(runner, db, now):
    assert _seed(runner).exit_code == 0
    client_rows = db.scalars(select(Client)).all()
    individual = db.scalars(
        select(SessionSeries).where(SessionSeries.kind == "individual")
    ).all()
    assert len(client_rows) == 6
    assert len(individual) == 6
    for series in individual:
        assert series.rrule.count(",") == 0 and "FREQ=WEEKLY;BYDAY=" in series.rrule
        assert series.capacity == 1
        assert len(series.facilitators) == 1
        count = _count(db, select(Session.id).where(Session.series_id == series.id).subquery())
        assert count == 2


def test_seed_demo_individual_sessions_never_double_book_a_therapist_or_office(runner, db, now):
    assert _seed(runner).exit_code == 0
    sessions = db.scalars(select(Session).order_by(Session.starts_at)).all()
    for i, a in enumerate(sessions):
        for b in sessions[i + 1:]:
            if b.starts_at >= a.ends_at:
                continue
            assert a.room_id != b.room_id, (a.title, b.title, a.starts_at)
            assert not {s.id for s in a.facilitators} & {s.id for s in b.facilitators}


def test_seed_demo_creates_rooms_and_staff(runner, db, now):
    assert _seed(runner).exit_code == 0
    assert _count(db, Room) >= 3
    assert _count(db, Staff) >= 3
    roles = set(db.scalars(select(Staff.role)))
    assert {"therapist", "counselor"} <= roles


def test_seed_demo_prints_logins_that_get_api_tokens(runner, client, db, now):
    result = _seed(runner)
    assert result.exit_code == 0, result.output
    assert DEMO_PASSWORD in result.output
    logins = _printed_logins(result.output)
    assert {role for role, _ in logins} == {"admin", "coordinator", "clinician", "client"}
    for role, email in logins:
        response = _token(client, email, DEMO_PASSWORD)
        assert response.status_code == 200, (email, response.json)
        me = client.get(
            "/api/v1/auth/me", headers={"Authorization": f"Bearer {response.json['token']}"}
        )
        assert me.json["role"] == role


def test_seed_demo_refuses_a_database_that_already_holds_data(runner, db, now):
    assert _seed(runner).exit_code == 0
    sessions_before = _count(db, Session)
    result = _seed(runner)
    assert result.exit_code != 0
    assert "already holds data" in result.output
    assert _count(db, Program) == 2
    assert _count(db, Session) == sessions_before


def test_seed_demo_if_empty_leaves_a_seeded_database_alone(runner, db, now):
    assert _seed(runner).exit_code == 0
    sessions_before = _count(db, Session)
    result = _seed(runner, "--if-empty")
    assert result.exit_code == 0
    assert "nothing to do" in result.output
    assert _count(db, Program) == 2
    assert _count(db, Session) == sessions_before


def test_seed_demo_if_empty_seeds_an_empty_database(runner, db, now):
    result = _seed(runner, "--if-empty")
    assert result.exit_code == 0, result.output
    assert _count(db, Program) == 2


def test_seed_demo_refuses_zero_clients_or_weeks(runner, db):
    for args in (["--clients", "0"], ["--weeks", "0"]):
        result = runner.invoke(args=["seed-demo", *args])
        assert result.exit_code != 0
        assert "at least 1" in result.output
    assert _count(db, Program) == 0


# --- determinism -------------------------------------------------------------------------------


@pytest.fixture
def second_database_url(tmp_path):
    """Another empty database: a SQLite file, or a throwaway schema beside the test one."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'second.sqlite'}"
        return
    schema = f"seed_{secrets.token_hex(4)}"
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


def _dump() -> dict:
    dump = {}
    for name in DUMPED_TABLES:
        table = _db.metadata.tables[name]
        keep = [c for c in table.columns if c.name not in NOT_COMPARED]
        order = list(table.primary_key.columns)
        dump[name] = [tuple(row) for row in _db.session.execute(select(*keep).order_by(*order))]
    return dump


def test_seed_demo_gives_identical_data_on_two_fresh_databases(
    app, runner, now, second_database_url
):
    assert _seed(runner).exit_code == 0
    first = _dump()

    other = create_app({"CONFIG_NAME": "testing", "SQLALCHEMY_DATABASE_URI": second_database_url})
    with other.app_context():
        _db.create_all()
        result = _seed(other.test_cli_runner())
        assert result.exit_code == 0, result.output
        second = _dump()
        _db.session.remove()
        _db.engine.dispose()

    assert all(first[name] for name in DUMPED_TABLES)
    for name in DUMPED_TABLES:
        assert second[name] == first[name], name
