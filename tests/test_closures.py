"""Closures: a program closed for a day or a range, lifted again, and what clients hear of it.

Through HTTP on the real database, the real jobs and a real SMTP server.
"""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from scheduler import clock
from scheduler.models import Attendance, AuditEvent, Booking, Closure, Notification, Session
from scheduler.services import booking, plans, sessions
from tests import mailbox
from tests.test_jobs import FORBIDDEN, STAFF, mark_roster, run

inbox = mailbox.inbox  # a real SMTP server, as a fixture

API = "/api/v1"
NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def clinic(make, db, now):
    """The Mon/Wed/Thu 18:00 evening group from Mon 1 March 2027; Casey is enrolled."""
    program = make.program(name="Sunrise Addiction Recovery IOP")
    group = make.series(program, title="Relapse Prevention Group")
    therapist = make.staff()
    casey = make.client(program, name="Casey Quill", email="casey@example.test")
    plans.create_plan(db, STAFF, casey.id, start_date=date(2027, 1, 4),
                      primary_therapist_id=therapist.id)
    booking.enroll_client(db, STAFF, group.id, casey.id, now=now)
    db.commit()
    return {"program": program, "group": group, "client": casey}


def on(db, group, day: date) -> Session:
    """The group's session on that New York day."""
    lo = datetime.combine(day, time.min, tzinfo=NEW_YORK)
    return db.scalar(select(Session).where(Session.series_id == group.id,
                                           Session.starts_at >= lo,
                                           Session.starts_at < lo + timedelta(days=1)))


def close(client, headers, program, starts_on, ends_on, reason="Snow"):
    # buffered: the test client then closes the response at once, which sends the email.
    return client.post(f"{API}/programs/{program.id}/closures", headers=headers, buffered=True,
                       json={"starts_on": starts_on, "ends_on": ends_on, "reason": reason})


def test_closing_cancels_the_range_and_lifting_restores_exactly_those(client, db, auth, clinic):
    headers = auth("coordinator")
    program, group = clinic["program"], clinic["group"]
    # Monday 1 March was cancelled earlier, for another reason.
    monday = on(db, group, date(2027, 3, 1))
    sessions.change_session(db, STAFF, monday, {"status": "cancelled"}, reason="Facilitator ill")
    db.commit()

    answer = close(client, headers, program, "2027-03-01", "2027-03-04")
    assert answer.status_code == 201, answer.json
    assert answer.json["cancelled"] == 2  # Wed and Thu; Monday was cancelled already
    closure_id = answer.json["id"]
    db.expire_all()
    wednesday, thursday = on(db, group, date(2027, 3, 3)), on(db, group, date(2027, 3, 4))
    for session in (wednesday, thursday):
        assert (session.status, session.cancelled_by, session.cancel_reason) == (
            "cancelled", "closure", "Snow")
        assert session.closure_id == closure_id
    assert (monday.cancelled_by, monday.closure_id) == ("override", None)
    assert on(db, group, date(2027, 3, 8)).status == "scheduled"

    listed = client.get(f"{API}/programs/{program.id}/closures", headers=headers).json["items"]
    assert [(c["id"], c["starts_on"], c["ends_on"], c["cancelled"]) for c in listed] == [
        (closure_id, "2027-03-01", "2027-03-04", 2)]

    lifted = client.delete(f"{API}/programs/{program.id}/closures/{closure_id}", headers=headers)
    assert lifted.status_code == 200, lifted.json
    assert lifted.json["restored"] == 2
    db.expire_all()
    assert (wednesday.status, wednesday.closure_id, thursday.status) == (
        "scheduled", None, "scheduled")
    # Not the one cancelled for another reason.
    assert (monday.status, monday.cancelled_by) == ("cancelled", "override")
    # Casey keeps her seats throughout.
    assert db.scalar(select(Booking.status).where(Booking.session_id == wednesday.id)) == "booked"
    assert client.get(f"{API}/programs/{program.id}/closures",
                      headers=headers).json["items"] == []
    again = client.delete(f"{API}/programs/{program.id}/closures/{closure_id}", headers=headers)
    assert again.status_code == 404

    actions = db.scalars(select(AuditEvent.action).where(
        AuditEvent.entity_type == "closure", AuditEvent.entity_id == closure_id)
        .order_by(AuditEvent.id)).all()
    assert actions == ["close", "lift"]
    closed = db.scalar(select(AuditEvent).where(AuditEvent.action == "close"))
    assert sorted(closed.after["cancelled_session_ids"]) == sorted([wednesday.id, thursday.id])


