"""Issue 14's hostile page input, one case at a time: each answered 500 (or was quietly kept or
ignored) before. NUL passes SQLite and breaks PostgreSQL, so these run on both."""

import re
from datetime import date

import pytest
from flask import abort
from sqlalchemy import func, select

from scheduler import create_app
from scheduler.extensions import db as _db
from scheduler.models import Assessment, AuditEvent, Client, Session, SessionSeries, TreatmentPlan
from scheduler.services import booking, plans
from scheduler.services.errors import StateConflict
from tests.conftest import PG_URL, IsolatedClient, reset_postgresql
from tests.helpers import ACTOR, sign_in

NUL = "Ann\x00Lee"
BELL = "Ann\x07Lee"


@pytest.fixture
def clinic(make, db, now):
    program = make.program(name="Evening IOP")
    room = make.room(name="Room B")
    therapist = make.staff(name="Dana Reyes")
    series = make.series(program, room_id=room.id, facilitator_ids=[therapist.id],
                         start_date=date(2027, 2, 8), end_date=date(2027, 3, 31),
                         rrule="FREQ=WEEKLY;BYDAY=MO,WE")
    avery = make.client(program, name="Avery Aldridge")
    booking.enroll_client(db, ACTOR, series.id, avery.id, now=now)
    plans.create_plan(db, ACTOR, avery.id, start_date=date(2027, 2, 1))
    sessions = list(db.scalars(select(Session).where(Session.series_id == series.id)
                               .order_by(Session.starts_at)))
    db.commit()
    return {"program": program, "room": room, "therapist": therapist, "series": series,
            "avery": avery, "last_night": [s for s in sessions if s.starts_at < now][-1],
            "tomorrow": [s for s in sessions if s.starts_at > now][0]}


@pytest.fixture
def coordinator(client, make):
    user = make.user("coordinator")
    sign_in(client, user)
    return user


def token(client, path="/login") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def count(db, model) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(model))


def error_under(page: str, field_id: str) -> str:
    """The message shown under an input (the page ties it to the input for screen readers)."""
    match = re.search(rf'id="{field_id}-error"[^>]*>([^<]*)<', page)
    assert match, f"no error under {field_id}"
    return match.group(1)


# --- NUL and control characters in page forms ----------------------------------------------------


def test_a_nul_in_the_sign_in_email_is_shown_under_the_field(client, make):
    make.user("coordinator", password="correct horse battery")
    answer = client.post("/login", data={"csrf_token": token(client), "email": "a\x00@clinic.test",
                                         "password": "correct horse battery"})
    assert answer.status_code == 400 and answer.mimetype == "text/html"
    assert error_under(answer.get_data(as_text=True), "email") == "Must not contain NUL characters."


@pytest.mark.parametrize("value", [NUL, BELL], ids=["NUL", "bell"])
def test_a_new_clients_name_with_a_control_character_is_refused_and_nothing_is_written(
        client, coordinator, clinic, db, value):
    before = count(db, Client), count(db, Assessment)
    answer = client.post("/intake", data={
        "csrf_token": token(client, "/intake"), "client_id": "", "name": value,
        "program_id": clinic["program"].id, "admitted_on": "2027-02-16",
        "assessed_on": "2027-02-16", "clinician_id": clinic["therapist"].id,
        "recommended_level": "2.1"})
    assert answer.status_code == 422
    message = error_under(answer.get_data(as_text=True), "name")
    assert message in ("Must not contain NUL characters.", "Must not contain control characters.")
    assert (count(db, Client), count(db, Assessment)) == before


def test_a_name_is_one_line(client, coordinator, clinic, db):
    answer = client.post("/intake", data={
        "csrf_token": token(client, "/intake"), "client_id": "", "name": "Ann\nLee",
        "program_id": clinic["program"].id, "admitted_on": "2027-02-16",
        "assessed_on": "2027-02-16", "clinician_id": clinic["therapist"].id,
        "recommended_level": "2.1"})
    assert answer.status_code == 422
    assert error_under(answer.get_data(as_text=True), "name") == \
        "Must be one line, without tabs or line breaks."


