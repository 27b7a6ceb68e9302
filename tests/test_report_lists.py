"""Attendance rates, census, below-target, follow-up and billing days: hand-computed numbers."""

import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select

from scheduler import clock
from scheduler.extensions import db as _db
from scheduler.models import Session
from scheduler.services import attendance, booking, episodes, plans, reports, sessions
from scheduler.services.audit import Actor
from tests.helpers import sign_in

API = "/api/v1"
STAFF = Actor.system("tests")
NY = ZoneInfo("America/New_York")
# Everything is set up before the sessions start, and marked just after each one ends.
SETUP = datetime(2027, 2, 16, 12, 0, tzinfo=UTC)
RATES_NOW = datetime(2027, 3, 12, 12, 0, tzinfo=UTC)  # Friday, week 2
MID_WEEK = datetime(2027, 3, 2, 12, 0, tzinfo=NY)  # Tuesday noon of the week of Mar 1
FOLLOW_UP_NOW = datetime(2027, 4, 1, 12, 0, tzinfo=NY)


def ny(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2027, month, day, hour, minute, tzinfo=NY)


def one_off(db, program, kind, starts_at, minutes, clients=(), capacity=12):
    """A session outside any series, booked for the clients in order (the rest wait)."""
    session = sessions.create_one_off(
        db, STAFF, now=SETUP, program_id=program.id, kind=kind, starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=minutes), capacity=capacity)
    for person in clients:
        booking.book_client(db, STAFF, session.id, person.id, now=SETUP)
    db.commit()
    return session


def enroll(db, series, *people):
    for person in people:
        booking.enroll_client(db, STAFF, series.id, person.id, now=SETUP)
    db.commit()


def by_day(db, series) -> dict[int, Session]:
    """The series' sessions by day of the month (all in March), on the New York clock."""
    rows = db.scalars(select(Session).where(Session.series_id == series.id)
                      .order_by(Session.starts_at)).all()
    return {s.starts_at.astimezone(NY).day: s for s in rows}


def roster(db, session, marks: dict):
    """Mark {client: status or (status, arrived_at)} on the roster a minute after the end."""
    records = []
    for person, mark in marks.items():
        status, arrived = (mark, None) if isinstance(mark, str) else mark
        record = {"client_id": person.id, "status": status}
        if arrived is not None:
            record["arrived_at"] = arrived
        if status in attendance.NEEDS_REASON:
            record["reason_code"] = "transport"
        records.append(record)
    at = session.ends_at + timedelta(minutes=1)
    with clock.frozen(at):
        attendance.record_roster(db, STAFF, "coordinator", session.id, records, now=at,
                                 policy=attendance.Policy())
    db.commit()


def same_numbers(json_items: list[dict], response) -> list[dict]:
    """Every CSV cell carries the JSON value: numbers equal, lists joined with ';'."""
    assert response.status_code == 200 and response.mimetype == "text/csv"
    parsed = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(parsed) == len(json_items)
    for row, item in zip(parsed, json_items, strict=True):
        # A file with times gives them in the program's zone, and names it (issue 17 §5).
        tz = ZoneInfo(row.pop("time_zone")) if "time_zone" in row else None
        assert set(row) <= set(item)
        for column, cell in row.items():
            value = item[column]
            if tz is not None and isinstance(value, str) and value[10:11] == "T":
                assert cell == f"{datetime.fromisoformat(value).astimezone(tz):%Y-%m-%d %H:%M}"
            elif value is None:
                assert cell == "", column
            elif isinstance(value, bool):
                assert cell == str(value), column
            elif isinstance(value, (int, float)):
                assert float(cell) == value, column
            elif isinstance(value, list):
                assert cell == ";".join(value), column
            else:
                assert cell == value, column
    return parsed


def count_statements(db, run) -> int:
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(_db.engine, "before_cursor_execute", listener)
    try:
        db.expire_all()
        run()
    finally:
        event.remove(_db.engine, "before_cursor_execute", listener)
    return len(statements)


# --- attendance rates --------------------------------------------------------------------------


@pytest.fixture
def rates(db, make):
    """Two series and a one-off in March; marks up to Thu Mar 11, the report read on Fri Mar 12."""
    program = make.program(name="Rates IOP")
    group = make.series(program, now=SETUP, title="Evening group", start_date=date(2027, 3, 1),
                        end_date=date(2027, 3, 18))
    skills = make.series(program, now=SETUP, kind="behavioral", title="Skills",
                         start_date=date(2027, 3, 2), end_date=date(2027, 3, 16),
                         start_time=time(18, 0), duration_minutes=60, rrule="FREQ=WEEKLY;BYDAY=TU")
    a, b, c = make.client(program), make.client(program), make.client(program)
    enroll(db, group, a, b)
    enroll(db, skills, a, c)
    individual = one_off(db, program, "individual", ny(3, 5, 14), 50, [a], capacity=1)
    g, t = by_day(db, group), by_day(db, skills)
    roster(db, g[1], {a: "present", b: "present"})
    roster(db, g[3], {a: ("late", ny(3, 3, 18, 30)), b: "present"})
    roster(db, g[4], {a: "absent_excused", b: "present"})
    roster(db, g[8], {a: "absent_unexcused", b: "absent_unexcused"})
    roster(db, g[10], {a: "cancelled_by_clinic"})
    # g[11] has ended unmarked; g[15], g[17], g[18] and t[16] are after RATES_NOW.
    roster(db, t[2], {a: "present", c: "cancelled_by_clinic"})
    roster(db, t[9], {a: "absent_unexcused", c: "leave_of_absence"})
    roster(db, individual, {a: "present"})
    # Another program's client is never in this program's report.
    other = make.program(name="Other IOP")
    stranger = make.client(other)
    roster(db, one_off(db, other, "group", ny(3, 1, 10), 60, [stranger]), {stranger: "present"})
    return {"program": program, "group": group, "skills": skills, "a": a, "b": b, "c": c}


