"""No double booking: clients, staff and rooms are each in one place at a time, unless overridden.

Every kind of conflict answers 409 with
{"conflicts": [{"kind", "session_id", "starts_at", "ends_at", "detail"}, ...]}.
"""

from datetime import date, datetime, time

import pytest
from sqlalchemy import func, select

from scheduler.extensions import db as _db
from scheduler.models import AuditEvent, Booking, Session
from scheduler.services import availability, booking
from scheduler.services.conflicts import (
    Calendar,
    Slot,
    client_clashes,
    room_clashes,
    staff_clashes,
)
from scheduler.services.recurrence import zone
from tests.helpers import ACTOR

API = "/api/v1"
NEW_YORK = zone("America/New_York")
CONFLICT_KEYS = {"kind", "session_id", "starts_at", "ends_at", "detail"}


@pytest.fixture
def coordinator(make):
    return make.user("coordinator")


@pytest.fixture
def headers(auth, coordinator):
    return auth.for_user(coordinator)


@pytest.fixture
def clinic(make, db):
    """Monday 1 March, 18:00-21:00 New York: the evening group in room A, led by Dana."""
    program = make.program(name="Evening IOP")
    room_a, room_b = make.room(name="Room A"), make.room(name="Room B")
    dana, lee = make.staff(name="Dana"), make.staff(name="Lee")
    group = single(make, db, program, room_id=room_a.id, facilitator_ids=[dana.id])
    return {"program": program, "room_a": room_a, "room_b": room_b, "dana": dana, "lee": lee,
            "group": group}


def single(make, db, program, day=date(2027, 3, 1), start=time(18, 0), minutes=180, **kw):
    """A series that meets once, on `day` (New York time), and its one session."""
    series = make.series(program, start_date=day, end_date=day, rrule="FREQ=DAILY",
                         start_time=start, duration_minutes=minutes, **kw)
    return db.scalars(select(Session).where(Session.series_id == series.id)).one()


def ny(day: date, at: time) -> str:
    return datetime.combine(day, at, tzinfo=NEW_YORK).isoformat()


def series_body(clinic, **changes) -> dict:
    """A one-evening series at 19:00-20:00 on Monday 1 March; each test adds what clashes."""
    return {"program_id": clinic["program"].id, "kind": "group", "title": "Skills",
            "start_date": "2027-03-01", "end_date": "2027-03-01", "rrule": "FREQ=DAILY",
            "start_time": "19:00", "duration_minutes": 60, **changes}


def book(client, headers, session_id, client_id, **body):
    return client.post(f"{API}/sessions/{session_id}/bookings",
                       json={"client_id": client_id, **body}, headers=headers)


def conflicts_of(response) -> list[dict]:
    assert response.status_code == 409, response.json
    conflicts = response.json["conflicts"]
    assert conflicts
    for conflict in conflicts:
        assert set(conflict) >= CONFLICT_KEYS, conflict
        assert conflict["detail"]
    return conflicts


def kinds(response) -> list[tuple]:
    return sorted((c["kind"], c["session_id"]) for c in conflicts_of(response))


def count(model) -> int:
    _db.session.expire_all()
    return _db.session.scalar(select(func.count()).select_from(model))


# --- the client ------------------------------------------------------------------------------


def test_a_client_already_booked_at_that_time_gets_409_naming_the_session(
    client, headers, make, db, clinic
):
    """Booked into the 18:00 group, a client cannot also take a 19:00 session that evening."""
    person = make.client(clinic["program"])
    assert book(client, headers, clinic["group"].id, person.id).status_code == 201
    later = single(make, db, clinic["program"], start=time(19, 0), minutes=60,
                   kind="individual", room_id=clinic["room_b"].id)
    bookings = count(Booking)

    response = book(client, headers, later.id, person.id)

    [conflict] = conflicts_of(response)
    assert (conflict["kind"], conflict["session_id"]) == ("client", clinic["group"].id)
    assert datetime.fromisoformat(conflict["starts_at"]) == datetime.fromisoformat(
        ny(date(2027, 3, 1), time(18, 0)))
    assert datetime.fromisoformat(conflict["ends_at"]) == datetime.fromisoformat(
        ny(date(2027, 3, 1), time(21, 0)))
    assert str(clinic["group"].id) in conflict["detail"]
    assert count(Booking) == bookings


