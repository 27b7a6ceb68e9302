"""Booking one session: seats up to capacity, a first-come waitlist, cancellation and promotion."""

from datetime import UTC, date, datetime, time

import pytest
from sqlalchemy import func, select

from scheduler import clock
from scheduler.models import AuditEvent, Booking, Session

API = "/api/v1"


@pytest.fixture
def coordinator(make):
    return make.user("coordinator")


@pytest.fixture
def headers(auth, coordinator):
    return auth.for_user(coordinator)


@pytest.fixture
def program(make):
    return make.program(name="Evening IOP")


def single(make, db, program, day=date(2027, 3, 1), start=time(18, 0), minutes=180, **kw):
    """A series that meets once, on `day` (New York time), and its one session."""
    series = make.series(program, start_date=day, end_date=day, rrule="FREQ=DAILY",
                         start_time=start, duration_minutes=minutes, **kw)
    return db.scalars(select(Session).where(Session.series_id == series.id)).one()


def book(client, headers, session_id, client_id, **body):
    return client.post(f"{API}/sessions/{session_id}/bookings",
                       json={"client_id": client_id, **body}, headers=headers)


def booking_rows(db) -> int:
    db.expire_all()
    return db.scalar(select(func.count(Booking.id)))


# --- seats and the waitlist ------------------------------------------------------------------


def test_a_full_group_puts_the_thirteenth_client_on_the_waitlist(
    client, headers, make, db, program
):
    """Twelve seats are booked in turn; the thirteenth client is queued, first in line."""
    session = single(make, db, program)
    people = [make.client(program) for _ in range(13)]

    answers = [book(client, headers, session.id, p.id) for p in people]

    assert [a.status_code for a in answers] == [201] * 13
    assert [a.json["status"] for a in answers] == ["booked"] * 12 + ["waitlisted"]
    assert [a.json["waitlist_position"] for a in answers] == [None] * 12 + [1]
    assert all(a.json["session_id"] == session.id for a in answers)
    assert [a.json["client_id"] for a in answers] == [p.id for p in people]


def test_waitlist_positions_count_up_from_one_in_arrival_order(
    client, headers, make, db, program
):
    """A two-seat session queues the third, fourth and fifth clients at positions 1, 2, 3."""
    session = single(make, db, program, capacity=2)
    people = [make.client(program) for _ in range(5)]
    answers = [book(client, headers, session.id, p.id).json for p in people]

    assert [a["status"] for a in answers] == ["booked", "booked", "waitlisted", "waitlisted",
                                              "waitlisted"]
    assert [a["waitlist_position"] for a in answers] == [None, None, 1, 2, 3]
    for answer in answers:
        read = client.get(f"{API}/bookings/{answer['id']}", headers=headers).json
        assert read["waitlist_position"] == answer["waitlist_position"]


def test_a_session_shows_its_booked_count_capacity_and_waitlist_count(
    client, headers, make, db, program
):
    """GET /sessions/{id} tells a coordinator how full the session is."""
    session = single(make, db, program, capacity=3)
    empty = client.get(f"{API}/sessions/{session.id}", headers=headers).json
    assert (empty["booked_count"], empty["capacity"], empty["waitlist_count"]) == (0, 3, 0)

    for _ in range(5):
        book(client, headers, session.id, make.client(program).id)

    body = client.get(f"{API}/sessions/{session.id}", headers=headers).json
    assert (body["booked_count"], body["capacity"], body["waitlist_count"]) == (3, 3, 2)


def test_the_roster_lists_bookings_and_the_waitlist_in_queue_order(
    client, headers, make, db, program
):
    """GET /sessions/{id}/bookings filters by status; the waitlist comes in queue order."""
    session = single(make, db, program, capacity=1)
    people = [make.client(program) for _ in range(4)]
    for person in people:
        book(client, headers, session.id, person.id)

    everyone = client.get(f"{API}/sessions/{session.id}/bookings", headers=headers).json
    assert everyone["total"] == 4
    queue = client.get(f"{API}/sessions/{session.id}/bookings",
                       query_string={"status": "waitlisted"}, headers=headers).json
    assert [b["client_id"] for b in queue["items"]] == [p.id for p in people[1:]]
    assert [b["waitlist_position"] for b in queue["items"]] == [1, 2, 3]


