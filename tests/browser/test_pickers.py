"""The searchable pickers in Chromium: typing asks the API, the keyboard picks, the form posts
the chosen id; at desktop and phone width, and under the Content-Security-Policy."""

import re
from datetime import date

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from scheduler.models import Enrollment, Session
from scheduler.web.calendar.pickers import PICKER_LIMIT
from tests.browser.conftest import enhanced, keep_screenshot, watch_console


@pytest.fixture
def network(make):
    program = make.program(name="Evening IOP")
    for n in range(PICKER_LIMIT + 5):
        make.client(program, name=f"Client {n:03d}")
    make.client(program, name="Maria O'Neil")
    make.client(program, name="Mario Lanza")
    make.room(name="Garden room", capacity=12)
    group = make.series(program=program, title="Relapse prevention", capacity=12,
                        start_date=date(2027, 2, 17), rrule="FREQ=WEEKLY;BYDAY=WE")
    return program, group


def _type_pick_and_enrol(page, group, shot: str) -> None:
    page.goto(f"/series/{group.id}")
    problems = watch_console(page)
    enhanced(page)
    combo = page.get_by_role("combobox", name="Client")
    expect(combo).to_have_attribute("aria-expanded", "false")
    # No search box or long select once the script runs: one combobox does both.
    expect(page.get_by_label("Find a client")).to_be_hidden()

    # One input event, so one search: keys typed slower than the debounce on a loaded machine
    # sent "mar" and then "mari", and the second answer redrew the list between the arrows.
    combo.fill("mari")
    listbox = page.get_by_role("listbox", name="Client")
    expect(listbox.get_by_role("option")).to_have_count(2)
    expect(combo).to_have_attribute("aria-expanded", "true")
    combo.press("ArrowDown")
    combo.press("ArrowDown")
    second = listbox.get_by_role("option", name="Mario Lanza")
    expect(second).to_have_attribute("aria-selected", "true")
    expect(combo).to_have_attribute("aria-activedescendant", second.get_attribute("id"))
    keep_screenshot(page, shot)
    combo.press("Enter")  # picks; the form is not sent yet
    expect(combo).to_have_value("Mario Lanza")
    expect(listbox).to_be_hidden()
    expect(page.get_by_role("heading", level=1)).to_have_text("Relapse prevention")

    combo.press("Enter")  # the list is closed: Enter sends the form
    expect(page.get_by_role("status").first).to_contain_text("Mario Lanza enrolled")
    assert problems == []


def test_a_coordinator_finds_a_client_by_typing_and_picks_with_the_keyboard(page, login,
                                                                           network, db):
    _, group = network
    login(page, "coordinator")
    _type_pick_and_enrol(page, group, "picker-desktop")
    mario = db.scalar(select(Enrollment).where(Enrollment.series_id == group.id))
    assert mario.client.name == "Mario Lanza"


def test_the_picker_works_on_a_phone(phone, login, network, db):
    _, group = network
    login(phone, "coordinator")
    _type_pick_and_enrol(phone, group, "picker-phone")
    enhanced(phone)
    box = phone.get_by_role("combobox", name="Client").bounding_box()
    assert box is not None and box["x"] + box["width"] <= 390


def test_an_answer_that_comes_after_the_arrow_keeps_the_highlighted_match(page, login,
                                                                          network):
    # On a slow line the person arrows to a match and the answer for their last letters comes
    # after: it must not take the highlight away under them.
    _, group = network
    login(page, "coordinator")
    page.goto(f"/series/{group.id}")
    enhanced(page)
    combo = page.get_by_role("combobox", name="Client")
    combo.fill("mar")
    listbox = page.get_by_role("listbox", name="Client")
    expect(listbox.get_by_role("option")).to_have_count(2)
    combo.press("ArrowDown")
    combo.press("ArrowDown")
    mario = listbox.get_by_role("option", name="Mario Lanza")
    expect(mario).to_have_attribute("aria-selected", "true")
    combo.press("i")  # "mari": the same two, answered after the arrows
    combo.press("o")  # "mario": one left, still the one the person arrowed to
    expect(listbox.get_by_role("option")).to_have_count(1)
    expect(mario).to_have_attribute("aria-selected", "true")
    expect(combo).to_have_attribute("aria-activedescendant", mario.get_attribute("id"))
    combo.press("Enter")
    expect(combo).to_have_value("Mario Lanza")


def test_a_session_page_picks_a_room_and_escape_closes_the_list(page, login, network, db):
    _, group = network
    session_id = db.scalar(select(Session.id).where(Session.series_id == group.id))
    login(page, "coordinator")
    page.goto(f"/sessions/{session_id}")
    enhanced(page)
    combo = page.get_by_role("combobox", name="New room")
    combo.press_sequentially("gard", delay=40)
    expect(page.get_by_role("option", name="Garden room")).to_be_visible()
    combo.press("Escape")
    expect(combo).to_have_attribute("aria-expanded", "false")
    combo.press("ArrowDown")
    expect(page.get_by_role("option", name="Garden room")).to_be_visible()
    combo.press("ArrowDown")
    combo.press("Enter")
    page.get_by_role("button", name="Change room").click()
    expect(page.get_by_role("status").first).to_have_text("Room changed.")
    db.expire_all()
    assert db.get(Session, session_id).room.name == "Garden room"


def test_the_week_filters_by_a_staff_member_found_by_typing(page, login, make, network):
    program, _ = network
    dana = make.staff(name="Dana Whitfield", email="dana@clinic.test")
    make.series(program=program, title="Skills with Dana", facilitator_ids=[dana.id],
                start_date=date(2027, 2, 16), rrule="FREQ=WEEKLY;BYDAY=TU")
    login(page, "coordinator")
    page.goto("/week")
    enhanced(page)
    combo = page.get_by_role("combobox", name="Staff member")
    combo.press_sequentially("whit", delay=40)
    expect(page.get_by_role("option", name="Dana Whitfield")).to_be_visible()
    combo.press("ArrowDown")
    combo.press("Enter")
    expect(combo).to_have_value("Dana Whitfield")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(rf"/week\?.*staff={dana.id}"))
    expect(page.locator(".block")).to_have_count(1)
    expect(page.get_by_role("combobox", name="Staff member")).to_have_value("Dana Whitfield")
