"""Finding a time: staff working hours, and free slots where client, clinician and room are free."""

from datetime import UTC, datetime, time, timedelta
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from scheduler.models import AuditEvent, StaffWorkingHours
from scheduler.services import availability
from tests.helpers import ACTOR

API = "/api/v1"
# Monday 1 March 2027 in New York (EST, -05:00); now is Tue 16 Feb.
MONDAY = "2027-03-01T00:00:00-05:00"
TUESDAY = "2027-03-02T00:00:00-05:00"


@pytest.fixture
def clinic(make, db):
    program = make.program()
    therapist = make.staff(name="Dana Reyes")
    office = make.room(name="Office 1", capacity=2)
    person = make.client(program, name="Jesse Test")
    return {"program": program, "therapist": therapist, "office": office, "client": person}


@pytest.fixture
def staff_headers(auth):
    return auth("clinician")


def hours(db, staff, windows):
    availability.set_working_hours(
        db, ACTOR, staff.id,
        [{"weekday": d, "start": time.fromisoformat(s), "end": time.fromisoformat(e)}
         for d, s, e in windows])
    db.commit()


def slots(client, headers, clinic, *, start=MONDAY, end=TUESDAY, duration=60, **extra):
    params = {"staff_id": clinic["therapist"].id, "duration_minutes": duration,
              "from": start, "to": end, **extra}
    return client.get(f"{API}/clients/{clinic['client'].id}/free-slots?{urlencode(params)}",
                      headers=headers)


def starts(answer) -> list[str]:
    assert answer.status_code == 200, answer.json
    return [item["starts_at"][11:16] for item in answer.json["items"]]


def one_off(client, headers, clinic, start, end, **extra):
    body = {"program_id": clinic["program"].id, "kind": "individual", "starts_at": start,
            "ends_at": end, "room_id": clinic["office"].id,
            "facilitator_ids": [clinic["therapist"].id], **extra}
    return client.post(f"{API}/sessions", json=body, headers=headers)


# --- working hours -----------------------------------------------------------------------------


def test_working_hours_read_back_as_put_and_are_audited(client, auth, clinic, db):
    headers = auth("coordinator")
    url = f"{API}/staff/{clinic['therapist'].id}/working-hours"
    windows = [{"weekday": 1, "start": "13:00", "end": "17:00"},
               {"weekday": 0, "start": "09:00", "end": "17:00"},
               {"weekday": 1, "start": "09:00", "end": "12:00"}]
    answer = client.put(url, json={"windows": windows}, headers=headers)
    assert answer.status_code == 200, answer.json
    expected = sorted(windows, key=lambda w: (w["weekday"], w["start"]))
    assert answer.json == {"windows": expected}
    assert client.get(url, headers=auth("clinician")).json == {"windows": expected}
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "set_working_hours"))
    assert event.entity_id == clinic["therapist"].id
    assert client.put(url, json={"windows": []}, headers=headers).json == {"windows": []}


@pytest.mark.parametrize("windows, field", [
    ([{"weekday": 0, "start": "17:00", "end": "09:00"}], "end"),
    ([{"weekday": 0, "start": "09:00", "end": "13:00"},
      {"weekday": 0, "start": "12:00", "end": "17:00"}], "start"),
    ([{"weekday": 7, "start": "09:00", "end": "13:00"}], "weekday"),
    ([{"weekday": 0, "start": "9 o'clock", "end": "13:00"}], "start"),
    ([{"weekday": 0, "start": "09:00\x00", "end": "13:00"}], "start"),
])
def test_bad_working_hours_are_refused_naming_the_field(client, auth, clinic, db, windows,
                                                        field):
    url = f"{API}/staff/{clinic['therapist'].id}/working-hours"
    answer = client.put(url, json={"windows": windows}, headers=auth("coordinator"))
    assert answer.status_code == 422, answer.json
    errors = answer.json["errors"]["json"]["windows"]
    index = str(len(windows) - 1)
    assert field in errors[index], errors
    assert db.scalar(select(StaffWorkingHours)) is None