def test_booking_the_same_client_again_returns_the_same_booking(
    client, headers, make, db, program
):
    """A repeated request (a double click, a retry) is a 200 no-op, not a second row."""
    session = single(make, db, program)
    person = make.client(program)
    first = book(client, headers, session.id, person.id)
    rows, events = booking_rows(db), db.scalar(select(func.count(AuditEvent.id)))

    again = book(client, headers, session.id, person.id)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json == first.json
    assert booking_rows(db) == rows
    assert db.scalar(select(func.count(AuditEvent.id))) == events


def test_rebooking_a_waitlisted_client_keeps_their_place(client, headers, make, db, program):
    """Asking again for a queued client does not send them to the back of the line."""
    session = single(make, db, program, capacity=1)
    book(client, headers, session.id, make.client(program).id)
    queued = make.client(program)
    first = book(client, headers, session.id, queued.id).json
    book(client, headers, session.id, make.client(program).id)

    again = book(client, headers, session.id, queued.id)

    assert again.status_code == 200
    assert (again.json["id"], again.json["waitlist_position"]) == (first["id"], 1)


def test_every_booking_is_audited_with_the_actor(client, headers, make, db, program,
                                                 coordinator, now):
    """Who booked whom into what, and when."""
    session = single(make, db, program)
    person = make.client(program)
    body = book(client, headers, session.id, person.id).json

    event = db.scalars(select(AuditEvent).where(
        AuditEvent.entity_type == "booking", AuditEvent.entity_id == body["id"])).one()
    assert (event.action, event.actor_user_id, event.occurred_at) == ("book", coordinator.id, now)
    assert event.before is None
    assert {k: event.after[k] for k in ("session_id", "client_id", "status")} == {
        "session_id": session.id, "client_id": person.id, "status": "booked"}


# --- cancelling and promotion ----------------------------------------------------------------


def test_cancelling_keeps_the_booking_and_gives_the_seat_to_the_first_in_line(
    client, headers, make, db, program
):
    """DELETE marks the booking cancelled (it stays readable) and promotes the next client."""
    session = single(make, db, program, capacity=1)
    seated, first, second = (make.client(program) for _ in range(3))
    seat = book(client, headers, session.id, seated.id).json
    waiting = book(client, headers, session.id, first.id).json
    behind = book(client, headers, session.id, second.id).json

    response = client.delete(f"{API}/bookings/{seat['id']}", headers=headers)

    assert response.status_code == 200
    assert response.json["status"] == "cancelled"
    assert [(p["id"], p["status"]) for p in response.json["promoted"]] == [
        (waiting["id"], "booked")]
    kept = client.get(f"{API}/bookings/{seat['id']}", headers=headers)
    assert (kept.status_code, kept.json["status"]) == (200, "cancelled")
    moved_up = client.get(f"{API}/bookings/{behind['id']}", headers=headers).json
    assert (moved_up["status"], moved_up["waitlist_position"]) == ("waitlisted", 1)
    counts = client.get(f"{API}/sessions/{session.id}", headers=headers).json
    assert (counts["booked_count"], counts["waitlist_count"]) == (1, 1)
    assert booking_rows(db) == 3


def test_cancelling_keeps_the_reason_given(client, headers, make, db, program):
    """?reason= travels with the cancelled booking."""
    session = single(make, db, program)
    seat = book(client, headers, session.id, make.client(program).id).json
    body = client.delete(f"{API}/bookings/{seat['id']}", query_string={"reason": "Sick child"},
                         headers=headers).json
    assert body["cancel_reason"] == "Sick child"


def test_cancelling_a_waitlisted_place_promotes_nobody(client, headers, make, db, program):
    """Leaving the queue frees no seat; the one behind moves up the queue instead."""
    session = single(make, db, program, capacity=1)
    book(client, headers, session.id, make.client(program).id)
    leaving = book(client, headers, session.id, make.client(program).id).json
    behind = book(client, headers, session.id, make.client(program).id).json

    body = client.delete(f"{API}/bookings/{leaving['id']}", headers=headers).json

    assert body["promoted"] == []
    assert client.get(f"{API}/bookings/{behind['id']}",
                      headers=headers).json["waitlist_position"] == 1


