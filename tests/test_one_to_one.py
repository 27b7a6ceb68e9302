"""One-to-one appointments are about a person (issue 17, part 2): staff pages name the client and
the clinician, intake step 3 never offers someone else's individual slot, a one-to-one series
takes one client, and seats default from the kind with the room as the ceiling."""

import re
from datetime import date, time

import pytest
from sqlalchemy import event, func, select

from scheduler.extensions import db as _db
from scheduler.feeds import tokens
from scheduler.models import Booking, Enrollment, Session, SessionSeries
from scheduler.services import booking
from tests.helpers import ACTOR, sign_in

API = "/api/v1"


def _token(client, path: str) -> str:
    page = client.get(path)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def _count(db, model, *where) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(model).where(*where))


@pytest.fixture
def coordinator(client, make):
    user = make.user("coordinator")
    sign_in(client, user)
    return user


@pytest.fixture
def clinic(make, db, now):
    """Two individual-therapy slots at the same time on Wednesdays, each with its own client and
    clinician (the pair the week grid showed as two identical anonymous blocks), and a group."""
    program = make.program(name="Evening IOP")
    dana = make.staff(name="Dana Reyes")
    sam = make.staff(name="Sam Okafor")
    jordan = make.client(program, name="Jordan Lee")
    riley = make.client(program, name="Riley Chen")
    slots = []
    for therapist, person in ((dana, jordan), (sam, riley)):
        slot = make.series(program, kind="individual", title="Individual therapy",
                           facilitator_ids=[therapist.id], start_date=date(2027, 2, 17),
                           start_time=time(12, 30), duration_minutes=50,
                           rrule="FREQ=WEEKLY;BYDAY=WE")
        booking.enroll_client(db, ACTOR, slot.id, person.id, now=now)
        slots.append(slot)
    group = make.series(program, title="Relapse prevention", start_date=date(2027, 2, 17),
                        room_id=make.room(name="Room B", capacity=14).id,
                        rrule="FREQ=WEEKLY;BYDAY=WE", start_time=time(18, 0))
    booking.enroll_client(db, ACTOR, group.id, make.client(program, name="Group Member").id,
                          now=now)
    db.commit()
    return program, slots, group


def _first(db, series) -> Session:
    return db.scalar(select(Session).where(Session.series_id == series.id)
                     .order_by(Session.starts_at))


def _block(html: str, session_id: int) -> str:
    """The week grid's block (or Today's card) that links to the session."""
    start = html.index(f'href="/sessions/{session_id}"')
    return html[start:html.index("</a>", start)]


# ---------------------------------------------------------------- what staff see


def test_the_week_names_the_client_and_clinician_of_each_one_to_one_block(
        client, coordinator, clinic, db):
    _, (jordan_slot, riley_slot), group = clinic

    html = client.get("/week?week=2027-02-15").get_data(as_text=True)

    first = _block(html, _first(db, jordan_slot).id)
    second = _block(html, _first(db, riley_slot).id)
    assert "Jordan Lee" in first and "Dana Reyes" in first
    assert "Riley Chen" in second and "Sam Okafor" in second
    assert "Riley Chen" not in first
    # A group's block names no member: the roster is on the session page.
    assert "Group Member" not in _block(html, _first(db, group).id)


def test_today_names_the_client_and_clinician_of_a_one_to_one_session(
        client, coordinator, clinic, db):
    _, (jordan_slot, _), _ = clinic

    html = client.get("/today?day=2027-02-17").get_data(as_text=True)

    card = html[html.index(f'id="session-{_first(db, jordan_slot).id}"'):]
    card = card[:card.index("</section>")]
    assert "Jordan Lee" in card and "Dana Reyes" in card
    assert "Group Member" not in html


def test_a_clinician_sees_the_name_of_their_own_individual_client_on_today(
        client, make, clinic, db):
    _, (jordan_slot, _), _ = clinic
    dana = jordan_slot.facilitators[0]
    sign_in(client, make.user("clinician", staff_id=dana.id))

    html = client.get("/today?day=2027-02-17").get_data(as_text=True)

    assert "Jordan Lee" in html and "Riley Chen" not in html