def _rate_row(row):
    nonzero = {status: n for status, n in row.counts.items() if n}
    rate = None if row.rate is None else float(row.rate)
    return nonzero, row.unmarked, row.attended, float(row.attended_hours), rate


def test_attendance_rate_by_client_counts_each_mark_by_hand(db, rates):
    """A: 4 attended of 7 expected (the clinic's cancellation expects nothing), one unmarked."""
    rows = reports.attendance_rates(db, rates["program"].id, date(2027, 3, 1),
                                    date(2027, 3, 31), "client", RATES_NOW)
    assert [r.client_id for r in rows] == [rates["a"].id, rates["b"].id, rates["c"].id]
    assert all(r.series_id is None for r in rows)
    a, b, c = (_rate_row(r) for r in rows)
    # A: group present 3 h + late 2.5 h, skills present 1 h, individual 50 min = 440 min.
    assert a == ({"present": 3, "late": 1, "absent_excused": 1, "absent_unexcused": 2,
                  "cancelled_by_clinic": 1}, 1, 4, 7.33, 0.571)
    # B: three present and one no-show; Mar 10 and 11 ended with nobody marking the roster.
    assert b == ({"present": 3, "absent_unexcused": 1}, 2, 3, 9.0, 0.75)
    # C: a clinic cancellation and a leave of absence: nothing was expected, so no rate.
    assert c == ({"cancelled_by_clinic": 1, "leave_of_absence": 1}, 0, 0, 0.0, None)


def test_attendance_rate_by_series_puts_one_off_sessions_under_no_series(db, rates):
    """Group 5 of 8, skills 1 of 2, the individual session 1 of 1 with a null series."""
    rows = reports.attendance_rates(db, rates["program"].id, date(2027, 3, 1),
                                    date(2027, 3, 31), "series", RATES_NOW)
    assert [(r.series_id, r.series_title) for r in rows] == [
        (rates["group"].id, "Evening group"), (rates["skills"].id, "Skills"), (None, None)]
    assert all(r.client_id is None for r in rows)
    group, skills, one_offs = (_rate_row(r) for r in rows)
    assert group == ({"present": 4, "late": 1, "absent_excused": 1, "absent_unexcused": 2,
                      "cancelled_by_clinic": 1}, 3, 5, 14.5, 0.625)
    assert skills == ({"present": 1, "absent_unexcused": 1, "cancelled_by_clinic": 1,
                       "leave_of_absence": 1}, 0, 1, 1.0, 0.5)
    assert one_offs == ({"present": 1}, 0, 1, 0.83, 1.0)


def test_attendance_rate_leaves_out_sessions_outside_the_dates(db, rates):
    """From Mar 8 only: A keeps the Mar 8 no-show, Mar 9 no-show, the clinic's cancellation."""
    rows = reports.attendance_rates(db, rates["program"].id, date(2027, 3, 8),
                                    date(2027, 3, 31), "client", RATES_NOW)
    a = next(r for r in rows if r.client_id == rates["a"].id)
    assert _rate_row(a) == ({"absent_unexcused": 2, "cancelled_by_clinic": 1}, 1, 0, 0.0, 0.0)