def test_the_409_body_has_only_fields_the_openapi_document_declares(
    client, headers, make, db, clinic
):
    """A client validating answers against /api/v1/openapi.json accepts the conflicts list."""
    person = make.client(clinic["program"])
    assert book(client, headers, clinic["group"].id, person.id).status_code == 201
    later = single(make, db, clinic["program"], start=time(19, 0), minutes=60,
                   kind="individual", room_id=clinic["room_b"].id)

    response = book(client, headers, later.id, person.id)

    document = client.get(f"{API}/openapi.json").json
    schemas = document["components"]["schemas"]

    def named(ref: dict) -> dict:
        return schemas[ref["$ref"].rsplit("/", 1)[1]]

    error = named(document["components"]["responses"]["DEFAULT_ERROR"]["content"]
                  ["application/json"]["schema"])
    assert set(response.json) <= set(error["properties"]), response.json
    clash = named(error["properties"]["conflicts"]["items"])
    for conflict in conflicts_of(response):
        assert set(conflict) <= set(clash["properties"]), conflict


def test_back_to_back_sessions_do_not_clash(client, headers, make, db, clinic):
    """A session ending at 21:00 leaves the client free for one starting at 21:00."""
    person = make.client(clinic["program"])
    book(client, headers, clinic["group"].id, person.id)
    after = single(make, db, clinic["program"], start=time(21, 0), minutes=60)
    before = single(make, db, clinic["program"], start=time(17, 0), minutes=60)
    assert book(client, headers, after.id, person.id).status_code == 201
    assert book(client, headers, before.id, person.id).status_code == 201


def test_a_waitlisted_or_cancelled_place_elsewhere_is_no_conflict(
    client, headers, make, db, clinic
):
    """Only a held seat commits the client; a queue place or a cancelled booking does not."""
    full = single(make, db, clinic["program"], start=time(17, 0), minutes=120, capacity=1)
    book(client, headers, full.id, make.client(clinic["program"]).id)
    person = make.client(clinic["program"])
    assert book(client, headers, full.id, person.id).json["status"] == "waitlisted"
    cancelled = single(make, db, clinic["program"], start=time(20, 0), minutes=120)
    seat = book(client, headers, cancelled.id, person.id).json
    client.delete(f"{API}/bookings/{seat['id']}", headers=headers)

    assert book(client, headers, clinic["group"].id, person.id).status_code == 201


def test_moving_a_session_onto_a_booked_clients_other_session_is_refused(
    client, headers, make, db, clinic
):
    """A move checks every client booked into the session against their other bookings."""
    person = make.client(clinic["program"])
    book(client, headers, clinic["group"].id, person.id)
    morning = single(make, db, clinic["program"], start=time(9, 0), minutes=60)
    book(client, headers, morning.id, person.id)

    response = client.patch(f"{API}/sessions/{morning.id}",
                            json={"starts_at": ny(date(2027, 3, 1), time(19, 0))},
                            headers=headers)

    assert kinds(response) == [("client", clinic["group"].id)]
    db.expire_all()
    assert db.get(Session, morning.id).starts_at == datetime.fromisoformat(
        ny(date(2027, 3, 1), time(9, 0)))


# --- staff -----------------------------------------------------------------------------------


def test_a_new_series_whose_facilitator_is_busy_gets_409(client, headers, clinic):
    """Dana leads the 18:00 group, so she cannot lead a 19:00 series that evening."""
    sessions = count(Session)
    response = client.post(f"{API}/series",
                           json=series_body(clinic, facilitator_ids=[clinic["dana"].id]),
                           headers=headers)
    assert kinds(response) == [("staff", clinic["group"].id)]
    assert count(Session) == sessions


def test_every_clashing_occurrence_is_listed_at_once(client, headers, make, db, clinic):
    """A weekly series that clashes on three Mondays lists all three conflicts."""
    weekly = make.series(clinic["program"], start_date=date(2027, 3, 8), end_date=date(2027, 3, 22),
                         rrule="FREQ=WEEKLY;BYDAY=MO", facilitator_ids=[clinic["lee"].id])
    theirs = db.scalars(select(Session.id).where(Session.series_id == weekly.id)).all()
    response = client.post(f"{API}/series", json=series_body(
        clinic, end_date="2027-03-31", rrule="FREQ=WEEKLY;BYDAY=MO",
        facilitator_ids=[clinic["lee"].id]), headers=headers)
    assert kinds(response) == sorted(("staff", sid) for sid in theirs)


