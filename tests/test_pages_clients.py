"""Client pages and intake through the test client: hand-known hours, roles, CSRF, refusals."""

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from scheduler import clock
from scheduler.models import Assessment, Booking, Client, Enrollment, FeedToken, TreatmentPlan
from scheduler.services import attendance, booking, plans, sessions
from tests.helpers import ACTOR, sign_in

NY = ZoneInfo("America/New_York")
# Sessions are made and booked well before they start, then marked just after they end.
SETUP = datetime(2027, 1, 20, 12, 0, tzinfo=UTC)


def ny(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2027, month, day, hour, minute, tzinfo=NY)


def past_session(db, program, starts_at, minutes, people, title="Evening group"):
    """A one-off session before 'now', booked for the people."""
    session = sessions.create_one_off(
        db, ACTOR, now=SETUP, program_id=program.id, kind="group", title=title,
        starts_at=starts_at, ends_at=starts_at + timedelta(minutes=minutes), capacity=12)
    for person in people:
        booking.book_client(db, ACTOR, session.id, person.id, now=SETUP)
    db.commit()
    return session


def mark(db, session, marks: dict):
    """Record {client: status} on the roster a minute after the session ends."""
    records = [{"client_id": person.id, "status": status,
                "reason_code": "transport" if status in attendance.NEEDS_REASON else None}
               for person, status in marks.items()]
    at = session.ends_at + timedelta(minutes=1)
    with clock.frozen(at):
        attendance.record_roster(db, ACTOR, "coordinator", session.id, records, now=at,
                                 policy=attendance.Policy())
    db.commit()


def clinic(db, make):
    """Avery (on plan, 1.5 h in the week of 1 Feb and 5 h in the week of 8 Feb) and Blake
    (two unexcused absences in a row in the week of 8 Feb)."""
    program = make.program(name="Evening IOP")
    therapist = make.staff(name="Dana Reyes")
    avery = make.client(program, name="Avery Stone")
    blake = make.client(program, name="Blake Ortiz")
    plans.create_plan(
        db, ACTOR, avery.id, start_date=date(2027, 1, 4), weekly_hours_target=Decimal(9),
        primary_therapist_id=therapist.id, goals=["Stay sober at work events"],
        certified_on=date(2027, 1, 4),
        phases=[{"name": "Intensive", "first_week": 1, "last_week": None,
                 "requirements": [{"kind": "group", "sessions_per_week": 3}]}])
    db.commit()
    first = past_session(db, program, ny(2, 3, 18), 90, [avery], "Skills group")
    mark(db, first, {avery: "present"})
    monday = past_session(db, program, ny(2, 8, 18), 180, [avery, blake])
    mark(db, monday, {avery: "present", blake: "absent_unexcused"})
    wednesday = past_session(db, program, ny(2, 10, 18), 120, [avery, blake])
    mark(db, wednesday, {avery: "present", blake: "absent_unexcused"})
    return SimpleNamespace(program=program, therapist=therapist, avery=avery, blake=blake)


@pytest.fixture
def setup(db, make):
    return clinic(db, make)


@pytest.fixture
def coordinator(make):
    return make.user("coordinator")


def csrf(page: bytes) -> str:
    return re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()


def count(db, model) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(model))


def hours_row(page: str, week: str) -> str:
    """The hours table's row for the week starting `week`."""
    table = page.split('id="hours-table"', 1)[1].split("</table>", 1)[0]
    row = re.search(rf"<tr>\s*<td[^>]*>{week}</td>(.*?)</tr>", table, re.S)
    assert row, f"no row for {week}"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row.group(1))).strip()