def test_the_session_and_series_pages_name_whose_appointment_it_is(
        client, coordinator, clinic, db):
    _, (jordan_slot, _), _ = clinic

    session_page = client.get(f"/sessions/{_first(db, jordan_slot).id}").get_data(as_text=True)
    series_page = client.get(f"/series/{jordan_slot.id}").get_data(as_text=True)

    assert re.search(r"<h1>Individual therapy — Jordan Lee", session_page)
    assert re.search(r"<h1>Individual therapy — Jordan Lee", series_page)
    # The series page offers no enrolment into someone's appointment, and says why.
    assert "Jordan Lee's one-to-one series" in series_page
    assert f'action="/series/{jordan_slot.id}/enroll"' not in series_page
    # Nor does the page of one of its sessions.
    assert "Jordan Lee's one-to-one series" in session_page
    assert "/enroll" not in session_page


def test_the_week_and_today_cost_the_same_queries_however_many_one_to_one_sessions(
        client, coordinator, clinic, make, db, now):
    program = clinic[0]

    def queries(path: str) -> int:
        statements = []

        def count(*args):
            statements.append(1)

        event.listen(_db.engine, "before_cursor_execute", count)
        try:
            assert client.get(path).status_code == 200
        finally:
            event.remove(_db.engine, "before_cursor_execute", count)
        return len(statements)

    week, today = queries("/week?week=2027-02-15"), queries("/today?day=2027-02-17")
    for n in range(5):
        slot = make.series(program, kind="individual", title="Individual therapy",
                           facilitator_ids=[make.staff().id], start_date=date(2027, 2, 15),
                           start_time=time(9 + n, 0), duration_minutes=50,
                           rrule="FREQ=WEEKLY;BYDAY=MO,WE,FR")
        booking.enroll_client(db, ACTOR, slot.id, make.client(program).id, now=now)
        db.commit()
    assert queries("/week?week=2027-02-15") == week
    assert queries("/today?day=2027-02-17") == today


def test_feeds_and_other_clients_pages_never_carry_the_name(client, coordinator, clinic, db,
                                                             now):
    _, (jordan_slot, riley_slot), _ = clinic
    jordan = db.scalar(select(Enrollment).where(Enrollment.series_id == jordan_slot.id)).client
    riley = db.scalar(select(Enrollment).where(Enrollment.series_id == riley_slot.id)).client
    assert "Jordan Lee" not in client.get(f"/clients/{riley.id}").get_data(as_text=True)
    for person in (jordan, riley):
        token = tokens.issue(db, ACTOR, "client", person.id, now)
        db.commit()
        feed = client.get(f"/feeds/{token}.ics")
        assert feed.status_code == 200
        assert b"Jordan Lee" not in feed.data and b"Riley Chen" not in feed.data
        assert b"Dana Reyes" not in feed.data


# ---------------------------------------------------------------- intake step 3


def _intake_client(make, program):
    return make.client(program, name="Casey Lin")


def test_step_3_lists_groups_with_free_seats_and_not_someone_elses_slot(
        client, coordinator, clinic, make, db):
    program, (jordan_slot, _), group = clinic
    casey = _intake_client(make, program)

    html = client.get(f"/intake/{casey.id}/enrol").get_data(as_text=True)

    assert "Relapse prevention" in html
    assert "11 of 12 seats free" in html
    assert "Wed 18:00 (180 min)" in html  # its days from the series' rule, as the reader says them
    groups, find_a_time = html.split('id="find-a-time"', 1)
    offered = re.findall(r'name="series_ids"[^>]*value="(\d+)"', groups)
    assert offered == [str(group.id)] and str(jordan_slot.id) not in offered
    assert "Individual therapy" not in groups.split("<form", 1)[-1]
    assert "Individual sessions: find a time" in find_a_time


