"""When people cannot be booked: a client's weekly routine and staff time off."""

import pytest
from sqlalchemy import func, select

from scheduler.extensions import db as _db
from scheduler.models import AuditEvent, ClientUnavailability, StaffTimeOff

API = "/api/v1"


@pytest.fixture
def coordinator(make):
    return make.user("coordinator")


@pytest.fixture
def headers(auth, coordinator):
    return auth.for_user(coordinator)


@pytest.fixture
def person(make):
    return make.client()


@pytest.fixture
def staff(make):
    return make.staff(name="Dana")


def put(client, headers, client_id, windows):
    return client.put(f"{API}/clients/{client_id}/availability", json={"unavailable": windows},
                      headers=headers)


def count(model) -> int:
    _db.session.expire_all()
    return _db.session.scalar(select(func.count()).select_from(model))


ROUTINE = [
    {"weekday": 4, "start": "15:00", "end": "17:30", "label": "School pick-up"},
    {"weekday": 0, "start": "09:00", "end": "17:00", "label": "Work"},
    {"weekday": 2, "start": "09:00", "end": "17:00", "label": None},
]


# --- a client's weekly routine ---------------------------------------------------------------


def test_a_clients_routine_reads_back_as_it_was_put(client, headers, person):
    """PUT then GET round-trips the windows, in weekday order."""
    response = put(client, headers, person.id, ROUTINE)

    assert response.status_code == 200, response.json
    expected = sorted(ROUTINE, key=lambda w: (w["weekday"], w["start"]))
    assert response.json == {"unavailable": expected, "preferred": []}
    read = client.get(f"{API}/clients/{person.id}/availability", headers=headers)
    assert (read.status_code, read.json) == (200, {"unavailable": expected, "preferred": []})


def test_a_new_client_has_no_windows(client, headers, person):
    body = client.get(f"{API}/clients/{person.id}/availability", headers=headers).json
    assert body == {"unavailable": [], "preferred": []}


def test_put_replaces_the_whole_routine(client, headers, person):
    """A new job: the old windows go, the new ones stay; an empty list clears everything."""
    put(client, headers, person.id, ROUTINE)
    newer = [{"weekday": 1, "start": "07:00", "end": "15:00", "label": "New job"}]

    assert put(client, headers, person.id, newer).json == {"unavailable": newer, "preferred": []}
    assert count(ClientUnavailability) == 1
    assert put(client, headers, person.id, []).json == {"unavailable": [], "preferred": []}
    assert count(ClientUnavailability) == 0


def test_a_routine_change_is_audited_and_a_repeat_is_not(client, headers, person, coordinator):
    put(client, headers, person.id, ROUTINE[:1])
    put(client, headers, person.id, ROUTINE[:1])
    events = _db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "set_availability")).all()
    assert len(events) == 1
    event = events[0]
    assert (event.entity_type, event.entity_id, event.actor_user_id) == (
        "client", person.id, coordinator.id)
    assert event.before == {"unavailable": []}
    assert event.after == {"unavailable": ROUTINE[:1]}


@pytest.mark.parametrize(
    ("window", "field"),
    [
        ({"weekday": 0, "start": "17:00", "end": "09:00"}, "end"),
        ({"weekday": 0, "start": "09:00", "end": "09:00"}, "end"),
        ({"weekday": 0, "start": "22:00", "end": "02:00"}, "end"),   # crosses midnight
        ({"weekday": 7, "start": "09:00", "end": "17:00"}, "weekday"),
        ({"weekday": -1, "start": "09:00", "end": "17:00"}, "weekday"),
        ({"weekday": "0", "start": "09:00", "end": "17:00"}, "weekday"),
        ({"weekday": 0, "start": "9am", "end": "17:00"}, "start"),
        ({"weekday": 0, "start": "09:00", "end": "24:00"}, "end"),
        ({"weekday": 0, "end": "17:00"}, "start"),
        ({"start": "09:00", "end": "17:00"}, "weekday"),
        ({"weekday": 0, "start": "09:00", "end": "17:00", "label": "x" * 121}, "label"),
    ],
)
def test_a_bad_window_is_refused_naming_its_field(client, headers, person, window, field):
    """422 with errors.json.unavailable.<index>.<field>; the old routine is kept."""
    put(client, headers, person.id, ROUTINE[:1])

    response = put(client, headers, person.id, [ROUTINE[1], window])

    assert response.status_code == 422, response.json
    assert field in response.json["errors"]["json"]["unavailable"]["1"], response.json
    assert client.get(f"{API}/clients/{person.id}/availability",
                      headers=headers).json == {"unavailable": ROUTINE[:1],
                                                    "preferred": []}