def test_the_client_page_shows_the_plan_and_hand_known_hours(client, setup, coordinator):
    sign_in(client, coordinator)
    answer = client.get(f"/clients/{setup.avery.id}")
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    # The plan: version, therapist, target, requirement, and certification due 60 days on.
    assert "Dana Reyes" in page and "Stay sober at work events" in page
    assert "Group therapy: 3" in page and "9 h" in page
    assert "2027-03-05" in page  # certified 4 Jan + 60 days
    # 90 minutes in the week of 1 Feb; 180 + 120 minutes in the week of 8 Feb.
    assert hours_row(page, "2027-02-01") == "1.5 h 1.5 h 9 h no"
    assert hours_row(page, "2027-02-08") == "5 h 5 h 9 h no"
    # The chart has a text alternative carrying the same numbers.
    svg = page.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert "<title" in svg and "<desc" in svg
    assert "8 Feb: 5 h attended, target 9 h" in svg
    # Attendance history: the session, the status, the minutes.
    assert "Skills group" in page and "Present" in page and ">180<" in page
    assert "Create calendar link" in page


def test_a_clinician_reads_the_client_page_without_its_forms(client, make, setup):
    sign_in(client, make.user("clinician", staff_id=setup.therapist.id))
    answer = client.get(f"/clients/{setup.avery.id}")
    assert answer.status_code == 200
    assert b"Dana Reyes" in answer.data
    assert b"Create calendar link" not in answer.data and b"/feed" not in answer.data
    assert client.get("/clients").status_code == 403
    assert client.post(f"/clients/{setup.avery.id}/feed",
                       data={"csrf_token": csrf(answer.data)}).status_code == 403


@pytest.mark.parametrize("path", ["/clients", "/clients/{id}", "/intake", "/reports",
                                  "/follow-up", "/intake/{id}/plan"])
def test_clients_get_403(client, make, setup, path):
    sign_in(client, make.user("client", client_id=setup.avery.id))
    assert client.get(path.format(id=setup.avery.id)).status_code == 403


def test_the_list_searches_by_name_and_filters_by_status(client, setup, coordinator):
    sign_in(client, coordinator)
    page = client.get("/clients?q=aver").get_data(as_text=True)
    assert "Avery Stone" in page and "Blake Ortiz" not in page
    page = client.get(f"/clients?program={setup.program.id}&status=discharged")
    assert b"Avery Stone" not in page.data and b"No clients match." in page.data


def test_creating_a_feed_link_shows_it_once_and_revoking_stops_it(client, db, setup,
                                                                  coordinator):
    sign_in(client, coordinator)
    token = csrf(client.get(f"/clients/{setup.avery.id}").data)
    made = client.post(f"/clients/{setup.avery.id}/feed", data={"csrf_token": token})
    assert made.status_code == 201
    page = made.get_data(as_text=True)
    url = re.search(r'id="feed-url"[^>]*value="([^"]+)"', page).group(1)
    assert "webcal://" in page and "calendar.google.com" in page and "<svg" in page
    feed_path = "/" + url.split("://", 1)[1].split("/", 1)[1]
    assert client.get(feed_path).status_code == 200
    # Shown once: the next visit does not repeat the address.
    assert url not in client.get(f"/clients/{setup.avery.id}").get_data(as_text=True)
    gone = client.post(f"/clients/{setup.avery.id}/feed/revoke", data={"csrf_token": token})
    assert gone.status_code == 303
    assert client.get(feed_path).status_code == 404


def test_a_post_without_its_csrf_token_is_refused_and_writes_nothing(client, db, setup,
                                                                    coordinator):
    sign_in(client, coordinator)
    assert client.post(f"/clients/{setup.avery.id}/feed").status_code == 400
    assert count(db, FeedToken) == 0
    answer = client.post("/intake", data={"name": "Casey Lin", "program_id": setup.program.id,
                                          "admitted_on": "2027-02-16",
                                          "assessed_on": "2027-02-16",
                                          "clinician_id": setup.therapist.id,
                                          "recommended_level": "2.1"})
    assert answer.status_code == 400
    assert count(db, Client) == 2


def _intake_data(setup, **changes) -> dict:
    data = {"client_id": "", "name": "Casey Lin", "program_id": setup.program.id,
            "admitted_on": "2027-02-16", "assessed_on": "2027-02-16",
            "clinician_id": setup.therapist.id, "recommended_level": "2.1",
            "summary": "Alcohol use disorder, moderate."}
    data.update(changes)
    return data