def test_cancelling_twice_is_harmless(client, headers, make, db, program):
    """A second DELETE answers the cancelled booking again and promotes no one more."""
    session = single(make, db, program, capacity=1)
    seat = book(client, headers, session.id, make.client(program).id).json
    book(client, headers, session.id, make.client(program).id)
    book(client, headers, session.id, make.client(program).id)
    client.delete(f"{API}/bookings/{seat['id']}", headers=headers)

    again = client.delete(f"{API}/bookings/{seat['id']}", headers=headers)

    assert (again.status_code, again.json["status"], again.json["promoted"]) == (
        200, "cancelled", [])
    body = client.get(f"{API}/sessions/{session.id}", headers=headers).json
    assert (body["booked_count"], body["waitlist_count"]) == (1, 1)


def test_a_cancelled_client_can_book_again(client, headers, make, db, program):
    """The one row per (session, client) comes back to life rather than a second row."""
    session = single(make, db, program)
    person = make.client(program)
    seat = book(client, headers, session.id, person.id).json
    client.delete(f"{API}/bookings/{seat['id']}", headers=headers)

    again = book(client, headers, session.id, person.id)

    assert again.status_code == 200
    assert (again.json["id"], again.json["status"]) == (seat["id"], "booked")
    assert booking_rows(db) == 1


def test_promotion_passes_over_a_waitlisted_client_now_booked_elsewhere(
    client, headers, make, db, program
):
    """The first in line took an overlapping session meanwhile; the seat goes to the next."""
    session = single(make, db, program, capacity=1)                  # Mon 18:00-21:00
    overlapping = single(make, db, program, start=time(19, 0), minutes=60)
    seated, busy, free = (make.client(program) for _ in range(3))
    seat = book(client, headers, session.id, seated.id).json
    busy_place = book(client, headers, session.id, busy.id).json
    free_place = book(client, headers, session.id, free.id).json
    assert book(client, headers, overlapping.id, busy.id).status_code == 201

    body = client.delete(f"{API}/bookings/{seat['id']}", headers=headers).json

    assert [p["id"] for p in body["promoted"]] == [free_place["id"]]
    still = client.get(f"{API}/bookings/{busy_place['id']}", headers=headers).json
    assert (still["status"], still["waitlist_position"]) == ("waitlisted", 1)


def test_a_promotion_is_audited_with_the_actor_and_a_reason(
    client, headers, make, db, program, coordinator, now
):
    """The waitlisted client's move to a seat is an audit event of its own."""
    session = single(make, db, program, capacity=1)
    seat = book(client, headers, session.id, make.client(program).id).json
    waiting = book(client, headers, session.id, make.client(program).id).json

    client.delete(f"{API}/bookings/{seat['id']}", headers=headers)

    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "promote")).one()
    assert (event.entity_type, event.entity_id) == ("booking", waiting["id"])
    assert (event.actor_user_id, event.occurred_at) == (coordinator.id, now)
    assert (event.before["status"], event.after["status"]) == ("waitlisted", "booked")
    assert event.reason


# --- what cannot be booked -------------------------------------------------------------------


def test_a_cancelled_session_cannot_be_booked(client, headers, make, db, program):
    """Booking into a cancelled session answers 422 naming session_id and writes nothing."""
    session = single(make, db, program)
    client.patch(f"{API}/sessions/{session.id}", json={"status": "cancelled", "reason": "Snow"},
                 headers=headers)

    response = book(client, headers, session.id, make.client(program).id)

    assert response.status_code == 422
    assert "session_id" in response.json["errors"]["path"]
    assert booking_rows(db) == 0


@pytest.mark.parametrize(
    ("day", "start"),
    [
        (date(2027, 2, 15), time(18, 0)),   # yesterday evening: over
        (date(2027, 2, 16), time(6, 30)),   # 11:30 UTC today: running now
        (date(2027, 2, 16), time(7, 0)),    # 12:00 UTC today: starting this instant
    ],
    ids=["past", "running", "starting-now"],
)
def test_a_session_that_has_started_cannot_be_booked(
    client, headers, make, db, program, day, start
):
    """Only sessions still ahead can be booked: 422 naming session_id."""
    session = single(make, db, program, day=day, start=start)

    response = book(client, headers, session.id, make.client(program).id)

    assert response.status_code == 422
    assert "session_id" in response.json["errors"]["path"]
    assert booking_rows(db) == 0