def test_booked_clients_hear_once_per_closure_not_once_per_session(
        app, client, db, auth, clinic, inbox):
    headers = auth("coordinator")
    answer = close(client, headers, clinic["program"], "2027-03-01", "2027-03-04",
                   reason="Detox staff training")
    assert answer.status_code == 201
    assert answer.json["cancelled"] == 3
    # Sent right after the answer; the change job, run twice, adds no second message.
    inbox.wait_for("casey@example.test")
    run(app, db, "notify-changes")
    run(app, db, "notify-changes")
    [message] = inbox.to("casey@example.test")
    body = message.get_content()
    assert message["Subject"] == "Appointments cancelled"
    for day in ("Monday 1 March at 18:00", "Wednesday 3 March at 18:00",
                "Thursday 4 March at 18:00"):
        assert day in body
    # Minimum necessary: neither the program, the series nor the reason reach the inbox.
    assert not [word for word in FORBIDDEN + ("training",) if word in body.lower()]

    closure_id = answer.json["id"]
    client.delete(f"{API}/programs/{clinic['program'].id}/closures/{closure_id}",
                  headers=headers, buffered=True)
    inbox.wait_for("casey@example.test", 2)
    run(app, db, "notify-changes")
    messages = inbox.to("casey@example.test")
    assert [m["Subject"] for m in messages] == ["Appointments cancelled", "Appointments back on"]
    assert "Wednesday 3 March at 18:00" in messages[1].get_content()
    assert db.scalar(select(func.count(Notification.id)).where(
        Notification.status == "pending")) == 0


def test_sessions_made_later_inside_a_closure_start_cancelled_and_come_back(
        app, client, db, auth, clinic, now):
    headers = auth("coordinator")
    program, group = clinic["program"], clinic["group"]
    # Past the 120-day horizon: no session exists yet on Thursday 1 July.
    assert on(db, group, date(2027, 7, 1)) is None
    answer = close(client, headers, program, "2027-07-01", "2027-07-01", reason="Holiday")
    assert (answer.status_code, answer.json["cancelled"]) == (201, 0)

    later = now + timedelta(days=30)
    run(app, db, "extend-horizon", at=later)
    thursday = on(db, group, date(2027, 7, 1))
    assert (thursday.status, thursday.cancelled_by, thursday.closure_id) == (
        "cancelled", "closure", answer.json["id"])
    # Never shown to anyone: no sequence bump, so no "cancelled" message either.
    assert thursday.sequence == 0
    assert on(db, group, date(2027, 7, 5)).status == "scheduled"
    # Casey has her seat on it, waiting for the day to open again.
    assert db.scalar(select(Booking.status).where(Booking.session_id == thursday.id)) == "booked"

    with clock.frozen(later):
        lifted = client.delete(f"{API}/programs/{program.id}/closures/{answer.json['id']}",
                               headers=auth("coordinator"))
    assert lifted.json["restored"] == 1
    db.expire_all()
    assert thursday.status == "scheduled"


def test_a_series_edit_does_not_bring_a_closed_day_back(client, db, auth, clinic):
    headers = auth("coordinator")
    program, group = clinic["program"], clinic["group"]
    answer = close(client, headers, program, "2027-03-03", "2027-03-03")
    edit = client.patch(f"{API}/series/{group.id}", headers=headers,
                        json={"start_time": "19:00"})
    assert edit.status_code == 200, edit.json
    db.expire_all()
    day = datetime.combine(date(2027, 3, 3), time.min, tzinfo=NEW_YORK)
    that_day = db.scalars(select(Session).where(
        Session.series_id == group.id, Session.starts_at >= day,
        Session.starts_at < day + timedelta(days=1))).all()
    assert [(s.status, s.cancelled_by) for s in that_day] == [("cancelled", "closure")]
    assert on(db, group, date(2027, 3, 4)).starts_at.astimezone(NEW_YORK).hour == 19

    client.delete(f"{API}/programs/{program.id}/closures/{answer.json['id']}", headers=headers)
    db.expire_all()
    wednesday = on(db, group, date(2027, 3, 3))
    # Back, and at the series' new time.
    assert wednesday.status == "scheduled"
    assert wednesday.starts_at.astimezone(NEW_YORK).hour == 19