def test_attendance_rates_json_and_csv_agree(client, auth, rates):
    """by=client and by=series: the same numbers as JSON and as a CSV file."""
    query = f"program_id={rates['program'].id}&from=2027-03-01&to=2027-03-31"
    with clock.frozen(RATES_NOW):
        headers = auth("coordinator")  # the numbers; tests/test_caseload.py has whose
        by_client = client.get(f"{API}/reports/attendance-rates?{query}", headers=headers)
        by_client_csv = client.get(f"{API}/reports/attendance-rates?{query}&format=csv",
                                   headers=headers)
        by_series = client.get(f"{API}/reports/attendance-rates?{query}&by=series",
                               headers=headers)
        by_series_csv = client.get(f"{API}/reports/attendance-rates?{query}&by=series"
                                   "&format=csv", headers=headers)
    items = by_client.json["items"]
    assert [(i["client_id"], i["present"], i["late"], i["absent_excused"],
             i["absent_unexcused"], i["cancelled_by_clinic"], i["unmarked"], i["attended"],
             i["attended_hours"], i["attendance_rate"]) for i in items] == [
        (rates["a"].id, 3, 1, 1, 2, 1, 1, 4, 7.33, 0.571),
        (rates["b"].id, 3, 0, 0, 1, 0, 2, 3, 9.0, 0.75),
        (rates["c"].id, 0, 0, 0, 0, 1, 0, 0, 0.0, None)]
    parsed = same_numbers(items, by_client_csv)
    assert "series_id" not in parsed[0] and "series_title" not in parsed[0]
    assert "attachment" in by_client_csv.headers["Content-Disposition"]

    items = by_series.json["items"]
    assert [(i["series_id"], i["series_title"], i["attended"], i["attendance_rate"])
            for i in items] == [(rates["group"].id, "Evening group", 5, 0.625),
                                (rates["skills"].id, "Skills", 1, 0.5), (None, None, 1, 1.0)]
    parsed = same_numbers(items, by_series_csv)
    assert "client_id" not in parsed[0]
    assert parsed[2]["series_id"] == "" and parsed[2]["series_title"] == ""


def test_a_client_re_admitted_within_the_period_has_a_rate_per_stay(client, db, make, auth):
    """Seen: the rates summed both stays of a returning client into one row."""
    program = make.program(name="Stay IOP")
    jesse = make.client(program, name="Jesse Test", admitted_on=date(2027, 2, 1))
    # The evening session on the discharge day starts after midnight UTC: still that stay.
    first_stay = [one_off(db, program, "group", ny(3, 1, 10), 60, [jesse]),
                  one_off(db, program, "group", ny(3, 3, 19, 30), 60, [jesse])]
    for session in first_stay:
        roster(db, session, {jesse: "present"})
    booking.discharge_client(db, STAFF, jesse.id, date(2027, 3, 3), now=ny(3, 4, 9))
    episodes.readmit(db, STAFF, jesse.id, admitted_on=date(2027, 3, 8), program_id=program.id)
    db.commit()
    missed = one_off(db, program, "group", ny(3, 9, 10), 60, [jesse])
    came = one_off(db, program, "group", ny(3, 10, 10), 60, [jesse])
    roster(db, missed, {jesse: "absent_unexcused"})
    roster(db, came, {jesse: "present"})

    query = f"program_id={program.id}&from=2027-03-01&to=2027-03-31"
    with clock.frozen(RATES_NOW):
        answer = client.get(f"{API}/reports/attendance-rates?{query}",
                            headers=auth("coordinator"))
        assert answer.status_code == 200, answer.json
        assert [(i["client_id"], i["admitted_on"], i["discharged_on"], i["attended"],
                 i["absent_unexcused"], i["attendance_rate"]) for i in answer.json["items"]] == [
            (jesse.id, "2027-02-01", "2027-03-03", 2, 0, 1.0),
            (jesse.id, "2027-03-08", None, 1, 1, 0.5)]
        coordinator = make.user("coordinator")
        sign_in(client, coordinator)
        page = client.get(f"/reports?program={program.id}&from=2027-03-01&to=2027-03-31")
    text = page.get_data(as_text=True).split('id="rates"', 1)[1].split("</table>", 1)[0]
    assert "Jesse Test <span class=\"muted\">(stay from 1 Feb 2027 to 3 Mar 2027)</span>" in text
    assert "Jesse Test <span class=\"muted\">(stay from 8 Mar 2027)</span>" in text


# --- census ------------------------------------------------------------------------------------


@pytest.fixture
def census_clinic(db, make):
    """Mon: 2 seats, 3 clients; Tue: 3 booked, all marked; Wed evening: empty; Thu: outside."""
    program = make.program(name="Census IOP")
    c1, c2, c3 = make.client(program), make.client(program), make.client(program)
    monday = one_off(db, program, "group", ny(3, 1, 10), 60, [c1, c2, c3], capacity=2)
    tuesday = one_off(db, program, "group", ny(3, 2, 10), 60, [c1, c2, c3])
    # 20:00 in New York on Wednesday is 01:00 UTC on Thursday: still Wednesday's census.
    evening = one_off(db, program, "education", ny(3, 3, 20), 60)
    one_off(db, program, "group", ny(3, 4, 10), 60, [c1])
    roster(db, monday, {c1: "present"})
    roster(db, tuesday, {c1: ("late", ny(3, 2, 10, 15)), c2: "absent_excused", c3: "present"})
    return {"program": program, "sessions": [monday, tuesday, evening]}


def test_census_counts_seats_queue_and_marks_per_session(db, census_clinic):
    """Mon: 2 booked, 1 waiting, 1 present, 1 unmarked; Tue: 2 attended of 3; Wed: empty."""
    rows = reports.census(db, census_clinic["program"].id, date(2027, 3, 1), date(2027, 3, 3))
    assert [r.session.id for r in rows] == [s.id for s in census_clinic["sessions"]]
    assert [(r.booked, r.waitlisted, {k: n for k, n in r.counts.items() if n}, r.attended,
             r.unmarked) for r in rows] == [
        (2, 1, {"present": 1}, 1, 1),
        (3, 0, {"present": 1, "late": 1, "absent_excused": 1}, 2, 0),
        (0, 0, {}, 0, 0)]


