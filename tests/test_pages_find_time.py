""""Find a time" on the client page and in intake: search a week, book once or weekly."""

import re
from datetime import date, time

import pytest
from sqlalchemy import select

from scheduler.models import Booking, Enrollment, Session, SessionSeries
from scheduler.services import availability, plans
from tests.helpers import ACTOR, sign_in


def csrf(page: bytes) -> str:
    return re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()


@pytest.fixture
def setup(db, make):
    program = make.program(name="Evening IOP")
    therapist = make.staff(name="Dana Reyes")
    office = make.room(name="Office 1", capacity=2)
    person = make.client(program, name="Avery Stone")
    plans.create_plan(db, ACTOR, person.id, start_date=date(2027, 2, 1),
                      end_date=date(2027, 3, 31), primary_therapist_id=therapist.id)
    availability.set_working_hours(db, ACTOR, therapist.id, [
        {"weekday": 0, "start": time(9, 0), "end": time(11, 0)}])
    db.commit()
    return {"program": program, "therapist": therapist, "office": office, "client": person}


@pytest.fixture
def coordinator(client, make):
    user = make.user("coordinator")
    sign_in(client, user)
    return user


def find(client, person, **params):
    return client.get(f"/clients/{person.id}/find-a-time", query_string=params)


def test_the_client_page_offers_find_a_time_with_the_plans_therapist(client, setup,
                                                                      coordinator):
    page = client.get(f"/clients/{setup['client'].id}").get_data(as_text=True)
    assert "Find a time" in page
    chosen = re.search(r'<option selected value="(\d+)">Dana Reyes', page) or re.search(
        r'<option value="(\d+)" selected>Dana Reyes', page)
    assert chosen, page[page.index("Find a time"):][:1500]


def test_a_week_lists_free_times_and_one_click_books_once(client, db, setup, coordinator):
    person = setup["client"]
    answer = find(client, person, week="2027-03-03", length=60)
    assert answer.status_code == 200
    text = answer.get_data(as_text=True)
    assert "week of Mon 1 Mar 2027" in text
    assert re.findall(r'class="when">([\d:–]+)<', text) == ["09:00–10:00", "09:30–10:30",
                                                             "10:00–11:00"]
    booked = client.post(f"/clients/{person.id}/find-a-time", data={
        "csrf_token": csrf(answer.data), "starts_at": "2027-03-01T09:30:00-05:00",
        "staff_id": setup["therapist"].id, "room_id": setup["office"].id, "length": 60,
        "kind": "individual", "repeat": "once"})
    assert booked.status_code == 303, booked.get_data(as_text=True)
    session = db.scalar(select(Session).where(Session.series_id.is_(None)))
    assert [s.name for s in session.facilitators] == ["Dana Reyes"]
    assert session.room_id == setup["office"].id
    seat = db.scalar(select(Booking).where(Booking.session_id == session.id))
    assert (seat.client_id, seat.status) == (person.id, "booked")
    again = find(client, person, week="2027-03-01", length=60).get_data(as_text=True)
    assert re.findall(r'class="when">([\d:–]+)<', again) == []


def test_repeat_weekly_makes_a_one_seat_series_named_by_kind(client, db, setup, coordinator):
    person = setup["client"]
    token = csrf(find(client, person, week="2027-03-01").data)
    answer = client.post(f"/clients/{person.id}/find-a-time", data={
        "csrf_token": token, "starts_at": "2027-03-01T09:00:00-05:00",
        "staff_id": setup["therapist"].id, "room_id": setup["office"].id, "length": 50,
        "kind": "individual", "repeat": "weekly", "intake": "1"})
    assert answer.status_code == 303
    assert answer.headers["Location"].endswith(f"/intake/{person.id}/enrol")
    series = db.scalar(select(SessionSeries))
    assert (series.title, series.capacity, series.kind) == ("Individual therapy", 1,
                                                            "individual")
    assert series.rrule.endswith("BYDAY=MO")
    assert series.end_date == date(2027, 3, 31)
    enrolment = db.scalar(select(Enrollment))
    assert enrolment.client_id == person.id
    seats = db.scalars(select(Booking).where(Booking.client_id == person.id)).all()
    assert len(seats) == 5 and {b.status for b in seats} == {"booked"}


def test_a_time_taken_since_the_search_is_refused_by_name(client, db, setup, coordinator,
                                                         make):
    person = setup["client"]
    token = csrf(find(client, person, week="2027-03-01").data)
    data = {"csrf_token": token, "starts_at": "2027-03-01T09:00:00-05:00",
            "staff_id": setup["therapist"].id, "room_id": setup["office"].id, "length": 50,
            "kind": "individual", "repeat": "once"}
    assert client.post(f"/clients/{person.id}/find-a-time", data=data).status_code == 303
    other = make.client(setup["program"], name="Blake Ortiz")
    refused = client.post(f"/clients/{other.id}/find-a-time", data=data)
    assert refused.status_code == 409
    assert "Not booked" in refused.get_data(as_text=True)
    assert "Dana Reyes facilitates" in refused.get_data(as_text=True)


