"""One-to-one appointments in the browser: the week grid and Today name the client and the
clinician of each individual session, at desktop and phone size, where two slots at the same
hour used to be two identical anonymous blocks."""

import re
from datetime import date, time

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from scheduler.models import Session
from scheduler.services import booking
from tests.browser.conftest import enhanced, keep_screenshot, page_width
from tests.helpers import ACTOR


@pytest.fixture
def clinic(db, make, now):
    """Two individual-therapy slots on Wednesdays at 12:30, each its own client and clinician."""
    program = make.program(name="Evening IOP")
    slots = []
    for clinician, person in (("Dana Reyes", "Jordan Lee"), ("Sam Okafor", "Riley Chen")):
        slot = make.series(program, kind="individual", title="Individual therapy",
                           facilitator_ids=[make.staff(name=clinician).id],
                           start_date=date(2027, 2, 17), start_time=time(12, 30),
                           duration_minutes=50, rrule="FREQ=WEEKLY;BYDAY=WE")
        booking.enroll_client(db, ACTOR, slot.id, make.client(program, name=person).id, now=now)
        slots.append(slot)
    db.commit()
    return [db.scalar(select(Session.id).where(Session.series_id == s.id)
                      .order_by(Session.starts_at)) for s in slots]


def _fits(page) -> None:
    """Nothing wider than the screen: a phone never scrolls sideways to read a block."""
    assert page_width(page) <= page.evaluate("document.documentElement.clientWidth")


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_week_and_today_show_whose_appointment_and_with_whom(size, request, login, clinic):
    page = request.getfixturevalue("page" if size == "desktop" else "phone")
    jordan_session, riley_session = clinic
    login(page, "coordinator")

    page.goto("/week?week=2027-02-15")
    jordan = page.locator(f'a.block[href="/sessions/{jordan_session}"]')
    riley = page.locator(f'a.block[href="/sessions/{riley_session}"]')
    expect(jordan).to_contain_text("Individual therapy")
    expect(jordan.locator(".client")).to_have_text("Jordan Lee")
    expect(jordan.locator(".with")).to_have_text("with Dana Reyes")
    expect(riley.locator(".client")).to_have_text("Riley Chen")
    expect(riley.locator(".with")).to_have_text("with Sam Okafor")
    expect(jordan.locator(".client")).to_be_visible()
    _fits(page)
    keep_screenshot(page, f"one_to_one_week_{size}")

    page.goto("/today?day=2027-02-17")
    expect(page.get_by_role("heading", name="Individual therapy — Jordan Lee")).to_be_visible()
    expect(page.get_by_role("heading", name="Individual therapy — Riley Chen")).to_be_visible()
    card = page.locator("section.card", has=page.get_by_role(
        "heading", name="Individual therapy — Jordan Lee"))
    expect(card).to_contain_text("With Dana Reyes")
    expect(card.get_by_role("link", name="Roster for Individual therapy with Jordan Lee")
           ).to_be_visible()
    _fits(page)
    keep_screenshot(page, f"one_to_one_today_{size}")


def test_the_new_series_form_shows_the_seats_a_blank_field_will_give(page, login, make):
    make.program(name="Evening IOP")
    make.room(name="Small room", capacity=6)
    login(page, "coordinator")
    page.goto("/series/new")
    seats = page.get_by_label(re.compile(r"^Seats"))
    expect(seats).to_have_attribute("placeholder", "12")

    page.get_by_label("Program").select_option(label="Evening IOP")
    page.get_by_label("Title").fill("Individual therapy")
    page.get_by_label("Kind").select_option("individual")
    expect(seats).to_have_attribute("placeholder", "1")

    page.get_by_label("Kind").select_option("family")
    enhanced(page)  # the room is a searchable picker (static/js/picker.js)
    page.get_by_role("combobox", name="Room").fill("small")
    page.get_by_role("option", name="Small room").click()
    expect(seats).to_have_attribute("placeholder", "6")