def test_census_json_and_csv_agree(client, auth, census_clinic):
    query = f"program_id={census_clinic['program'].id}&from=2027-03-01&to=2027-03-03"
    headers = auth("coordinator")  # the numbers; tests/test_caseload.py has whose
    as_json = client.get(f"{API}/reports/census?{query}", headers=headers)
    as_csv = client.get(f"{API}/reports/census?{query}&format=csv", headers=headers)
    items = as_json.json["items"]
    assert [(i["session_id"], i["series_id"], i["capacity"], i["booked"], i["waitlisted"],
             i["present"], i["late"], i["absent_excused"], i["attended"], i["unmarked"])
            for i in items] == [
        (census_clinic["sessions"][0].id, None, 2, 2, 1, 1, 0, 0, 1, 1),
        (census_clinic["sessions"][1].id, None, 12, 3, 0, 1, 1, 1, 2, 0),
        (census_clinic["sessions"][2].id, None, 12, 0, 0, 0, 0, 0, 0, 0)]
    same_numbers(items, as_csv)


# --- below target ------------------------------------------------------------------------------


@pytest.fixture
def week(db, make):
    """The week of Mon Mar 1 (target 9 h), read on Tuesday noon with Monday's roster marked."""
    program = make.program(name="Below IOP")
    group = make.series(program, now=SETUP, start_date=date(2027, 3, 1),
                        end_date=date(2027, 3, 11))
    missed, on_target, part, discharged = (make.client(program) for _ in range(4))
    enroll(db, group, missed, on_target, discharged)
    g = by_day(db, group)
    for day in (1, 4):
        booking.book_client(db, STAFF, g[day].id, part.id, now=SETUP)
    db.commit()
    # Full (on_target and part hold both seats), so it is no use to anyone else.
    one_off(db, program, "group", ny(3, 5, 10), 180, [on_target, part], capacity=2)
    one_off(db, program, "education", ny(3, 6, 10), 90)
    # Started before Tuesday noon: too late to book, whatever its free seats.
    one_off(db, program, "behavioral", ny(3, 2, 9), 60)
    booking.discharge_client(db, STAFF, discharged.id, date(2027, 3, 1), now=SETUP)
    db.commit()
    roster(db, g[1], {missed: "absent_unexcused", on_target: "present",
                      part: ("late", ny(3, 1, 19))})
    return {"program": program, "missed": missed, "part": part, "on_target": on_target,
            "discharged": discharged}


def _below(row):
    return (row.client_id, row.week_start, float(row.attended_hours), float(row.upcoming_hours),
            float(row.projected_hours), float(row.target_hours), float(row.shortfall_hours),
            float(row.open_hours), row.fixable)


def test_below_target_projects_the_week_and_says_whether_open_seats_can_fix_it(db, week):
    """Missed Monday: 6 of 9 h, 1.5 h open (Saturday only): not fixable. Late Monday: fixable."""
    with clock.frozen(MID_WEEK):
        rows = reports.below_target(db, week["program"].id, MID_WEEK)
    assert [_below(r) for r in rows] == [
        # Wed + Thu still booked; Friday is full, Tuesday morning has started: Saturday's 1.5 h.
        (week["missed"].id, date(2027, 3, 1), 0.0, 6.0, 6.0, 9.0, 3.0, 1.5, False),
        # 2 h on Monday (an hour late), Thu + Fri booked: 8 h; Wednesday and Saturday are open.
        (week["part"].id, date(2027, 3, 1), 2.0, 6.0, 8.0, 9.0, 1.0, 4.5, True)]
    # 3 h on Monday and 9 h booked: on target. Discharged on Monday: nobody to book.
    listed = {r.client_id for r in rows}
    assert week["on_target"].id not in listed and week["discharged"].id not in listed


def test_below_target_open_hours_grow_when_a_seat_frees_up(db, week):
    """Another 3-hour session on Friday evening makes the missed Monday fixable."""
    one_off(db, week["program"], "group", ny(3, 5, 18), 180)
    rows = reports.below_target(db, week["program"].id, MID_WEEK)
    missed = next(r for r in rows if r.client_id == week["missed"].id)
    assert (float(missed.open_hours), missed.fixable) == (4.5, True)


def test_below_target_json_and_csv_agree(client, auth, week):
    query = f"program_id={week['program'].id}"
    with clock.frozen(MID_WEEK):
        headers = auth("coordinator")  # the numbers; tests/test_caseload.py has whose
        as_json = client.get(f"{API}/reports/below-target?{query}", headers=headers)
        as_csv = client.get(f"{API}/reports/below-target?{query}&format=csv", headers=headers)
    items = as_json.json["items"]
    assert [(i["client_id"], i["week_start"], i["projected_hours"], i["shortfall_hours"],
             i["open_hours"], i["fixable"]) for i in items] == [
        (week["missed"].id, "2027-03-01", 6.0, 3.0, 1.5, False),
        (week["part"].id, "2027-03-01", 8.0, 1.0, 4.5, True)]
    parsed = same_numbers(items, as_csv)
    assert [row["fixable"] for row in parsed] == ["False", "True"]