@pytest.mark.parametrize("params, field", [
    ({"staff_id": ""}, "find-staff"),
    ({"staff_id": "99999999999999999999999"}, "find-staff"),
    ({"week": "9999-01-01"}, "find-week"),
    ({"week": "tomorrow"}, "find-week"),
    ({"length": "7"}, "find-length"),
])
def test_bad_searches_show_the_error_by_the_field(client, setup, coordinator, params, field):
    answer = find(client, setup["client"], **params)
    assert answer.status_code == 422
    assert f'id="{field}-error"' in answer.get_data(as_text=True)


def test_a_tampered_booking_is_a_clear_refusal(client, db, setup, coordinator):
    person = setup["client"]
    token = csrf(find(client, person).data)
    for starts_at in ("2027-03-01T09:00:00", "soon", "2027-03-01T09:00:00\x00"):
        answer = client.post(f"/clients/{person.id}/find-a-time", data={
            "csrf_token": token, "starts_at": starts_at, "staff_id": setup["therapist"].id,
            "room_id": setup["office"].id, "length": 50, "kind": "individual"})
        assert answer.status_code == 422, starts_at
    assert db.scalar(select(Session)) is None


def test_intake_step_3_offers_find_a_time(client, setup, coordinator):
    page = client.get(f"/intake/{setup['client'].id}/enrol").get_data(as_text=True)
    assert "find a time" in page.lower()
    assert 'name="intake" value="1"' in page


# --- the staff page: working hours ---------------------------------------------------------------


def test_the_staff_page_shows_and_edits_working_hours(client, db, setup, coordinator):
    therapist = setup["therapist"]
    listing = client.get("/staff").get_data(as_text=True)
    assert "Mon 09:00–11:00" in listing
    form = client.get(f"/staff/{therapist.id}/hours")
    assert 'value="09:00–11:00"' in form.get_data(as_text=True)
    saved = client.post(f"/staff/{therapist.id}/hours", data={
        "csrf_token": csrf(form.data), "day_0": "09:00-12:00, 13:00–17:00",
        "day_2": "18:00 - 21:00"})
    assert saved.status_code == 303
    assert "Mon 09:00–12:00, 13:00–17:00; Wed 18:00–21:00" in client.get(
        "/staff").get_data(as_text=True)
    cleared = client.post(f"/staff/{therapist.id}/hours", data={"csrf_token": csrf(form.data)})
    assert cleared.status_code == 303
    assert "No limit set" in client.get("/staff").get_data(as_text=True)


@pytest.mark.parametrize("day_0, wanted", [
    ("9 to 5", "is not a span like 09:00–17:00"),
    ("17:00-09:00", "Must be after the start"),
    ("09:00-13:00, 12:00-17:00", "Overlaps Mon 09:00–13:00"),
    ("25:00-26:00", "is not a time of day"),
])
def test_bad_hours_show_the_error_by_the_day(client, db, setup, coordinator, day_0, wanted):
    url = f"/staff/{setup['therapist'].id}/hours"
    answer = client.post(url, data={"csrf_token": csrf(client.get(url).data), "day_0": day_0,
                                     "day_1": "09:00-10:00"})
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    error = re.search(r'id="day_0-error"[^>]*>([^<]*)<', page)
    assert error and wanted in error.group(1), page
    assert availability.working_hours(db, setup["therapist"].id)[0].end_time == time(11, 0)


def test_a_booking_refused_on_a_field_says_so_beside_that_field(client, db, setup, coordinator):
    person = setup["client"]
    token = csrf(find(client, person, week="2027-03-01").data)
    answer = client.post(f"/clients/{person.id}/find-a-time", data={
        "csrf_token": token, "starts_at": "2027-03-01T09:00:00-05:00",
        "staff_id": setup["therapist"].id, "room_id": setup["office"].id, "length": 50,
        "kind": "group", "repeat": "once"})
    assert answer.status_code == 422
    text = answer.get_data(as_text=True)
    # Beside the kind, announced, and the kind's select is described by it; not on top.
    error = re.search(r'<span class="field-error" id="find-kind-error" role="alert">([^<]*)<',
                      text)
    assert error and "Choose a one-to-one kind of session." in error.group(1)
    assert re.search(r'<select[^>]*aria-describedby="find-kind-error"[^>]*aria-invalid="true"'
                     r'|<select[^>]*aria-invalid="true"[^>]*aria-describedby="find-kind-error"',
                     text)
    assert "Not booked" not in text
    assert db.scalar(select(Session)) is None