def test_moving_a_session_onto_its_facilitators_other_session_is_refused(
    client, headers, make, db, clinic
):
    """Dana's morning session cannot move into her evening group."""
    morning = single(make, db, clinic["program"], start=time(9, 0), minutes=60,
                     facilitator_ids=[clinic["dana"].id])
    response = client.patch(f"{API}/sessions/{morning.id}",
                            json={"starts_at": ny(date(2027, 3, 1), time(20, 0))},
                            headers=headers)
    assert kinds(response) == [("staff", clinic["group"].id)]


def test_substituting_a_facilitator_who_is_busy_is_refused(client, headers, make, db, clinic):
    """Lee's 19:00 session cannot be handed to Dana, who is in her group then."""
    skills = single(make, db, clinic["program"], start=time(19, 0), minutes=60,
                    facilitator_ids=[clinic["lee"].id])
    response = client.patch(f"{API}/sessions/{skills.id}",
                            json={"facilitator_ids": [clinic["dana"].id]}, headers=headers)
    assert kinds(response) == [("staff", clinic["group"].id)]
    db.expire_all()
    assert [s.id for s in db.get(Session, skills.id).facilitators] == [clinic["lee"].id]


def test_re_timing_a_series_onto_its_facilitators_other_session_is_refused(
    client, headers, make, db, clinic
):
    """An edit that moves a series' occurrences is checked like a new series."""
    weekly = make.series(clinic["program"], start_date=date(2027, 3, 1), end_date=date(2027, 3, 1),
                         rrule="FREQ=DAILY", start_time=time(9, 0), duration_minutes=60,
                         facilitator_ids=[clinic["dana"].id])
    response = client.patch(f"{API}/series/{weekly.id}", json={"start_time": "18:30"},
                            headers=headers)
    assert kinds(response) == [("staff", clinic["group"].id)]
    db.expire_all()
    assert db.get(type(weekly), weekly.id).start_time == time(9, 0)


def test_re_timing_a_series_onto_an_enrolled_clients_other_session_is_refused(
    client, headers, make, db, clinic
):
    """The clients booked into a series move with it, so they are checked like a moved session."""
    weekly = make.series(clinic["program"], start_date=date(2027, 3, 1), end_date=date(2027, 3, 31),
                         rrule="FREQ=WEEKLY;BYDAY=MO", start_time=time(9, 0), duration_minutes=60)
    person = make.client(clinic["program"])
    enrolled = client.post(f"{API}/series/{weekly.id}/enrollments",
                           json={"client_id": person.id}, headers=headers)
    assert enrolled.status_code == 201, enrolled.json
    assert book(client, headers, clinic["group"].id, person.id).status_code == 201

    response = client.patch(f"{API}/series/{weekly.id}", json={"start_time": "18:30"},
                            headers=headers)

    assert kinds(response) == [("client", clinic["group"].id)]
    db.expire_all()
    assert db.get(type(weekly), weekly.id).start_time == time(9, 0)


def test_an_overridden_series_edit_is_audited_with_its_conflicts(
    client, headers, make, db, clinic
):
    """As on create, the edit's audit row keeps the reason and what was overridden."""
    weekly = make.series(clinic["program"], start_date=date(2027, 3, 1), end_date=date(2027, 3, 1),
                         rrule="FREQ=DAILY", start_time=time(9, 0), duration_minutes=60,
                         facilitator_ids=[clinic["dana"].id])
    response = client.patch(f"{API}/series/{weekly.id}", json={
        "start_time": "18:30", "override": True, "reason": "Joint session"}, headers=headers)
    assert response.status_code == 200, response.json
    event = db.scalars(select(AuditEvent).where(
        AuditEvent.entity_type == "series", AuditEvent.entity_id == weekly.id,
        AuditEvent.action == "update")).one()
    assert event.reason == "Joint session"
    assert [(c["kind"], c["session_id"]) for c in event.after["overridden_conflicts"]] == [
        ("staff", clinic["group"].id)]