def test_a_cancel_reason_with_nul_is_refused_and_the_session_stays(client, coordinator, clinic,
                                                                   db):
    session = clinic["tomorrow"]
    answer = client.post(f"/sessions/{session.id}/cancel",
                         data={"csrf_token": token(client, "/week"), "reason": "Snow\x00day"})
    assert answer.status_code == 422
    assert "Must not contain NUL characters." in answer.get_data(as_text=True)
    db.expire_all()
    assert db.get(Session, session.id).status == "scheduled"


def test_plan_goals_with_nul_are_refused_on_intake_and_on_revision(client, coordinator, clinic,
                                                                   db):
    avery = clinic["avery"]
    before = count(db, TreatmentPlan)
    answer = client.post(f"/intake/{avery.id}/plan", data={
        "csrf_token": token(client, "/week"), "start_date": "2027-02-16",
        "goals": "Stay sober\x00"})
    assert answer.status_code == 422
    assert error_under(answer.get_data(as_text=True), "goals") == \
        "Must not contain NUL characters."
    answer = client.post(f"/clients/{avery.id}/plan/revise", data={
        "csrf_token": token(client, "/week"), "goals": "Stay sober\x00",
        "phases-0-name": "Intensive\x00", "phases-0-first_week": "1"})
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert error_under(page, "goals") == "Must not contain NUL characters."
    assert error_under(page, "phases-0-name") == "Must not contain NUL characters."
    assert count(db, TreatmentPlan) == before


def test_text_areas_keep_their_line_breaks_and_tabs(client, coordinator, clinic, db):
    avery = clinic["avery"]
    answer = client.post(f"/clients/{avery.id}/plan/revise", data={
        "csrf_token": token(client, "/week"), "goals": "Stay sober\r\n\tAttend group\r\n"})
    assert answer.status_code == 303
    db.expire_all()
    assert plans.active_plan(db, avery.id).goals == ["Stay sober", "Attend group"]


def test_series_text_with_a_control_character_is_refused(client, coordinator, clinic, db):
    series = clinic["series"]
    answer = client.post(f"/series/{series.id}/edit", data={
        "csrf_token": token(client, "/week"), "title": "Evening\x1bgroup", "weekdays": "MO",
        "start_time": "18:00", "duration_minutes": "180", "capacity": "12",
        "room_id": clinic["room"].id})
    assert answer.status_code == 422
    assert error_under(answer.get_data(as_text=True), "title") == \
        "Must not contain control characters."
    answer = client.post(f"/series/{series.id}/end", data={
        "csrf_token": token(client, "/week"), "end_date": "2027-03-01", "reason": "End\x00"})
    assert answer.status_code == 422
    db.expire_all()
    assert db.get(SessionSeries, series.id).title == "Evening group"
    assert db.get(SessionSeries, series.id).end_date == date(2027, 3, 31)


def test_a_roster_reason_with_nul_is_refused_and_nothing_is_marked(client, make, clinic, db):
    sign_in(client, make.user("clinician", staff_id=clinic["therapist"].id))
    session = clinic["last_night"]
    before = count(db, AuditEvent)
    answer = client.post(f"/sessions/{session.id}/roster", data={
        "csrf_token": token(client, "/today"), "client_id": clinic["avery"].id,
        "status": "present", "reason": "Late\x00bus"})
    assert answer.status_code == 422
    assert "Reason for the change: Must not contain NUL characters." in \
        answer.get_data(as_text=True)
    assert count(db, AuditEvent) == before


@pytest.mark.parametrize("path", ["/kiosk", "/sessions/{session}/roster"])
def test_a_client_id_past_the_keys_range_names_nobody(client, make, clinic, path):
    sign_in(client, make.user("clinician", staff_id=clinic["therapist"].id))
    answer = client.post(path.format(session=clinic["last_night"].id), data={
        "csrf_token": token(client, "/today"), "client_id": str(2**64), "pin": "4821",
        "status": "present"})
    assert answer.status_code == 422 and answer.mimetype == "text/html"


