"""Appointment _lastUpdated, each kind of change (issue 20, an EHR's "what changed since my last
poll"): a lower bound reads candidate bookings from indexes (fhir/appointments.py,
_changed_since) and keeps the exact computed condition on top, so every answer here must equal
the full search filtered by each Appointment's own meta.lastUpdated.

After the world (tests/fhir_world.py, built by 12:00 UTC Tue 16 February):
12:30 Avery's late one-off booking is cancelled (a booking changed); 13:00 Avery's session
"now", where she checked in, ends (she turns fulfilled); 13:30 Wednesday's group moves an hour
later (a session changed: Avery, Blake and Dylan, Casey has no consent); 14:00 Avery is marked
present on Monday the 15th (attendance she consented to show), and Blake is marked present on
Monday the 8th (attendance his consent does not cover: not a change he is shown). The searches
run at 15:00.
"""

from datetime import UTC, datetime, timedelta

import pytest

from scheduler import clock
from scheduler.services import attendance, booking, sessions
from tests.fhir_world import build, consent, token
from tests.helpers import ACTOR
from tests.test_fhir_appointments import search_all

AT = datetime(2027, 2, 16, 12, 30, tzinfo=UTC)
ENDED = datetime(2027, 2, 16, 13, 0, tzinfo=UTC)
MOVED = datetime(2027, 2, 16, 13, 30, tzinfo=UTC)
MARKED = datetime(2027, 2, 16, 14, 0, tzinfo=UTC)
LATER = datetime(2027, 2, 16, 15, 0, tzinfo=UTC)


@pytest.fixture
def world(db, make):
    world = build(db, make)
    consent(db, world, "avery", ["appointments", "attendance"])
    consent(db, world, "blake", ["appointments"])
    consent(db, world, "dylan", ["appointments"])
    with clock.frozen(AT):
        booking.cancel_booking(db, ACTOR, world.bookings[("avery", "late")], now=AT)
        db.commit()
    assert world.one_offs["now"].ends_at == ENDED
    wed17 = world.sessions["wed17"]
    with clock.frozen(MOVED):
        sessions.change_session(db, ACTOR, wed17, {
            "starts_at": wed17.starts_at + timedelta(hours=1),
            "ends_at": wed17.ends_at + timedelta(hours=1)}, reason="Room B is painted")
        db.commit()
    with clock.frozen(MARKED):
        for key, person in (("mon15", "avery"), ("mon8", "blake")):
            attendance.record_roster(
                db, ACTOR, "coordinator", world.sessions[key].id,
                [{"client_id": world.people[person].id, "status": "present"}], now=MARKED,
                policy=attendance.Policy(), reason="Marked late from the paper sheet")
        db.commit()
    return world


@pytest.fixture
def kipu(db, world):
    return token(db, world.kipu, at=LATER)


def ids(client, query, headers) -> set[int]:
    with clock.frozen(LATER):
        return {int(item["id"]) for item in search_all(client, query, headers)}


def expected(client, headers, keep, query="") -> set[int]:
    """The full search's Appointments whose own meta.lastUpdated `keep` accepts."""
    with clock.frozen(LATER):
        found = search_all(client, query, headers)
    return {int(item["id"]) for item in found if keep(item["meta"]["lastUpdated"])}


def test_each_kind_of_change_is_found_from_its_lower_bound(client, world, kipu):
    booked = world.bookings
    late, now = booked[("avery", "late")], booked[("avery", "now")]
    wed17 = {booked[(person, "wed17")] for person in ("avery", "blake", "dylan")}
    mon15 = booked[("avery", "mon15")]
    assert ids(client, "_lastUpdated=ge2027-02-16T12:15:00Z", kipu) == {late, now, mon15,
                                                                       *wed17}
    assert ids(client, "_lastUpdated=ge2027-02-16T12:45:00Z", kipu) == {now, mon15, *wed17}
    # The session ended at 13:00:00 exactly: ge that second finds it, gt it does not.
    assert ids(client, "_lastUpdated=ge2027-02-16T13:00:00Z", kipu) == {now, mon15, *wed17}
    assert ids(client, "_lastUpdated=gt2027-02-16T13:00:00Z", kipu) == {mon15, *wed17}
    assert ids(client, "_lastUpdated=ge2027-02-16T13:45:00Z", kipu) == {mon15}
    assert ids(client, "_lastUpdated=eq2027-02-16T14:00:00Z", kipu) == {mon15}
    assert ids(client, "_lastUpdated=ge2027-02-16T14:30:00Z", kipu) == set()
    # Blake's attendance changed at 14:00, but his consent does not show attendance.
    assert booked[("blake", "mon8")] not in ids(client, "_lastUpdated=ge2027-02-16T13:45Z",
                                                kipu)