def test_staff_time_off_is_a_conflict(client, headers, clinic):
    """Lee is away that day: a series he would lead answers 409 staff_time_off."""
    off = client.post(f"{API}/staff/{clinic['lee'].id}/time-off",
                      json={"starts_at": "2027-03-01T00:00:00-05:00",
                            "ends_at": "2027-03-02T00:00:00-05:00", "reason": "Training"},
                      headers=headers)
    assert off.status_code == 201, off.json

    response = client.post(f"{API}/series",
                           json=series_body(clinic, facilitator_ids=[clinic["lee"].id]),
                           headers=headers)

    [conflict] = conflicts_of(response)
    assert (conflict["kind"], conflict["session_id"]) == ("staff_time_off", None)
    assert datetime.fromisoformat(conflict["starts_at"]) == datetime.fromisoformat(
        "2027-03-01T00:00:00-05:00")
    assert "Training" in conflict["detail"]


def test_substituting_a_facilitator_who_is_off_is_refused(client, headers, clinic):
    """The time off also stops a substitution onto an existing session."""
    client.post(f"{API}/staff/{clinic['lee'].id}/time-off",
                json={"starts_at": "2027-03-01T17:00:00-05:00",
                      "ends_at": "2027-03-01T19:00:00-05:00"}, headers=headers)
    response = client.patch(f"{API}/sessions/{clinic['group'].id}",
                            json={"facilitator_ids": [clinic["lee"].id]}, headers=headers)
    assert kinds(response) == [("staff_time_off", None)]


def test_time_off_on_another_day_is_no_conflict(client, headers, clinic):
    client.post(f"{API}/staff/{clinic['lee'].id}/time-off",
                json={"starts_at": "2027-03-02T00:00:00-05:00",
                      "ends_at": "2027-03-03T00:00:00-05:00"}, headers=headers)
    response = client.post(f"{API}/series",
                           json=series_body(clinic, facilitator_ids=[clinic["lee"].id]),
                           headers=headers)
    assert response.status_code == 201, response.json


# --- rooms -----------------------------------------------------------------------------------


def test_a_room_in_use_is_a_conflict(client, headers, clinic):
    """Room A holds the 18:00 group; a 19:00 series cannot use it too."""
    response = client.post(f"{API}/series", json=series_body(clinic, room_id=clinic["room_a"].id),
                           headers=headers)
    assert kinds(response) == [("room", clinic["group"].id)]


def test_moving_a_session_into_a_room_in_use_is_refused(client, headers, make, db, clinic):
    skills = single(make, db, clinic["program"], start=time(19, 0), minutes=60,
                    room_id=clinic["room_b"].id)
    response = client.patch(f"{API}/sessions/{skills.id}",
                            json={"room_id": clinic["room_a"].id}, headers=headers)
    assert kinds(response) == [("room", clinic["group"].id)]


def test_a_room_and_a_facilitator_clash_are_listed_together(client, headers, clinic):
    response = client.post(f"{API}/series", json=series_body(
        clinic, room_id=clinic["room_a"].id, facilitator_ids=[clinic["dana"].id]),
        headers=headers)
    assert kinds(response) == [("room", clinic["group"].id), ("staff", clinic["group"].id)]


def test_virtual_sessions_without_a_room_never_clash_on_rooms(client, headers, make, db, clinic):
    """Two video sessions at the same time need no room, so there is nothing to double-book."""
    single(make, db, clinic["program"], start=time(19, 0), minutes=60,
           video_url="https://video.example/a")
    response = client.post(f"{API}/series",
                           json=series_body(clinic, video_url="https://video.example/b"),
                           headers=headers)
    assert response.status_code == 201, response.json


def test_a_cancelled_session_frees_its_room_and_staff(client, headers, clinic):
    """Once the 18:00 group is cancelled, room A and Dana are free for the evening."""
    client.patch(f"{API}/sessions/{clinic['group'].id}",
                 json={"status": "cancelled", "reason": "Snow"}, headers=headers)
    response = client.post(f"{API}/series", json=series_body(
        clinic, room_id=clinic["room_a"].id, facilitator_ids=[clinic["dana"].id]),
        headers=headers)
    assert response.status_code == 201, response.json