def test_step_3_never_waitlists_a_client_into_someone_elses_one_to_one_slot(
        client, coordinator, clinic, make, db):
    """Seen: a client put through intake was waitlisted into 11 sessions of another's slot."""
    program, (jordan_slot, _), _ = clinic
    casey = _intake_client(make, program)
    url = f"/intake/{casey.id}/enrol"

    answer = client.post(url, data={"csrf_token": _token(client, url),
                                    "series_ids": str(jordan_slot.id)})

    assert answer.status_code in (409, 422)
    assert "Find a time" in answer.get_data(as_text=True)
    assert "not a valid choice" not in answer.get_data(as_text=True)
    assert _count(db, Booking, Booking.client_id == casey.id) == 0


def test_the_api_refuses_a_second_client_in_a_one_to_one_series_naming_whose_it_is(
        client, clinic, make, db, auth):
    program, (jordan_slot, _), _ = clinic
    casey = _intake_client(make, program)

    answer = client.post(f"{API}/series/{jordan_slot.id}/enrollments",
                         json={"client_id": casey.id}, headers=auth("coordinator"))

    assert answer.status_code == 409, answer.json
    message = str(answer.json)
    assert "Jordan Lee" in message and "one-to-one" in message
    assert "series_id" not in message and "capacity" not in message
    assert _count(db, Booking, Booking.client_id == casey.id) == 0


def test_the_api_refuses_a_second_client_in_one_one_to_one_session_naming_whose_it_is(
        client, clinic, make, db, auth):
    """Seen: booking one session of someone's individual slot waitlisted the second client."""
    program, (jordan_slot, _), _ = clinic
    casey = _intake_client(make, program)
    session = _first(db, jordan_slot)

    answer = client.post(f"{API}/sessions/{session.id}/bookings",
                         json={"client_id": casey.id}, headers=auth("coordinator"))

    assert answer.status_code == 409, answer.json
    message = answer.json["message"]
    assert "Jordan Lee's one-to-one appointment" in message and "Casey" in message, message
    assert "id" not in message.split() and "capacity" not in message
    assert _count(db, Booking, Booking.client_id == casey.id) == 0


def test_the_series_page_refuses_a_second_client_too(client, coordinator, clinic, make, db):
    program, (jordan_slot, _), _ = clinic
    casey = _intake_client(make, program)
    url = f"/series/{jordan_slot.id}"

    answer = client.post(f"{url}/enroll", data={
        "csrf_token": _token(client, url), "client_id": str(casey.id)})

    assert answer.status_code == 409
    assert "Jordan Lee" in answer.get_data(as_text=True)
    assert _count(db, Booking, Booking.client_id == casey.id) == 0


def test_the_owner_may_be_enrolled_again_after_their_enrolment_ends(client, clinic, make, db,
                                                                    auth, now):
    program, (jordan_slot, _), _ = clinic
    jordan = db.scalar(select(Enrollment).where(Enrollment.series_id == jordan_slot.id)).client
    headers = auth("coordinator")
    # A free one-to-one series (nobody enrolled) takes its first client.
    free = make.series(program, kind="individual", title="Individual therapy",
                       start_date=date(2027, 3, 1), rrule="FREQ=WEEKLY;BYDAY=TU",
                       start_time=time(9, 0), duration_minutes=50)
    taken = client.post(f"{API}/series/{free.id}/enrollments", json={"client_id": jordan.id},
                        headers=headers)
    assert taken.status_code == 201, taken.json


# ---------------------------------------------------------------- seats default


def _series_form(program, room=None, **changes) -> dict:
    data = {
        "program_id": str(program.id), "title": "Multi-family group", "kind": "family",
        "room_id": str(room.id) if room else "", "weekdays": ["TH"],
        "start_time": "18:00", "duration_minutes": "90", "start_date": "2027-03-04",
        "end_date": "2027-03-25", "count": "", "capacity": "", "video_url": "",
        "description": "",
    }
    data.update(changes)
    return data


