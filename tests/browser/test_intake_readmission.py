"""Intake's probable-duplicate warning and re-admission, in Chromium at desktop and phone size."""

import re
from datetime import date

import pytest
from playwright.sync_api import expect

from scheduler import clock
from scheduler.feeds import tokens
from scheduler.services import booking, plans
from tests.browser.conftest import keep_screenshot, pick
from tests.helpers import ACTOR


@pytest.fixture(params=["page", "phone"])
def screen(request):
    return request.param, request.getfixturevalue(request.param)


def _discharged(db, make, program, name, born):
    person = make.client(program, name=name, date_of_birth=born, admitted_on=date(2026, 9, 1))
    plans.create_plan(db, ACTOR, person.id, start_date=date(2026, 9, 1))
    booking.discharge_client(db, ACTOR, person.id, date(2026, 12, 1),
                             now=clock.now(),
                             reason="Completed the program")
    db.commit()
    return person


def test_intake_warns_of_the_existing_client_and_re_admits_them(screen, login, db, make):
    size, page = screen
    program = make.program(name="Evening IOP")
    make.staff(name="Dana Reyes")
    jesse = _discharged(db, make, program, "Jesse Test", date(1990, 5, 4))
    login(page, "coordinator")
    page.goto("/intake")
    page.get_by_label("New client's full name").fill("Jesse  test")
    page.get_by_label("Date of birth").fill("1990-05-04")
    page.get_by_label("Program").select_option(label="Evening IOP")
    page.get_by_label("Admitted on").fill("2027-02-16")
    pick(page, "Assessing clinician", "Dana Reyes")
    page.get_by_role("button", name="Save and continue").click()

    warning = page.get_by_role("alert").filter(has_text="may already be on record")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("born 1990-05-04")
    expect(warning).to_contain_text("same name and date of birth")
    keep_screenshot(page, f"intake-duplicate-warning-{size}")
    button = warning.get_by_role("button", name="Re-admit Jesse Test")
    page.wait_for_load_state("load")  # measured with app.css, not before it arrives
    box = button.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= page.viewport_size["width"]
    button.click()

    # Step 2 for the new episode, on the same record.
    expect(page.get_by_role("heading", level=1)).to_contain_text("treatment plan for Jesse Test")
    assert f"/intake/{jesse.id}/plan" in page.url
    page.get_by_label("Group therapy sessions a week").fill("3")
    page.get_by_role("button", name="Save plan and continue").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("enrol Jesse Test")

    page.goto(f"/clients/{jesse.id}")
    stays = page.locator("#episodes tbody tr")
    expect(stays).to_have_count(2)
    expect(stays.nth(0)).to_contain_text("Completed the program")
    expect(stays.nth(1)).to_contain_text("In treatment")
    expect(stays.nth(1)).to_contain_text("Version 2")
    expect(page.get_by_role("button", name="Re-admit")).to_have_count(0)


def test_a_discharged_client_is_re_admitted_from_their_page(screen, login, db, make):
    size, page = screen
    program = make.program(name="Evening IOP")
    robin = _discharged(db, make, program, "Robin Roe", date(1985, 1, 2))
    login(page, "coordinator")
    page.goto(f"/clients/{robin.id}")
    expect(page.locator("#date-of-birth")).to_have_text("1985-01-02")
    form = page.locator("#readmit-form")
    form.get_by_label("Admitted on").fill("2026-11-30")
    form.get_by_role("button", name="Re-admit").click()
    expect(page.locator("#readmit-admitted_on-error")).to_contain_text(
        "Must not be before Robin Roe's last discharge (2026-12-01).")
    keep_screenshot(page, f"client-readmit-refused-{size}")
    page.locator("#readmit-form").get_by_label("Admitted on").fill("2027-02-16")
    page.locator("#readmit-form").get_by_role("button", name="Re-admit").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("treatment plan for Robin Roe")
    expect(page.get_by_role("status").first).to_contain_text(re.compile("re-admitted"))


def test_a_returning_client_keeps_their_login_and_gets_a_new_calendar_link(screen, login, db,
                                                                         make):
    """Their login still works, so step 3 offers no invitation; their link stopped at
    discharge, so step 3 and the page offer a new one."""
    size, page = screen
    program = make.program(name="Evening IOP")
    make.series(program, title="Relapse prevention")
    sam = make.client(program, name="Sam Rivera", email="sam@example.test",
                      admitted_on=date(2026, 9, 1))
    make.user("client", password="a long enough passphrase", client_id=sam.id)
    tokens.issue(db, ACTOR, "client", sam.id, clock.now())
    booking.discharge_client(db, ACTOR, sam.id, date(2026, 12, 1), now=clock.now())
    db.commit()
    login(page, "coordinator")
    page.goto(f"/clients/{sam.id}")
    page.locator("#readmit-form").get_by_label("Admitted on").fill("2027-02-16")
    page.locator("#readmit-form").get_by_role("button", name="Re-admit").click()
    page.get_by_label("Group therapy sessions a week").fill("3")
    page.get_by_role("button", name="Save plan and continue").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("enrol Sam Rivera")
    returning = page.locator("#returning")
    expect(returning).to_contain_text("Sam Rivera already has an account")
    expect(returning).to_contain_text("stopped working when they were discharged")
    expect(page.get_by_label(re.compile("Email the client an invitation"))).to_have_count(0)
    keep_screenshot(page, f"intake-returning-client-{size}")
    returning.get_by_role("button", name="Make a new calendar link").click()
    expect(page.get_by_role("status").filter(has_text="calendar link is ready")).to_be_visible()
    expect(page.locator("#feed-url")).to_have_value(re.compile(r"/feeds/.+\.ics$"))
    expect(page.locator("#feed-stopped")).to_have_count(0)
