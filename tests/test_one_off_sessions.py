"""One-off sessions: individual therapy or a medication review outside any series."""

import pytest
from sqlalchemy import select

from scheduler.models import AuditEvent, Booking

API = "/api/v1"


@pytest.fixture
def clinic(make):
    program = make.program()
    return {
        "program": program,
        "therapist": make.staff(),
        "office": make.room(name="Office 1", capacity=2),
        "client": make.client(program),
    }


def individual(clinic, **overrides):
    body = {
        "program_id": clinic["program"].id,
        "kind": "individual",
        "starts_at": "2027-03-02T10:00:00-05:00",
        "ends_at": "2027-03-02T10:50:00-05:00",
        "room_id": clinic["office"].id,
        "facilitator_ids": [clinic["therapist"].id],
        "client_id": clinic["client"].id,
    }
    body.update(overrides)
    return body


def test_an_individual_session_is_made_and_the_client_booked_at_once(client, auth, clinic, db):
    answer = client.post(f"{API}/sessions", json=individual(clinic), headers=auth("coordinator"))
    assert answer.status_code == 201, answer.json
    body = answer.json
    assert body["series_id"] is None
    assert (body["kind"], body["capacity"], body["booked_count"]) == ("individual", 1, 1)
    # A neutral title: nothing on a shared screen or calendar says what the treatment is.
    assert body["title"] == "Individual session"
    assert body["starts_at"] == "2027-03-02T10:00:00-05:00"
    seat = db.scalar(select(Booking).where(Booking.session_id == body["id"]))
    assert (seat.client_id, seat.status) == (clinic["client"].id, "booked")


def test_a_therapist_cannot_be_given_two_clients_at_the_same_hour(client, auth, clinic, make):
    headers = auth("coordinator")
    first = client.post(f"{API}/sessions", json=individual(clinic), headers=headers)
    assert first.status_code == 201
    other = make.client(clinic["program"])
    second = client.post(
        f"{API}/sessions",
        json=individual(clinic, client_id=other.id, room_id=None,
                        starts_at="2027-03-02T10:30:00-05:00",
                        ends_at="2027-03-02T11:20:00-05:00"),
        headers=headers,
    )
    assert second.status_code == 409
    assert [c["kind"] for c in second.json["conflicts"]] == ["staff"]


def test_an_override_books_the_clash_anyway_and_keeps_the_reason(client, auth, clinic, db):
    headers = auth("coordinator")
    client.post(f"{API}/sessions", json=individual(clinic), headers=headers)
    again = client.post(
        f"{API}/sessions",
        json=individual(clinic, client_id=None, override=True, reason="Crisis slot"),
        headers=headers,
    )
    assert again.status_code == 201, again.json
    event = db.scalar(select(AuditEvent).where(AuditEvent.entity_type == "session",
                                               AuditEvent.entity_id == again.json["id"]))
    assert event.reason == "Crisis slot"
    assert {c["kind"] for c in event.after["overridden_conflicts"]} == {"room", "staff"}


@pytest.mark.parametrize("change, field", [
    ({"starts_at": "2027-02-01T10:00:00-05:00", "ends_at": "2027-02-01T10:50:00-05:00"},
     "starts_at"),
    ({"ends_at": "2027-03-02T09:00:00-05:00"}, "ends_at"),
    ({"kind": "therapy"}, "kind"),
    ({"program_id": 999}, "program_id"),
    ({"room_id": 999}, "room_id"),
    ({"client_id": 999}, "client_id"),
    ({"capacity": 3}, "capacity"),
])
def test_bad_one_off_sessions_are_refused_naming_the_field(client, auth, clinic, change, field):
    answer = client.post(f"{API}/sessions", json=individual(clinic, **change),
                         headers=auth("coordinator"))
    assert answer.status_code == 422, answer.json
    assert field in answer.json["errors"]["json"]


def test_a_clinician_may_not_create_sessions(client, auth, clinic):
    answer = client.post(f"{API}/sessions", json=individual(clinic), headers=auth("clinician"))
    assert answer.status_code == 403