def test_a_family_series_saved_with_seats_blank_seats_every_family(client, coordinator, make,
                                                                   db, now):
    """Seen: a "Family" series saved with seats left blank got 1 seat; the 2nd and 3rd clients
    were waitlisted."""
    program = make.program(name="Evening IOP")
    room = make.room(name="Family room", capacity=20)

    answer = client.post("/series/new", data=_series_form(
        program, room, csrf_token=_token(client, "/series/new")))

    assert answer.status_code == 302, answer.get_data(as_text=True)
    family = db.scalar(select(SessionSeries).where(SessionSeries.title == "Multi-family group"))
    assert family.capacity == 12
    people = [make.client(program, name=n) for n in ("Ann Moss", "Ben Ruiz", "Cy Park")]
    for person in people:
        booking.enroll_client(db, ACTOR, family.id, person.id, now=now)
    db.commit()
    assert _count(db, Booking, Booking.status == "waitlisted") == 0


def test_the_rooms_seats_are_the_ceiling_of_the_default(client, coordinator, make, db):
    program = make.program(name="Evening IOP")
    small = make.room(name="Small room", capacity=6)

    answer = client.post("/series/new", data=_series_form(
        program, small, csrf_token=_token(client, "/series/new")))

    assert answer.status_code == 302, answer.get_data(as_text=True)
    assert db.scalar(select(SessionSeries.capacity)
                     .where(SessionSeries.title == "Multi-family group")) == 6


def test_the_new_series_form_shows_the_default_it_will_use(client, coordinator, make):
    make.program(name="Evening IOP")
    html = client.get("/series/new").get_data(as_text=True)
    seats = re.search(r'<input[^>]*name="capacity"[^>]*>', html).group(0)
    assert 'placeholder="12"' in seats
    label = html[html.index('for="capacity"'):]
    label = label[:label.index("</label>")]
    assert "12" in label and "1 for individual" in label


@pytest.mark.parametrize(("kind", "room_seats", "expected"), [
    ("family", None, 12), ("family", 8, 8), ("group", 20, 12), ("individual", None, 1),
    ("individual", 8, 1), ("education", 30, 12),
])
def test_the_api_defaults_seats_from_the_kind_with_the_room_as_ceiling(
        client, make, auth, kind, room_seats, expected):
    program = make.program(name="Evening IOP")
    body = {"program_id": program.id, "kind": kind, "title": "Series",
            "start_date": "2027-03-01", "start_time": "10:00", "duration_minutes": 60,
            "rrule": "FREQ=WEEKLY;BYDAY=MO;COUNT=2"}
    if room_seats is not None:
        body["room_id"] = make.room(capacity=room_seats).id

    answer = client.post(f"{API}/series", json=body, headers=auth("coordinator"))

    assert answer.status_code == 201, answer.json
    assert answer.json["capacity"] == expected


def test_the_preview_says_how_many_seats_a_blank_field_will_give(client, coordinator, make):
    program = make.program(name="Evening IOP")
    room = make.room(name="Small room", capacity=6)
    data = _series_form(program, room, csrf_token=_token(client, "/series/new"))

    answer = client.post("/series/preview", data=data)

    assert answer.status_code == 200, answer.json
    assert answer.json["capacity"] == 6


@pytest.mark.parametrize(("kind", "room_seats", "expected"), [
    ("individual", None, 1), ("group", None, 12), ("group", 6, 6), ("family", 20, 12),
])
def test_a_one_off_session_defaults_its_seats_the_same_way(client, make, auth, kind, room_seats,
                                                           expected):
    program = make.program(name="Evening IOP")
    body = {"program_id": program.id, "kind": kind, "starts_at": "2027-03-01T15:00:00Z",
            "ends_at": "2027-03-01T16:00:00Z"}
    if room_seats is not None:
        body["room_id"] = make.room(capacity=room_seats).id

    answer = client.post(f"{API}/sessions", json=body, headers=auth("coordinator"))

    assert answer.status_code == 201, answer.json
    assert answer.json["capacity"] == expected