def test_an_unknown_session_answers_404(client, headers, make, program):
    response = book(client, headers, 999999, make.client(program).id)
    assert response.status_code == 404


@pytest.mark.parametrize("client_id", [999999, 0, -1, "7", 2**31, None])
def test_an_unknown_or_malformed_client_answers_422_naming_client_id(
    client, headers, make, db, program, client_id
):
    session = single(make, db, program)
    response = book(client, headers, session.id, client_id)
    assert response.status_code == 422
    assert "client_id" in response.json["errors"]["json"]
    assert booking_rows(db) == 0


def test_an_unknown_booking_answers_404(client, headers):
    assert client.get(f"{API}/bookings/999999", headers=headers).status_code == 404
    assert client.delete(f"{API}/bookings/999999", headers=headers).status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/sessions/{huge}/bookings", lambda ids: {"client_id": ids["client"]}),
        ("get", "/sessions/{huge}/bookings", None),
        ("get", "/bookings/{huge}", None),
        ("delete", "/bookings/{huge}", None),
        ("get", "/series/{huge}/enrollments", None),
        ("post", "/series/{huge}/enrollments", lambda ids: {"client_id": ids["client"]}),
        ("post", "/clients/{huge}/discharge", lambda ids: {"date": "2027-03-10"}),
        ("get", "/clients/{huge}/availability", None),
        ("put", "/clients/{huge}/availability", lambda ids: {"unavailable": []}),
        ("get", "/staff/{huge}/time-off", None),
        ("post", "/staff/{huge}/time-off",
         lambda ids: {"starts_at": "2027-03-01T13:00:00Z", "ends_at": "2027-03-01T14:00:00Z"}),
        ("delete", "/staff/{staff}/time-off/{huge}", None),
    ],
)
def test_a_huge_path_id_is_a_404_not_a_500(client, headers, make, program, method, path, body):
    """An id past the integer column's range names no row, on every booking route."""
    ids = {"huge": 2**63, "client": make.client(program).id, "staff": make.staff().id}
    kwargs = {"json": body(ids)} if body else {}
    response = getattr(client, method)(API + path.format(**ids), headers=headers, **kwargs)
    assert response.status_code == 404, response.json


# --- capacity --------------------------------------------------------------------------------


def series_body(program, **changes):
    return {"program_id": program.id, "kind": "group", "title": "Relapse prevention",
            "start_date": "2027-03-01", "start_time": "18:00", "duration_minutes": 180,
            "rrule": "FREQ=WEEKLY;BYDAY=MO", "end_date": "2027-03-29", **changes}


def test_a_group_over_twelve_is_accepted_with_a_medicare_warning(client, headers, program):
    """Above 12 is allowed, but the response says Medicare allows at most 12 in a group."""
    response = client.post(f"{API}/series", json=series_body(program, capacity=14),
                           headers=headers)

    assert response.status_code == 201, response.json
    assert response.json["capacity"] == 14
    assert len(response.json["warnings"]) == 1
    assert "Medicare" in response.json["warnings"][0]
    assert "12" in response.json["warnings"][0]


def test_a_group_of_twelve_has_no_warning(client, headers, program):
    response = client.post(f"{API}/series", json=series_body(program), headers=headers)
    assert response.status_code == 201
    assert (response.json["capacity"], response.json["warnings"]) == (12, [])


def test_raising_a_group_over_twelve_warns_too(client, headers, program):
    """The warning also comes with an edit that takes a group over 12."""
    created = client.post(f"{API}/series", json=series_body(program), headers=headers).json
    edited = client.patch(f"{API}/series/{created['id']}", json={"capacity": 13},
                          headers=headers)
    assert edited.status_code == 200, edited.json
    assert any("Medicare" in w for w in edited.json["warnings"])


def test_a_one_to_one_series_defaults_to_one_seat(client, headers, make, db, program):
    """An individual-therapy series holds one client; a second is queued."""
    session = single(make, db, program, kind="individual", minutes=60)
    assert session.capacity == 1
    first = book(client, headers, session.id, make.client(program).id).json
    second = book(client, headers, session.id, make.client(program).id).json
    assert (first["status"], second["status"]) == ("booked", "waitlisted")