# --- follow-up ---------------------------------------------------------------------------------

# The group meets Mon/Wed/Thu in March: 1 3 4 8 10 11 15 17 18 22 24 25 29 31.
PATTERNS = {
    "two": {1: "present", 3: "present", 4: "absent_unexcused", 8: "absent_unexcused"},
    "three": {1: "present", 3: "absent_unexcused", 4: "absent_unexcused",
              8: "absent_unexcused"},
    "excused": {1: "absent_unexcused", 3: "absent_unexcused", 4: "absent_excused",
                8: "absent_unexcused"},
    "came_back": {1: "absent_unexcused", 3: "absent_unexcused", 4: ("late", ny(3, 4, 18, 20)),
                  8: "absent_unexcused"},
    "clinic_cancelled": {1: ("late", ny(3, 1, 18, 15)), 3: "absent_unexcused",
                         4: "cancelled_by_clinic", 8: "absent_unexcused"},
    # Seven no-shows in March, never three in a row, and back on the 24th.
    "scattered": {1: "absent_unexcused", 3: "absent_unexcused", 4: "present",
                  8: "absent_unexcused", 10: "absent_unexcused", 11: "present",
                  15: "absent_unexcused", 17: "absent_unexcused", 18: "present",
                  22: "absent_unexcused", 24: "present"},
    # Six: the rule is more than six.
    "six": {1: "absent_unexcused", 3: "present", 4: "absent_unexcused", 8: "present",
            10: "absent_unexcused", 11: "present", 15: "absent_unexcused", 17: "present",
            18: "absent_unexcused", 22: "present", 24: "absent_unexcused", 25: "present"},
    "discharged": {1: "absent_unexcused", 3: "absent_unexcused", 4: "absent_unexcused"},
}


@pytest.fixture
def calls(db, make):
    """Clients with March attendance patterns and plans, read on Thu Apr 1."""
    program = make.program(name="Follow-up IOP")
    group = make.series(program, now=SETUP, start_date=date(2027, 3, 1),
                        end_date=date(2027, 3, 31))
    people = {name: make.client(program, name=name) for name in PATTERNS}
    enroll(db, group, *people.values())
    g = by_day(db, group)
    for day, session in g.items():
        marks = {people[name]: pattern[day] for name, pattern in PATTERNS.items()
                 if day in pattern}
        if marks:
            roster(db, session, marks)
    booking.discharge_client(db, STAFF, people["discharged"].id, date(2027, 3, 31),
                             now=FOLLOW_UP_NOW)
    people["certify"] = make.client(program, name="certify")
    people["certified"] = make.client(program, name="certified")
    # Certified Feb 5: the next is due 60 days later, Apr 6, within 14 days of Apr 1.
    plans.create_plan(db, STAFF, people["certify"].id, start_date=date(2027, 1, 4),
                      certified_on=date(2027, 2, 5))
    # Certified Mar 1: due Apr 30, nothing to chase yet.
    plans.create_plan(db, STAFF, people["certified"].id, start_date=date(2027, 1, 4),
                      certified_on=date(2027, 3, 1))
    db.commit()
    return {"program": program, "people": people, "g": g}


def _follow(row):
    return (row.client_id, row.reasons, row.unexcused_streak, row.unexcused_recent,
            row.last_attended_session_id, row.certification_due, row.review_due)


def test_follow_up_lists_absence_runs_the_discharge_rule_and_certifications(db, calls):
    """Two no-shows in a row: call; three: also review; seven scattered: review; cert in 5 days."""
    p, g = calls["people"], calls["g"]
    rows = reports.follow_up(db, calls["program"].id, FOLLOW_UP_NOW)
    assert [_follow(r) for r in rows] == [
        (p["two"].id, ["absence_streak"], 2, 2, g[3].id, None, None),
        (p["three"].id, ["absence_streak", "discharge_review"], 3, 3, g[1].id, None, None),
        # A clinic cancellation between two no-shows is no contact: the run is still two.
        (p["clinic_cancelled"].id, ["absence_streak"], 2, 2, g[1].id, None, None),
        (p["scattered"].id, ["discharge_review"], 0, 7, g[24].id, None, None),
        (p["certify"].id, ["certification_due"], 0, 0, None, date(2027, 4, 6), None),
    ]
    # Not listed: an excused absence or a late arrival broke the run; six is not more than
    # six; the discharged client; the certification due Apr 30.


def test_follow_up_last_attended_is_the_last_present_or_late_session(db, calls):
    """Last attended: Wed Mar 3 for 'two', a late Mon Mar 1 for 'clinic_cancelled'."""
    p, g = calls["people"], calls["g"]
    rows = {r.client_id: r for r in reports.follow_up(db, calls["program"].id, FOLLOW_UP_NOW)}
    assert rows[p["two"].id].last_attended_at == g[3].starts_at
    assert rows[p["two"].id].last_attended_at == datetime(2027, 3, 3, 23, 0, tzinfo=UTC)
    assert rows[p["clinic_cancelled"].id].last_attended_at == g[1].starts_at
    assert rows[p["scattered"].id].last_attended_at == g[24].starts_at
    assert rows[p["certify"].id].last_attended_at is None