def test_intake_refuses_bad_input_naming_the_field_and_writes_nothing(client, db, setup,
                                                                     coordinator):
    sign_in(client, coordinator)
    token = csrf(client.get("/intake").data)
    answer = client.post("/intake", data={**_intake_data(setup, assessed_on="16/02/2027",
                                                         name=""), "csrf_token": token})
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert 'id="assessed_on-error"' in page and 'id="name-error"' in page
    assert "Enter a name, or choose an existing client." in page
    assert count(db, Client) == 2 and count(db, Assessment) == 0


def test_a_refused_plan_shows_the_services_reason_and_writes_nothing(client, db, setup,
                                                                    coordinator):
    other = plans.record_assessment(db, ACTOR, setup.blake.id, assessed_on=date(2027, 2, 1),
                                    clinician_id=setup.therapist.id, recommended_level="2.1")
    db.commit()
    sign_in(client, coordinator)
    url = f"/intake/{setup.blake.id}/plan"
    token = csrf(client.get(url).data)
    before = count(db, TreatmentPlan)
    answer = client.post(url, data={"csrf_token": token, "start_date": "2027-02-16",
                                    "assessment_id": other.id + 1000})
    assert answer.status_code == 422
    assert f"Assessment: No assessment with id {other.id + 1000}." in answer.get_data(as_text=True)
    answer = client.post(f"/intake/{setup.avery.id}/plan", data={
        "csrf_token": token, "start_date": "2027-02-16", "assessment_id": other.id})
    assert answer.status_code == 422
    assert "That assessment is another client&#39;s." in answer.get_data(as_text=True)
    answer = client.post(url, data={"csrf_token": token, "start_date": "2027-02-16",
                                    "weekly_hours_target": "lots", "per_week_group": "0"})
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert 'id="weekly_hours_target-error"' in page and 'id="per_week_group-error"' in page
    assert count(db, TreatmentPlan) == before


def test_the_intake_flow_admits_assesses_plans_and_enrols(client, db, make, setup,
                                                         coordinator, now):
    group = make.series(setup.program, title="Relapse prevention", start_date=date(2027, 2, 17))
    sign_in(client, coordinator)
    token = csrf(client.get("/intake").data)
    step1 = client.post("/intake", data={**_intake_data(setup), "csrf_token": token})
    assert step1.status_code == 303
    casey = db.scalar(select(Client).where(Client.name == "Casey Lin"))
    assert f"/intake/{casey.id}/plan" in step1.headers["Location"]
    plan_page = client.get(step1.headers["Location"]).get_data(as_text=True)
    # The target defaults from the program's level of care (2.1 adult: 9 hours).
    assert re.search(r'name="weekly_hours_target"[^>]*value="9(\.00)?"', plan_page)
    assessment_id = re.search(r'name="assessment_id"[^>]*value="(\d+)"', plan_page).group(1)
    step2 = client.post(f"/intake/{casey.id}/plan", data={
        "csrf_token": token, "assessment_id": assessment_id, "start_date": "2027-02-16",
        "primary_therapist_id": setup.therapist.id, "weekly_hours_target": "9",
        "goals": "Attend every group\nFind a sponsor", "per_week_group": "3",
        "per_week_individual": "1"})
    assert step2.status_code == 303, step2.get_data(as_text=True)
    plan = plans.active_plan(db, casey.id)
    assert plan.goals == ["Attend every group", "Find a sponsor"]
    assert {(r.kind, r.sessions_per_week) for r in plan.phases[0].requirements} == {
        ("group", 3), ("individual", 1)}
    assert "Relapse prevention" in client.get(step2.headers["Location"]).get_data(as_text=True)
    step3 = client.post(f"/intake/{casey.id}/enrol",
                        data={"csrf_token": token, "series_ids": group.id})
    assert step3.status_code == 303
    assert db.scalar(select(func.count()).select_from(Booking)
                     .where(Booking.client_id == casey.id)) > 0
    detail = client.get(step3.headers["Location"]).get_data(as_text=True)
    assert "Relapse prevention" in detail and "enrolled in 1 series" in detail


