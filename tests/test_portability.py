"""`export` and `import`: a whole clinic moves between databases as JSON, and nothing is lost."""

import contextvars
import json
import os
import secrets
import stat
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pyotp
import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from config import normalize_database_url
from scheduler import clock, create_app, demo_clinic
from scheduler.extensions import db as _db
from scheduler.feeds import tokens as feed_tokens
from scheduler.jobs.runner import run_job
from scheduler.models import (
    Attendance,
    AuditEvent,
    Booking,
    Client,
    Episode,
    Program,
    Session,
    Site,
    Staff,
    StaffTimeOff,
    TreatmentPlan,
    User,
    WebhookAttempt,
    WebhookDelivery,
)
from scheduler.services import (
    account_links,
    accounts,
    alerts,
    attendance,
    availability,
    caseload,
    clients,
    closures,
    consents,
    disclosures,
    episodes,
    fhir_auth,
    logins,
    mfa,
    notifications,
    plans,
    portability,
    programs,
    proposals,
    recipients,
    sites,
    webhooks,
)
from scheduler.services import staff as staff_service
from scheduler.services.audit import Actor

PG_URL = normalize_database_url(os.environ.get("TEST_DATABASE_URL"))
ACTOR = Actor.system("tests")
NEEDS_PG = pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL: TEST_DATABASE_URL is not set")
MOVES = [
    # Two SQLite files whichever lane runs: the SQLite lane moves them.
    pytest.param(("sqlite", "sqlite"), id="sqlite-to-sqlite", marks=pytest.mark.skipif(
        bool(PG_URL), reason="moves between two SQLite files whichever lane runs; the SQLite "
        "lane ran it")),
    pytest.param(("sqlite", "postgresql"), id="sqlite-to-postgresql", marks=NEEDS_PG),
    pytest.param(("postgresql", "sqlite"), id="postgresql-to-sqlite", marks=NEEDS_PG),
]
# Written with microseconds and non-ASCII text, which a careless encoding would lose.
PRECISE = datetime(2027, 2, 23, 14, 5, 7, 123456, tzinfo=UTC)
NAME = "Zoë Łukasiewicz-Ångström 🌱"


# --- databases and apps ------------------------------------------------------------------------