def test_program_thresholds_change_who_is_called(client, auth, calls):
    """Alert at 3 in a row: 'two' drops off; a 2-week window: 'scattered' drops off too."""
    p, pid = calls["people"], calls["program"].id
    with clock.frozen(FOLLOW_UP_NOW):
        headers = auth("coordinator")

        def listed():
            response = client.get(f"{API}/reports/follow-up?program_id={pid}", headers=headers)
            assert response.status_code == 200
            return [(i["client_id"], i["reasons"]) for i in response.json["items"]]

        assert client.patch(f"{API}/programs/{pid}", json={"absence_streak_alert": 3},
                            headers=headers).status_code == 200
        assert listed() == [
            (p["three"].id, ["absence_streak", "discharge_review"]),
            (p["scattered"].id, ["discharge_review"]),
            (p["certify"].id, ["certification_due"])]
        # Since Mar 18 (two weeks before Apr 1) 'scattered' missed only Mar 22.
        assert client.patch(f"{API}/programs/{pid}", json={"discharge_review_weeks": 2},
                            headers=headers).status_code == 200
        assert listed() == [
            (p["three"].id, ["absence_streak", "discharge_review"]),
            (p["certify"].id, ["certification_due"])]
        # Review at four in a row: 'three' is only a call now.
        assert client.patch(f"{API}/programs/{pid}", json={"discharge_review_streak": 4},
                            headers=headers).status_code == 200
        assert listed() == [
            (p["three"].id, ["absence_streak"]),
            (p["certify"].id, ["certification_due"])]


def test_follow_up_json_and_csv_agree(client, auth, calls):
    """Reasons are a list in JSON and joined with ';' in the CSV."""
    p, g = calls["people"], calls["g"]
    query = f"program_id={calls['program'].id}"
    with clock.frozen(FOLLOW_UP_NOW):
        headers = auth("coordinator")  # the numbers; tests/test_caseload.py has whose
        as_json = client.get(f"{API}/reports/follow-up?{query}", headers=headers)
        as_csv = client.get(f"{API}/reports/follow-up?{query}&format=csv", headers=headers)
    items = as_json.json["items"]
    assert [(i["client_id"], i["unexcused_streak"], i["unexcused_recent"],
             i["last_attended_session_id"], i["certification_due"]) for i in items] == [
        (p["two"].id, 2, 2, g[3].id, None),
        (p["three"].id, 3, 3, g[1].id, None),
        (p["clinic_cancelled"].id, 2, 2, g[1].id, None),
        (p["scattered"].id, 0, 7, g[24].id, None),
        (p["certify"].id, 0, 0, None, "2027-04-06")]
    parsed = same_numbers(items, as_csv)
    assert parsed[1]["reasons"] == "absence_streak;discharge_review"
    assert parsed[0]["last_attended_at"] != ""


# --- billing days ------------------------------------------------------------------------------


@pytest.fixture
def billing(db, make):
    """Mon: four qualifying services and peer support; Tue: three; Wed evening: one."""
    program = make.program(name="Billing IOP")
    k, k2 = make.client(program), make.client(program)
    mon = [one_off(db, program, "group", ny(3, 1, 9), 60, [k, k2]),
           one_off(db, program, "behavioral", ny(3, 1, 10), 60, [k]),
           one_off(db, program, "education", ny(3, 1, 11), 60, [k]),
           one_off(db, program, "individual", ny(3, 1, 13), 50, [k], capacity=1),
           one_off(db, program, "peer_support", ny(3, 1, 14), 60, [k])]
    tue = [one_off(db, program, "group", ny(3, 2, 9), 60, [k]),
           one_off(db, program, "behavioral", ny(3, 2, 10), 60, [k]),
           one_off(db, program, "family", ny(3, 2, 11), 60, [k]),
           one_off(db, program, "medical", ny(3, 2, 12), 30, [k])]
    # 20:00–21:00 in New York on Wednesday is Thursday 01:00–02:00 UTC.
    wed_evening = one_off(db, program, "group", ny(3, 3, 20), 60, [k])
    thu = one_off(db, program, "group", ny(3, 4, 9), 60, [k])
    roster(db, mon[0], {k: "present", k2: "present"})
    for session in mon[1:3] + mon[4:]:
        roster(db, session, {k: "present"})
    roster(db, mon[3], {k: ("late", ny(3, 1, 13, 10))})
    for session in tue[:3]:
        roster(db, session, {k: "present"})
    roster(db, tue[3], {k: "absent_unexcused"})
    roster(db, wed_evening, {k: "present"})
    roster(db, thu, {k: "absent_excused"})
    return {"program": program, "k": k, "k2": k2}


