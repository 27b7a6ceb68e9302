"""Schedule proposals through the API: the planner finds the one schedule that fits, says why
when none does, and accepting books exactly what was shown, or nothing when the world moved.

Hand-built clinics in the Evening IOP's zone (New York); the clinic clock stands at Tue
2027-02-16 12:00 UTC (07:00 local), and proposals start on Mon 2027-03-01.
"""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from scheduler import clock
from scheduler.extensions import db as _db
from scheduler.models import (
    AuditEvent,
    Booking,
    ClientUnavailability,
    Enrollment,
    ScheduleProposal,
    Session,
    session_facilitators,
)
from scheduler.services import availability, booking, plans
from scheduler.services.errors import DomainError
from scheduler.services.overrides import Override
from tests import helpers
from tests.helpers import ACTOR

API = "/api/v1"
NY = ZoneInfo("America/New_York")
MARCH = date(2027, 3, 1)
WORK = [{"weekday": d, "start": time(9), "end": time(17), "label": "Work"} for d in range(5)]


@pytest.fixture
def coordinator(make):
    return make.user("coordinator")


@pytest.fixture
def headers(auth, coordinator):
    return auth.for_user(coordinator)


def _series(make, program, title, rrule, at, *, capacity=12, start=MARCH, kind="group"):
    return make.series(program, title=title, rrule=rrule, start_time=at, capacity=capacity,
                       room_id=make.room(name=f"Room for {title}").id,
                       facilitator_ids=[make.staff(name=f"Lead of {title}").id],
                       start_date=start, kind=kind)


def _client(make, db, program, name, routine=(), plan_start=date(2027, 2, 1), **plan):
    person = make.client(program, name=name)
    if routine:
        availability.set_client_windows(db, ACTOR, person.id, list(routine))
    plans.create_plan(db, ACTOR, person.id, start_date=plan_start, goals=["Stay sober"], **plan)
    db.commit()
    return person


@pytest.fixture
def clinic(make, db):
    """Jordan works Monday to Friday 9–5 and needs 9 hours a week. Of the four groups only
    Relapse prevention (Mon/Wed evenings, 6 h) with Family skills (Tue evening, 3 h) makes 9:
    Morning coping meets at work, and Early evening overlaps Relapse prevention."""
    program = make.program(name="Evening IOP")
    found = type("Clinic", (), {})()
    found.program = program
    found.relapse = _series(make, program, "Relapse prevention", "FREQ=WEEKLY;BYDAY=MO,WE",
                            time(18))
    found.family = _series(make, program, "Family skills", "FREQ=WEEKLY;BYDAY=TU", time(18),
                           capacity=2)
    found.morning = _series(make, program, "Morning coping", "FREQ=WEEKLY;BYDAY=TU", time(10))
    found.early = _series(make, program, "Early evening", "FREQ=WEEKLY;BYDAY=MO", time(17))
    found.jordan = _client(make, db, program, "Jordan Lee", WORK)
    return found


def propose(client, headers, client_id, **body):
    body.setdefault("from", MARCH.isoformat())
    body.setdefault("weeks", 2)
    return client.post(f"{API}/clients/{client_id}/schedule-proposals", json=body,
                       headers=headers)


def accept(client, headers, proposal_id):
    return client.post(f"{API}/schedule-proposals/{proposal_id}/accept", headers=headers)


def counts(db) -> tuple[int, int, int, int]:
    db.expire_all()
    return tuple(db.scalar(select(func.count()).select_from(model))
                 for model in (Enrollment, Booking, AuditEvent, Session))


def sessions_of(db, series, first: date, last: date) -> list[Session]:
    lo = datetime.combine(first, time.min, tzinfo=NY)
    hi = datetime.combine(last + timedelta(days=1), time.min, tzinfo=NY)
    return list(db.scalars(select(Session).where(
        Session.series_id == series.id, Session.starts_at >= lo, Session.starts_at < hi)
        .order_by(Session.starts_at)))


# --- one client -------------------------------------------------------------------------------