def test_too_many_windows_and_unknown_staff_are_refused(client, auth, clinic):
    headers = auth("coordinator")
    many = [{"weekday": d % 7, "start": f"{h:02d}:00", "end": f"{h:02d}:30"}
            for d in range(7) for h in range(6, 11)]
    url = f"{API}/staff/{clinic['therapist'].id}/working-hours"
    answer = client.put(url, json={"windows": many}, headers=headers)
    assert answer.status_code == 422
    assert "windows" in answer.json["errors"]["json"]
    for staff_id in (999999, 2**63 + 5):
        missing = client.put(f"{API}/staff/{staff_id}/working-hours", json={"windows": []},
                             headers=headers)
        assert missing.status_code == 404


def test_facilitating_outside_working_hours_is_a_conflict_naming_the_person(client, auth,
                                                                          clinic, db):
    hours(db, clinic["therapist"], [(0, "09:00", "12:00"), (0, "12:00", "17:00")])
    headers = auth("coordinator")
    # 11:00–13:00 spans two touching windows: inside.
    inside = one_off(client, headers, clinic, "2027-03-01T11:00:00-05:00",
                     "2027-03-01T13:00:00-05:00")
    assert inside.status_code == 201, inside.json
    late = one_off(client, headers, clinic, "2027-03-01T16:30:00-05:00",
                   "2027-03-01T17:30:00-05:00")
    assert late.status_code == 409, late.json
    [clash] = late.json["conflicts"]
    assert clash["kind"] == "staff_hours"
    assert "Dana Reyes works Mon 09:00–12:00, 12:00–17:00" in clash["detail"]
    tuesday = one_off(client, headers, clinic, "2027-03-02T10:00:00-05:00",
                      "2027-03-02T11:00:00-05:00")
    assert tuesday.status_code == 409
    # As for time off, an explicit override with a reason books it anyway.
    anyway = one_off(client, headers, clinic, "2027-03-02T10:00:00-05:00",
                     "2027-03-02T11:00:00-05:00", override=True, reason="Covering a shift")
    assert anyway.status_code == 201


def test_series_substitutes_and_moves_refuse_hours_outside(client, auth, clinic, db, make):
    hours(db, clinic["therapist"], [(0, "09:00", "17:00"), (2, "09:00", "17:00")])
    headers = auth("coordinator")
    body = {"program_id": clinic["program"].id, "kind": "group", "title": "Evening group",
            "timezone": "America/New_York", "start_date": "2027-03-01", "start_time": "18:00",
            "duration_minutes": 90, "rrule": "FREQ=WEEKLY;BYDAY=MO,WE",
            "facilitator_ids": [clinic["therapist"].id]}
    series = client.post(f"{API}/series", json=body, headers=headers)
    assert series.status_code == 409, series.json
    assert {c["kind"] for c in series.json["conflicts"]} == {"staff_hours"}
    other = make.staff(name="Sam Okafor")
    day = one_off(client, headers, clinic, "2027-03-01T10:00:00-05:00",
                  "2027-03-01T11:00:00-05:00", facilitator_ids=[other.id])
    assert day.status_code == 201
    session_id = day.json["id"]
    moved = client.patch(f"{API}/sessions/{session_id}", headers=headers,
                         json={"facilitator_ids": [clinic["therapist"].id],
                               "starts_at": "2027-03-01T18:00:00-05:00",
                               "ends_at": "2027-03-01T19:00:00-05:00"})
    assert moved.status_code == 409, moved.json
    assert "Dana Reyes works" in moved.json["conflicts"][0]["detail"]
    substitute = client.patch(f"{API}/sessions/{session_id}", headers=headers,
                              json={"facilitator_ids": [clinic["therapist"].id]})
    assert substitute.status_code == 200, substitute.json
    evening = one_off(client, headers, clinic, "2027-03-03T18:00:00-05:00",
                      "2027-03-03T19:00:00-05:00", facilitator_ids=[other.id])
    refused = client.patch(f"{API}/sessions/{evening.json['id']}", headers=headers,
                           json={"facilitator_ids": [clinic["therapist"].id]})
    assert refused.status_code == 409, refused.json
    assert refused.json["conflicts"][0]["detail"] == (
        "Dana Reyes works Mon 09:00–17:00; Wed 09:00–17:00, not Wed 18:00–19:00.")


# --- free slots -------------------------------------------------------------------------------