def test_billing_days_count_qualifying_services_per_new_york_day(db, billing):
    """Mon 4 services (peer support left out) → 4+; Tue 3 → 3; Wed evening 1 → under_3."""
    k, k2 = billing["k"].id, billing["k2"].id
    rows = reports.billing_days(db, billing["program"].id, date(2027, 3, 1), date(2027, 3, 4))
    assert [(r.client_id, r.service_date, r.services, r.attended_minutes, r.individual_minutes,
             r.tier) for r in rows] == [
        # group, behavioral, education 60 min each; individual 50 min, 10 late: 40.
        (k, date(2027, 3, 1), 4, 220, 40, "4+"),
        # the medication review was a no-show.
        (k, date(2027, 3, 2), 3, 180, 0, "3"),
        (k, date(2027, 3, 3), 1, 60, 0, "under_3"),
        # Thursday's excused absence bills nothing.
        (k2, date(2027, 3, 1), 1, 60, 0, "under_3")]


def test_billing_days_json_and_csv_agree(client, auth, billing):
    query = f"program_id={billing['program'].id}&from=2027-03-01&to=2027-03-04"
    headers = auth("coordinator")  # the numbers; tests/test_caseload.py has whose
    as_json = client.get(f"{API}/reports/billing-days?{query}", headers=headers)
    as_csv = client.get(f"{API}/reports/billing-days?{query}&format=csv", headers=headers)
    items = as_json.json["items"]
    assert [(i["service_date"], i["services"], i["individual_minutes"], i["tier"])
            for i in items] == [("2027-03-01", 4, 40, "4+"), ("2027-03-02", 3, 0, "3"),
                                ("2027-03-03", 1, 0, "under_3"), ("2027-03-01", 1, 0, "under_3")]
    parsed = same_numbers(items, as_csv)
    assert [row["tier"] for row in parsed] == ["4+", "3", "under_3", "under_3"]


# --- bad requests, roles -----------------------------------------------------------------------

PERIOD_REPORTS = ["attendance-rates", "census", "billing-days"]
ALL_REPORTS = PERIOD_REPORTS + ["below-target", "follow-up"]
DATES = "&from=2027-03-01&to=2027-03-07"


def _dates(report: str) -> str:
    return DATES if report in PERIOD_REPORTS else ""


@pytest.mark.parametrize("report", ALL_REPORTS)
def test_a_report_without_program_id_names_the_field(client, auth, report):
    response = client.get(f"{API}/reports/{report}?{_dates(report)[1:]}",
                          headers=auth("coordinator"))
    assert response.status_code == 422
    assert "program_id" in response.json["errors"]["query"]


@pytest.mark.parametrize("report", ALL_REPORTS)
def test_a_report_of_an_unknown_program_names_the_field(client, auth, report):
    response = client.get(f"{API}/reports/{report}?program_id=999{_dates(report)}",
                          headers=auth("coordinator"))
    assert response.status_code == 422
    assert "program_id" in response.json["errors"]["query"]


@pytest.mark.parametrize("report", PERIOD_REPORTS)
def test_a_report_ending_before_it_starts_names_to(client, auth, make, report):
    pid = make.program().id
    response = client.get(f"{API}/reports/{report}?program_id={pid}&from=2027-03-08"
                          "&to=2027-03-01", headers=auth("coordinator"))
    assert response.status_code == 422
    assert "to" in response.json["errors"]["query"]


@pytest.mark.parametrize("report", ["census", "billing-days"])
def test_a_day_by_day_report_covers_at_most_93_days(client, auth, make, report):
    pid = make.program().id
    response = client.get(f"{API}/reports/{report}?program_id={pid}&from=2027-01-01"
                          "&to=2027-06-30", headers=auth("coordinator"))
    assert response.status_code == 422
    assert "to" in response.json["errors"]["query"]


def test_attendance_rates_by_anything_else_names_by(client, auth, make):
    pid = make.program().id
    response = client.get(f"{API}/reports/attendance-rates?program_id={pid}{DATES}&by=foo",
                          headers=auth("coordinator"))
    assert response.status_code == 422
    assert "by" in response.json["errors"]["query"]


@pytest.mark.parametrize("report", ALL_REPORTS)
def test_a_report_in_another_format_names_format(client, auth, make, report):
    pid = make.program().id
    response = client.get(f"{API}/reports/{report}?program_id={pid}{_dates(report)}"
                          "&format=xml", headers=auth("coordinator"))
    assert response.status_code == 422
    assert "format" in response.json["errors"]["query"]


@pytest.mark.parametrize("report", ALL_REPORTS)
def test_a_client_may_not_read_reports_but_a_clinician_may(client, auth, make, report):
    pid = make.program().id
    url = f"{API}/reports/{report}?program_id={pid}{_dates(report)}"
    assert client.get(url, headers=auth("client")).status_code == 403
    assert client.get(url, headers=auth("clinician")).status_code == 200
    assert client.get(url).status_code == 401


# --- query counts ------------------------------------------------------------------------------