@pytest.mark.parametrize("body", [{}, {"unavailable": None}, {"unavailable": "Mondays"}])
def test_the_routine_must_be_a_list(client, headers, person, body):
    response = client.put(f"{API}/clients/{person.id}/availability", json=body, headers=headers)
    assert response.status_code == 422
    assert "unavailable" in response.json["errors"]["json"]


def test_an_unknown_clients_routine_answers_404(client, headers):
    assert client.get(f"{API}/clients/999999/availability", headers=headers).status_code == 404
    assert put(client, headers, 999999, []).status_code == 404


def test_a_client_reads_their_own_routine_but_not_anothers(client, auth, make, person):
    """A client login sees its own windows; someone else's answer 403."""
    user = make.user("client", client_id=person.id)
    mine = auth.for_user(user)
    assert client.get(f"{API}/clients/{person.id}/availability", headers=mine).status_code == 200
    other = make.client()
    assert client.get(f"{API}/clients/{other.id}/availability", headers=mine).status_code == 403
    assert put(client, mine, person.id, []).status_code == 403


# --- staff time off --------------------------------------------------------------------------


def add_time_off(client, headers, staff_id, **body):
    return client.post(f"{API}/staff/{staff_id}/time-off", json=body, headers=headers)


def test_time_off_is_recorded_listed_and_withdrawn(client, headers, staff):
    """POST gives 201 with the entry, GET lists them by start, DELETE answers 204."""
    later = add_time_off(client, headers, staff.id, starts_at="2027-04-05T00:00:00-04:00",
                         ends_at="2027-04-10T00:00:00-04:00", reason="Vacation")
    sooner = add_time_off(client, headers, staff.id, starts_at="2027-03-01T13:00:00Z",
                          ends_at="2027-03-01T17:00:00Z")
    assert (later.status_code, sooner.status_code) == (201, 201)
    assert later.json["staff_id"] == staff.id
    assert later.json["reason"] == "Vacation"

    listed = client.get(f"{API}/staff/{staff.id}/time-off", headers=headers).json["items"]
    assert [t["id"] for t in listed] == [sooner.json["id"], later.json["id"]]
    assert listed[1]["starts_at"] == "2027-04-05T04:00:00+00:00"

    gone = client.delete(f"{API}/staff/{staff.id}/time-off/{sooner.json['id']}", headers=headers)
    assert gone.status_code == 204
    listed = client.get(f"{API}/staff/{staff.id}/time-off", headers=headers).json["items"]
    assert [t["id"] for t in listed] == [later.json["id"]]