def test_free_slots_follow_the_clinicians_hours_and_the_grid(client, staff_headers, clinic, db):
    hours(db, clinic["therapist"], [(0, "09:00", "12:00")])
    answer = slots(client, staff_headers, clinic)
    assert starts(answer) == ["09:00", "09:30", "10:00", "10:30", "11:00"]
    first = answer.json["items"][0]
    assert first == {"starts_at": "2027-03-01T09:00:00-05:00",
                     "ends_at": "2027-03-01T10:00:00-05:00", "room_id": clinic["office"].id}
    assert starts(slots(client, staff_headers, clinic, duration=45))[:3] == [
        "09:00", "09:30", "10:00"]
    # A session under half an hour starts on the quarter hour.
    assert starts(slots(client, staff_headers, clinic, duration=20))[:3] == [
        "09:00", "09:15", "09:30"]


def test_without_working_hours_only_clinic_hours_are_offered(client, staff_headers, clinic):
    found = starts(slots(client, staff_headers, clinic, duration=60))
    assert found[0] == "08:00" and found[-1] == "20:00"
    sunday = slots(client, staff_headers, clinic, start="2027-03-07T00:00:00-05:00",
                   end="2027-03-08T00:00:00-05:00")
    assert starts(sunday) == []


def test_the_clients_routine_and_bookings_block_times(client, auth, staff_headers, clinic, db):
    hours(db, clinic["therapist"], [(0, "09:00", "13:00")])
    person = clinic["client"]
    availability.set_client_windows(db, ACTOR, person.id, [
        {"weekday": 0, "start": time(9, 0), "end": time(10, 0), "label": "School run"}])
    db.commit()
    # A medication review with nobody on the rota, in no room: only the client is busy.
    booked = one_off(client, auth("coordinator"), clinic, "2027-03-01T11:00:00-05:00",
                     "2027-03-01T11:30:00-05:00", facilitator_ids=[], room_id=None,
                     client_id=person.id, kind="medical")
    assert booked.status_code == 201, booked.json
    assert starts(slots(client, staff_headers, clinic)) == ["10:00", "11:30", "12:00"]


def test_the_clinicians_sessions_and_time_off_block_times(client, auth, staff_headers, clinic,
                                                         db, make):
    hours(db, clinic["therapist"], [(0, "09:00", "13:00")])
    someone = make.client(clinic["program"])
    made = one_off(client, auth("coordinator"), clinic, "2027-03-01T09:00:00-05:00",
                   "2027-03-01T10:00:00-05:00", client_id=someone.id, room_id=None)
    assert made.status_code == 201
    availability.add_time_off(db, ACTOR, clinic["therapist"].id,
                              datetime(2027, 3, 1, 16, 0, tzinfo=UTC),
                              datetime(2027, 3, 1, 17, 0, tzinfo=UTC), "Training")
    db.commit()
    # 11:00–12:00 New York is 16:00–17:00 UTC.
    assert starts(slots(client, staff_headers, clinic)) == ["10:00", "12:00"]


def test_a_taken_room_moves_the_slot_to_another_or_drops_it(client, auth, staff_headers,
                                                           clinic, db, make):
    hours(db, clinic["therapist"], [(0, "09:00", "11:00")])
    busy = make.staff(name="Sam Okafor")
    made = one_off(client, auth("coordinator"), clinic, "2027-03-01T09:00:00-05:00",
                   "2027-03-01T10:00:00-05:00", facilitator_ids=[busy.id])
    assert made.status_code == 201
    assert starts(slots(client, staff_headers, clinic)) == ["10:00"]
    big = make.room(name="Group room", capacity=12)
    items = slots(client, staff_headers, clinic).json["items"]
    assert [(i["starts_at"][11:16], i["room_id"]) for i in items] == [
        ("09:00", big.id), ("09:30", big.id), ("10:00", clinic["office"].id)]


def test_admission_discharge_and_plan_dates_bound_the_slots(client, auth, staff_headers, clinic,
                                                           db, make):
    late = make.client(clinic["program"], admitted_on=datetime(2027, 3, 2).date())
    hours(db, clinic["therapist"], [(d, "09:00", "10:00") for d in range(5)])
    url = (f"{API}/clients/{late.id}/free-slots?staff_id={clinic['therapist'].id}"
           "&duration_minutes=60&from=2027-03-01T00:00:00-05:00&to=2027-03-04T00:00:00-05:00")
    assert [i["starts_at"][:10] for i in client.get(url, headers=staff_headers).json["items"]] \
        == ["2027-03-02", "2027-03-03"]
    plan = client.post(f"{API}/clients/{late.id}/plans", headers=auth("coordinator"),
                       json={"start_date": "2027-03-03", "end_date": "2027-06-01"})
    assert plan.status_code == 201, plan.json
    assert [i["starts_at"][:10] for i in client.get(url, headers=staff_headers).json["items"]] \
        == ["2027-03-03"]


