"""Command-line tools: create-user and seed-demo."""

import os
import re
import secrets
from datetime import time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import bindparam, create_engine, func, select, text
from sqlalchemy.engine import make_url

from config import normalize_database_url
from scheduler import create_app
from scheduler.demo_clinic import DEMO_PASSWORD, HISTORY_WEEKS, SITE_CLIENTS, follow_up_cast
from scheduler.extensions import db as _db
from scheduler.models import (
    Client,
    Program,
    Room,
    Session,
    SessionSeries,
    Site,
    Staff,
    User,
    staff_sites,
)
from scheduler.models.types import UTCDateTime

PG_URL = normalize_database_url(os.environ.get("TEST_DATABASE_URL"))
NEW_YORK = ZoneInfo("America/New_York")
# What the demo must reproduce exactly; users keep only fields that are not salted hashes.
DUMPED_TABLES = (
    "sites",
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
        # The weeks already held and two weeks ahead, at three days a week.
        assert len(sessions) == (HISTORY_WEEKS + 2) * 3
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
    # The demo's unfinished intakes (one per program) stopped before booking anything.
    unfinished = [i for i, roles in follow_up_cast(6).items() if "unfinished" in roles]
    assert len(unfinished) == 2
    assert len(individual) == 6 - len(unfinished)
    for series in individual:
        assert series.rrule.count(",") == 0 and "FREQ=WEEKLY;BYDAY=" in series.rrule
        assert series.capacity == 1
        assert len(series.facilitators) == 1
        count = _count(db, select(Session.id).where(Session.series_id == series.id).subquery())
        assert count == HISTORY_WEEKS + 2


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


def test_seed_demo_has_two_sites_each_with_a_group_room_b(runner, db, now):
    assert _seed(runner).exit_code == 0
    by_name = {s.name: s.id for s in db.scalars(select(Site))}
    assert set(by_name) == {"Downtown", "Riverside"}
    assert set(db.scalars(select(Room.site_id).where(Room.name == "Group Room B"))) == set(
        by_name.values())
    assert set(db.scalars(select(Program.site_id))) == {by_name["Downtown"]}
    both = db.execute(select(staff_sites.c.staff_id).group_by(staff_sites.c.staff_id)
                      .having(func.count() == 2)).scalars().all()
    assert len(both) == 1
    assert db.scalar(select(func.count()).select_from(staff_sites)) == _count(db, Staff) + 1


def test_seed_demo_prints_logins_that_get_api_tokens(runner, client, db, now):
    result = _seed(runner)
    assert result.exit_code == 0, result.output
    assert DEMO_PASSWORD in result.output
    logins = _printed_logins(result.output)
    assert {role for role, _ in logins} == {"admin", "coordinator", "clinician", "client", "kiosk"}
    for role, email in logins:
        response = _token(client, email, DEMO_PASSWORD)
        assert response.status_code == 200, (email, response.json)
        me = client.get(
            "/api/v1/auth/me", headers={"Authorization": f"Bearer {response.json['token']}"}
        )
        if role == "kiosk":
            # The front desk's tablet reaches the kiosk's check-in alone, not even this.
            assert me.status_code == 403
            continue
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


# --- many sites --------------------------------------------------------------------------------

# 36 clients fill a site: 80 clients make two full sites and a third with 8 clients.
MANY = ["seed-demo", "--clients", "80", "--weeks", "3"]


def _overlaps(db, column: str) -> int:
    """Pairs of scheduled sessions sharing a room, a staff member or a booked client."""
    if column == "room_id":
        pairs = ("sessions a JOIN sessions b ON a.room_id = b.room_id")
    elif column == "staff_id":
        pairs = ("session_facilitators fa JOIN session_facilitators fb ON fa.staff_id = fb.staff_id"
                 " JOIN sessions a ON a.id = fa.session_id JOIN sessions b ON b.id = fb.session_id")
    else:
        pairs = ("bookings ba JOIN bookings bb ON ba.client_id = bb.client_id"
                 " AND ba.status = 'booked' AND bb.status = 'booked'"
                 " JOIN sessions a ON a.id = ba.session_id JOIN sessions b ON b.id = bb.session_id")
    return db.scalar(text(f"SELECT count(*) FROM {pairs} WHERE a.id < b.id"
                          " AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at"))


def test_seed_demo_grows_by_whole_sites_that_share_no_room_staff_or_client(runner, db, now):
    result = runner.invoke(args=MANY)
    assert result.exit_code == 0, result.output

    assert _count(db, Client) == 80
    assert _count(db, Program) == 6
    assert len(set(db.scalars(select(Client.email)))) == 80
    assert "Evening Program (adults) — site 3" in set(db.scalars(select(Program.name)))
    # Every copy is a site of its own, with its own "Group Room B", beside Riverside.
    assert _count(db, Site) == 4
    assert len(set(db.scalars(select(Program.site_id)))) == 3
    assert len(set(db.scalars(select(Room.site_id).where(Room.name == "Group Room B")))) == 4
    unplaced = db.scalar(select(func.count(Staff.id)).where(
        Staff.id.not_in(select(staff_sites.c.staff_id))))
    assert unplaced == 0
    # Each copy's staff work at their copy's site, where its programs are.
    assert db.scalar(text(
        "SELECT count(*) FROM series_facilitators f JOIN session_series s ON s.id = f.series_id"
        " JOIN programs p ON p.id = s.program_id LEFT JOIN staff_sites ss"
        " ON ss.staff_id = f.staff_id AND ss.site_id = p.site_id WHERE ss.site_id IS NULL")) == 0
    # Three group tracks per site, and each client's own weekly individual series.
    assert _count(db, select(SessionSeries.id).where(SessionSeries.kind == "group")
                  .subquery()) == 9
    # All but the unfinished intakes (no plan, nothing booked) among each site's clients.
    cast = follow_up_cast(SITE_CLIENTS)
    treated = 80 - sum(1 for size in (36, 36, 8) for i, roles in cast.items()
                       if "unfinished" in roles and i < size)
    assert treated == 76
    assert _count(db, select(SessionSeries.id).where(SessionSeries.kind == "individual")
                  .subquery()) == treated
    for column in ("room_id", "staff_id", "client_id"):
        assert _overlaps(db, column) == 0, column
    # Every site's clients are booked like the first site's: one group track and their own hour.
    per_client = db.execute(text(
        "SELECT b.client_id, count(DISTINCT s.series_id) FROM bookings b"
        " JOIN sessions s ON s.id = b.session_id WHERE b.status = 'booked'"
        " GROUP BY b.client_id")).all()
    assert len(per_client) == treated and {n for _, n in per_client} == {2}
    over = db.scalar(text(
        "SELECT count(*) FROM (SELECT s.id FROM sessions s JOIN bookings b ON b.session_id = s.id"
        " AND b.status = 'booked' GROUP BY s.id, s.capacity HAVING count(*) > s.capacity) x"))
    assert over == 0
    # Every copied client's plan and its phases came along, pointing at their own client.
    assert db.scalar(text("SELECT count(DISTINCT client_id) FROM treatment_plans")) == treated
    assert db.scalar(text("SELECT count(*) FROM plan_phases")) == 2 * treated
    # Each returning client's two episodes came along too.
    assert db.scalar(text("SELECT count(*) FROM episodes")) == 80 + sum(
        1 for size in (36, 36, 8) for i, roles in cast.items()
        if "readmitted" in roles and i < size)


def test_seeded_site_copies_keep_rolling_like_the_first_site(runner, app, db, now):
    """The horizon job extends a copied site as it does the first, booking its clients."""
    from scheduler.services import clients as client_service
    from scheduler.services import series as series_service
    from tests.helpers import ACTOR

    assert runner.invoke(args=MANY).exit_code == 0
    per_program = ("SELECT s.program_id, count(*) FROM bookings b"
                   " JOIN sessions s ON s.id = b.session_id GROUP BY 1")
    before = dict(db.execute(text("SELECT program_id, count(*) FROM sessions GROUP BY 1")).all())
    booked_before = dict(db.execute(text(per_program)).all())

    assert series_service.extend_horizon(db, now, horizon_days=28) > 0
    db.commit()

    after = dict(db.execute(text("SELECT program_id, count(*) FROM sessions GROUP BY 1")).all())
    grown = {program: after[program] - before[program] for program in before}
    assert grown[1] > 0 and grown[3] == grown[1] and grown[4] == grown[2]
    booked = {p: n - booked_before[p] for p, n in db.execute(text(per_program)).all()}
    assert booked[1] > 0 and booked[3] == booked[1] and booked[4] == booked[2]
    # Ids after the copies are free: a new client takes the next one.
    program = db.scalar(select(Program).order_by(Program.id.desc()))
    added = client_service.create_client(db, ACTOR, name="New Person", program_id=program.id,
                                         admitted_on=now.date())
    db.commit()
    assert added.id == 81


def test_seed_demo_has_weeks_already_held_with_attendance_taken(runner, db, now):
    assert _seed(runner).exit_code == 0
    at = bindparam("now", now, type_=UTCDateTime)  # stored as UTC, whatever the database

    held = db.scalar(text(
        "SELECT count(*) FROM bookings b JOIN sessions s ON s.id = b.session_id"
        " WHERE b.status = 'booked' AND s.ends_at <= :now").bindparams(at))
    marked = db.execute(text(
        "SELECT a.status, count(*) FROM attendance a JOIN sessions s ON s.id = a.session_id"
        " WHERE s.ends_at <= :now GROUP BY a.status").bindparams(at)).all()
    ahead = db.scalar(text(
        "SELECT count(*) FROM attendance a JOIN sessions s ON s.id = a.session_id"
        " WHERE s.starts_at > :now").bindparams(at))

    assert held > 50
    assert sum(n for _, n in marked) == held  # every place held so far is marked
    assert ahead == 0
    statuses = dict(marked)
    assert statuses["present"] > held // 2
    assert statuses.get("absent_unexcused", 0) + statuses.get("absent_excused", 0) > 0
