"""The weekly-hours report: hand-computed hours, DST weeks, JSON and CSV alike, no N+1."""

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import event, select

from scheduler import clock
from scheduler.extensions import db as _db
from scheduler.models import Session
from scheduler.services import attendance, booking
from scheduler.services.audit import Actor

API = "/api/v1"
STAFF = Actor.system("tests")
AFTER_THE_WEEK = datetime(2027, 3, 13, 12, 0, tzinfo=UTC)


@pytest.fixture
def clinic(make, db, now):
    """A New York program; a Mon/Wed/Thu 18:00–21:00 group in the week DST begins (Mar 14)."""
    program = make.program(name="Evening IOP")
    group = make.series(program, start_date=date(2027, 3, 8), end_date=date(2027, 3, 21))
    person = make.client(program)
    booking.enroll_client(db, STAFF, group.id, person.id, now=now)
    db.commit()
    sessions = db.scalars(
        select(Session).where(Session.series_id == group.id).order_by(Session.starts_at)
    ).all()
    return {"program": program, "client": person, "sessions": sessions}


def mark(db, session, client_id, status, **times):
    record = {"client_id": client_id, "status": status, **times}
    if status in ("late", "absent_unexcused", "absent_excused"):
        record["reason_code"] = "transport"
    with clock.frozen(max(AFTER_THE_WEEK, session.ends_at)):
        attendance.record_roster(db, STAFF, "coordinator", session.id, [record],
                                 now=clock.now(), policy=attendance.Policy())
    db.commit()


def test_weekly_hours_add_up_late_minutes_and_absences_by_hand(db, clinic):
    """Mon present 3 h, Wed 30 min late 2.5 h, Thu absent: 5.5 of 9 scheduled; target 9 missed."""
    mon, wed, thu = clinic["sessions"][:3]
    person = clinic["client"].id
    mark(db, mon, person, "present")
    mark(db, wed, person, "late", arrived_at=datetime(2027, 3, 10, 23, 30, tzinfo=UTC))
    mark(db, thu, person, "absent_unexcused")

    from scheduler.services import reports
    rows = reports.weekly_hours(db, clinic["program"].id, date(2027, 3, 8), date(2027, 3, 14))

    assert [(r.week_start, float(r.scheduled_hours), float(r.attended_hours),
             float(r.target_hours), r.met) for r in rows] == [
        (date(2027, 3, 8), 9.0, 5.5, 9.0, False)]


def test_hours_count_a_session_of_another_program_but_not_its_own_clients(db, make, clinic, now):
    """A client's hours include a shared session run by another program; that program's own
    clients never enter this program's report."""
    from scheduler.services import reports
    other = make.program(name="Day program")
    shared = make.series(other, title="Family education", start_date=date(2027, 3, 9),
                         end_date=date(2027, 3, 9), rrule="FREQ=WEEKLY;BYDAY=TU")
    neighbour = make.client(other, name="Other program client")
    booking.enroll_client(db, STAFF, shared.id, neighbour.id, now=now)
    tuesday = db.scalar(select(Session).where(Session.series_id == shared.id))
    booking.book_client(db, STAFF, tuesday.id, clinic["client"].id, now=now)
    db.commit()
    mark(db, clinic["sessions"][0], clinic["client"].id, "present")
    mark(db, tuesday, clinic["client"].id, "present")

    rows = reports.weekly_hours(db, clinic["program"].id, date(2027, 3, 8), date(2027, 3, 14))

    assert [(r.client_id, float(r.attended_hours)) for r in rows] == [
        (clinic["client"].id, 6.0)]


def test_one_clients_hours_are_their_rows_of_the_programs_report(db, make, clinic, now):
    """A client page asks for one person: the same rows as the program's, and no others."""
    from scheduler.services import reports
    other = make.client(clinic["program"], name="Second client")
    series_id = clinic["sessions"][0].series_id
    booking.enroll_client(db, STAFF, series_id, other.id, now=now)
    db.commit()
    mark(db, clinic["sessions"][0], clinic["client"].id, "present")
    mark(db, clinic["sessions"][1], other.id, "absent_unexcused")
    program_id, first, last = clinic["program"].id, date(2027, 3, 8), date(2027, 3, 21)

    everyone = reports.weekly_hours(db, program_id, first, last)
    one = reports.weekly_hours(db, program_id, first, last, client_id=clinic["client"].id)

    assert {r.client_id for r in everyone} == {clinic["client"].id, other.id}
    assert one == [r for r in everyone if r.client_id == clinic["client"].id]
    assert len(one) == 2 and float(one[0].attended_hours) == 3.0


def test_the_week_after_the_dst_change_still_counts_three_hours_a_session(db, clinic):
    """18:00–21:00 EDT is three real hours; the Monday week boundary moves with the clock."""
    person = clinic["client"].id
    for session in clinic["sessions"][3:6]:
        mark(db, session, person, "present")
    from scheduler.services import reports
    rows = reports.weekly_hours(db, clinic["program"].id, date(2027, 3, 15), date(2027, 3, 21))
    assert [(r.week_start, float(r.scheduled_hours), float(r.attended_hours), r.met)
            for r in rows] == [(date(2027, 3, 15), 9.0, 9.0, True)]