@pytest.fixture
def new_database(tmp_path):
    """Hands out empty databases: a SQLite file each, or a throwaway PostgreSQL schema."""
    admin = create_engine(PG_URL, poolclass=NullPool) if PG_URL else None
    schemas = []

    def new(kind: str) -> str:
        if kind == "sqlite":
            return f"sqlite:///{tmp_path / f'clinic-{secrets.token_hex(4)}.sqlite'}"
        schema = f"port_{secrets.token_hex(4)}"
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        schemas.append(schema)
        return make_url(PG_URL).update_query_dict(
            {"options": f"-csearch_path={schema}"}
        ).render_as_string(hide_password=False)

    yield new
    if admin is not None:
        with admin.begin() as conn:
            for schema in schemas:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def clinic_app(url: str, build_schema: bool = True):
    """An app on its own database, its context pushed for the block."""
    app = create_app({"CONFIG_NAME": "testing", "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        if build_schema:
            _db.create_all()
        try:
            yield app
        finally:
            _db.session.remove()
            _db.engine.dispose()


def invoke(app, *args):
    """Run a command as from a shell: its own app context, not the test's."""
    runner = app.test_cli_runner()
    return contextvars.Context().run(runner.invoke, args=list(args))


def dump() -> dict[str, list[dict]]:
    """Every row of every table, as the models read it back, in primary-key order."""
    return {
        table.name: [
            dict(row)
            for row in _db.session.execute(
                select(table).order_by(*table.primary_key.columns)
            ).mappings()
        ]
        for table in _db.metadata.sorted_tables
    }


def row_count() -> int:
    return sum(len(rows) for rows in dump().values())


# --- a clinic with something in every table ----------------------------------------------------


def build_rich_clinic(app, now) -> dict:
    """The demo clinic plus a week lived in it: attendance, plans, feeds, jobs, alerts, mail."""
    db = _db.session
    demo_clinic.seed(db, n_clients=6, weeks=3, now=now)
    program = db.scalar(select(Program).order_by(Program.id))
    programs.update_program(db, ACTOR, program, {"min_weekly_hours": Decimal("9.50")})
    zoe = clients.create_client(db, ACTOR, name=NAME, program_id=program.id,
                                admitted_on=date(2027, 1, 4), email="zoe@example.org",
                                date_of_birth=date(1988, 2, 29))
    availability.set_client_windows(db, ACTOR, zoe.id, [
        {"weekday": 0, "start": time(9, 0), "end": time(17, 0), "label": "Work — café"},
    ], preferred=[{"weekday": 2, "start": time(18, 0), "end": time(21, 0),
                   "label": "After the kids' bedtime"}])
    therapist = db.scalar(select(User).where(User.role == "clinician")).staff
    availability.add_time_off(db, ACTOR, therapist.id, PRECISE, PRECISE + timedelta(days=2),
                              reason="Conference")
    assessment = plans.record_assessment(
        db, ACTOR, zoe.id, assessed_on=date(2027, 1, 4), clinician_id=therapist.id,
        recommended_level="2.1", summary="Résumé: daily use, ready for IOP.",
    )
    plans.create_plan(
        db, ACTOR, zoe.id, start_date=date(2027, 1, 4), primary_therapist_id=therapist.id,
        assessment_id=assessment.id, goals=["Stay sober 90 days", "Rejoin the choir ♪"],
        weekly_hours_target=Decimal("9.75"), certified_on=date(2027, 1, 4),
        phases=[
            {"name": "Intensive", "first_week": 1, "last_week": 4,
             "weekly_hours_target": Decimal("12.25"),
             "requirements": [{"kind": "group", "sessions_per_week": 3},
                              {"kind": "individual", "sessions_per_week": 1}]},
            {"name": "Step-down", "first_week": 5, "last_week": None,
             "requirements": [{"kind": "group", "sessions_per_week": 2}]},
        ],
    )
    client_user = db.scalar(select(User).where(User.role == "client"))
    old_feed = feed_tokens.issue(db, ACTOR, "client", client_user.client_id, now)
    live_feed = feed_tokens.issue(db, ACTOR, "client", client_user.client_id, now)
    api_token, _ = accounts.issue_api_token(db, client_user, now, ttl_hours=24 * 365)
    # The coordinator is signed in on a page, uses two-step sign-in and asked for a reset link.
    coordinator = db.scalar(select(User).where(User.role == "coordinator"))
    logins.start_session(db, coordinator, now, logins.Where("203.0.113.9", "Firefox/128.0"))
    account_links.issue_link(db, coordinator, "reset", now)
    settings = mfa.MfaSettings.from_config(app.config)
    pending = mfa.begin(db, ACTOR, coordinator, settings, now)
    assert mfa.confirm(db, ACTOR, coordinator, pyotp.TOTP(pending.secret).at(now), settings, now)
    db.commit()

    # A morning group met with one client present, arriving late to the microsecond.
    booked = db.scalars(
        select(Booking).join(Session).where(Booking.status == "booked", Session.starts_at > now)
        .order_by(Session.starts_at, Booking.client_id)
    ).first()
    session = db.get(Session, booked.session_id)
    arrived = session.starts_at + timedelta(minutes=7, microseconds=654321)
    with clock.frozen(session.ends_at):
        attendance.record_roster(
            db, ACTOR, "coordinator", session.id,
            [{"client_id": booked.client_id, "status": "late", "arrived_at": arrived,
              "reason_code": "transport"}],
            now=clock.now(), policy=attendance.Policy(),
        )
        notifications.queue_reminders(db, clock.now(), app.config["PUBLIC_NAME"])
    db.commit()

    # A week on, the job marks the unseen bookings as no-shows, and the streaks raise alerts
    # whose messages wait in the queue (there is no mail server here).
    with clock.frozen(now + timedelta(days=7)):
        assert run_job(app, "mark-no-shows", trigger="cli").outcome == "ok"
        db.expire_all()
        assert alerts.raise_alerts(db, clock.now())["alerts"]
    db.commit()

    # A snow day closes the program: its sessions are cancelled under the closure.
    snow_day = (now + timedelta(days=10)).date()
    closing = closures.create_closure(db, ACTOR, program, starts_on=snow_day, ends_on=snow_day,
                                      reason="Snow day — roads closed", now=now,
                                      public_name=app.config["PUBLIC_NAME"])
    assert closing.cancelled
    db.commit()

    # Sites (issue 19): the staff work at the clinic's one site, a coordinator is scoped to it,
    # and a clinician broke the glass for Zoe, which alerted the admins.
    site_id = db.scalar(select(Site.id))
    for member in db.scalars(select(Staff)):
        staff_service.update_staff(db, ACTOR, member, {"site_ids": [site_id]})
    coordinator = db.scalar(select(User).where(User.role == "coordinator"))
    sites.set_user_sites(db, ACTOR, coordinator, [site_id])
    clinician = db.scalar(select(User).where(User.role == "clinician"))
    caseload.break_glass(db, ACTOR, clinician, zoe.id, "Covering a crisis", now,
                         caseload.Policy())
    db.commit()

    # Interoperability (issue 20): Zoe consented to share her appointments with an EHR, whose
    # FHIR client read one under that consent; its webhook endpoint had one delivery tried.
    ehr = recipients.create_recipient(db, ACTOR, name="Kipu EHR", kind="ehr",
                                      contact="Kipu support, 555-0100")
    consent = consents.record(db, ACTOR, zoe, recipient_id=ehr.id, purpose="Coordination of care",
                              scope=["appointments"], signed_on=date(2027, 1, 4),
                              expires_on=date(2027, 12, 31), now=now,
                              document_ref="Scanned form 2027-01-04")
    api_client, _ = recipients.create_fhir_client(db, ACTOR, ehr,
                                                  scopes=["system/Appointment.read"])
    fhir_auth.issue(db, api_client, ["system/Appointment.read"], now)
    disclosures.log(db, consent, channel="fhir", scope="appointments", what="Appointment/1",
                    at=now, api_client_id=api_client.id)
    endpoint, _ = webhooks.create(db, ACTOR, webhooks.Settings(key=b"portability"),
                                  recipient_id=ehr.id, url="https://ehr.example.test/hooks",
                                  events=["booking.created"], now=now)
    delivery = WebhookDelivery(endpoint_id=endpoint.id, message_id="msg_portability",
                               event_type="booking.created", client_id=zoe.id,
                               consent_id=consent.id, payload={"type": "booking.created"},
                               status="pending", attempts=1, next_attempt_at=now,
                               last_status_code=500, created_at=now)
    db.add(delivery)
    db.flush()
    db.add(WebhookAttempt(delivery_id=delivery.id, attempted_at=now, status_code=500,
                          duration_ms=12))
    db.commit()

    # The planner's suggestion for Zoe, kept with its JSON answer until accepted or lapsed.
    proposals.propose_for_client(db, ACTOR, zoe.id, from_date=now.date(), weeks=2, now=now,
                                 seconds=2)
    db.commit()
    return {"login": (client_user.email, demo_clinic.DEMO_PASSWORD), "feed": live_feed,
            "old_feed": old_feed, "api_token": api_token}


@pytest.fixture
def moved(request, new_database, tmp_path, now):
    """A rich clinic exported from one database and imported into another, empty one."""
    source_kind, target_kind = request.param
    path = tmp_path / "clinic.json"
    with clinic_app(new_database(source_kind)) as source:
        secrets_ = build_rich_clinic(source, now)
        served = source.test_client().get(f"/feeds/{secrets_['feed']}.ics")
        assert served.status_code == 200
        exported = invoke(source, "export", str(path))
        assert exported.exit_code == 0, exported.output
        before = dump()
    with clinic_app(new_database(target_kind)) as target:
        imported = invoke(target, "import", str(path))
        assert imported.exit_code == 0, imported.output
        yield {"app": target, "before": before, "path": path, "exported": exported,
               "imported": imported, "feed_body": served.data, **secrets_}


# --- the round trip ----------------------------------------------------------------------------


@pytest.mark.parametrize("moved", MOVES, indirect=True)
def test_every_row_of_every_table_arrives_unchanged(moved):
    after = dump()
    imports = [e for e in after["audit_events"] if e["action"] == "import"]
    assert len(imports) == 1
    after["audit_events"].remove(imports[0])

    for name, rows in moved["before"].items():
        assert rows, f"the rich clinic leaves {name} empty, so its round trip proves nothing"
        assert after[name] == rows, name
    assert set(after) == set(moved["before"])


@pytest.mark.parametrize("moved", MOVES[:2], indirect=True)
def test_the_imported_clinic_keeps_its_values_exactly(moved):
    """Microseconds, offsets, decimals, JSON and text outside ASCII survive both databases."""
    db = _db.session
    zoe = db.scalar(select(Client).where(Client.name == NAME))
    assert zoe is not None
    plan = plans.active_plan(db, zoe.id)
    assert plan.goals == ["Stay sober 90 days", "Rejoin the choir ♪"]
    assert plan.weekly_hours_target == Decimal("9.75")
    assert [p.weekly_hours_target for p in plan.phases] == [Decimal("12.25"), None]
    assert db.scalar(select(Program.min_weekly_hours_override).order_by(Program.id)) == Decimal(
        "9.50")
    late = db.scalar(select(Attendance).where(Attendance.status == "late")
                     .order_by(Attendance.id.desc()))  # the one made after the demo seed
    assert late.arrived_at.microsecond == 654321
    assert late.arrived_at.tzinfo is not None and late.arrived_at.utcoffset() == timedelta(0)
    assert db.scalar(select(func.min(StaffTimeOff.starts_at))) == PRECISE
    # Date of birth and episodes: the demo's returning client keeps both stays and their plans.
    assert zoe.date_of_birth == date(1988, 2, 29)
    returning = db.execute(select(Episode.client_id).group_by(Episode.client_id)
                           .having(func.count() == 2)).scalars().all()
    assert len(returning) == 2  # one per demo program
    first, second = episodes.episodes_of(db, returning[0])
    assert first.discharge_reason == "Completed the program" and first.plan_id is not None
    assert second.discharged_on is None and second.plan_id is not None
    assert db.get(TreatmentPlan, first.plan_id).status == "ended"


@pytest.mark.parametrize("moved", MOVES[:2], indirect=True)
def test_after_the_move_users_log_in_and_their_tokens_and_feed_links_still_work(moved):
    client = moved["app"].test_client()
    email, password = moved["login"]
    login = client.post("/api/v1/auth/token", json={"email": email, "password": password})
    assert login.status_code == 200, login.json

    me = client.get("/api/v1/auth/me",
                    headers={"Authorization": f"Bearer {moved['api_token']}"})
    assert me.status_code == 200
    assert me.json["email"] == email

    feed = client.get(f"/feeds/{moved['feed']}.ics")
    assert feed.status_code == 200
    assert b"BEGIN:VEVENT" in feed.data
    # The same bytes, UIDs included: phones update their events rather than replace them all.
    assert feed.data == moved["feed_body"]
    # The link rotated away before the move stays dead after it.
    assert client.get(f"/feeds/{moved['old_feed']}.ics").status_code == 404


@pytest.mark.parametrize("moved", MOVES[:2], indirect=True)
def test_rows_made_after_the_import_get_fresh_ids(moved):
    """On PostgreSQL this needs every id sequence moved past the imported ids."""
    db = _db.session
    highest = {model: db.scalar(select(func.max(model.id)))
               for model in (Client, AuditEvent, Session, Episode)}
    program = db.scalar(select(Program).order_by(Program.id))
    newcomer = clients.create_client(db, ACTOR, name="Newly admitted", program_id=program.id,
                                     admitted_on=date(2027, 2, 16))
    db.commit()
    assert newcomer.id == highest[Client] + 1
    assert episodes.current(db, newcomer.id).id == highest[Episode] + 1
    assert db.scalar(select(func.max(AuditEvent.id))) > highest[AuditEvent]

    email, password = moved["login"]
    client = moved["app"].test_client()
    token = client.post("/api/v1/auth/token",
                        json={"email": email, "password": password}).json["token"]
    assert token


@pytest.mark.parametrize("moved", MOVES[:1], indirect=True)
def test_the_file_is_private_versioned_and_carries_its_own_export_event(moved):
    path = moved["path"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "0600" in moved["exported"].output
    assert not os.path.exists(f"{path}.partial")
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["format"] == "iop-scheduler-export"
    assert document["version"] == 1
    assert document["schema"] == portability.head_revision()
    assert datetime.fromisoformat(document["exported_at"]).utcoffset() == timedelta(0)
    exports = [e for e in document["tables"]["audit_events"] if e["action"] == "export"]
    assert len(exports) == 1
    assert exports[0]["after"]["destination"] == str(path)
    assert exports[0]["actor"] == "cli"


@pytest.mark.parametrize("moved", MOVES[:1], indirect=True)
def test_the_export_holds_every_table_of_the_models_parents_first(moved):
    """A table missing here would be lost in a move; the round trip checks each has rows."""
    document = json.loads(moved["path"].read_text(encoding="utf-8"))
    assert list(document["tables"]) == [t.name for t in _db.metadata.sorted_tables]
    assert set(document["tables"]) == set(_db.metadata.tables)


@pytest.mark.parametrize("moved", MOVES[:1], indirect=True)
def test_export_and_import_print_rows_per_table(moved):
    for result in (moved["exported"], moved["imported"]):
        for name, rows in moved["before"].items():
            # The import adds its own audit event after the count.
            assert f"  {name:<24} {len(rows):>8}\n" in result.output, name
        assert "total rows" in result.output


def test_export_covers_a_table_added_to_the_models(app, db, now):
    """A new table needs no list updated: it is in the next export, rows and all."""
    from sqlalchemy import Column, Integer, String, Table

    extra = Table("portability_probe", _db.metadata,
                  Column("id", Integer, primary_key=True), Column("note", String(20)))
    try:
        extra.create(_db.engine)
        db.execute(extra.insert(), [{"id": 1, "note": "kept"}])
        db.commit()
        document = portability.export_clinic(db, ACTOR)
        db.rollback()
        assert document["tables"]["portability_probe"] == [{"id": 1, "note": "kept"}]
    finally:
        db.rollback()
        extra.drop(_db.engine)
        _db.metadata.remove(extra)


# --- stdout ------------------------------------------------------------------------------------


def test_export_to_stdout_writes_only_the_document_there(app, make, db, now):
    make.client(name=NAME)
    result = invoke(app, "export", "-")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [c["name"] for c in document["tables"]["clients"]] == [NAME]
    assert "total rows" in result.stderr
    # The export is audited even when it goes to a pipe.
    assert db.scalar(select(func.count()).select_from(AuditEvent)
                     .where(AuditEvent.action == "export")) == 1


# --- refusals ----------------------------------------------------------------------------------


@pytest.fixture
def good_export(new_database, tmp_path, now) -> dict:
    """A small clinic's export, made on a SQLite database of its own."""
    with clinic_app(new_database("sqlite")):
        program = programs.create_program(
            _db.session, ACTOR, name="Evening", level_of_care="2.1", population="adult",
            timezone="America/New_York", address="200 Main Street")
        clients.create_client(_db.session, ACTOR, name=NAME, program_id=program.id,
                              admitted_on=date(2027, 1, 4))
        _db.session.commit()
        document = portability.export_clinic(_db.session, ACTOR)
        _db.session.commit()
    return document


def write(tmp_path, content) -> str:
    path = tmp_path / "incoming.json"
    if isinstance(content, dict):
        content = json.dumps(content)
    path.write_text(content, encoding="utf-8")
    return str(path)


def refused(app, path: str, message: str) -> None:
    """The import failed with `message`, said plainly, and wrote nothing."""
    result = invoke(app, "import", path)
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    _db.session.rollback()
    assert row_count() == 0


def test_import_refuses_a_file_of_another_format(app, db, tmp_path, good_export):
    path = write(tmp_path, {**good_export, "format": "cal-com-export"})
    refused(app, path, "Nothing imported. Not an IOP Scheduler export")


def test_import_refuses_another_version_of_the_format(app, db, tmp_path, good_export):
    path = write(tmp_path, {**good_export, "version": 2})
    refused(app, path, "Export format version 2 is not supported; this release reads 1.")


def test_import_refuses_an_export_of_another_schema(app, db, tmp_path, good_export):
    path = write(tmp_path, {**good_export, "schema": "0001"})
    refused(app, path, "The export is of schema '0001', this release is at "
            + portability.head_revision())


def test_import_refuses_a_file_that_is_not_json(app, db, tmp_path):
    refused(app, write(tmp_path, "format,version\nics,1\n"), "is not valid JSON")


def test_import_refuses_a_truncated_file(app, db, tmp_path, good_export):
    whole = json.dumps(good_export)
    refused(app, write(tmp_path, whole[: len(whole) * 2 // 3]),
            "is not valid JSON (truncated or damaged?)")


def test_import_refuses_a_file_missing_a_table(app, db, tmp_path, good_export):
    tables = {k: v for k, v in good_export["tables"].items() if k != "clients"}
    refused(app, write(tmp_path, {**good_export, "tables": tables}),
            "tables.clients: missing, or not a list of rows.")


def test_import_refuses_a_row_with_a_bad_value_naming_where_it_is(app, db, tmp_path, good_export):
    document = json.loads(json.dumps(good_export))
    document["tables"]["clients"][0]["admitted_on"] = "4 January 2027"
    refused(app, write(tmp_path, document),
            "tables.clients[0].admitted_on: must be an ISO 8601 date.")
    document = json.loads(json.dumps(good_export))
    document["tables"]["clients"][0]["created_at"] = "2027-01-04T09:00:00"
    refused(app, write(tmp_path, document),
            "tables.clients[0].created_at: must be an ISO 8601 date-time with a UTC offset.")
    document = json.loads(json.dumps(good_export))
    document["tables"]["clients"][0]["shoe_size"] = 42
    refused(app, write(tmp_path, document),
            "tables.clients[0].shoe_size: is not a column of this table.")


def test_a_row_the_database_refuses_rolls_back_every_earlier_table(app, db, tmp_path,
                                                                   good_export):
    """Programs go in before clients; a client of a missing program undoes them too."""
    document = json.loads(json.dumps(good_export))
    document["tables"]["clients"][0]["program_id"] = 999
    refused(app, write(tmp_path, document), "tables.clients: the database refused these rows")


def test_import_refuses_a_database_that_already_holds_data(app, db, make, tmp_path,
                                                           good_export):
    make.client(name="Already here")
    before = dump()
    result = invoke(app, "import", write(tmp_path, good_export))
    assert result.exit_code == 1
    assert "The database already holds data (sites, programs, clients" in result.output
    assert "import into an empty, migrated database" in result.output
    db.rollback()
    assert dump() == before


def test_import_refuses_a_database_without_the_schema(new_database, tmp_path, good_export):
    with clinic_app(new_database("sqlite"), build_schema=False) as bare:
        result = invoke(bare, "import", write(tmp_path, good_export))
        assert result.exit_code == 1
        assert "run `flask --app wsgi db upgrade` first" in result.output


def test_import_refuses_a_database_at_an_older_migration(app, db, tmp_path, good_export):
    db.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
    db.execute(text("INSERT INTO alembic_version VALUES ('0005')"))
    db.commit()
    try:
        refused(app, write(tmp_path, good_export), "The database is at schema 0005")
    finally:
        db.execute(text("DROP TABLE alembic_version"))
        db.commit()


def test_export_refuses_a_file_it_cannot_write_and_records_no_export(app, db, tmp_path, now):
    result = invoke(app, "export", str(tmp_path / "no-such-folder" / "clinic.json"))
    assert result.exit_code == 1
    assert "Could not write" in result.output
    assert db.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_export_over_an_older_export_leaves_only_the_owner_able_to_read_it(app, make, tmp_path,
                                                                            now):
    make.client()
    path = tmp_path / "clinic.json"
    path.write_text("last month's export", encoding="utf-8")
    path.chmod(0o644)
    result = invoke(app, "export", str(path))
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text(encoding="utf-8"))["tables"]["clients"]


def test_export_leaves_a_stranger_s_partial_file_alone(app, db, make, tmp_path, now):
    make.client()
    path = tmp_path / "clinic.json"
    stranger = tmp_path / "clinic.json.partial"
    stranger.write_text("not ours", encoding="utf-8")
    result = invoke(app, "export", str(path))
    assert result.exit_code == 1
    assert f"Could not write {stranger}: File exists." in result.output
    assert stranger.read_text(encoding="utf-8") == "not ours"
    assert not path.exists()
    assert db.scalar(select(func.count()).select_from(AuditEvent)
                     .where(AuditEvent.action == "export")) == 0


def test_export_inside_a_transaction_already_open_reads_it(app, db, make, now):
    make.client(name=NAME)
    db.execute(select(func.count()).select_from(Client))
    document = portability.export_clinic(db, ACTOR)
    db.rollback()
    assert [c["name"] for c in document["tables"]["clients"]] == [NAME]