def test_an_enrolment_conflict_names_the_clash_and_books_nothing(client, db, make, setup,
                                                                coordinator, now):
    group = make.series(setup.program, title="Relapse prevention", start_date=date(2027, 3, 1))
    clash = make.series(setup.program, title="Family night", start_date=date(2027, 3, 1))
    booking.enroll_client(db, ACTOR, clash.id, setup.avery.id, now=now)
    db.commit()
    enrolments = count(db, Enrollment)
    sign_in(client, coordinator)
    url = f"/intake/{setup.avery.id}/enrol"
    token = csrf(client.get(url).data)
    answer = client.post(url, data={"csrf_token": token, "series_ids": group.id})
    assert answer.status_code == 409
    assert "conflict" in answer.get_data(as_text=True)
    assert "Avery Stone is already booked into " in answer.get_data(as_text=True)
    assert count(db, Enrollment) == enrolments
    missing = client.post(url, data={"csrf_token": token})
    assert missing.status_code == 422 and b"Choose at least one series, or tick" in missing.data


def _revision(**changes) -> dict:
    """The revise form as posted: three tapering phases, the rest of the rows empty."""
    form = {"end_date": "", "primary_therapist_id": "", "weekly_hours_target": "9",
            "goals": "Stay sober at work events\nRebuild sleep",
            "phases-0-name": "Intensive", "phases-0-first_week": "1", "phases-0-last_week": "4",
            "phases-0-per_week_group": "3",
            "phases-1-name": "Step down", "phases-1-first_week": "5",
            "phases-1-last_week": "9", "phases-1-weekly_hours_target": "6",
            "phases-1-per_week_group": "2",
            "phases-2-name": "Maintenance", "phases-2-first_week": "10",
            "phases-2-per_week_group": "1", "phases-2-per_week_individual": "1"}
    form.update(changes)
    return form


def test_a_clinician_revises_the_plan_into_tapering_phases(client, db, make, setup):
    sign_in(client, make.user("clinician", staff_id=setup.therapist.id))
    page = client.get(f"/clients/{setup.avery.id}/plan/revise")
    assert page.status_code == 200
    assert b'value="Intensive"' in page.data  # the form starts from the active version

    # Avery's primary therapist revises; the new version keeps them on, so the plan stays on
    # their caseload (tests/test_caseload.py: handing it on ends their access).
    answer = client.post(f"/clients/{setup.avery.id}/plan/revise",
                         data={**_revision(primary_therapist_id=str(setup.therapist.id)),
                               "csrf_token": csrf(page.data)},
                         follow_redirects=True)

    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    assert "Plan version 2 saved; version 1 is kept as it was." in html
    assert "Step down" in html and "5–9" in html and "10 onwards" in html
    versions = db.scalars(select(TreatmentPlan).where(TreatmentPlan.client_id == setup.avery.id)
                          .order_by(TreatmentPlan.version)).all()
    assert [(p.version, p.status) for p in versions] == [(1, "superseded"), (2, "active")]
    assert [len(p.phases) for p in versions] == [1, 3]
    assert plans.target_hours(versions[1], date(2027, 2, 8)) == Decimal(6)  # week 6
    assert versions[1].goals == ["Stay sober at work events", "Rebuild sleep"]


def test_overlapping_phases_are_refused_on_their_row_and_nothing_is_written(client, db, setup,
                                                                            coordinator):
    sign_in(client, coordinator)
    page = client.get(f"/clients/{setup.avery.id}/plan/revise")

    answer = client.post(f"/clients/{setup.avery.id}/plan/revise", data={
        **_revision(**{"phases-1-first_week": "3"}), "csrf_token": csrf(page.data)})

    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    assert "Overlaps or precedes the previous phase (ends week 4)" in html
    assert 'id="phases-1-first_week-error"' in html
    assert count(db, TreatmentPlan) == 1

    no_start = client.post(f"/clients/{setup.avery.id}/plan/revise", data={
        **_revision(**{"phases-3-last_week": "12"}), "csrf_token": csrf(page.data)})
    assert no_start.status_code == 422
    assert "Give the week the phase starts too." in no_start.get_data(as_text=True)
    assert count(db, TreatmentPlan) == 1


