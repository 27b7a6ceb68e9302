""""Suggest a schedule" in Chromium: a new client from intake to a booked schedule in one
click and one review, and the proposal page on a phone."""

import re
from datetime import UTC, date, datetime, time

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from scheduler import clock
from scheduler.models import Booking, Client, SessionSeries
from scheduler.services import availability, booking, plans, sessions
from tests.browser.conftest import keep_screenshot, page_width, pick
from tests.helpers import ACTOR


@pytest.fixture(autouse=True)
def _clinic_clock(now):
    """The server runs at the frozen clinic 'now' (Tue 2027-02-16 12:00 UTC)."""


@pytest.fixture
def clinic(db, make):
    """An evening program: "Relapse prevention" Mon, Wed and Thu 18:00–21:00 (9 hours a week)
    with Sam Okafor in Room B, and Dana Reyes seeing clients Tuesday afternoons in Office 1."""
    program = make.program(name="Evening IOP")
    dana = make.staff(name="Dana Reyes")
    sam = make.staff(name="Sam Okafor")
    make.room(name="Office 1", capacity=2)
    group_room = make.room(name="Room B", capacity=14)
    make.series(program, title="Relapse prevention", room_id=group_room.id,
                facilitator_ids=[sam.id], start_date=date(2027, 2, 8),
                end_date=date(2027, 3, 31), capacity=12)
    availability.set_working_hours(db, ACTOR, dana.id, [
        {"weekday": 1, "start": time(14, 0), "end": time(17, 0)}])
    db.commit()
    return {"program": program, "dana": dana}


def booked(db, client_id: int) -> int:
    db.expire_all()
    return db.scalar(select(func.count(Booking.id)).where(
        Booking.client_id == client_id, Booking.status == "booked"))


def test_a_new_client_from_intake_to_a_booked_schedule_in_one_click_and_one_review(
        page, login, db, clinic):
    login(page, "coordinator")
    page.goto("/intake")
    page.get_by_label("New client's full name").fill("Casey Lin")
    page.get_by_label("Program").select_option(label="Evening IOP")
    page.get_by_label("Admitted on").fill("2027-02-16")
    pick(page, "Assessing clinician", "Dana Reyes")
    page.get_by_role("button", name="Save and continue").click()
    pick(page, "Primary therapist", "Dana Reyes")
    page.get_by_label("Group therapy sessions a week").fill("3")
    page.get_by_label("Individual therapy sessions a week").fill("1")
    page.get_by_role("button", name="Save plan and continue").click()

    # Step 3: one click.
    suggest = page.get_by_role("region", name="Suggest a schedule")
    expect(suggest.get_by_label("From")).to_have_value("2027-02-22")
    expect(suggest.get_by_label("Weeks")).to_have_value("4")
    suggest.get_by_role("button", name="Suggest a schedule").click()

    # One review: four weeks, each meeting the plan's 9 hours, with what accepting books.
    expect(page.get_by_role("heading", level=1)).to_have_text("Suggested schedule for Casey Lin")
    expect(page.get_by_role("list", name="Intake steps")).to_be_visible()
    expect(page.get_by_role("region", name="Summary")).to_contain_text("Meets the plan")
    weeks = page.get_by_role("region", name=re.compile(r"^Week of "))
    expect(weeks).to_have_count(4)
    expect(weeks.first).to_contain_text("Planned 10 of 9 hours")
    expect(weeks.first.locator(".tag-new")).to_have_count(4)
    expect(page.locator("#proposal-enrolments")).to_contain_text(
        "Relapse prevention — Mondays, Wednesdays, Thursdays at 18:00, 12 sessions, "
        "12 seats free")
    expect(page.locator("#proposal-appointments")).to_contain_text("Dana Reyes")
    expect(page.locator("#proposal-appointments")).to_contain_text("Office 1")
    assert page_width(page) <= 1280
    keep_screenshot(page, "schedule-proposal-desktop")
    page.get_by_role("button", name="Accept and book").click()

    # Back at step 3, everything booked, the intake free to go on or finish.
    expect(page.get_by_role("heading", level=1)).to_contain_text("enrol Casey Lin")
    expect(page.get_by_role("status").first).to_have_text(
        "Casey Lin booked: Relapse prevention (12 sessions) and 4 appointments with "
        "Dana Reyes.")
    casey = db.scalar(select(Client).where(Client.name == "Casey Lin"))
    assert booked(db, casey.id) == 16
    page.get_by_role("link", name="Open the client's page").click()
    expect(page.get_by_role("region", name="Upcoming sessions")).to_contain_text(
        "Relapse prevention")