def test_json_and_csv_give_the_same_numbers(client, auth, db, clinic):
    mark(db, clinic["sessions"][0], clinic["client"].id, "present")
    query = f"program_id={clinic['program'].id}&from=2027-03-08&to=2027-03-21"
    headers = auth("coordinator")  # the numbers; tests/test_caseload.py has whose
    as_json = client.get(f"{API}/reports/weekly-hours?{query}", headers=headers)
    as_csv = client.get(f"{API}/reports/weekly-hours?{query}&format=csv", headers=headers)
    assert as_json.status_code == 200 and as_csv.status_code == 200
    assert as_csv.mimetype == "text/csv"
    parsed = list(csv.DictReader(io.StringIO(as_csv.get_data(as_text=True))))
    assert len(parsed) == len(as_json.json["items"]) == 2
    for row, item in zip(parsed, as_json.json["items"], strict=True):
        assert int(row["client_id"]) == item["client_id"]
        assert row["week_start"] == item["week_start"]
        assert float(row["scheduled_hours"]) == item["scheduled_hours"]
        assert float(row["attended_hours"]) == item["attended_hours"]
        assert float(row["target_hours"]) == item["target_hours"]
        assert row["met"] == str(item["met"])


@pytest.mark.parametrize("report", ["weekly-hours", "attendance-rates", "census",
                                    "below-target", "follow-up", "billing-days"])
def test_every_report_documents_its_csv_answer_beside_its_json(client, report):
    """?format=csv answers text/csv, so the OpenAPI document must say the 200 can be CSV."""
    document = client.get(f"{API}/openapi.json").json
    content = document["paths"][f"{API}/reports/{report}"]["get"]["responses"]["200"]["content"]
    assert {"application/json", "text/csv"} <= set(content)


def test_the_report_query_count_does_not_grow_with_clients(db, make, clinic, now):
    """Three queries for one client or for twenty: aggregates, not a loop."""
    from scheduler.services import reports

    def count_queries() -> int:
        statements = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(_db.engine, "before_cursor_execute", listener)
        try:
            db.expire_all()
            reports.weekly_hours(db, clinic["program"].id, date(2027, 3, 8), date(2027, 3, 21))
        finally:
            event.remove(_db.engine, "before_cursor_execute", listener)
        return len(statements)

    few = count_queries()
    group_id = clinic["sessions"][0].series_id
    for _ in range(19):
        other = make.client(clinic["program"])
        booking.enroll_client(db, STAFF, group_id, other.id, now=now)
    db.commit()
    assert count_queries() == few


def test_bad_report_requests_name_the_field(client, auth, clinic):
    headers = auth("coordinator")
    pid = clinic["program"].id
    assert "to" in client.get(f"{API}/reports/weekly-hours?program_id={pid}&from=2027-03-08"
                              "&to=2027-03-01", headers=headers).json["errors"]["query"]
    assert "program_id" in client.get(f"{API}/reports/weekly-hours?from=2027-03-08&to=2027-03-09",
                                      headers=headers).json["errors"]["query"]
    assert client.get(f"{API}/reports/weekly-hours?program_id=999&from=2027-03-08&to=2027-03-09",
                      headers=headers).status_code == 422
    assert client.get(f"{API}/reports/weekly-hours?program_id={pid}&from=2027-03-08"
                      "&to=2027-03-09", headers=auth("client")).status_code == 403


def test_a_plan_phase_sets_that_weeks_target(db, clinic):
    """A taper phase of 6 h from week 2 makes the second week's target 6, not the program's 9."""
    from scheduler.services import plans, reports

    plans.create_plan(db, STAFF, clinic["client"].id, start_date=date(2027, 3, 8), phases=[
        {"name": "Intensive", "first_week": 1, "last_week": 1, "weekly_hours_target": 9,
         "requirements": [{"kind": "group", "sessions_per_week": 3}]},
        {"name": "Step-down", "first_week": 2, "last_week": None, "weekly_hours_target": 6,
         "requirements": [{"kind": "group", "sessions_per_week": 2}]},
    ])
    db.commit()
    rows = reports.weekly_hours(db, clinic["program"].id, date(2027, 3, 8), date(2027, 3, 21))
    assert [(r.week_start, float(r.target_hours)) for r in rows] == [
        (date(2027, 3, 8), 9.0), (date(2027, 3, 15), 6.0)]


def test_a_session_crossing_midnight_counts_in_the_week_it_starts(db, clinic):
    """Sun 22:00–Mon 01:00 New York: all three hours in the week of Sunday, none in Monday's."""
    from zoneinfo import ZoneInfo

    from scheduler.services import reports, sessions

    ny = ZoneInfo("America/New_York")
    person = clinic["client"].id
    starts = datetime(2027, 3, 21, 22, 0, tzinfo=ny)  # a Sunday, after the DST change
    with clock.frozen(starts - timedelta(days=30)):
        late_night = sessions.create_one_off(
            db, STAFF, now=clock.now(), program_id=clinic["program"].id, kind="group",
            starts_at=starts, ends_at=datetime(2027, 3, 22, 1, 0, tzinfo=ny), capacity=12)
        booking.book_client(db, STAFF, late_night.id, person, now=clock.now())
        db.commit()
    mark(db, late_night, person, "left_early",
         left_at=datetime(2027, 3, 22, 0, 30, tzinfo=ny))

    rows = reports.weekly_hours(db, clinic["program"].id, date(2027, 3, 15), date(2027, 3, 28))
    by_week = {r.week_start: (float(r.scheduled_hours), float(r.attended_hours)) for r in rows}
    # The Mon/Wed/Thu group (ending Mar 21) adds 9 scheduled hours to the first week only;
    # of the late session, 22:00 to 00:30 was attended.
    assert by_week == {date(2027, 3, 15): (12.0, 2.5), date(2027, 3, 22): (0.0, 0.0)}
