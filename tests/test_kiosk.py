"""The front-desk kiosk PIN, and the pause after repeated wrong PINs or room codes."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from scheduler import clock
from scheduler.models import Attendance, AuditEvent, Client
from scheduler.services import booking, sessions
from tests.helpers import ACTOR

API = "/api/v1"
START = datetime(2027, 2, 16, 23, 0, tzinfo=UTC)  # Tue 18:00 New York
END = START + timedelta(hours=3)
AT_THE_DOOR = START - timedelta(minutes=10)


@pytest.fixture
def program(make):
    return make.program(name="Evening IOP")


@pytest.fixture
def member(make, program):
    return make.user("client", client_id=make.client(program).id)


@pytest.fixture
def tonight(db, program, member):
    session = sessions.create_one_off(db, ACTOR, now=clock.now(), program_id=program.id,
                                      kind="group", starts_at=START, ends_at=END, capacity=12)
    booking.book_client(db, ACTOR, session.id, member.client_id, now=clock.now())
    db.commit()
    return session


def set_pin(client, headers, client_id, pin):
    return client.put(f"{API}/clients/{client_id}/kiosk-pin", json={"pin": pin}, headers=headers)


def at_kiosk(client, auth, client_id, pin, at=AT_THE_DOOR):
    with clock.frozen(at):
        return client.post(f"{API}/kiosk/checkin", json={"client_id": client_id, "pin": pin},
                           headers=auth("clinician"))


def test_a_client_checks_in_at_the_front_desk_with_their_pin(client, auth, db, member, tonight):
    assert set_pin(client, auth.for_user(member), member.client_id, "4821").status_code == 204
    answer = at_kiosk(client, auth, member.client_id, "4821")
    assert answer.status_code == 200, answer.json
    assert (answer.json["status"], answer.json["method"]) == ("present", "kiosk")
    event = db.scalars(select(AuditEvent).where(AuditEvent.entity_type == "attendance")).one()
    assert event.after["method"] == "kiosk" and event.actor.startswith("clinician")
    stored = db.get(Client, member.client_id)
    assert stored.kiosk_pin_hash and "4821" not in stored.kiosk_pin_hash


def test_a_wrong_pin_is_refused_and_checks_nobody_in(client, auth, db, member, tonight):
    set_pin(client, auth("coordinator"), member.client_id, "4821")
    answer = at_kiosk(client, auth, member.client_id, "1111")
    assert answer.status_code == 422
    assert "pin" in answer.json["errors"]["json"]
    assert db.scalar(select(Attendance.id)) is None


def test_repeated_wrong_pins_get_429_with_retry_after(client, auth, member, tonight):
    set_pin(client, auth("coordinator"), member.client_id, "4821")
    answers = [at_kiosk(client, auth, member.client_id, "0000").status_code for _ in range(4)]
    fifth = at_kiosk(client, auth, member.client_id, "0000")
    assert answers == [422] * 4
    assert fifth.status_code == 429
    assert int(fifth.headers["Retry-After"]) > 0
    # Even the right PIN waits out the pause, so guessing gains nothing.
    assert at_kiosk(client, auth, member.client_id, "4821").status_code == 429
    later = AT_THE_DOOR + timedelta(minutes=2)
    assert at_kiosk(client, auth, member.client_id, "4821", at=later).status_code == 200


def test_repeated_wrong_room_codes_pause_self_check_in_too(client, auth, member, tonight):
    real = client.get(f"{API}/sessions/{tonight.id}/checkin-code",
                      headers=auth("clinician")).json["code"]
    wrong = [c for c in (f"{n:06d}" for n in range(10)) if c != real][:5]
    with clock.frozen(AT_THE_DOOR):
        headers = auth.for_user(member)
        answers = [client.post(f"{API}/checkin", json={"code": c}, headers=headers)
                   for c in wrong]
        after = client.post(f"{API}/checkin", json={"code": real}, headers=headers)
    assert [a.status_code for a in answers] == [422] * 4 + [429]
    assert after.status_code == 429


def test_the_kiosk_reveals_nothing_about_unknown_clients(client, auth, tonight):
    answer = at_kiosk(client, auth, 99999, "4821")
    assert answer.status_code == 422
    assert answer.json["errors"]["json"]["pin"] == ["does not match."]


@pytest.mark.parametrize("pin", ["123", "1234567", "12a4", ""])
def test_a_pin_must_be_four_to_six_digits(client, auth, member, pin):
    answer = set_pin(client, auth("coordinator"), member.client_id, pin)
    assert answer.status_code == 422
    assert "pin" in answer.json["errors"]["json"]


def test_only_the_client_or_staff_set_a_pin(client, auth, make, member):
    """The front desk is any staff member, as on the client page; another client is refused."""
    other = make.user("client")
    assert set_pin(client, auth.for_user(other), member.client_id, "4821").status_code == 403
    for role in ("clinician", "coordinator", "admin"):
        assert set_pin(client, auth(role), member.client_id, "4821").status_code == 204


def test_clients_cannot_use_the_kiosk_endpoint_themselves(client, auth, member, tonight):
    with clock.frozen(AT_THE_DOOR):
        answer = client.post(f"{API}/kiosk/checkin", json={"client_id": member.client_id,
                                                           "pin": "4821"},
                             headers=auth.for_user(member))
    assert answer.status_code == 403
