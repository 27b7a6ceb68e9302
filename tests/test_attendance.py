"""The attendance roster: one call marks a group, minutes follow the times, audited and locked."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from scheduler import clock
from scheduler.models import Attendance, AuditEvent, Booking, Session
from scheduler.services import booking, sessions
from tests.helpers import ACTOR

API = "/api/v1"
NY = ZoneInfo("America/New_York")


@pytest.fixture
def program(make):
    return make.program(name="Evening IOP")


def local(*args) -> datetime:
    return datetime(*args, tzinfo=NY)


def group(db, program, starts_at, ends_at, clients=(), capacity=12):
    """A one-off group made (and its clients booked) a month before it meets."""
    with clock.frozen(starts_at - timedelta(days=30)):
        session = sessions.create_one_off(
            db, ACTOR, now=clock.now(), program_id=program.id, kind="group",
            starts_at=starts_at, ends_at=ends_at, capacity=capacity)
        for person in clients:
            booking.book_client(db, ACTOR, session.id, person.id, now=clock.now())
        db.commit()
    return session


@pytest.fixture
def people(make, program):
    return [make.client(program) for _ in range(5)]


@pytest.fixture
def monday(db, program, people):
    """Mon 2027-02-15 18:00–21:00 New York, five clients booked; it ended before 'now'."""
    return group(db, program, local(2027, 2, 15, 18), local(2027, 2, 15, 21), people)


def iso(at: datetime) -> str:
    return at.isoformat()


def put(client, headers, session_id, records, **body):
    return client.put(f"{API}/sessions/{session_id}/attendance",
                      json={"records": records, **body}, headers=headers)


def counts(db) -> tuple[int, int, int]:
    db.expire_all()
    return (db.scalar(select(func.count(Attendance.id))),
            db.scalar(select(func.count(AuditEvent.id))),
            db.scalar(select(func.count(Booking.id))))


# --- one call marks the group; minutes follow the times ----------------------------------------


def test_one_put_marks_the_whole_group_with_hand_computed_minutes(client, auth, db, monday,
                                                                  people):
    """present 180; late at 18:25 → 155; left 20:10 → 130; late and left → 105; absent 0."""
    records = [
        {"client_id": people[0].id, "status": "present"},
        {"client_id": people[1].id, "status": "late", "reason_code": "transport",
         "arrived_at": iso(local(2027, 2, 15, 18, 25))},
        {"client_id": people[2].id, "status": "left_early",
         "left_at": iso(local(2027, 2, 15, 20, 10))},
        {"client_id": people[3].id, "status": "late", "reason_code": "work",
         "arrived_at": iso(local(2027, 2, 15, 18, 25)),
         "left_at": iso(local(2027, 2, 15, 20, 10))},
        {"client_id": people[4].id, "status": "absent_unexcused", "reason_code": "no_call"},
    ]
    response = put(client, auth("clinician"), monday.id, records)

    assert response.status_code == 200, response.json
    minutes = {r["client_id"]: r["minutes_attended"] for r in response.json["items"]}
    assert [minutes[p.id] for p in people] == [180, 155, 130, 105, 0]
    assert all(r["method"] == "roster" for r in response.json["items"])
    assert counts(db)[0] == 5
    # Read back whole by a coordinator: a clinician who leads no session of theirs reads
    # none of these clients' marks (tests/test_caseload.py).
    read = client.get(f"{API}/sessions/{monday.id}/attendance",
                      headers=auth("coordinator")).json
    assert sorted((r["client_id"], r["minutes_attended"]) for r in read["items"]) == sorted(
        minutes.items())


def test_a_session_crossing_midnight_counts_its_full_three_hours(client, auth, db, program,
                                                                  people):
    """22:00–01:00 New York is 180 minutes, though the date changes in between."""
    late_night = group(db, program, local(2027, 2, 14, 22), local(2027, 2, 15, 1), people[:1])
    response = put(client, auth("clinician"), late_night.id,
                   [{"client_id": people[0].id, "status": "present"}])
    assert response.status_code == 200, response.json
    assert response.json["items"][0]["minutes_attended"] == 180


def test_a_session_on_the_spring_forward_night_counts_the_real_minutes(client, auth, db,
                                                                        program, people):
    """Sun 2027-03-14 01:00–04:00 New York skips 02:00–03:00: 120 real minutes, not 180."""
    dst = group(db, program, local(2027, 3, 14, 1), local(2027, 3, 14, 4), people[:2])
    assert dst.ends_at - dst.starts_at == timedelta(minutes=120)
    with clock.frozen(datetime(2027, 3, 14, 12, tzinfo=UTC)):
        response = put(client, auth("clinician"), dst.id, [
            {"client_id": people[0].id, "status": "present"},
            {"client_id": people[1].id, "status": "late", "reason_code": "illness",
             # 03:30 EDT is 60 real minutes after 01:00 EST: 60 minutes left to attend.
             "arrived_at": iso(local(2027, 3, 14, 3, 0))},
        ])
    assert response.status_code == 200, response.json
    minutes = [r["minutes_attended"] for r in response.json["items"]]
    assert minutes == [120, 60]


# --- validation: one bad record rejects everything -------------------------------------------


@pytest.mark.parametrize("status", ["late", "absent_excused", "absent_unexcused"])
def test_late_and_absences_need_a_reason_code(client, auth, db, monday, people, status):
    record = {"client_id": people[0].id, "status": status}
    if status == "late":
        record["arrived_at"] = iso(local(2027, 2, 15, 18, 25))
    response = put(client, auth("clinician"), monday.id, [record])
    assert response.status_code == 422
    assert "reason_code" in response.json["errors"]["json"]["records"]["0"]


@pytest.mark.parametrize(("status", "field"), [("late", "arrived_at"),
                                               ("left_early", "left_at")])
def test_late_needs_arrival_and_left_early_needs_leaving_time(client, auth, monday, people,
                                                              status, field):
    record = {"client_id": people[0].id, "status": status, "reason_code": "work"}
    response = put(client, auth("clinician"), monday.id, [record])
    assert response.status_code == 422
    assert field in response.json["errors"]["json"]["records"]["0"]


def test_one_bad_record_rejects_the_call_naming_its_index_and_writes_nothing(
    client, auth, db, monday, people
):
    """Record 2 lacks its reason: no attendance and no audit rows are written for 0 or 1."""
    headers = auth("clinician")
    before = counts(db)
    response = put(client, headers, monday.id, [
        {"client_id": people[0].id, "status": "present"},
        {"client_id": people[1].id, "status": "present"},
        {"client_id": people[2].id, "status": "absent_excused"},
    ])
    assert response.status_code == 422
    assert response.json["errors"]["json"]["records"] == {"2": {"reason_code": [
        response.json["errors"]["json"]["records"]["2"]["reason_code"][0]]}}
    assert counts(db) == before


def test_an_unknown_status_is_refused_naming_its_index(client, auth, db, monday, people):
    headers = auth("clinician")
    before = counts(db)
    response = put(client, headers, monday.id, [
        {"client_id": people[0].id, "status": "present"},
        {"client_id": people[1].id, "status": "asleep"},
    ])
    assert response.status_code == 422
    assert "status" in response.json["errors"]["json"]["records"]["1"]
    assert counts(db) == before


def test_a_client_listed_twice_is_refused(client, auth, db, monday, people):
    headers = auth("clinician")
    before = counts(db)
    response = put(client, headers, monday.id, [
        {"client_id": people[0].id, "status": "present"},
        {"client_id": people[0].id, "status": "absent_excused", "reason_code": "illness"},
    ])
    assert response.status_code == 422
    assert "client_id" in response.json["errors"]["json"]["records"]["1"]
    assert counts(db) == before


# --- only booked clients; walk-ins take a free seat ------------------------------------------


def test_a_walk_in_is_booked_in_the_same_call_when_a_seat_is_free(client, auth, db, make,
                                                                   program, monday, people):
    walk_in = make.client(program)
    clinician = make.user("clinician")
    response = put(client, auth.for_user(clinician), monday.id, [
        {"client_id": people[0].id, "status": "present"},
        {"client_id": walk_in.id, "status": "present"},
    ])
    assert response.status_code == 200, response.json
    seat = db.scalars(select(Booking).where(Booking.session_id == monday.id,
                                            Booking.client_id == walk_in.id)).one()
    assert seat.status == "booked"
    event = db.scalars(select(AuditEvent).where(AuditEvent.entity_type == "booking",
                                                AuditEvent.entity_id == seat.id)).one()
    assert (event.action, event.actor_user_id) == ("walk_in", clinician.id)
    assert event.after["status"] == "booked"


def test_a_walk_in_is_refused_naming_its_index_when_the_group_is_full(client, auth, db, make,
                                                                       program, people):
    full = group(db, program, local(2027, 2, 15, 18), local(2027, 2, 15, 21), people[:2],
                 capacity=2)
    stranger, headers = make.client(program), auth("clinician")
    before = counts(db)
    response = put(client, headers, full.id, [
        {"client_id": people[0].id, "status": "present"},
        {"client_id": people[1].id, "status": "present"},
        {"client_id": stranger.id, "status": "present"},
    ])
    assert response.status_code == 422
    assert "client_id" in response.json["errors"]["json"]["records"]["2"]
    assert counts(db) == before


def test_an_absent_client_who_was_never_booked_cannot_be_marked(client, auth, db, make,
                                                                 program, monday):
    headers = auth("clinician")
    stranger = make.client(program)
    before = counts(db)
    response = put(client, headers, monday.id, [
        {"client_id": stranger.id, "status": "absent_unexcused",
         "reason_code": "no_call"}])
    assert response.status_code == 422
    assert "client_id" in response.json["errors"]["json"]["records"]["0"]
    assert counts(db) == before


# --- audit --------------------------------------------------------------------------------------


def test_every_mark_is_audited_with_before_after_who_and_when(client, auth, db, make, monday,
                                                              people, now):
    clinician = make.user("clinician")
    headers = auth.for_user(clinician)
    first = put(client, headers, monday.id, [{"client_id": people[0].id, "status": "present"}])
    row_id = first.json["items"][0]["id"]
    created = db.scalars(select(AuditEvent).where(AuditEvent.entity_type == "attendance")).one()
    assert (created.entity_id, created.actor_user_id, created.occurred_at) == (
        row_id, clinician.id, now)
    assert created.before is None
    assert (created.after["status"], created.after["minutes_attended"]) == ("present", 180)

    later = now + timedelta(minutes=5)
    with clock.frozen(later):
        coordinator = make.user("coordinator")
        second = put(client, auth.for_user(coordinator), monday.id, [
            {"client_id": people[0].id, "status": "left_early",
             "left_at": iso(local(2027, 2, 15, 20, 10))}])
    assert second.status_code == 200, second.json
    assert second.json["items"][0]["id"] == row_id
    assert counts(db)[0] == 1
    edit = db.scalars(select(AuditEvent).where(AuditEvent.entity_type == "attendance")
                      .order_by(AuditEvent.id.desc())).first()
    assert (edit.actor_user_id, edit.occurred_at) == (coordinator.id, later)
    assert edit.before["status"] == "present" and edit.after["status"] == "left_early"
    assert (edit.before["minutes_attended"], edit.after["minutes_attended"]) == (180, 130)
    assert edit.after["left_at"] == "2027-02-16T01:10:00+00:00"
    assert edit.before["recorded_by_user_id"] == clinician.id
    assert edit.after["recorded_by_user_id"] == coordinator.id


# --- the lock after ATTENDANCE_LOCK_DAYS ------------------------------------------------------


@pytest.fixture
def marked(client, auth, monday, people):
    put(client, auth("clinician"), monday.id, [{"client_id": people[0].id, "status": "present"}])
    return monday


EIGHT_DAYS_ON = datetime(2027, 2, 24, 12, tzinfo=UTC)  # ended 8 days 10 h before
ABSENT = {"status": "absent_excused", "reason_code": "illness"}


def test_a_clinician_may_not_change_a_locked_record(client, auth, db, marked, people):
    with clock.frozen(EIGHT_DAYS_ON):
        headers = auth("clinician")
        before = counts(db)
        response = put(client, headers, marked.id,
                       [{"client_id": people[0].id, **ABSENT}], reason="Late paperwork")
    assert response.status_code == 403
    assert counts(db) == before


def test_a_coordinator_must_give_a_reason_for_a_locked_record(client, auth, db, marked, people):
    with clock.frozen(EIGHT_DAYS_ON):
        headers = auth("coordinator")
        before = counts(db)
        response = put(client, headers, marked.id,
                       [{"client_id": people[0].id, **ABSENT}])
    assert response.status_code == 422
    assert "reason" in response.json["errors"]["json"]
    assert counts(db) == before


def test_a_coordinator_with_a_reason_changes_a_locked_record_and_the_audit_keeps_it(
    client, auth, db, marked, people
):
    with clock.frozen(EIGHT_DAYS_ON):
        response = put(client, auth("coordinator"), marked.id,
                       [{"client_id": people[0].id, **ABSENT}], reason="Doctor's note arrived")
    assert response.status_code == 200, response.json
    assert response.json["items"][0]["status"] == "absent_excused"
    event = db.scalars(select(AuditEvent).where(AuditEvent.entity_type == "attendance")
                       .order_by(AuditEvent.id.desc())).first()
    assert event.reason == "Doctor's note arrived"
    assert (event.before["status"], event.after["status"]) == ("present", "absent_excused")


def test_seven_days_after_the_end_is_not_yet_locked(client, auth, marked, people):
    """Locked means ended more than ATTENDANCE_LOCK_DAYS ago; 7 days exactly still edits."""
    with clock.frozen(marked.ends_at + timedelta(days=7)):
        response = put(client, auth("clinician"), marked.id,
                       [{"client_id": people[0].id, **ABSENT}])
    assert response.status_code == 200, response.json


@pytest.mark.parametrize("app_config", [{"ATTENDANCE_LOCK_DAYS": 2}])
def test_the_lock_follows_the_configured_days(client, auth, marked, people):
    with clock.frozen(marked.ends_at + timedelta(days=3)):
        response = put(client, auth("clinician"), marked.id,
                       [{"client_id": people[0].id, **ABSENT}])
    assert response.status_code == 403


# --- sessions that take no attendance ---------------------------------------------------------


def test_a_cancelled_session_takes_no_attendance(client, auth, db, monday, people):
    session = db.get(Session, monday.id)
    session.status = "cancelled"
    db.commit()
    response = put(client, auth("clinician"), monday.id,
                   [{"client_id": people[0].id, "status": "present"}])
    assert response.status_code == 409
    assert counts(db)[0] == 0


def test_a_session_more_than_thirty_minutes_ahead_takes_no_attendance(client, auth, db,
                                                                       program, people, now):
    soon = group(db, program, now + timedelta(minutes=31), now + timedelta(hours=2), people[:1])
    response = put(client, auth("clinician"), soon.id,
                   [{"client_id": people[0].id, "status": "present"}])
    assert response.status_code == 409
    assert counts(db)[0] == 0


# --- attendance makes a session history ------------------------------------------------------


@pytest.fixture
def morning(make, db, program, people):
    """Daily 07:20 New York group (12:20 UTC), Tue 02-16 to Fri 02-19; everyone booked in each."""
    series = make.series(program, title="Morning group", start_date=date(2027, 2, 16),
                         end_date=date(2027, 2, 19), rrule="FREQ=DAILY", start_time=time(7, 20),
                         duration_minutes=60)
    rows = db.scalars(select(Session).where(Session.series_id == series.id)
                      .order_by(Session.starts_at)).all()
    for row in rows:
        booking.book_client(db, ACTOR, row.id, people[0].id, now=clock.now())
    db.commit()
    return series, rows


def test_a_series_edit_leaves_a_session_with_attendance_untouched(client, auth, db, morning,
                                                                   people):
    """Today's session starts in 20 minutes and has attendance: it keeps its time."""
    series, rows = morning
    today = rows[0]
    assert put(client, auth("clinician"), today.id,
               [{"client_id": people[0].id, "status": "present"}]).status_code == 200

    edit = client.patch(f"{API}/series/{series.id}", json={"start_time": "08:00"},
                        headers=auth("coordinator"))
    assert edit.status_code == 200, edit.json

    db.expire_all()
    assert db.get(Session, today.id).starts_at == datetime(2027, 2, 16, 12, 20,
                                                           tzinfo=UTC)
    moved = db.scalars(select(Session).where(Session.series_id == series.id,
                                             Session.status == "scheduled",
                                             Session.starts_at > datetime(2027, 2, 17,
                                                                          tzinfo=UTC))
                       .order_by(Session.starts_at)).first()
    assert moved.starts_at == datetime(2027, 2, 17, 13, 0, tzinfo=UTC)
    assert db.scalar(select(func.count(Attendance.id))) == 1


@pytest.mark.parametrize("change", [{"starts_at": "2027-02-16T08:00:00-05:00"},
                                    {"status": "cancelled", "reason": "Snow"}])
def test_a_session_with_attendance_cannot_be_moved_or_cancelled(client, auth, db, morning,
                                                                  people, change):
    _, rows = morning
    today = rows[0]
    put(client, auth("clinician"), today.id, [{"client_id": people[0].id, "status": "present"}])
    response = client.patch(f"{API}/sessions/{today.id}", json=change,
                            headers=auth("coordinator"))
    assert response.status_code == 409
    db.expire_all()
    kept = db.get(Session, today.id)
    assert (kept.status, kept.starts_at) == ("scheduled",
                                             datetime(2027, 2, 16, 12, 20, tzinfo=UTC))
