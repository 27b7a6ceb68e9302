""""Suggest schedules" in Chromium: a coordinator with two new admissions this week plans
them together from the Clients list and books both in one review."""

from datetime import date

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from scheduler import clock
from scheduler.models import Booking
from scheduler.services import booking, plans
from tests.browser.conftest import keep_screenshot, page_width
from tests.helpers import ACTOR


@pytest.fixture(autouse=True)
def _clinic_clock(now):
    """The server runs at the frozen clinic 'now' (Tue 2027-02-16 12:00 UTC)."""


def booked(db, client_id: int) -> int:
    db.expire_all()
    return db.scalar(select(func.count(Booking.id)).where(
        Booking.client_id == client_id, Booking.status == "booked"))


def test_two_new_admissions_to_an_accepted_cohort_schedule(page, login, db, make):
    make.program(name="Day IOP")
    program = make.program(name="Evening IOP")
    sam = make.staff(name="Sam Okafor")
    room = make.room(name="Room B", capacity=14)
    group = make.series(program, title="Relapse prevention", room_id=room.id,
                        facilitator_ids=[sam.id], start_date=date(2027, 2, 8),
                        end_date=date(2027, 3, 31), capacity=12)
    # Casey has been coming for weeks; Avery and Blake were admitted yesterday and today.
    casey = make.client(program, name="Casey Lind")
    booking.enroll_client(db, ACTOR, group.id, casey.id, now=clock.now())
    avery = make.client(program, name="Avery Stone", admitted_on=date(2027, 2, 15))
    blake = make.client(program, name="Blake Rivers", admitted_on=date(2027, 2, 16))
    for person in (avery, blake):
        plans.create_plan(db, ACTOR, person.id, start_date=date(2027, 2, 15),
                          end_date=date(2027, 3, 31), weekly_hours_target=9)
    db.commit()

    login(page, "coordinator")
    page.goto("/clients")
    page.get_by_role("link", name="Suggest schedules for new admissions").click()
    # Day IOP comes first by name; the coordinator switches to their program.
    page.get_by_label("Program", exact=True).select_option(label="Evening IOP")
    page.get_by_role("button", name="Show its clients").click()

    new = page.get_by_role("group", name="New admissions with nothing booked ahead")
    expect(new.get_by_label("Avery Stone")).to_be_checked()
    expect(new.get_by_label("Blake Rivers")).to_be_checked()
    expect(page.get_by_label("Casey Lind")).not_to_be_checked()
    expect(page.get_by_label("From")).to_have_value("2027-02-22")
    expect(page.get_by_label("Weeks")).to_have_value("4")
    page.get_by_label("Weeks").fill("2")
    keep_screenshot(page, "cohort-suggest-desktop")
    page.get_by_role("button", name="Suggest schedules").click()

    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Suggested schedules for 2 clients of Evening IOP")
    assert page.title().startswith("Suggested schedules")
    summary = page.get_by_role("region", name="Summary")
    expect(summary).to_contain_text("Meets every plan")
    expect(summary).to_contain_text("Both clients reach their target hours every week.")
    table = page.locator("#cohort-clients")
    expect(table.get_by_role("row")).to_have_count(3)
    expect(table.get_by_role("row", name="Avery Stone")).to_contain_text("2 of 2")
    expect(table.get_by_role("row", name="Blake Rivers")).to_contain_text("18 of 18 h")
    expect(page.locator("#cohort-groups")).to_contain_text(
        "Relapse prevention, week of 22 Feb: 2 added, 3 of 12 seats")
    assert page_width(page) <= 1280
    keep_screenshot(page, "cohort-proposal-desktop")
    page.get_by_role("button", name="Accept and book for 2 clients").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Clients")
    expect(page.get_by_role("status").first).to_have_text(
        "2 clients booked: 12 group sessions.")
    assert booked(db, avery.id) == 6 and booked(db, blake.id) == 6