def test_the_one_schedule_that_fits_around_the_job_is_found_and_booked(client, headers, db,
                                                                       clinic):
    response = propose(client, headers, clinic.jordan.id)
    assert response.status_code == 201, response.json
    body = response.json
    assert body["status"] == "proposed" and body["kind"] == "schedule"
    assert body["client_id"] == clinic.jordan.id
    assert (body["from"], body["weeks"]) == ("2027-03-01", 2)
    assert sorted((e["title"], e["sessions"], e["starts_on"], e["ends_on"])
                  for e in body["enrollments"]) == [
        ("Family skills", 2, "2027-03-01", "2027-03-14"),
        ("Relapse prevention", 4, "2027-03-01", "2027-03-14")]
    meets = {e["title"]: e["meets"] for e in body["enrollments"]}
    assert meets == {"Family skills": "Tuesdays at 18:00",
                     "Relapse prevention": "Mondays, Wednesdays at 18:00"}
    assert {e["title"]: e["seats_free"] for e in body["enrollments"]} == {
        "Family skills": 2, "Relapse prevention": 12}
    assert body["weekly"] == [
        {"week_start": "2027-03-01", "planned_hours": 9.0, "target_hours": 9.0, "met": True},
        {"week_start": "2027-03-08", "planned_hours": 9.0, "target_hours": 9.0, "met": True}]
    assert body["unmet"] == [] and body["sessions"] == [] and body["appointments"] == []
    assert [(i["starts_at"], i["title"], i["new"]) for i in body["calendar"]][:3] == [
        ("2027-03-01T18:00:00-05:00", "Relapse prevention", True),
        ("2027-03-02T18:00:00-05:00", "Family skills", True),
        ("2027-03-03T18:00:00-05:00", "Relapse prevention", True)]
    assert len(body["calendar"]) == 6
    assert body["solver"]["status"] in ("OPTIMAL", "FEASIBLE")
    assert body["expires_at"] == "2027-02-16T08:00:00-05:00"  # an hour from now

    before = counts(db)
    accepted = accept(client, headers, body["id"])
    assert accepted.status_code == 200, accepted.json
    assert len(accepted.json["enrollment_ids"]) == 2
    assert len(accepted.json["booking_ids"]) == 6
    db.expire_all()
    enrolments = db.scalars(select(Enrollment).where(Enrollment.client_id == clinic.jordan.id)
                            .order_by(Enrollment.series_id)).all()
    assert [(e.series_id, e.start_date, e.end_date) for e in enrolments] == [
        (clinic.relapse.id, MARCH, date(2027, 3, 14)),
        (clinic.family.id, MARCH, date(2027, 3, 14))]
    booked = db.scalars(select(Session).join(Booking, Booking.session_id == Session.id).where(
        Booking.client_id == clinic.jordan.id, Booking.status == "booked")).all()
    wanted = (sessions_of(db, clinic.relapse, MARCH, date(2027, 3, 14))
              + sessions_of(db, clinic.family, MARCH, date(2027, 3, 14)))
    assert {s.id for s in booked} == {s.id for s in wanted}
    assert counts(db)[:2] == (before[0] + 2, before[1] + 6)

    # Accepting is audited once, with the proposal and what it made.
    [event] = db.scalars(select(AuditEvent).where(AuditEvent.action == "accept")).all()
    assert (event.entity_type, event.entity_id) == ("schedule_proposal", body["id"])
    assert event.after["enrollment_ids"] == accepted.json["enrollment_ids"]
    assert event.after["booking_ids"] == accepted.json["booking_ids"]

    read = client.get(f"{API}/schedule-proposals/{body['id']}", headers=headers)
    assert read.status_code == 200
    assert read.json["status"] == "accepted"
    assert read.json["result"]["booking_ids"] == accepted.json["booking_ids"]