# --- a client's own schedule -----------------------------------------------------------------


def test_sessions_filtered_by_client_list_only_those_they_hold_a_seat_in(
    client, headers, make, db, program
):
    """GET /sessions?client_id= is the client's schedule: no queues, no one else's sessions."""
    monday = single(make, db, program, capacity=1)
    tuesday = single(make, db, program, day=date(2027, 3, 2))
    wednesday = single(make, db, program, day=date(2027, 3, 3))
    single(make, db, program, day=date(2027, 3, 4))
    person, other = make.client(program), make.client(program)
    book(client, headers, monday.id, other.id)
    assert book(client, headers, monday.id, person.id).json["status"] == "waitlisted"
    book(client, headers, tuesday.id, person.id)
    cancelled = book(client, headers, wednesday.id, person.id).json
    client.delete(f"{API}/bookings/{cancelled['id']}", headers=headers)
    book(client, headers, wednesday.id, other.id)

    listed = client.get(f"{API}/sessions", query_string={"client_id": person.id},
                        headers=headers).json

    assert [s["id"] for s in listed["items"]] == [tuesday.id]
    assert listed["total"] == 1


# --- history ---------------------------------------------------------------------------------


def test_a_booking_in_a_session_that_has_started_cannot_be_cancelled(
    client, headers, auth, make, db, program
):
    """Last week's seat is history: attendance records what happened, not a cancellation."""
    session = single(make, db, program, day=date(2027, 3, 1))
    person = make.client(program)
    seat = book(client, headers, session.id, person.id).json
    with clock.frozen(datetime(2027, 3, 2, 12, 0, tzinfo=UTC)):
        answer = client.delete(f"{API}/bookings/{seat['id']}", headers=auth("coordinator"))
    assert answer.status_code == 409
    assert "already started" in answer.json["message"]
    db.expire_all()
    assert db.get(Booking, seat["id"]).status == "booked"


def test_rebooking_a_cancelled_enrolment_seat_makes_it_a_single_booking(
    client, headers, make, db, program
):
    """A seat booked again by hand no longer claims to belong to the ended enrolment."""
    series = make.series(program, start_date=date(2027, 3, 1), end_date=date(2027, 3, 5))
    person = make.client(program)
    enrolled = client.post(f"{API}/series/{series.id}/enrollments",
                           json={"client_id": person.id}, headers=headers)
    assert enrolled.status_code == 201
    seat = db.scalars(select(Booking).where(Booking.client_id == person.id)
                      .order_by(Booking.id)).first()
    assert seat.enrollment_id == enrolled.json["id"]
    assert client.delete(f"{API}/bookings/{seat.id}", headers=headers).status_code == 200
    again = book(client, headers, seat.session_id, person.id)
    assert again.status_code == 200 and again.json["id"] == seat.id
    assert again.json["enrollment_id"] is None


# --- one count of free seats ----------------------------------------------------------------


def test_free_seats_count_booked_clients_only_and_never_go_below_zero(
    client, headers, make, db, program
):
    """Booking, promotion and walk-ins all ask booking.free_seats: waitlisted and cancelled
    places hold no seat, and a session holding more than its capacity has none free."""
    from scheduler.services.booking import free_seats

    session = single(make, db, program, capacity=1)
    seated, leaving, queued = (make.client(program) for _ in range(3))
    assert free_seats(db, session) == 1
    book(client, headers, session.id, seated.id)
    book(client, headers, session.id, queued.id)
    db.expire_all()
    assert free_seats(db, session) == 0

    session.capacity = 3  # set on the row, so nobody is promoted: the queued place holds no seat
    db.commit()
    assert free_seats(db, session) == 2
    gone = book(client, headers, session.id, leaving.id).json
    assert gone["status"] == "booked"
    client.delete(f"{API}/bookings/{gone['id']}", headers=headers)
    db.expire_all()
    # The freed seat went to the queue; the cancelled booking holds none.
    assert db.scalar(select(Booking.status).where(Booking.client_id == queued.id)) == "booked"
    assert free_seats(db, session) == 1

    session.capacity = 1  # fewer seats than the two clients already booked
    assert free_seats(db, session) == 0
