"""A clinician's day in the browser: Today, the roster, one tap per client, the hours report."""

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from scheduler.services import booking, kiosk, reports, sessions
from tests.helpers import ACTOR


@pytest.fixture(autouse=True)
def _clinic_clock(now):
    """The live server runs at the frozen clinic 'now' (Tue 2027-02-16 07:00 New York)."""


@pytest.fixture
def clinic(db, make, now):
    """A morning group (07:30–10:30 New York) facilitated by Dana, with two clients booked."""
    program = make.program(name="Morning IOP")
    dana = make.staff(name="Dana Reyes")
    group = sessions.create_one_off(
        db, ACTOR, now=now, program_id=program.id, kind="group", title="Coping skills",
        starts_at=now + timedelta(minutes=30), ends_at=now + timedelta(hours=3, minutes=30),
        capacity=8, facilitator_ids=[dana.id])
    avery = make.client(program, name="Avery Stone")
    blake = make.client(program, name="Blake Ortiz")
    for person in (avery, blake):
        booking.book_client(db, ACTOR, group.id, person.id, now=now)
    db.commit()
    return program, dana, group, avery, blake


def hours(db, program, client_id) -> Decimal:
    db.expire_all()
    rows = reports.weekly_hours(db, program.id, date(2027, 2, 15), date(2027, 2, 15))
    return next(row.attended_hours for row in rows if row.client_id == client_id)


def test_a_clinician_marks_the_roster_with_one_tap_per_client(page, login, db, clinic):
    program, dana, group, avery, blake = clinic
    login(page, "clinician", staff_id=dana.id)
    expect(page).to_have_url(re.compile(r"/today$"))
    expect(page.get_by_role("heading", name="Coping skills")).to_be_visible()
    expect(page.get_by_text("2 booked")).to_be_visible()

    page.get_by_role("link", name="Roster for Coping skills").click()
    expect(page).to_have_url(re.compile(rf"/sessions/{group.id}/roster$"))
    # The URL changes on commit; the deferred roster script runs before DOMContentLoaded. A tap
    # before it would be the no-script form post (which works, but is not what this tests).
    page.wait_for_load_state("domcontentloaded")
    expect(page.locator(".code-display")).to_have_text(re.compile(r"^\d{6}$"))

    first = page.get_by_role("group", name="Avery Stone")
    first.get_by_role("button", name="Present").click()
    expect(first.get_by_role("button", name="Present")).to_have_attribute("aria-pressed", "true")

    second = page.get_by_role("group", name="Blake Ortiz")
    # Absent needs a reason: the page asks for it before sending anything.
    second.get_by_role("button", name="Absent (unexcused)").click()
    expect(page.get_by_role("status")).to_contain_text("choose a reason")
    second.get_by_label("Reason").select_option("no_call")
    second.get_by_role("button", name="Absent (unexcused)").click()
    expect(second.get_by_role("button", name="Absent (unexcused)")).to_have_attribute(
        "aria-pressed", "true")
    expect(second.get_by_role("button", name="Present")).to_have_attribute("aria-pressed", "false")

    assert hours(db, program, avery.id) == Decimal("3.00")
    assert hours(db, program, blake.id) == Decimal("0.00")

    # A reload shows what was saved, not just what the script drew.
    page.reload()
    expect(page.get_by_role("group", name="Avery Stone").get_by_role("button", name="Present")
           ).to_have_attribute("aria-pressed", "true")


def test_the_roster_works_without_javascript(browser, live_server, login, db, clinic):
    program, dana, group, avery, _ = clinic
    context = browser.new_context(base_url=live_server, java_script_enabled=False)
    try:
        page = context.new_page()
        login(page, "clinician", staff_id=dana.id)
        page.goto(f"/sessions/{group.id}/roster")
        row = page.get_by_role("group", name="Avery Stone")
        # The reason and time are folded away until needed; opening them needs no script.
        row.locator("summary").click()
        row.get_by_label("Reason").select_option("transport")
        row.get_by_role("button", name="Late").click()
        expect(page.get_by_role("status").filter(has_text="Marked late.")).to_be_visible()
        expect(page.get_by_role("group", name="Avery Stone").get_by_role("button", name="Late")
               ).to_have_attribute("aria-pressed", "true")
    finally:
        context.close()
    # Late at the tap (07:00, before the 07:30 start) still counts the whole session.
    assert hours(db, program, avery.id) == Decimal("3.00")


def test_the_kiosk_checks_a_client_in_by_pin_with_the_keyboard_alone(page, login, db, clinic):
    program, dana, group, avery, blake = clinic
    kiosk.set_pin(db, ACTOR, avery.id, "4821")
    db.commit()
    login(page, "clinician", staff_id=dana.id)
    page.goto("/kiosk")
    page.get_by_label("Your name").select_option(label="Avery S.")
    page.get_by_label("Your PIN").fill("0000")
    page.get_by_label("Your PIN").press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("PIN: does not match.")
    page.get_by_label("Your name").select_option(label="Avery S.")
    page.get_by_label("Your PIN").fill("4821")
    page.get_by_label("Your PIN").press("Enter")
    expect(page.get_by_role("status").filter(has_text="You are checked in")).to_be_visible()
    assert hours(db, program, avery.id) == Decimal("3.00")