def test_time_off_changes_are_audited(client, headers, staff, coordinator):
    row = add_time_off(client, headers, staff.id, starts_at="2027-03-01T13:00:00Z",
                       ends_at="2027-03-01T17:00:00Z", reason="Dentist").json
    client.delete(f"{API}/staff/{staff.id}/time-off/{row['id']}", headers=headers)
    events = _db.session.scalars(select(AuditEvent).where(
        AuditEvent.entity_type == "staff_time_off").order_by(AuditEvent.id)).all()
    assert [(e.action, e.entity_id, e.actor_user_id) for e in events] == [
        ("create", row["id"], coordinator.id), ("delete", row["id"], coordinator.id)]
    assert events[0].after["reason"] == events[1].before["reason"] == "Dentist"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"starts_at": "2027-03-01T17:00:00Z", "ends_at": "2027-03-01T13:00:00Z"}, "ends_at"),
        ({"starts_at": "2027-03-01T17:00:00Z", "ends_at": "2027-03-01T17:00:00Z"}, "ends_at"),
        ({"starts_at": "2027-03-01T13:00:00", "ends_at": "2027-03-01T17:00:00Z"}, "starts_at"),
        ({"starts_at": "2027-03-01T13:00:00Z"}, "ends_at"),
        ({"ends_at": "2027-03-01T13:00:00Z"}, "starts_at"),
        ({"starts_at": "1999-12-31T00:00:00Z", "ends_at": "2027-03-01T13:00:00Z"}, "starts_at"),
        ({"starts_at": "2027-03-01T13:00:00Z", "ends_at": "2027-03-01T17:00:00Z",
          "reason": "x" * 201}, "reason"),
    ],
)
def test_bad_time_off_is_refused_naming_the_field(client, headers, staff, body, field):
    response = add_time_off(client, headers, staff.id, **body)
    assert response.status_code == 422, response.json
    assert field in response.json["errors"]["json"]
    assert count(StaffTimeOff) == 0


def test_time_off_of_an_unknown_staff_member_answers_404(client, headers, staff):
    assert client.get(f"{API}/staff/999999/time-off", headers=headers).status_code == 404
    assert add_time_off(client, headers, 999999, starts_at="2027-03-01T13:00:00Z",
                        ends_at="2027-03-01T17:00:00Z").status_code == 404


def test_time_off_is_withdrawn_only_through_its_own_staff_member(client, headers, make, staff):
    """Another staff member's path does not reach the entry: 404, and it stays."""
    row = add_time_off(client, headers, staff.id, starts_at="2027-03-01T13:00:00Z",
                       ends_at="2027-03-01T17:00:00Z").json
    other = make.staff()
    assert client.delete(f"{API}/staff/{other.id}/time-off/{row['id']}",
                         headers=headers).status_code == 404
    assert client.delete(f"{API}/staff/{staff.id}/time-off/999999",
                         headers=headers).status_code == 404
    assert count(StaffTimeOff) == 1


def test_withdrawn_time_off_no_longer_blocks_a_series(client, headers, make, staff):
    """Once the entry is gone, the staff member can be booked for that day again."""
    program = make.program()
    row = add_time_off(client, headers, staff.id, starts_at="2027-03-01T00:00:00-05:00",
                       ends_at="2027-03-02T00:00:00-05:00").json
    body = {"program_id": program.id, "kind": "group", "title": "Skills",
            "start_date": "2027-03-01", "end_date": "2027-03-01", "rrule": "FREQ=DAILY",
            "start_time": "10:00", "duration_minutes": 60, "facilitator_ids": [staff.id]}
    assert client.post(f"{API}/series", json=body, headers=headers).status_code == 409
    client.delete(f"{API}/staff/{staff.id}/time-off/{row['id']}", headers=headers)
    assert client.post(f"{API}/series", json=body, headers=headers).status_code == 201


def test_a_clinician_reads_time_off_but_cannot_change_it(client, auth, headers, staff):
    row = add_time_off(client, headers, staff.id, starts_at="2027-03-01T13:00:00Z",
                       ends_at="2027-03-01T17:00:00Z").json
    clinician = auth("clinician")
    assert client.get(f"{API}/staff/{staff.id}/time-off", headers=clinician).status_code == 200
    assert add_time_off(client, clinician, staff.id, starts_at="2027-03-02T13:00:00Z",
                        ends_at="2027-03-02T17:00:00Z").status_code == 403
    assert client.delete(f"{API}/staff/{staff.id}/time-off/{row['id']}",
                         headers=clinician).status_code == 403

