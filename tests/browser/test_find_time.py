""""Find a time" in Chromium: from the client page and from intake, at desktop and phone size."""

import re
from datetime import date, time

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from scheduler.models import Booking, SessionSeries
from scheduler.services import availability, plans
from tests.browser.conftest import enhanced, keep_screenshot, page_width
from tests.helpers import ACTOR


@pytest.fixture(autouse=True)
def _clinic_clock(now):
    """The server runs at the frozen clinic 'now' (Tue 2027-02-16 12:00 UTC)."""


@pytest.fixture
def setup(db, make):
    program = make.program(name="Evening IOP")
    therapist = make.staff(name="Dana Reyes")
    make.staff(name="Sam Okafor")
    office = make.room(name="Office 1", capacity=2)
    person = make.client(program, name="Avery Stone")
    plans.create_plan(db, ACTOR, person.id, start_date=date(2027, 2, 1),
                      end_date=date(2027, 3, 31), primary_therapist_id=therapist.id)
    availability.set_working_hours(db, ACTOR, therapist.id, [
        {"weekday": 0, "start": time(9, 0), "end": time(11, 0)},
        {"weekday": 3, "start": time(14, 0), "end": time(16, 0)}])
    db.commit()
    return {"therapist": therapist, "office": office, "client": person}


def test_find_a_time_from_the_client_page_and_book_once(page, login, db, setup):
    login(page, "coordinator")
    page.goto(f"/clients/{setup['client'].id}")
    finder = page.get_by_role("region", name="Find a time")
    # The clinician is a searchable picker, holding the plan's therapist.
    expect(finder.get_by_role("combobox", name="Clinician")).to_have_value("Dana Reyes")
    finder.get_by_label("Length").select_option(label="60 minutes")
    finder.get_by_label("Week of").fill("2027-03-03")
    finder.get_by_role("button", name="Find free times").click()

    free = page.get_by_role("region", name=re.compile("Free times with Dana Reyes"))
    expect(free).to_contain_text("week of Mon 1 Mar 2027")
    expect(free.locator(".when")).to_have_text(
        ["09:00–10:00", "09:30–10:30", "10:00–11:00", "14:00–15:00", "14:30–15:30",
         "15:00–16:00"])
    keep_screenshot(page, "find-a-time-desktop")
    page.get_by_role("button", name="Book once on Mon 1 Mar 10:00").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Avery Stone")
    expect(page.get_by_role("status").first).to_contain_text(
        "Avery Stone booked with Dana Reyes on Mon 1 Mar 2027, 10:00")
    expect(page.get_by_role("region", name="Upcoming sessions")).to_contain_text(
        "Mon 1 Mar 2027, 10:00–11:00")

    # An error is shown by its field: no clinician chosen.
    finder = page.get_by_role("region", name="Find a time")
    enhanced(page)  # until picker.js has run, the combobox by that name is still a select
    finder.get_by_role("combobox", name="Clinician").fill("")
    finder.get_by_role("button", name="Find free times").click()
    expect(page.locator("#find-staff-error")).to_have_text("Choose the clinician.")


def test_find_a_time_in_intake_on_a_phone_repeats_weekly(phone, login, db, setup):
    login(phone, "coordinator")
    phone.goto(f"/intake/{setup['client'].id}/enrol")
    finder = phone.get_by_role("region", name=re.compile("find a time"))
    finder.get_by_label("Week of").fill("2027-03-04")
    finder.get_by_role("button", name="Find free times").click()
    expect(phone.get_by_role("list", name="Intake steps")).to_be_visible()
    button = phone.get_by_role("button", name="Repeat weekly from Thu 4 Mar 14:00")
    expect(button).to_be_visible()
    # Nothing wider than the phone: the times and their buttons wrap.
    assert page_width(phone) <= 390
    keep_screenshot(phone, "find-a-time-phone")
    button.click()
    expect(phone).to_have_url(re.compile(rf"/intake/{setup['client'].id}/enrol$"))
    expect(phone.get_by_role("status").first).to_contain_text("booked every week with Dana Reyes")
    series = db.scalar(select(SessionSeries))
    assert (series.title, series.capacity) == ("Individual therapy", 1)
    seats = db.scalars(select(Booking).where(Booking.client_id == setup["client"].id)).all()
    assert len(seats) == 4  # Thursdays 4 March to 25 March, the plan's end on the 31st