@pytest.mark.parametrize("hours", ["sNaN", "NaN", "Infinity", "9" * 400])
def test_a_number_no_validator_can_compare_is_refused_under_its_field(client, coordinator,
                                                                      clinic, db, hours):
    """"sNaN" crashed WTForms' NumberRange, and so did a whole number past a float's range."""
    avery = clinic["avery"]
    answer = client.post(f"/intake/{avery.id}/plan", data={
        "csrf_token": token(client, "/week"), "start_date": "2027-02-16",
        "weekly_hours_target": hours, "per_week_group": hours})
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert error_under(page, "weekly_hours_target") and error_under(page, "per_week_group")


# --- query values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "message"), [
    ("/clients?q=Ann%00Lee", "Name: Must not contain NUL characters."),
    ("/clients?q=Ann%07", "Name: Must not contain control characters."),
    ("/week?week=2027-02-15%00", "Week of: Must not contain NUL characters."),
    ("/login?next=/week%00", "Page to return to: Must not contain NUL characters."),
])
def test_a_control_character_in_a_query_value_is_a_400_page_naming_the_field(
        client, coordinator, path, message):
    answer = client.get(path)
    assert answer.status_code == 400 and answer.mimetype == "text/html"
    assert message in answer.get_data(as_text=True)


def test_a_nul_in_the_audit_action_is_a_400_page(client, make):
    sign_in(client, make.user("admin"))
    answer = client.get("/audit?action=read%00")
    assert answer.status_code == 400
    assert "Action: Must not contain NUL characters." in answer.get_data(as_text=True)


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "1999-12-31", "2101-01-01"])
def test_a_day_outside_the_calendar_is_a_400_page(client, coordinator, day):
    """Today's page links the day before and after: year 9999 overflowed that arithmetic."""
    answer = client.get(f"/today?day={day}")
    assert answer.status_code == 400 and answer.mimetype == "text/html"
    assert "Day: must be between 2000-01-01 and 2100-12-31." in answer.get_data(as_text=True)


def test_a_mistyped_day_is_a_400_page_not_today(client, coordinator):
    answer = client.get("/today?day=xyz")
    assert answer.status_code == 400
    assert "Day: must be a date like 2027-02-01." in answer.get_data(as_text=True)


@pytest.mark.parametrize("period", ["from=9999-12-01&to=9999-12-31",
                                    "from=0001-01-01&to=0001-01-31"])
def test_a_report_period_outside_the_calendar_is_refused(client, coordinator, clinic, period):
    answer = client.get(f"/reports?program={clinic['program'].id}&{period}")
    assert answer.status_code == 400
    assert "From: must be between 2000-01-01 and 2100-12-31." in answer.get_data(as_text=True)


@pytest.mark.parametrize(("path", "message"), [
    ("/reports?program=999", "Program: there is no such program."),
    ("/follow-up?program=999", "Program: there is no such program."),
    ("/clients?program=999", "Program: there is no such program."),
    ("/clients?program=99999999999999999999", "Program: there is no such program."),
    ("/week?program=99999999999999999999", "Program: there is no such program."),
    ("/week?room=999", "Room: there is no such room."),
    ("/week?staff=999", "Staff member: there is no such staff member."),
    ("/today?staff=999", "Staff member: there is no such staff member."),
])
def test_a_query_value_naming_nothing_is_a_404(client, coordinator, clinic, path, message):
    answer = client.get(path)
    assert answer.status_code == 404 and answer.mimetype == "text/html"
    assert message in answer.get_data(as_text=True)


