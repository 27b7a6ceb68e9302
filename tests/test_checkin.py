"""Self check-in: the room's six-digit code, open from 30 minutes before the start to the end."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from scheduler import clock
from scheduler.models import Attendance, AuditEvent
from scheduler.services import booking, sessions
from tests.helpers import ACTOR

API = "/api/v1"
# The group meets Tue 2027-02-16 18:00–21:00 New York: 23:00–02:00 UTC.
START = datetime(2027, 2, 16, 23, 0, tzinfo=UTC)
END = START + timedelta(hours=3)


@pytest.fixture
def program(make):
    return make.program(name="Evening IOP")


@pytest.fixture
def member(make, program):
    """A client login booked into tonight's group."""
    return make.user("client", client_id=make.client(program).id)


@pytest.fixture
def tonight(db, program, member):
    session = sessions.create_one_off(db, ACTOR, now=clock.now(), program_id=program.id,
                                      kind="group", starts_at=START, ends_at=END, capacity=12)
    booking.book_client(db, ACTOR, session.id, member.client_id, now=clock.now())
    db.commit()
    return session


@pytest.fixture
def code(client, auth, tonight):
    return client.get(f"{API}/sessions/{tonight.id}/checkin-code",
                      headers=auth("clinician")).json["code"]


def check_in(client, auth, user, code, at):
    """POST /checkin as `user` at instant `at`, with a token fresh at that instant."""
    with clock.frozen(at):
        return client.post(f"{API}/checkin", json={"code": code}, headers=auth.for_user(user))


def rows(db) -> tuple[int, int]:
    db.expire_all()
    return (db.scalar(select(func.count(Attendance.id))),
            db.scalar(select(func.count(AuditEvent.id))))


def test_the_room_code_is_six_digits_valid_from_half_an_hour_before_to_the_end(
    client, auth, tonight
):
    body = client.get(f"{API}/sessions/{tonight.id}/checkin-code",
                      headers=auth("clinician")).json
    assert body["session_id"] == tonight.id
    assert len(body["code"]) == 6 and body["code"].isdigit()
    assert datetime.fromisoformat(body["valid_from"]) == START - timedelta(minutes=30)
    assert datetime.fromisoformat(body["valid_until"]) == END


def test_a_booked_client_checking_in_before_the_start_is_present(client, auth, db, member,
                                                                 tonight, code):
    at = START - timedelta(minutes=10)
    response = check_in(client, auth, member, code, at)
    assert response.status_code == 200, response.json
    body = response.json
    assert (body["status"], body["method"], body["client_id"]) == ("present", "self",
                                                                   member.client_id)
    assert datetime.fromisoformat(body["arrived_at"]) == at
    assert body["minutes_attended"] == 180
    event = db.scalars(select(AuditEvent).where(AuditEvent.entity_type == "attendance")).one()
    assert (event.actor_user_id, event.occurred_at) == (member.id, at)


def test_checking_in_within_the_grace_period_is_still_present(client, auth, member, code):
    response = check_in(client, auth, member, code, START + timedelta(minutes=10))
    assert (response.status_code, response.json["status"]) == (200, "present")


def test_checking_in_after_the_grace_period_is_late(client, auth, member, code):
    """Ten minutes of grace; at 18:25 the client is late and misses 25 of 180 minutes."""
    response = check_in(client, auth, member, code, START + timedelta(minutes=25))
    assert response.status_code == 200, response.json
    assert (response.json["status"], response.json["minutes_attended"]) == ("late", 155)


def test_checking_in_twice_changes_nothing(client, auth, db, member, code):
    first = check_in(client, auth, member, code, START - timedelta(minutes=5))
    before = rows(db)
    again = check_in(client, auth, member, code, START + timedelta(minutes=40))
    assert again.status_code == 200
    assert again.json == first.json
    assert rows(db) == before


def test_a_wrong_code_is_refused_naming_the_code(client, auth, db, member, code):
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    response = check_in(client, auth, member, wrong, START)
    assert response.status_code == 422
    assert "code" in response.json["errors"]["json"]
    assert rows(db)[0] == 0


@pytest.mark.parametrize("bad", ["12345", "1234567", "abcdef", "", " 12345"])
def test_a_malformed_code_is_refused_naming_the_code(client, auth, member, bad):
    response = check_in(client, auth, member, bad, START)
    assert response.status_code == 422
    assert "code" in response.json["errors"]["json"]


@pytest.mark.parametrize("at", [START - timedelta(minutes=31), END + timedelta(minutes=1)],
                         ids=["too early", "after the end"])
def test_outside_the_window_check_in_is_refused_with_a_clear_message(client, auth, db, member,
                                                                     code, at):
    response = check_in(client, auth, member, code, at)
    assert response.status_code == 409
    assert "30 minutes before the start" in response.json["message"]
    assert rows(db)[0] == 0


def test_the_window_opens_thirty_minutes_before_and_closes_at_the_end(client, auth, make,
                                                                      program, db, tonight,
                                                                      member, code):
    assert check_in(client, auth, member, code, START - timedelta(minutes=30)).status_code == 200
    other = make.user("client", client_id=make.client(program).id)
    booking.book_client(db, ACTOR, tonight.id, other.client_id, now=clock.now())
    db.commit()
    closing = check_in(client, auth, other, code, END)
    assert (closing.status_code, closing.json["status"]) == (200, "late")


def test_a_client_not_booked_into_the_session_is_refused(client, auth, db, make, program,
                                                         code):
    stranger = make.user("client", client_id=make.client(program).id)
    response = check_in(client, auth, stranger, code, START)
    assert response.status_code == 409
    assert rows(db)[0] == 0


@pytest.mark.parametrize("role", ["clinician", "coordinator", "admin"])
def test_staff_may_not_self_check_in(client, auth, code, role):
    with clock.frozen(START):
        response = client.post(f"{API}/checkin", json={"code": code}, headers=auth(role))
    assert response.status_code == 403


def test_an_anonymous_check_in_answers_401(client, code):
    with clock.frozen(START):
        assert client.post(f"{API}/checkin", json={"code": code}).status_code == 401