def test_a_session_with_attendance_is_kept_and_named(client, db, auth, clinic):
    monday = on(db, clinic["group"], date(2027, 3, 1))
    mark_roster(db, monday, clinic["client"].id, "present")
    db.commit()
    assert db.scalar(select(Attendance.id).where(Attendance.session_id == monday.id))
    answer = close(client, auth("coordinator"), clinic["program"], "2027-03-01", "2027-03-03")
    assert answer.status_code == 201
    assert answer.json["cancelled"] == 1
    assert answer.json["kept"] == ["Relapse Prevention Group (Mon 2027-03-01 18:00–21:00)"]
    db.expire_all()
    assert monday.status == "scheduled"


def test_overlapping_closures_keep_a_day_closed_until_both_are_lifted(client, db, auth, clinic):
    headers = auth("coordinator")
    program, group = clinic["program"], clinic["group"]
    first = close(client, headers, program, "2027-03-01", "2027-03-04").json
    second = close(client, headers, program, "2027-03-03", "2027-03-08", reason="Repairs").json
    assert (first["cancelled"], second["cancelled"]) == (3, 1)  # only Monday 8 March was left
    lifted = client.delete(f"{API}/programs/{program.id}/closures/{first['id']}",
                           headers=headers).json
    assert (lifted["restored"], lifted["still_closed"]) == (1, 2)
    db.expire_all()
    wednesday = on(db, group, date(2027, 3, 3))
    assert (wednesday.status, wednesday.closure_id, wednesday.cancel_reason) == (
        "cancelled", second["id"], "Repairs")
    assert on(db, group, date(2027, 3, 1)).status == "scheduled"
    client.delete(f"{API}/programs/{program.id}/closures/{second['id']}", headers=headers)
    db.expire_all()
    assert wednesday.status == "scheduled"


def test_closed_sessions_leave_the_feed(client, db, auth, clinic):
    headers = auth("coordinator")
    made = client.post(f"{API}/clients/{clinic['client'].id}/feed", headers=headers)
    assert made.status_code == 201, made.json
    url = made.json["url"].split("://", 1)[1].split("/", 1)[1]
    before = client.get("/" + url).get_data(as_text=True)
    assert "20270303T" in before
    close(client, headers, clinic["program"], "2027-03-03", "2027-03-03")
    after = client.get("/" + url).get_data(as_text=True)
    assert "20270303T" not in after
    assert "20270304T" in after


@pytest.mark.parametrize(("body", "field"), [
    ({"starts_on": "2027-03-04", "ends_on": "2027-03-01", "reason": "Snow"}, "ends_on"),
    ({"starts_on": "2027-03-01", "ends_on": "2027-09-01", "reason": "Snow"}, "ends_on"),
    ({"starts_on": "2027-02-01", "ends_on": "2027-02-20", "reason": "Snow"}, "starts_on"),
    ({"starts_on": "9999-12-31", "ends_on": "9999-12-31", "reason": "Snow"}, "starts_on"),
    ({"starts_on": "2099-12-01", "ends_on": "2099-12-02", "reason": "Snow"}, "starts_on"),
    ({"starts_on": "2027-03-01", "ends_on": "2027-03-01", "reason": "  "}, "reason"),
    ({"starts_on": "2027-03-01", "ends_on": "2027-03-01", "reason": "Sn\x00ow"}, "reason"),
    ({"starts_on": "2027-03-01", "ends_on": "2027-03-01", "reason": "x" * 501}, "reason"),
    ({"starts_on": "2027-03-01", "ends_on": "2027-03-01"}, "reason"),
    ({"starts_on": "1 March", "ends_on": "2027-03-01", "reason": "Snow"}, "starts_on"),
    ({"starts_on": 20270301, "ends_on": "2027-03-01", "reason": "Snow"}, "starts_on"),
    ({"starts_on": "2027-03-01", "ends_on": "2027-03-01", "reason": "Snow", "x": 1}, "x"),
])
def test_bad_closures_are_refused_naming_the_field(client, db, auth, clinic, body, field):
    answer = client.post(f"{API}/programs/{clinic['program'].id}/closures", json=body,
                         headers=auth("coordinator"))
    assert answer.status_code == 422, answer.json
    assert field in answer.json["errors"]["json"], answer.json
    assert db.scalar(select(func.count(Closure.id))) == 0


