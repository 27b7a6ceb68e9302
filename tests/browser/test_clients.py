"""A coordinator's client page (plan, hours chart, feed link) and the intake flow, in Chromium."""

import re
from datetime import date

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import pick
from tests.test_pages_clients import clinic


@pytest.fixture(autouse=True)
def _clinic_clock(now):
    """The server runs at the frozen clinic 'now' (Tue 2027-02-16 12:00 UTC)."""


def test_a_coordinator_sees_the_plan_and_chart_and_makes_a_feed_link(page, login, db, make):
    setup = clinic(db, make)
    login(page, "coordinator")
    page.goto("/clients")
    page.get_by_label("Name").fill("avery")
    page.get_by_label("Name").press("Enter")
    page.get_by_role("link", name="Avery Stone").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Avery Stone")
    plan = page.get_by_role("region", name="Treatment plan")
    expect(plan).to_contain_text("Dana Reyes")
    expect(plan).to_contain_text("Group therapy: 3")
    chart = page.get_by_role("img", name=re.compile("Hours attended per week by Avery Stone"))
    expect(chart).to_be_visible()
    # One bar a week since admission on Monday 4 January, this week included.
    expect(chart.locator("rect.bar")).to_have_count(7)
    expect(page.locator("#hours-table")).to_contain_text("2027-02-08")

    page.get_by_role("button", name="Create calendar link").click()
    expect(page.locator(".flash[role=status]")).to_contain_text("shown only now")
    expect(page.get_by_role("img", name="QR code of the client's calendar link")
           .locator("svg")).to_be_visible()
    expect(page.get_by_label("Feed address")).to_have_value(re.compile(r"/feeds/.+\.ics$"))
    expect(page.get_by_role("link", name=re.compile("webcal"))).to_have_attribute(
        "href", re.compile("^webcal://"))
    assert setup.avery.id


def test_the_intake_flow_end_to_end(page, login, db, make):
    setup = clinic(db, make)
    make.series(setup.program, title="Relapse prevention", start_date=date(2027, 2, 17))
    login(page, "coordinator")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Intake").click()

    # Step 1: a new client and the intake assessment; a missing name is named first.
    page.get_by_label("Program").select_option(label="Evening IOP")
    page.get_by_label("Admitted on").fill("2027-02-16")
    pick(page, "Assessing clinician", "Dana Reyes")
    page.get_by_role("button", name="Save and continue").click()
    expect(page.locator("#name-error")).to_have_text(
        "Enter a name, or choose an existing client.")
    page.get_by_label("New client's full name").fill("Casey Lin")
    page.get_by_label("Summary").fill("Alcohol use disorder, moderate.")
    page.get_by_role("button", name="Save and continue").click()

    # Step 2: the plan, its target filled in from the program's level of care.
    expect(page.get_by_role("heading", level=1)).to_contain_text("treatment plan for Casey Lin")
    expect(page.get_by_label("Weekly hours target")).to_have_value(re.compile(r"^9(\.00)?$"))
    pick(page, "Primary therapist", "Dana Reyes")
    page.get_by_label("Goals, one a line").fill("Attend every group")
    page.get_by_label("Group therapy sessions a week").fill("3")
    page.get_by_role("button", name="Save plan and continue").click()

    # Step 3: enrol in a series, with the keyboard.
    expect(page.get_by_role("heading", level=1)).to_contain_text("enrol Casey Lin")
    box = page.get_by_role("checkbox", name=re.compile("Relapse prevention"))
    box.focus()
    page.keyboard.press("Space")
    expect(box).to_be_checked()
    page.get_by_role("button", name="Enrol", exact=True).click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Casey Lin")
    expect(page.get_by_role("status").first).to_contain_text("enrolled in 1 series")
    expect(page.get_by_role("region", name="Upcoming sessions")).to_contain_text(
        "Relapse prevention")
    expect(page.get_by_role("region", name="Treatment plan")).to_contain_text("Group therapy: 3")