def test_proposing_and_reading_a_proposal_are_logged_as_reads_of_the_client(
        client, headers, db, clinic, coordinator):
    since = db.scalar(select(func.max(AuditEvent.id)))
    body = propose(client, headers, clinic.jordan.id, weeks=1).json
    client.get(f"{API}/schedule-proposals/{body['id']}", headers=headers)
    db.expire_all()
    rows = db.scalars(select(AuditEvent).where(AuditEvent.id > since)).all()
    assert [(r.actor_user_id, r.action, r.entity_type, r.entity_id, r.after)
            for r in rows] == [
        (coordinator.id, "read", "client", clinic.jordan.id,
         {"resource": "schedule_proposal", "via": "api"})] * 2


def test_preferred_times_sit_beside_the_unavailable_ones(client, headers, db, clinic):
    url = f"{API}/clients/{clinic.jordan.id}/availability"
    liked = [{"weekday": 1, "start": "18:00", "end": "21:00", "label": "After the kids sleep"}]
    put = client.put(url, json={"unavailable": [], "preferred": liked}, headers=headers)
    assert put.status_code == 200, put.json
    assert put.json == {"unavailable": [], "preferred": liked}
    # Left out, they stay as they are.
    again = client.put(url, json={"unavailable": []}, headers=headers)
    assert again.json["preferred"] == liked
    assert client.get(url, headers=headers).json["preferred"] == liked


def test_when_no_group_fits_the_shortfall_says_why_and_the_rest_is_still_planned(
        client, headers, db, make, clinic):
    night = [{"weekday": d, "start": time(16), "end": time(23, 30), "label": "Evening shift"}
             for d in range(5)]
    sam = _client(make, db, clinic.program, "Sam Ortiz", night)
    response = propose(client, headers, sam.id, weeks=1)
    assert response.status_code == 201, response.json
    body = response.json
    # Only the Tuesday morning group fits the evening shift: 3 of 9 hours.
    assert [e["title"] for e in body["enrollments"]] == ["Morning coping"]
    assert body["weekly"] == [{"week_start": "2027-03-01", "planned_hours": 3.0,
                               "target_hours": 9.0, "met": False}]
    [short] = body["unmet"]
    assert short["week_start"] == "2027-03-01" and short["short_hours"] == 6.0
    # It names the limit: Sam's evening shift, and how far the groups that fit go.
    assert "Evening shift" in short["why"] and "3 of 9 hours" in short["why"], short["why"]


def test_a_weekly_individual_session_is_with_the_primary_therapist(client, headers, db, make,
                                                                   clinic):
    """The plan asks for an individual session a week with Dana: the proposal finds Dana an
    hour outside Jordan's work each week, and accepting books it as a one-off appointment.
    Another booking of Dana's at that hour since then refuses the accept, naming her."""
    dana = make.staff(name="Dana Whitfield")
    make.room(name="Office 1", capacity=2)
    plans.create_plan(db, ACTOR, clinic.jordan.id, start_date=date(2027, 2, 1),
                      primary_therapist_id=dana.id, goals=["Stay sober"],
                      phases=[{"first_week": 1, "last_week": None, "requirements": [
                          {"kind": "individual", "sessions_per_week": 1}]}])
    db.commit()
    body = propose(client, headers, clinic.jordan.id).json
    appointments = body["appointments"]
    assert [(a["staff_name"], a["kind"]) for a in appointments] == [
        ("Dana Whitfield", "individual")] * 2
    assert [a["starts_at"][:10] < "2027-03-08" for a in appointments] == [True, False]
    for item in appointments:
        start = datetime.fromisoformat(item["starts_at"])
        assert not (start.weekday() < 5 and time(9) <= start.time() < time(17)), item

    first = datetime.fromisoformat(appointments[0]["starts_at"])
    clash = make.series(clinic.program, title="Supervision", kind="case_management",
                        rrule="FREQ=DAILY;COUNT=1", start_date=first.date(),
                        start_time=first.time().replace(tzinfo=None), duration_minutes=60,
                        capacity=1, facilitator_ids=[dana.id])
    assert clash is not None
    before = counts(db)
    refused = accept(client, headers, body["id"])
    assert refused.status_code == 409, refused.json
    assert any("Dana Whitfield facilitates Supervision" in c["detail"]
               for c in refused.json["conflicts"]), refused.json
    assert counts(db) == before


