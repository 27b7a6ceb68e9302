"""An admin reads the audit page in Chromium at desktop size: names, local times, every action.

The screen is kept in test-artifacts/screens/audit.png for a person to look at.
"""

import re
from datetime import date

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from scheduler.models import Session
from scheduler.services import booking, sessions
from tests.browser.conftest import keep_screenshot
from tests.helpers import ACTOR


@pytest.fixture(autouse=True)
def _clinic_clock(now):
    """The server runs at the frozen clinic 'now' (Tue 2027-02-16 12:00 UTC, 07:00 New York)."""


def test_an_admin_reads_who_did_what_by_name_in_the_clinics_time(page, login, db, make, now):
    program = make.program(name="Evening IOP")
    room = make.room(name="Room A")
    series = make.series(program, title="Relapse prevention", start_date=date(2027, 3, 1),
                         end_date=date(2027, 3, 1), rrule="FREQ=DAILY", room_id=room.id)
    group = db.scalars(select(Session).where(Session.series_id == series.id)).one()
    jordan = make.client(program, name="Jordan Rivers")
    booking.book_client(db, ACTOR, group.id, jordan.id, now=now)
    sessions.change_session(db, ACTOR, group, {"status": "cancelled"}, reason="Snow")
    db.commit()

    login(page, "admin")
    page.goto("/audit")
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit log")
    table = page.locator("#events")
    expect(table.locator("caption")).to_contain_text(
        "times in the clinic's time zone, America/New_York")
    cancelled = table.locator("tbody tr").filter(has_text="Cancelled")
    expect(cancelled).to_have_count(1)
    expect(cancelled.locator("time")).to_have_attribute("datetime", "2027-02-16T07:00:00-05:00")
    # The day and the time on a line each; the day never breaks inside.
    expect(cancelled.locator("time")).to_have_text("Tue\u00a016\u00a0Feb\u00a0202707:00:00")
    expect(cancelled).to_contain_text("Relapse prevention (Mon 2027-03-01 18:00–21:00)")
    expect(cancelled).to_contain_text("Snow")
    booked = table.locator("tbody tr").filter(has_text="Booked")
    expect(booked.get_by_role("link", name=re.compile("Jordan Rivers"))).to_be_visible()
    expect(table).not_to_contain_text(re.compile(r"\b(client|session) \d+\b"))

    # The action filter offers every action by name, and narrows the list to one.
    action = page.get_by_label("Action")
    expect(action.locator("option", has_text="Restored")).to_have_count(1)
    action.select_option(label="Cancelled")
    page.get_by_role("button", name="Search").click()
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(page.get_by_label("Action")).to_have_value("cancel")
    page.goto("/audit")
    keep_screenshot(page, "audit")