SCALE_REPORTS = {
    "attendance_rates_by_client": lambda db, pid: reports.attendance_rates(
        db, pid, date(2027, 3, 1), date(2027, 3, 14), "client", RATES_NOW),
    "attendance_rates_by_series": lambda db, pid: reports.attendance_rates(
        db, pid, date(2027, 3, 1), date(2027, 3, 14), "series", RATES_NOW),
    "census": lambda db, pid: reports.census(db, pid, date(2027, 3, 1), date(2027, 3, 14)),
    "below_target": lambda db, pid: reports.below_target(db, pid, MID_WEEK),
    "follow_up": lambda db, pid: reports.follow_up(db, pid, RATES_NOW),
    "billing_days": lambda db, pid: reports.billing_days(
        db, pid, date(2027, 3, 1), date(2027, 3, 14)),
}


@pytest.mark.parametrize("report", SCALE_REPORTS)
def test_the_query_count_does_not_grow_from_one_client_to_twenty(db, make, report):
    """The same number of statements for one client or twenty: aggregates, not a loop."""
    program = make.program(name="Busy IOP")
    group = make.series(program, now=SETUP, start_date=date(2027, 3, 1),
                        end_date=date(2027, 3, 11), capacity=20)
    individual = make.series(program, now=SETUP, kind="individual", title="Therapy",
                             start_date=date(2027, 3, 2), end_date=date(2027, 3, 9),
                             start_time=time(9, 0), duration_minutes=50, capacity=20,
                             rrule="FREQ=WEEKLY;BYDAY=TU")
    g = by_day(db, group)

    def add_clients(n: int) -> None:
        people = [make.client(program) for _ in range(n)]
        enroll(db, group, *people)
        enroll(db, individual, *people)
        for person in people:
            # Certified Feb 5: due Apr 6, so every client's paperwork is on the list too.
            plans.create_plan(db, STAFF, person.id, start_date=date(2027, 1, 4),
                              certified_on=date(2027, 2, 5))
        db.commit()
        for day, statuses in ((1, ("present", "absent_unexcused")),
                              (3, ("absent_unexcused", "absent_excused")),
                              (4, ("absent_unexcused", "present"))):
            roster(db, g[day], {p: statuses[i % 2] for i, p in enumerate(people)})

    run = SCALE_REPORTS[report]
    add_clients(1)
    few = count_statements(db, lambda: run(db, program.id))
    add_clients(19)
    rows = []
    many = count_statements(db, lambda: rows.extend(run(db, program.id)))
    assert rows and many == few


# --- program settings --------------------------------------------------------------------------

RULES = ("absence_streak_alert", "discharge_review_streak", "discharge_review_absences",
         "discharge_review_weeks")
NEW_PROGRAM = {"name": "Evening IOP", "level_of_care": "2.1", "timezone": "America/New_York"}


def test_a_new_program_has_the_default_follow_up_rules(client, auth):
    """2 no-shows in a row for a call; 3 in a row, or more than 6 in 12 weeks, for a review."""
    headers = auth("coordinator")
    created = client.post(f"{API}/programs", json=NEW_PROGRAM, headers=headers)
    assert created.status_code == 201
    defaults = {"absence_streak_alert": 2, "discharge_review_streak": 3,
                "discharge_review_absences": 6, "discharge_review_weeks": 12}
    assert {k: created.json[k] for k in RULES} == defaults
    read = client.get(f"{API}/programs/{created.json['id']}", headers=auth("clinician"))
    assert {k: read.json[k] for k in RULES} == defaults
    listed = client.get(f"{API}/programs", headers=headers).json["items"]
    assert {k: listed[0][k] for k in RULES} == defaults


def test_follow_up_rules_are_set_on_create_and_edited_one_at_a_time(client, auth):
    headers = auth("coordinator")
    chosen = {"absence_streak_alert": 4, "discharge_review_streak": 5,
              "discharge_review_absences": 8, "discharge_review_weeks": 10}
    created = client.post(f"{API}/programs", json={**NEW_PROGRAM, **chosen}, headers=headers)
    assert created.status_code == 201
    assert {k: created.json[k] for k in RULES} == chosen
    url = f"{API}/programs/{created.json['id']}"
    edited = client.patch(url, json={"absence_streak_alert": 3}, headers=headers)
    assert edited.status_code == 200
    assert {k: edited.json[k] for k in RULES} == {**chosen, "absence_streak_alert": 3}
    assert client.get(url, headers=headers).json["absence_streak_alert"] == 3


@pytest.mark.parametrize("value", [0, -1])
@pytest.mark.parametrize("rule", RULES)
def test_a_follow_up_rule_below_one_names_the_field(client, auth, make, rule, value):
    headers = auth("coordinator")
    created = client.post(f"{API}/programs", json={**NEW_PROGRAM, rule: value}, headers=headers)
    assert created.status_code == 422
    assert rule in created.json["errors"]["json"]
    pid = make.program().id
    edited = client.patch(f"{API}/programs/{pid}", json={rule: value}, headers=headers)
    assert edited.status_code == 422
    assert rule in edited.json["errors"]["json"]