def test_accepting_books_the_appointments(client, headers, db, make, clinic):
    dana = make.staff(name="Dana Whitfield")
    make.room(name="Office 1", capacity=2)
    plans.create_plan(db, ACTOR, clinic.jordan.id, start_date=date(2027, 2, 1),
                      primary_therapist_id=dana.id, goals=["Stay sober"],
                      phases=[{"first_week": 1, "last_week": None, "requirements": [
                          {"kind": "individual", "sessions_per_week": 1}]}])
    db.commit()
    body = propose(client, headers, clinic.jordan.id, weeks=1).json
    [appointment] = body["appointments"]
    accepted = accept(client, headers, body["id"])
    assert accepted.status_code == 200, accepted.json
    [session_id] = accepted.json["session_ids"]
    db.expire_all()
    made = db.get(Session, session_id)
    assert made.starts_at == datetime.fromisoformat(appointment["starts_at"])
    assert [s.id for s in made.facilitators] == [dana.id]
    assert made.room_id == appointment["room_id"]
    held = db.scalar(select(Booking).where(Booking.session_id == session_id))
    assert (held.client_id, held.status) == (clinic.jordan.id, "booked")
    assert held.id in accepted.json["booking_ids"]


def test_a_discharged_client_gets_no_proposal_and_is_named(client, headers, db, make, clinic):
    booking.discharge_client(db, ACTOR, clinic.jordan.id, date(2027, 2, 16), now=clock.now())
    db.commit()
    response = propose(client, headers, clinic.jordan.id)
    assert response.status_code == 409
    assert "Jordan Lee" in response.json["message"]


# --- accepting when the world moved ------------------------------------------------------------


def test_a_seat_taken_between_proposing_and_accepting_refuses_and_writes_nothing(
        client, headers, db, make, clinic):
    body = propose(client, headers, clinic.jordan.id).json
    tuesday = sessions_of(db, clinic.family, MARCH, MARCH + timedelta(days=6))[0]
    for name in ("Riley Park", "Casey Moss"):  # Family skills seats two
        booking.book_client(db, ACTOR, tuesday.id, make.client(clinic.program, name=name).id,
                            now=clock.now())
    db.commit()
    before = counts(db)

    response = accept(client, headers, body["id"])
    assert response.status_code == 409, response.json
    details = [c["detail"] for c in response.json["conflicts"]]
    assert details == ["Family skills, Tue 2 Mar 18:00 has no free seat any more"]
    assert details[0] in response.json["message"]
    assert response.json["conflicts"][0]["session_id"] == tuesday.id
    assert counts(db) == before
    db.expire_all()
    assert db.get(ScheduleProposal, body["id"]).status == "proposed"


def test_a_new_booking_at_the_same_time_refuses_naming_the_clash(client, headers, db, make,
                                                                 clinic):
    body = propose(client, headers, clinic.jordan.id, weeks=1).json
    other = _series(make, clinic.program, "Medication group", "FREQ=WEEKLY;BYDAY=WE",
                    time(19))
    wednesday = sessions_of(db, other, MARCH, MARCH + timedelta(days=6))[0]
    booking.book_client(db, ACTOR, wednesday.id, clinic.jordan.id, now=clock.now())
    db.commit()
    before = counts(db)
    response = accept(client, headers, body["id"])
    assert response.status_code == 409
    [conflict] = response.json["conflicts"]
    assert conflict["detail"].startswith("Relapse prevention, Wed 3 Mar 18:00: ")
    assert "Medication group" in conflict["detail"]
    assert counts(db) == before