def test_the_proposal_page_fits_a_phone_and_accepts_from_the_client_page(
        phone, login, db, make, clinic):
    # Twelve hours a week is more than the program runs: each week is short, and says why.
    avery = make.client(clinic["program"], name="Avery Stone")
    plans.create_plan(db, ACTOR, avery.id, start_date=date(2027, 2, 1),
                      end_date=date(2027, 3, 31), primary_therapist_id=clinic["dana"].id,
                      weekly_hours_target=12)
    # Already booked: a medication review, shown beside what the proposal adds.
    sessions.create_one_off(
        db, ACTOR, now=clock.now(), program_id=clinic["program"].id, kind="medical",
        title="Medication review", starts_at=datetime(2027, 2, 23, 19, tzinfo=UTC),
        ends_at=datetime(2027, 2, 23, 19, 30, tzinfo=UTC), facilitator_ids=[clinic["dana"].id],
        client_id=avery.id)
    db.commit()
    login(phone, "coordinator")
    phone.goto(f"/clients/{avery.id}")
    suggest = phone.get_by_role("region", name="Suggest a schedule")
    suggest.get_by_label("Weeks").fill("2")
    suggest.get_by_role("button", name="Suggest a schedule").click()

    expect(phone.get_by_role("heading", level=1)).to_have_text(
        "Suggested schedule for Avery Stone")
    weeks = phone.get_by_role("region", name=re.compile(r"^Week of "))
    expect(weeks).to_have_count(2)
    expect(weeks.first).to_contain_text("Planned 9.5 of 12 hours ✗ short by 2.5 h")
    expect(weeks.first.locator(".why")).to_contain_text("Why short by 2.5 h:")
    expect(weeks.first.locator(".pitem-booked")).to_contain_text("Medication review Booked")
    # Nothing wider than the phone: the days stack and the tables fold into rows.
    assert page_width(phone) <= 390
    keep_screenshot(phone, "schedule-proposal-phone")
    phone.get_by_role("button", name="Accept and book").click()

    expect(phone.get_by_role("heading", level=1)).to_have_text("Avery Stone")
    expect(phone.get_by_role("status").first).to_have_text(
        "Avery Stone booked: Relapse prevention (6 sessions).")
    assert booked(db, avery.id) == 7


def test_a_seat_taken_while_reviewing_is_said_on_the_page_and_suggest_again_replans(
        page, login, db, make, clinic):
    group = db.scalar(select(SessionSeries))
    for _ in range(11):  # one seat left in "Relapse prevention"
        booking.enroll_client(db, ACTOR, group.id, make.client(clinic["program"]).id,
                              now=clock.now())
    avery = make.client(clinic["program"], name="Avery Stone")
    plans.create_plan(db, ACTOR, avery.id, start_date=date(2027, 2, 1),
                      end_date=date(2027, 3, 31), weekly_hours_target=9)
    db.commit()
    login(page, "coordinator")
    page.goto(f"/clients/{avery.id}")
    suggest = page.get_by_role("region", name="Suggest a schedule")
    suggest.get_by_label("Weeks").fill("1")
    suggest.get_by_role("button", name="Suggest a schedule").click()
    expect(page.locator("#proposal-enrolments")).to_contain_text("1 seat free")

    # Meanwhile another coordinator gives the last seat to Blake.
    blake = make.client(clinic["program"], name="Blake Ortiz")
    booking.enroll_client(db, ACTOR, group.id, blake.id, now=clock.now())
    db.commit()
    page.get_by_role("button", name="Accept and book").click()

    refusal = page.get_by_role("alert")
    expect(refusal).to_contain_text("Not booked: nothing was written")
    expect(refusal).to_contain_text("Relapse prevention, Mon 22 Feb 18:00 has no free seat")
    expect(page.get_by_role("button", name="Accept and book")).to_have_count(0)
    keep_screenshot(page, "schedule-proposal-refused")
    assert booked(db, avery.id) == 0

    refusal.get_by_role("button", name="Suggest again").click()
    expect(page.get_by_role("region", name="Summary")).to_contain_text("Short")
    expect(page.locator("#proposal-enrolments")).to_have_count(0)