def test_the_status_a_change_leaves_is_what_the_answer_shows(client, world, kipu):
    with clock.frozen(LATER):
        found = {int(item["id"]): (item["status"], item["meta"]["lastUpdated"]) for item in
                 search_all(client, "_lastUpdated=ge2027-02-16T12:15:00Z", kipu)}
    booked = world.bookings
    assert found[booked[("avery", "late")]] == ("cancelled", "2027-02-16T12:30:00Z")
    assert found[booked[("avery", "now")]] == ("fulfilled", "2027-02-16T13:00:00Z")
    assert found[booked[("avery", "wed17")]] == ("booked", "2027-02-16T13:30:00Z")
    assert found[booked[("dylan", "wed17")]] == ("waitlist", "2027-02-16T13:30:00Z")
    assert found[booked[("avery", "mon15")]] == ("fulfilled", "2027-02-16T14:00:00Z")


@pytest.mark.parametrize("query, keep", [
    ("_lastUpdated=ge2027-02-16T12:15:00Z", lambda at: at >= "2027-02-16T12:15:00Z"),
    ("_lastUpdated=gt2027-02-16T13:00:00Z", lambda at: at >= "2027-02-16T13:00:01Z"),
    ("_lastUpdated=ge2027-02-16", lambda at: at >= "2027-02-16"),
    ("_lastUpdated=ge2027-02-15T07:00:00-05:00", lambda at: at >= "2027-02-15T12:00:00Z"),
    ("_lastUpdated=gt2027-02-01", lambda at: at >= "2027-02-02"),
    ("_lastUpdated=ge2020-01-01", lambda at: True),
    ("_lastUpdated=le2027-02-16T13:00:00Z", lambda at: at < "2027-02-16T13:00:01Z"),
    ("_lastUpdated=lt2027-02-16T13:30:00Z", lambda at: at < "2027-02-16T13:30:00Z"),
    ("_lastUpdated=ge2027-02-16T12:45:00Z&_lastUpdated=le2027-02-16T13:45:00Z",
     lambda at: "2027-02-16T12:45:00Z" <= at < "2027-02-16T13:45:01Z"),
    ("_lastUpdated=ge2027-02-16T12:00:00Z&_lastUpdated=gt2027-02-16T13:00:00Z",
     lambda at: at >= "2027-02-16T13:00:01Z"),
    ("_lastUpdated=ge2027-02-17", lambda at: False),
])
def test_every_bound_answers_exactly_what_the_full_search_shows(client, world, kipu, query,
                                                                 keep):
    assert ids(client, query, kipu) == expected(client, kipu, keep)


@pytest.mark.parametrize("extra", [
    "patient={avery}", "patient={blake}", "status=fulfilled", "status=booked,waitlist",
    "status=cancelled", "date=ge2027-02-17", "patient={avery}&date=lt2027-02-17&_count=1",
])
def test_a_lower_bound_with_other_parameters_narrows_the_same_way(client, world, kipu, extra):
    extra = extra.format(avery=world.people["avery"].id, blake=world.people["blake"].id)
    bound = "_lastUpdated=ge2027-02-16T12:15:00Z"
    assert ids(client, f"{bound}&{extra}", kipu) == expected(
        client, kipu, lambda at: at >= "2027-02-16T12:15:00Z", extra)