def test_a_lapsed_proposal_cannot_be_accepted(client, headers, db, clinic, now, app):
    app.config["PROPOSAL_TTL_MINUTES"] = 10
    body = propose(client, headers, clinic.jordan.id, weeks=1).json
    with clock.frozen(now + timedelta(minutes=10)):
        read = client.get(f"{API}/schedule-proposals/{body['id']}", headers=headers)
        assert read.json["status"] == "expired"
        before = counts(db)
        response = accept(client, headers, body["id"])
    assert response.status_code == 409
    assert response.json["message"] == "This proposal expired at 07:10; suggest a new one."
    assert counts(db) == before


def test_a_proposal_is_accepted_once(client, headers, db, clinic):
    body = propose(client, headers, clinic.jordan.id, weeks=1).json
    assert accept(client, headers, body["id"]).status_code == 200
    before = counts(db)
    again = accept(client, headers, body["id"])
    assert again.status_code == 409
    assert "accepted" in again.json["message"]
    assert counts(db) == before


# --- a cohort -----------------------------------------------------------------------------------


def test_a_cohort_shares_scarce_seats_fairly(client, headers, db, make):
    """Four evening groups of 3 h with one seat left each, two clients needing 9 h: first
    come, first served would give one of them 9 h and the other 3; the fair answer is 6 h
    each."""
    program = make.program(name="Evening IOP")
    regular = make.client(program, name="Reese Regular")
    for title, day in (("Monday group", "MO"), ("Tuesday group", "TU"),
                       ("Wednesday group", "WE"), ("Thursday group", "TH")):
        group = _series(make, program, title, f"FREQ=WEEKLY;BYDAY={day}", time(18), capacity=2)
        for session in sessions_of(db, group, MARCH, MARCH + timedelta(days=6)):
            booking.book_client(db, ACTOR, session.id, regular.id, now=clock.now())
    db.commit()
    first = _client(make, db, program, "Avery Stone", WORK)
    second = _client(make, db, program, "Blake Rivers", WORK)
    response = client.post(f"{API}/programs/{program.id}/schedule-proposals", headers=headers,
                           json={"client_ids": [first.id, second.id], "from": "2027-03-01",
                                 "weeks": 1})
    assert response.status_code == 201, response.json
    body = response.json
    assert body["kind"] == "cohort" and body["program_id"] == program.id
    hours = {c["name"]: c["weekly"][0]["planned_hours"] for c in body["clients"]}
    assert hours == {"Avery Stone": 6.0, "Blake Rivers": 6.0}, body
    assert body["worst_coverage"] == pytest.approx(2 / 3, abs=0.01)
    assert all(g["size"] <= g["capacity"] for g in body["groups"])
    assert sum(g["added"] for g in body["groups"]) == 4

    accepted = accept(client, headers, body["id"])
    assert accepted.status_code == 200, accepted.json
    assert len(accepted.json["booking_ids"]) == 4


def test_a_cohort_names_a_client_of_another_program(client, headers, make, db, clinic):
    stranger = make.client(make.program(name="Day IOP"), name="Drew Day")
    response = client.post(f"{API}/programs/{clinic.program.id}/schedule-proposals",
                           headers=headers, json={"client_ids": [clinic.jordan.id, stranger.id],
                                                  "from": "2027-03-01", "weeks": 1})
    assert response.status_code == 422
    assert response.json["errors"]["json"]["client_ids"] == ["Drew Day is not in Evening IOP."]


# --- make-up ------------------------------------------------------------------------------------