def test_an_assessment_of_nobody_or_of_another_client_is_a_404(client, coordinator, clinic, make,
                                                             db):
    other = make.client(clinic["program"])
    theirs = plans.record_assessment(db, ACTOR, other.id, assessed_on=date(2027, 2, 1),
                                     clinician_id=clinic["therapist"].id, recommended_level="2.1")
    db.commit()
    avery = clinic["avery"]
    for assessment in ("999", str(2**64), str(theirs.id)):
        answer = client.get(f"/intake/{avery.id}/plan?assessment={assessment}")
        assert answer.status_code == 404, assessment


@pytest.mark.parametrize(("path", "message"), [
    ("/clients?program=abc", "Program: must be a whole number such as 12."),
    ("/clients?status=sleeping", "Status: must be one of active, discharged"),
    ("/clients?q=" + "a" * 201, "Name: must be at most 200 characters."),
    ("/today?staff=%C2%B2", "Staff member: must be a whole number such as 12."),
    ("/week?program=" + "9" * 5000, "Program: there is no such program."),
])
def test_a_malformed_query_value_is_said_to_be_one(client, coordinator, clinic, path, message):
    answer = client.get(path)
    assert answer.status_code in (400, 404) and answer.mimetype == "text/html"
    assert message in answer.get_data(as_text=True)


# --- every error on a page is an HTML page --------------------------------------------------------


@pytest.fixture
def failing_app(database_url):
    """The app with routes that fail on purpose, answering as production does (no propagation)."""
    app = create_app({"CONFIG_NAME": "testing", "SQLALCHEMY_DATABASE_URI": database_url,
                      "PROPAGATE_EXCEPTIONS": False})
    app.test_client_class = IsolatedClient

    def crash():
        raise RuntimeError("a bug")

    def clash():
        raise StateConflict("The session was cancelled meanwhile.")

    for prefix in ("", "/api/v1", "/feeds"):
        app.add_url_rule(f"{prefix}/test-crash", f"{prefix}crash", crash)
        app.add_url_rule(f"{prefix}/test-clash", f"{prefix}clash", clash)
        app.add_url_rule(f"{prefix}/test-teapot", f"{prefix}teapot", lambda: abort(418))
    with app.app_context():
        if PG_URL:
            reset_postgresql()
        else:
            _db.create_all()
        yield app
        _db.session.remove()
        _db.engine.dispose()


def test_an_uncaught_error_on_a_page_is_an_html_500_page(failing_app):
    answer = failing_app.test_client().get("/test-crash")
    assert answer.status_code == 500 and answer.mimetype == "text/html"
    page = answer.get_data(as_text=True)
    assert "Something went wrong on our side" in page and "a bug" not in page


def test_a_refusal_a_page_does_not_catch_is_an_html_page_with_its_status(failing_app):
    answer = failing_app.test_client().get("/test-clash")
    assert answer.status_code == 409 and answer.mimetype == "text/html"
    assert "The session was cancelled meanwhile." in answer.get_data(as_text=True)


def test_any_other_status_on_a_page_is_an_html_page(failing_app, client):
    answer = failing_app.test_client().get("/test-teapot")
    assert answer.status_code == 418 and answer.mimetype == "text/html"
    refused = client.post("/week")
    assert refused.status_code == 405 and refused.mimetype == "text/html"
    assert "GET" in refused.headers["Allow"]


def test_the_api_feeds_and_health_check_keep_their_own_error_shapes(failing_app):
    client = failing_app.test_client()
    crash = client.get("/api/v1/test-crash")
    assert crash.status_code == 500 and crash.json["code"] == 500
    clash = client.get("/api/v1/test-clash")
    assert clash.status_code == 409
    assert clash.json["message"] == "The session was cancelled meanwhile."
    assert client.get("/api/v1/test-teapot").json["code"] == 418
    feed = client.get("/feeds/test-crash")
    assert feed.status_code == 500 and feed.mimetype == "text/plain"
    assert client.post("/feeds/x.ics").mimetype == "text/plain"
    health = client.post("/healthz")
    assert health.status_code == 405 and health.mimetype == "application/json"