def test_a_dst_week_keeps_wall_times_and_real_lengths(client, staff_headers, clinic, db):
    # Clocks go forward in New York at 02:00 on Sunday 14 March 2027.
    hours(db, clinic["therapist"], [(6, "01:00", "04:00"), (0, "09:00", "10:00")])
    answer = slots(client, staff_headers, clinic, start="2027-03-14T00:00:00-05:00",
                   end="2027-03-16T00:00:00-04:00")
    items = answer.json["items"]
    assert [i["starts_at"] for i in items] == [
        # 02:00 and 02:30 do not exist that night; 01:30 EST to 03:30 EDT is one hour.
        "2027-03-14T01:00:00-05:00", "2027-03-14T01:30:00-05:00",
        "2027-03-14T03:00:00-04:00", "2027-03-15T09:00:00-04:00"]
    for item in items:
        length = (datetime.fromisoformat(item["ends_at"])
                  - datetime.fromisoformat(item["starts_at"]))
        assert length == timedelta(hours=1)


def test_past_times_are_never_offered(client, staff_headers, clinic):
    # Now is Tue 16 Feb 2027, 07:00 in New York.
    found = starts(slots(client, staff_headers, clinic, start="2027-02-16T00:00:00-05:00",
                         end="2027-02-17T00:00:00-05:00"))
    assert found[0] == "08:00"
    early = slots(client, staff_headers, clinic, start="2027-02-15T00:00:00-05:00",
                  end="2027-02-16T00:00:00-05:00")
    assert starts(early) == []


def test_the_answer_is_capped(client, staff_headers, clinic):
    answer = slots(client, staff_headers, clinic, start=MONDAY,
                   end="2027-03-31T00:00:00-04:00", duration=30)
    assert len(answer.json["items"]) == 200


def test_a_search_is_logged_as_a_read_of_the_clients_record(client, staff_headers, clinic, db):
    assert slots(client, staff_headers, clinic).status_code == 200
    row = db.scalar(select(AuditEvent).where(AuditEvent.action == "read",
                                             AuditEvent.entity_id == clinic["client"].id))
    assert row.after["resource"] == "free_slots"


@pytest.mark.parametrize("params, field", [
    ({"from": "2027-03-01T09:00:00"}, "from"),
    ({"to": "2027-03-01T00:00:00-05:00"}, "to"),
    ({"to": "2027-04-05T00:00:00-05:00"}, "to"),
    ({"from": "9999-03-01T00:00:00-05:00"}, "from"),
    ({"from": "2027-03-01T00:00\x00"}, "from"),
    ({"duration_minutes": 10}, "duration_minutes"),
    ({"duration_minutes": 481}, "duration_minutes"),
    ({"duration_minutes": 10**30}, "duration_minutes"),
    ({"staff_id": 2**63 + 1}, "staff_id"),
    ({"staff_id": "x"}, "staff_id"),
])
def test_hostile_parameters_are_refused_naming_the_field(client, staff_headers, clinic, params,
                                                         field):
    answer = slots(client, staff_headers, clinic, **params)
    assert answer.status_code == 422, answer.json
    assert field in answer.json["errors"]["query"]


def test_an_unknown_clinician_or_client_is_a_clear_answer(client, staff_headers, clinic):
    answer = slots(client, staff_headers, clinic, staff_id=987654)
    assert answer.status_code == 422
    assert "staff_id" in answer.json["errors"]["query"]
    missing = client.get(f"{API}/clients/987654/free-slots?staff_id=1&duration_minutes=60"
                         f"&from=2027-03-01T00:00:00Z&to=2027-03-02T00:00:00Z",
                         headers=staff_headers)
    assert missing.status_code == 404


def test_clients_may_not_search(client, auth, clinic):
    answer = slots(client, auth("client", client_id=clinic["client"].id), clinic)
    assert answer.status_code == 403