def test_a_fixable_week_gets_make_up_sessions_that_close_it(client, headers, db, make):
    """Morgan holds Mon/Wed evenings (Monday already past): 3 h booked of 9 this week. The
    Thursday and Friday groups have seats: the report links to the make-up, which books them."""
    program = make.program(name="Evening IOP")
    start = date(2027, 2, 8)
    regular = _series(make, program, "Relapse prevention", "FREQ=WEEKLY;BYDAY=MO,WE", time(18),
                      start=start)
    _series(make, program, "Thursday skills", "FREQ=WEEKLY;BYDAY=TH", time(18), start=start)
    _series(make, program, "Friday support", "FREQ=WEEKLY;BYDAY=FR", time(18), start=start)
    morgan = _client(make, db, program, "Morgan Hale", WORK)
    booking.enroll_client(db, ACTOR, regular.id, morgan.id, now=clock.now(),
                          start_date=date(2027, 2, 15), end_date=date(2027, 2, 21))
    db.commit()

    report = client.get(f"{API}/reports/below-target?program_id={program.id}",
                        headers=headers).json["items"]
    [row] = [r for r in report if r["client_id"] == morgan.id]
    assert row["fixable"] is True
    assert row["make_up_url"] == f"/api/v1/clients/{morgan.id}/make-up-proposals"

    response = client.post(row["make_up_url"], json={"week_start": row["week_start"]},
                           headers=headers)
    assert response.status_code == 201, response.json
    body = response.json
    assert body["kind"] == "make_up" and body["enrollments"] == []
    assert sorted((s["title"], s["starts_at"]) for s in body["sessions"]) == [
        ("Friday support", "2027-02-19T18:00:00-05:00"),
        ("Thursday skills", "2027-02-18T18:00:00-05:00")]
    assert body["weekly"][0]["planned_hours"] == 9.0 and body["weekly"][0]["met"] is True

    accepted = accept(client, headers, body["id"])
    assert accepted.status_code == 200, accepted.json
    assert len(accepted.json["booking_ids"]) == 2
    after = client.get(f"{API}/reports/below-target?program_id={program.id}",
                       headers=headers).json["items"]
    assert morgan.id not in [r["client_id"] for r in after]


def test_make_up_is_for_a_week_that_is_not_over(client, headers, clinic):
    url = f"{API}/clients/{clinic.jordan.id}/make-up-proposals"
    assert client.post(url, json={"week_start": "2027-02-08"}, headers=headers).json[
        "errors"]["json"]["week_start"][0].startswith("That week is over")
    assert "Monday" in client.post(url, json={"week_start": "2027-02-16"}, headers=headers).json[
        "errors"]["json"]["week_start"][0]


# --- hostile input ------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "field"), [
    ({"from": "2027-03-01", "weeks": 0}, "weeks"),
    ({"from": "2027-03-01", "weeks": 13}, "weeks"),
    ({"from": "2027-03-01", "weeks": "x"}, "weeks"),
    ({"from": "2027-03-01", "weeks": 2.5}, "weeks"),
    ({"from": "9999-01-01"}, "from"),
    ({"from": "2027-02-01"}, "from"),  # before the program's today
    ({"from": "March"}, "from"),
    ({}, "from"),
])
def test_bad_input_is_refused_naming_the_field(client, headers, clinic, body, field):
    response = client.post(f"{API}/clients/{clinic.jordan.id}/schedule-proposals", json=body,
                           headers=headers)
    assert response.status_code == 422, response.json
    assert field in response.json["errors"]["json"]


@pytest.mark.parametrize(("url", "body", "status"), [
    ("/clients/{huge}/schedule-proposals", {"from": "2027-03-01"}, 404),
    ("/clients/999999/schedule-proposals", {"from": "2027-03-01"}, 404),
    ("/clients/999999/make-up-proposals", {"week_start": "2027-02-15"}, 404),
    ("/programs/999999/schedule-proposals", {"from": "2027-03-01", "client_ids": [1]}, 404),
    ("/programs/{program}/schedule-proposals", {"from": "2027-03-01", "client_ids": [2**63]},
     422),
    ("/programs/{program}/schedule-proposals", {"from": "2027-03-01", "client_ids": []}, 422),
    ("/programs/{program}/schedule-proposals",
     {"from": "2027-03-01", "client_ids": list(range(1, 302))}, 422),
    ("/programs/{program}/schedule-proposals", {"from": "2027-03-01", "client_ids": [999999]},
     422),
    ("/schedule-proposals/{huge}/accept", None, 404),
    ("/schedule-proposals/999999/accept", None, 404),
])
def test_unknown_and_impossible_ids_are_4xx_never_500(client, headers, clinic, url, body,
                                                      status):
    url = API + url.format(huge=2**63, program=clinic.program.id)
    response = client.post(url, json=body, headers=headers)
    assert response.status_code == status, response.json
    if status == 422:
        assert "client_ids" in response.json["errors"]["json"]
    assert client.get(f"{API}/schedule-proposals/{2**63}", headers=headers).status_code == 404
    assert client.get(f"{API}/schedule-proposals/999999", headers=headers).status_code == 404