def test_restoring_a_cancelled_session_is_checked_again(client, headers, clinic):
    """A restore puts the session back in place, so it must not double-book what took it."""
    client.patch(f"{API}/sessions/{clinic['group'].id}",
                 json={"status": "cancelled", "reason": "Snow"}, headers=headers)
    taken = client.post(f"{API}/series", json=series_body(clinic, room_id=clinic["room_a"].id),
                        headers=headers).json
    response = client.patch(f"{API}/sessions/{clinic['group'].id}",
                            json={"status": "scheduled"}, headers=headers)
    taken_session = _db.session.scalar(select(Session.id).where(Session.series_id == taken["id"]))
    assert kinds(response) == [("room", taken_session)]


# --- the client's weekly routine -------------------------------------------------------------


def set_routine(client, headers, client_id, windows):
    response = client.put(f"{API}/clients/{client_id}/availability",
                          json={"unavailable": windows}, headers=headers)
    assert response.status_code == 200, response.json


def test_a_clients_working_hours_block_an_evening_group_that_overlaps_them(
    client, headers, make, clinic
):
    """Work Mon 09:00-19:00 blocks the Monday 18:00 group: 409 client_unavailable."""
    person = make.client(clinic["program"])
    set_routine(client, headers, person.id,
                [{"weekday": 0, "start": "09:00", "end": "19:00", "label": "Work"}])

    response = book(client, headers, clinic["group"].id, person.id)

    [conflict] = conflicts_of(response)
    assert (conflict["kind"], conflict["session_id"]) == ("client_unavailable", None)
    assert datetime.fromisoformat(conflict["starts_at"]) == datetime.fromisoformat(
        ny(date(2027, 3, 1), time(9, 0)))
    assert datetime.fromisoformat(conflict["ends_at"]) == datetime.fromisoformat(
        ny(date(2027, 3, 1), time(19, 0)))
    assert "Work" in conflict["detail"]


def test_a_routine_on_other_days_or_hours_is_no_conflict(client, headers, make, clinic):
    """Tuesday's school run and Monday's morning shift leave Monday 18:00-21:00 free."""
    person = make.client(clinic["program"])
    set_routine(client, headers, person.id, [
        {"weekday": 1, "start": "08:00", "end": "22:00"},
        {"weekday": 0, "start": "09:00", "end": "18:00"},
        {"weekday": 0, "start": "21:00", "end": "23:00"},
    ])
    assert book(client, headers, clinic["group"].id, person.id).status_code == 201


def test_the_routine_is_read_in_the_clients_program_zone(client, headers, make, db):
    """A Los Angeles client's Monday 09:00-17:00 shift blocks a 19:00 New York group (16:00 LA)."""
    east = make.program(timezone="America/New_York")
    west = make.program(timezone="America/Los_Angeles")
    group = single(make, db, east, start=time(19, 0), minutes=60)
    person = make.client(west)
    set_routine(client, headers, person.id, [{"weekday": 0, "start": "09:00", "end": "17:00"}])
    conflict = conflicts_of(book(client, headers, group.id, person.id))[0]
    assert conflict["kind"] == "client_unavailable"
    late = single(make, db, east, start=time(20, 0), minutes=60)  # 17:00 in Los Angeles
    assert book(client, headers, late.id, person.id).status_code == 201


# --- admission and discharge -----------------------------------------------------------------


def test_a_discharged_client_cannot_be_booked(client, headers, make, clinic):
    person = make.client(clinic["program"], admitted_on=date(2027, 1, 4),
                         discharged_on=date(2027, 2, 10))
    [conflict] = conflicts_of(book(client, headers, clinic["group"].id, person.id))
    assert (conflict["kind"], conflict["session_id"]) == ("client_status", None)
    assert "discharged" in conflict["detail"]


def test_a_client_cannot_be_booked_before_their_admission(client, headers, make, db, clinic):
    person = make.client(clinic["program"], admitted_on=date(2027, 3, 2))
    [conflict] = conflicts_of(book(client, headers, clinic["group"].id, person.id))
    assert conflict["kind"] == "client_status"
    assert "2027-03-02" in conflict["detail"]
    tuesday = single(make, db, clinic["program"], day=date(2027, 3, 2))
    assert book(client, headers, tuesday.id, person.id).status_code == 201


# --- overrides -------------------------------------------------------------------------------


