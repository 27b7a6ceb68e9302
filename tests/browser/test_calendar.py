"""A coordinator plans a group in the browser: a new series with its preview, then enrolment."""

import re
from datetime import date, time

from playwright.sync_api import expect
from sqlalchemy import select

from scheduler.models import Session
from scheduler.services import booking
from tests.browser.conftest import enhanced
from tests.helpers import ACTOR


def _pick(page, label: str, typed: str, name: str) -> None:
    """Choose in a searchable picker (static/js/picker.js) as a person does: type, click."""
    enhanced(page)
    page.get_by_role("combobox", name=label).fill(typed)
    page.get_by_role("option", name=name).click()


def test_a_coordinator_creates_a_series_sees_the_preview_and_enrols_clients(page, login, make,
                                                                          db, now):
    program = make.program(name="Evening IOP")
    room = make.room(name="Room B", capacity=12)
    make.staff(name="Dana Reyes")
    make.series(program=program, title="Relapse prevention", room_id=room.id,
                start_date=date(2027, 3, 1), rrule="FREQ=WEEKLY;BYDAY=MO")
    make.client(program, name="Ann Lee")
    ben = make.client(program, name="Ben Okafor")
    review = make.series(program=program, title="Medication review", kind="medical", capacity=1,
                         start_date=date(2027, 3, 3), start_time=time(10, 0),
                         duration_minutes=30, end_date=date(2027, 3, 3),
                         rrule="FREQ=WEEKLY;BYDAY=WE")
    clash = db.scalar(select(Session).where(Session.series_id == review.id))
    booking.book_client(db, ACTOR, clash.id, ben.id, now=now)
    db.commit()

    login(page, "coordinator")
    expect(page.get_by_role("heading", level=1)).to_have_text("Week of Monday 15 February 2027")
    page.get_by_role("link", name="New series").click()

    page.get_by_label("Program").select_option(label="Evening IOP")
    page.get_by_label("Title").fill("Coping skills")
    page.get_by_label("Kind").select_option(label="Behavioural skills (CBT/DBT)")
    _pick(page, "Room", "room b", "Room B")
    page.get_by_label("Dana Reyes").check()
    page.get_by_label("Monday").check()
    page.get_by_label("Wednesday").check()
    page.get_by_label("Start time (local)").fill("18:00")
    page.get_by_label("Length in minutes").fill("90")
    page.get_by_label("First day").fill("2027-03-01")
    page.get_by_label("Last day (optional)").fill("2027-03-14")

    # Monday 18:00 is Room B's relapse-prevention group: the preview says so before saving.
    preview = page.locator("#series-preview")
    expect(preview).to_contain_text("4 sessions would be made.")
    expect(preview).to_contain_text("2 conflicts: saving will be refused.")
    expect(preview).to_contain_text("2027-03-01 18:00 — Room: Room")

    page.get_by_label("Start time (local)").fill("10:00")
    expect(preview).to_contain_text("No conflicts.")
    page.get_by_role("button", name="Save series").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Coping skills")
    expect(page.get_by_role("status").first).to_have_text(
        "Series “Coping skills” saved with 4 sessions.")

    _pick(page, "Client", "Ann", "Ann Lee")
    page.get_by_role("button", name="Enrol client").click()
    expect(page.get_by_role("status").first).to_have_text("Ann Lee enrolled: 4 sessions booked.")
    expect(page.get_by_role("listitem").filter(has_text="Ann Lee")).to_be_visible()

    # Ben sees his medication review at 10:00 on Wednesday 3 March: enrolling him would
    # double-book him, so the page names that session and books nothing.
    _pick(page, "Client", "ok", "Ben Okafor")
    page.get_by_role("button", name="Enrol client").click()
    expect(page.get_by_role("alert")).to_have_text(
        f"Not enrolled: Ben Okafor is already booked into {clash.title} "
        "(Wed 2027-03-03 10:00–10:30).")
    expect(page.get_by_role("heading", name="Enrolled (1)")).to_be_visible()

    # The new sessions are on the week, with seats taken out of capacity.
    page.goto("/week?week=2027-03-01")
    block = page.get_by_role("link", name=re.compile("Coping skills")).first
    expect(block).to_contain_text("10:00–11:30")
    expect(block).to_contain_text("1/12")


def test_a_coordinator_cancels_a_session_from_the_week_with_the_keyboard(page, login, make, now):
    program = make.program(name="Evening IOP")
    make.series(program=program, title="Relapse prevention", room_id=make.room(name="Room B").id,
                start_date=date(2027, 2, 17), rrule="FREQ=WEEKLY;BYDAY=WE")

    login(page, "coordinator")
    page.get_by_role("link", name=re.compile("Relapse prevention")).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Relapse prevention")

    reason = page.get_by_label("Reason for cancelling")
    reason.fill("Snow day")
    reason.press("Enter")  # a real form: Enter submits it

    expect(page.get_by_role("status").first).to_have_text("Session cancelled.")
    page.get_by_role("link", name="← Week of this session").click()
    expect(page.locator(".block.cancelled del")).to_have_text("Relapse prevention")