def test_min_group_size_is_at_least_one_or_none(client, headers, clinic):
    url = f"{API}/programs/{clinic.program.id}"
    assert client.patch(url, json={"min_group_size": 4}, headers=headers).json[
        "min_group_size"] == 4
    assert client.patch(url, json={"min_group_size": None}, headers=headers).json[
        "min_group_size"] is None
    for bad in (0, -1, "x", 2.5):
        response = client.patch(url, json={"min_group_size": bad}, headers=headers)
        assert response.status_code == 422 and "min_group_size" in response.json["errors"]["json"]


# --- property: an accepted proposal never breaks a hard constraint ------------------------------

DAYS = ["MO", "TU", "WE", "TH", "FR"]
STARTS = [time(9), time(12), time(17), time(18), time(19, 30)]

groups = st.lists(st.tuples(st.lists(st.sampled_from(DAYS), min_size=1, max_size=3, unique=True),
                            st.sampled_from(STARTS), st.sampled_from([60, 90, 180]),
                            st.integers(1, 3)), min_size=1, max_size=4)
routines = st.lists(st.tuples(st.integers(0, 4), st.sampled_from([time(8), time(14)]),
                              st.sampled_from([3, 6])), max_size=3)
clinics = st.fixed_dictionaries({
    "groups": groups,
    # Each client's routine, and whether their plan wants an individual session a week with
    # the one therapist (so appointments compete for her and the office).
    "clients": st.lists(st.tuples(routines, st.booleans()), min_size=1, max_size=3),
    "prebooked": st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2), st.integers(0, 20)),
                          max_size=3),
    "cohort": st.booleans(),
    "weeks": st.integers(1, 2),
})


def _clean(db) -> None:
    db.rollback()
    for table in reversed(_db.metadata.sorted_tables):
        db.execute(table.delete())
    db.commit()


def _build(db, drawn) -> tuple:
    make = helpers.Factory(db)
    program = make.program(name="Evening IOP")
    made = []
    for index, (days, at, minutes, seats) in enumerate(drawn["groups"]):
        made.append(make.series(program, title=f"Group {index + 1}",
                                rrule=f"FREQ=WEEKLY;BYDAY={','.join(days)}", start_time=at,
                                duration_minutes=minutes, capacity=seats,
                                room_id=make.room(name=f"Room {index + 1}").id,
                                facilitator_ids=[make.staff(name=f"Lead {index + 1}").id],
                                start_date=date(2027, 2, 22)))
    therapist = make.staff(name="Therapist")
    make.room(name="Office", capacity=2)
    individual = [{"first_week": 1, "last_week": None,
                   "requirements": [{"kind": "individual", "sessions_per_week": 1}]}]
    people = []
    for index, (routine, needs_individual) in enumerate(drawn["clients"]):
        windows = [{"weekday": day, "start": start, "end": time(start.hour + hours),
                    "label": "Work"} for day, start, hours in routine]
        plan = {"primary_therapist_id": therapist.id, "phases": individual} \
            if needs_individual else {}
        people.append(_client(make, db, program, f"Client {index + 1}", windows, **plan))
    for series_index, person_index, nth in drawn["prebooked"]:
        if series_index >= len(made) or person_index >= len(people):
            continue
        ahead = db.scalars(select(Session).where(Session.series_id == made[series_index].id)
                           .order_by(Session.starts_at)).all()
        try:
            booking.book_client(db, ACTOR, ahead[nth % len(ahead)].id, people[person_index].id,
                                now=clock.now())
            db.commit()
        except DomainError:  # a clash with their routine: the world simply has no such booking
            db.rollback()
    return program, people