def test_an_override_with_a_reason_books_anyway_and_is_audited(
    client, headers, make, db, clinic, coordinator
):
    """A coordinator may knowingly double-book; the audit keeps why and what was overridden."""
    person = make.client(clinic["program"])
    book(client, headers, clinic["group"].id, person.id)
    later = single(make, db, clinic["program"], start=time(19, 0), minutes=60, kind="medical")

    why = "Prescriber only free then; client leaves group early"
    response = book(client, headers, later.id, person.id, override=True, reason=why)

    assert response.status_code == 201, response.json
    assert response.json["status"] == "booked"
    assert response.json["override_reason"] == why
    event = db.scalars(select(AuditEvent).where(
        AuditEvent.entity_type == "booking", AuditEvent.entity_id == response.json["id"])).one()
    assert event.actor_user_id == coordinator.id
    assert event.reason == why
    [overridden] = event.after["overridden_conflicts"]
    assert (overridden["kind"], overridden["session_id"]) == ("client", clinic["group"].id)


def test_an_override_of_a_series_conflict_is_audited_on_the_series(
    client, headers, db, clinic
):
    response = client.post(f"{API}/series", json=series_body(
        clinic, room_id=clinic["room_a"].id, override=True, reason="Group splits the room"),
        headers=headers)
    assert response.status_code == 201, response.json
    event = db.scalars(select(AuditEvent).where(
        AuditEvent.entity_type == "series", AuditEvent.entity_id == response.json["id"])).one()
    assert event.reason == "Group splits the room"
    assert [c["kind"] for c in event.after["overridden_conflicts"]] == ["room"]


def test_an_override_of_a_session_move_is_audited_on_the_session(
    client, headers, make, db, clinic
):
    morning = single(make, db, clinic["program"], start=time(9, 0), minutes=60,
                     facilitator_ids=[clinic["dana"].id])
    response = client.patch(f"{API}/sessions/{morning.id}", json={
        "starts_at": ny(date(2027, 3, 1), time(20, 0)), "override": True,
        "reason": "Co-facilitated"}, headers=headers)
    assert response.status_code == 200, response.json
    event = db.scalars(select(AuditEvent).where(
        AuditEvent.entity_type == "session", AuditEvent.entity_id == morning.id,
        AuditEvent.action == "override")).one()
    assert event.reason == "Co-facilitated"
    assert [c["kind"] for c in event.after["overridden_conflicts"]] == ["staff"]


def test_an_override_with_nothing_to_override_leaves_no_trace_of_one(
    client, headers, make, db, clinic
):
    """Without a conflict the override flag changes nothing: no override_reason is stored."""
    person = make.client(clinic["program"])
    response = book(client, headers, clinic["group"].id, person.id, override=True,
                    reason="Just in case")
    assert response.status_code == 201
    assert response.json["override_reason"] is None


@pytest.mark.parametrize("body", [{"override": True}, {"override": True, "reason": ""},
                                  {"override": True, "reason": "   "}],
                         ids=["missing", "empty", "blank"])
def test_an_override_without_a_reason_is_refused_naming_reason(
    client, headers, make, db, clinic, body
):
    person = make.client(clinic["program"])
    book(client, headers, clinic["group"].id, person.id)
    later = single(make, db, clinic["program"], start=time(19, 0), minutes=60)
    bookings = count(Booking)

    booking = book(client, headers, later.id, person.id, **body)
    series = client.post(f"{API}/series", json=series_body(
        clinic, room_id=clinic["room_a"].id, **body), headers=headers)
    move = client.patch(f"{API}/sessions/{later.id}", json={
        "room_id": clinic["room_a"].id, **body}, headers=headers)
    edit = client.patch(f"{API}/series/{clinic['group'].series_id}", json={
        "room_id": clinic["room_a"].id, **body}, headers=headers)
    one_off = client.post(f"{API}/sessions", json={
        "program_id": clinic["program"].id, "kind": "individual", "room_id": clinic["room_a"].id,
        "starts_at": later.starts_at.isoformat(), "ends_at": later.ends_at.isoformat(), **body},
        headers=headers)
    enrol = client.post(f"{API}/series/{clinic['group'].series_id}/enrollments",
                        json={"client_id": person.id, **body}, headers=headers)

    for response in (booking, series, move, edit, one_off, enrol):
        assert response.status_code == 422, response.json
        assert "reason" in response.json["errors"]["json"]
    assert count(Booking) == bookings