def test_recording_a_certification_sets_the_next_due_date(client, db, setup, coordinator):
    sign_in(client, coordinator)
    page = client.get(f"/clients/{setup.avery.id}")

    answer = client.post(f"/clients/{setup.avery.id}/plan/certification",
                         data={"on": "2027-02-15", "csrf_token": csrf(page.data)},
                         follow_redirects=True)

    assert "Certification recorded for 15 Feb 2027." in answer.get_data(as_text=True)
    assert "2027-04-16" in answer.get_data(as_text=True)  # 60 days on

    early = client.post(f"/clients/{setup.avery.id}/plan/review",
                        data={"on": "2026-12-01", "csrf_token": csrf(page.data)})
    assert early.status_code == 422
    html = early.get_data(as_text=True)
    # Beside the review's date, announced, and the date input points at it.
    assert re.search(r'<span class="field-error" id="review-on-error" role="alert">Plan review '
                     r'not recorded: Date: Must not be before the plan starts, ', html)
    assert re.search(r'<input type="date" id="review-on" name="on" required value="2026-12-01" '
                     r'aria-invalid="true" aria-describedby="review-on-error">', html)
    assert 'id="certification-on-error"' not in html
    db.expire_all()
    assert db.scalar(select(TreatmentPlan.reviewed_on)) is None

    blank = client.post(f"/clients/{setup.avery.id}/plan/certification",
                        data={"on": "", "csrf_token": csrf(page.data)})
    assert blank.status_code == 422
    html = blank.get_data(as_text=True)
    assert ('<span class="field-error" id="certification-on-error" role="alert">'
            'Certification not recorded: Give the date.</span>') in html
    assert 'aria-describedby="certification-on-error"' in html


def test_a_client_cannot_revise_and_a_client_without_a_plan_has_no_revision(client, make,
                                                                             setup, coordinator):
    sign_in(client, make.user("client", client_id=setup.avery.id))
    assert client.get(f"/clients/{setup.avery.id}/plan/revise").status_code == 403
    sign_in(client, coordinator)
    assert client.get(f"/clients/{setup.blake.id}/plan/revise").status_code == 404


def test_opening_the_plan_revision_is_in_the_access_log(client, db, setup, coordinator):
    sign_in(client, coordinator)

    assert client.get(f"/clients/{setup.avery.id}/plan/revise").status_code == 200

    from scheduler.models import AuditEvent
    entry = db.scalar(select(AuditEvent).where(AuditEvent.action == "read")
                      .order_by(AuditEvent.id.desc()))
    assert (entry.entity_type, entry.entity_id) == ("client", setup.avery.id)
    assert entry.actor_user_id == coordinator.id and entry.after["resource"] == "plans"


def _input_value(page: str, name: str) -> str:
    tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', page).group(0)
    return re.search(r'value="([^"]*)"', tag).group(1)


@pytest.mark.parametrize("at, day", [
    (ny(2, 16, 23, 30), "2027-02-16"),  # already the 17th in UTC
    (ny(2, 17, 0, 30), "2027-02-17"),
])
def test_intake_dates_default_to_the_clinics_today_not_utcs(client, setup, coordinator, at,
                                                            day):
    with clock.frozen(at):
        sign_in(client, coordinator)
        intake = client.get("/intake").data.decode()
        plan = client.get(f"/intake/{setup.blake.id}/plan").data.decode()
    assert _input_value(intake, "assessed_on") == day
    assert _input_value(plan, "start_date") == day


@pytest.mark.parametrize("path", ["/clients/424242", "/clients/99999999999",
                                  "/intake/424242/plan", "/intake/99999999999/enrol",
                                  "/clients/99999999999/plan/revise"])
def test_a_missing_client_is_an_html_404(client, setup, coordinator, path):
    sign_in(client, coordinator)
    page = client.get(path)
    assert page.status_code == 404
    assert page.mimetype == "text/html" and "Page not found" in page.get_data(as_text=True)