def _overlapping(spans) -> bool:
    spans = sorted(spans)
    return any(b[0] < a[1] for a, b in zip(spans, spans[1:], strict=False))


def check_hard_constraints(db) -> None:
    """Judged from the database alone, sharing nothing with the planner."""
    db.expire_all()
    scheduled = Session.status == "scheduled"
    booked = db.execute(select(Booking.client_id, Session.starts_at, Session.ends_at,
                               Session.id).join(Session, Session.id == Booking.session_id)
                        .where(Booking.status == "booked", scheduled)).all()
    by_client: dict = {}
    for client_id, start, end, _ in booked:
        by_client.setdefault(client_id, []).append((start, end))
    for client_id, spans in by_client.items():
        assert not _overlapping(spans), f"client {client_id} double-booked"
        windows = db.scalars(select(ClientUnavailability).where(
            ClientUnavailability.client_id == client_id)).all()
        for start, end in spans:
            local_start, local_end = start.astimezone(NY), end.astimezone(NY)
            for w in windows:
                if w.weekday == local_start.weekday():
                    assert not (local_start.time() < w.end_time
                                and w.start_time < local_end.time()), "booked while unavailable"
    seats = db.execute(select(Session.id, Session.capacity, func.count(Booking.id))
                       .join(Booking, Booking.session_id == Session.id)
                       .where(Booking.status == "booked").group_by(Session.id,
                                                                    Session.capacity)).all()
    assert all(taken <= capacity for _, capacity, taken in seats), "a session over capacity"
    staffed: dict = {}
    for staff_id, start, end in db.execute(
            select(session_facilitators.c.staff_id, Session.starts_at, Session.ends_at)
            .join(Session, Session.id == session_facilitators.c.session_id).where(scheduled)):
        staffed.setdefault(staff_id, []).append((start, end))
    assert not any(_overlapping(spans) for spans in staffed.values()), "staff double-booked"
    roomed: dict = {}
    for room_id, start, end in db.execute(select(Session.room_id, Session.starts_at,
                                                 Session.ends_at)
                                          .where(scheduled, Session.room_id.is_not(None))):
        roomed.setdefault(room_id, []).append((start, end))
    assert not any(_overlapping(spans) for spans in roomed.values()), "room double-booked"


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(drawn=clinics)
def test_an_accepted_proposal_never_breaks_a_hard_constraint(client, db, auth, app, drawn):
    _clean(db)
    app.config["PROPOSAL_SOLVER_SECONDS"] = 1
    headers = auth("coordinator")
    program, people = _build(db, drawn)
    if drawn["cohort"]:
        response = client.post(f"{API}/programs/{program.id}/schedule-proposals",
                               headers=headers, json={"client_ids": [p.id for p in people],
                                                      "from": "2027-03-01",
                                                      "weeks": drawn["weeks"]})
    else:
        response = propose(client, headers, people[0].id, weeks=drawn["weeks"])
    assert response.status_code == 201, response.json
    accepted = accept(client, headers, response.json["id"])
    assert accepted.status_code == 200, accepted.json
    check_hard_constraints(db)


def test_the_checker_sees_a_double_booking(db, make):
    """The property's checker is not vacuous: an overridden clash is caught."""
    program = make.program()
    first = _series(make, program, "First", "FREQ=WEEKLY;BYDAY=MO", time(18))
    second = _series(make, program, "Second", "FREQ=WEEKLY;BYDAY=MO", time(19))
    person = make.client(program)
    a = sessions_of(db, first, MARCH, MARCH)[0]
    b = sessions_of(db, second, MARCH, MARCH)[0]
    booking.book_client(db, ACTOR, a.id, person.id, now=clock.now())
    booking.book_client(db, ACTOR, b.id, person.id, now=clock.now(),
                        override=Override.given(True, "Testing the checker"))
    db.commit()
    with pytest.raises(AssertionError, match="double-booked"):
        check_hard_constraints(db)