def test_an_override_reason_is_kept_without_its_surrounding_spaces(
    client, headers, make, db, clinic
):
    """The API and the pages keep the same reason for the same words (the pages stripped it)."""
    person = make.client(clinic["program"])
    book(client, headers, clinic["group"].id, person.id)
    later = single(make, db, clinic["program"], start=time(19, 0), minutes=60, kind="medical")
    response = book(client, headers, later.id, person.id, override=True,
                    reason="  Prescriber only free then ")
    assert response.status_code == 201, response.json
    assert response.json["override_reason"] == "Prescriber only free then"


def test_an_override_is_one_checked_reason():
    from scheduler.services.errors import InvalidField
    from scheduler.services.overrides import MAX_REASON, Override

    assert Override("  Shared room ").reason == "Shared room"
    assert Override.given(False, None) is None
    assert Override.given(True, "Why") == Override("Why")
    for bad in (None, "", "   ", "x" * (MAX_REASON + 1)):
        with pytest.raises(InvalidField) as refused:
            Override(bad)
        assert list(refused.value.fields) == ["reason"]
    with pytest.raises(InvalidField) as refused:
        Override.given(True, " ", field="override_reason", missing="Say why.")
    assert refused.value.fields == {"override_reason": ["Say why."]}


def test_a_refused_conflict_writes_nothing(client, headers, make, clinic):
    """The 409 leaves bookings, sessions and the audit trail as they were."""
    person = make.client(clinic["program"])
    set_routine(client, headers, person.id, [{"weekday": 0, "start": "00:00", "end": "23:59"}])
    before = (count(Booking), count(Session), count(AuditEvent))
    assert book(client, headers, clinic["group"].id, person.id).status_code == 409
    assert client.post(f"{API}/series", json=series_body(clinic, room_id=clinic["room_a"].id),
                       headers=headers).status_code == 409
    assert (count(Booking), count(Session), count(AuditEvent)) == before


def test_a_calendar_read_once_for_many_judges_each_as_their_own_check_does(make, db, clinic,
                                                                           now):
    """The planner reads one Calendar for a cohort; each client, team and room must be judged
    exactly as the one-person checks judge them, and nothing outside what was read."""
    program, group = clinic["program"], clinic["group"]
    late = single(make, db, program, start=time(20, 0), minutes=60,
                  room_id=clinic["room_b"].id, facilitator_ids=[clinic["lee"].id])
    people = [make.client(program, name=name) for name in ("Jordan Lee", "Sam Novak",
                                                           "Alex Kim")]
    booking.book_client(db, ACTOR, group.id, people[0].id, now=now)
    booking.book_client(db, ACTOR, late.id, people[1].id, now=now)
    availability.set_client_windows(db, ACTOR, people[2].id, [
        {"weekday": 0, "start": time(17), "end": time(19), "label": "work"}])
    db.commit()
    monday = date(2027, 3, 1)
    slots = [Slot(datetime.combine(monday, time(h), tzinfo=NEW_YORK),
                  datetime.combine(monday, time(h + 1), tzinfo=NEW_YORK), None,
                  "America/New_York") for h in (16, 18, 20)]
    staff_ids = [clinic["dana"].id, clinic["lee"].id]
    rooms = [clinic["room_a"].id, clinic["room_b"].id]

    calendar = Calendar(db, slots[0].starts_at, slots[-1].ends_at, clients=people,
                        staff_ids=staff_ids, room_ids=rooms)

    for person in people:
        assert calendar.client_clashes(person, slots) == client_clashes(db, person, slots)
    assert calendar.staff_clashes(staff_ids, slots) == staff_clashes(db, staff_ids, slots)
    for room_id in rooms:
        assert calendar.room_clashes(room_id, slots) == room_clashes(db, room_id, slots)
    # Not vacuous: each kind of busy time is found, at the slots it overlaps.
    assert [(c.kind, c.slot.starts_at.hour) for person in people
            for c in calendar.client_clashes(person, slots)] == [
        ("client", 18), ("client", 20), ("client", 20), ("client_unavailable", 18)]
    assert [(c.kind, c.slot.starts_at.hour)
            for c in calendar.staff_clashes(staff_ids, slots)] == [
        ("staff", 18), ("staff", 20), ("staff", 20)]
    # What was not read is refused, not judged free.
    with pytest.raises(ValueError):
        calendar.client_clashes(make.client(program), slots)
    after = slots[-1].ends_at
    with pytest.raises(ValueError):
        calendar.room_clashes(clinic["room_a"].id, [Slot(after, after.replace(hour=23))])