def test_closures_are_for_coordinators_and_ids_are_checked(client, db, auth, clinic, make):
    program = clinic["program"]
    body = {"starts_on": "2027-03-01", "ends_on": "2027-03-01", "reason": "Snow"}
    assert client.post(f"{API}/programs/{program.id}/closures", json=body,
                       headers=auth("clinician")).status_code == 403
    assert client.get(f"{API}/programs/{program.id}/closures",
                      headers=auth("clinician")).status_code == 200
    headers = auth("coordinator")
    huge = 2**63 + 1
    assert client.post(f"{API}/programs/{huge}/closures", json=body,
                       headers=headers).status_code == 404
    assert client.delete(f"{API}/programs/{program.id}/closures/{huge}",
                         headers=headers).status_code == 404
    made = close(client, headers, program, "2027-03-01", "2027-03-01").json
    other = make.program()
    assert client.delete(f"{API}/programs/{other.id}/closures/{made['id']}",
                         headers=headers).status_code == 404
    assert client.delete(f"{API}/programs/{program.id}/closures/{made['id']}",
                         headers=auth("clinician")).status_code == 403


def test_a_program_has_a_country_checked_against_the_known_ones(client, auth, clinic):
    headers = auth("admin")
    program = clinic["program"]
    assert client.get(f"{API}/programs/{program.id}", headers=headers).json["country"] == "US"
    bad = client.patch(f"{API}/programs/{program.id}", json={"country": "XX"}, headers=headers)
    assert bad.status_code == 422
    assert "country" in bad.json["errors"]["json"]
    good = client.patch(f"{API}/programs/{program.id}", json={"country": "ca"}, headers=headers)
    assert (good.status_code, good.json["country"]) == (200, "CA")


def test_a_series_over_christmas_and_new_year_warns_naming_the_days(client, auth, make):
    program = make.program()
    headers = auth("coordinator")
    body = {"program_id": program.id, "kind": "group", "title": "Winter group",
            "start_date": "2026-12-14", "end_date": "2027-01-08", "start_time": "10:00",
            "duration_minutes": 60, "rrule": "FREQ=WEEKLY;BYDAY=MO,WE,FR"}
    with clock.frozen(datetime(2026, 12, 1, 15, 0, tzinfo=UTC)):
        answer = client.post(f"{API}/series", json=body, headers=headers)
        assert answer.status_code == 201, answer.json
        [note] = answer.json["warnings"]
        assert "Fri 25 Dec 2026 is Christmas Day" in note
        assert "Fri 1 Jan 2027 is New Year's Day" in note
        closed = client.post(f"{API}/programs/{program.id}/closures", headers=headers,
                             json={"starts_on": "2026-12-21", "ends_on": "2026-12-21",
                                   "reason": "Staff day"})
        assert closed.json["cancelled"] == 1
        edit = client.patch(f"{API}/series/{answer.json['id']}", json={"title": "Winter"},
                            headers=headers)
        assert "Mon 21 Dec 2026 is closed: Staff day" in edit.json["warnings"][0]
    quiet = dict(body, start_date="2027-03-01", end_date="2027-03-31", title="Spring")
    answer = client.post(f"{API}/series", json=quiet, headers=headers)
    assert answer.json["warnings"] == []


def test_the_waitlist_keeps_its_place_and_waitlisted_clients_get_no_message(
        client, db, auth, clinic, make, inbox, now):
    program = clinic["program"]
    one_seat = sessions.create_one_off(
        db, STAFF, now=now, program_id=program.id, kind="individual",
        starts_at=datetime(2027, 3, 2, 15, tzinfo=UTC),
        ends_at=datetime(2027, 3, 2, 16, tzinfo=UTC))
    booking.book_client(db, STAFF, one_seat.id, clinic["client"].id, now=now)
    waiting = make.client(program, name="Wren Waits", email="wren@example.test")
    queued, _ = booking.book_client(db, STAFF, one_seat.id, waiting.id, now=now)
    db.commit()
    assert queued.status == "waitlisted"
    headers = auth("coordinator")
    made = close(client, headers, program, "2027-03-02", "2027-03-02")
    assert made.json["cancelled"] == 1
    inbox.wait_for("casey@example.test")
    assert inbox.to("wren@example.test") == []
    client.delete(f"{API}/programs/{program.id}/closures/{made.json['id']}", headers=headers,
                  buffered=True)
    db.expire_all()
    assert (one_seat.status, queued.status) == ("scheduled", "waitlisted")
    assert booking.waitlist_position(db, queued) == 1
    assert inbox.to("wren@example.test") == []
