"""Issue 17 §4 in Chromium: the roster never fails silently, fits a phone, and hides what is
hidden; the session page of a cancelled session offers only its restore."""

import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from scheduler import clock
from scheduler.models import Attendance, Session
from scheduler.services import booking, sessions
from tests.browser.conftest import keep_screenshot, page_width
from tests.helpers import ACTOR

NAMES = ("Avery Stone", "Blake Ortiz", "Casey Lund", "Devon Hale", "Emery Cole",
         "Finley Moss", "Gray Ruiz", "Harper Quinn")
# A client's row on a 390 px phone, the gap to the next one included.
PHONE_ROW_BUDGET = 120


@pytest.fixture(autouse=True)
def _clinic_clock(now):
    """The live server runs at the frozen clinic 'now' (Tue 2027-02-16 07:00 New York)."""


@pytest.fixture
def clinic(db, make, now):
    """A morning group (07:30–10:30 New York) facilitated by Dana, with eight clients booked."""
    program = make.program(name="Morning IOP")
    dana = make.staff(name="Dana Reyes")
    group = sessions.create_one_off(
        db, ACTOR, now=now, program_id=program.id, kind="group", title="Coping skills",
        starts_at=now + timedelta(minutes=30), ends_at=now + timedelta(hours=3, minutes=30),
        capacity=8, facilitator_ids=[dana.id], room_id=make.room(name="Room B").id)
    for name in NAMES:
        booking.book_client(db, ACTOR, group.id, make.client(program, name=name).id, now=now)
    db.commit()
    return dana, group


def marks(db) -> dict[int, str]:
    db.expire_all()
    return dict(db.execute(select(Attendance.client_id, Attendance.status)).tuples().all())


def visible_hidden(page) -> list[str]:
    """Elements carrying the hidden attribute that still take up room on screen."""
    return page.evaluate("""() => Array.from(document.querySelectorAll('[hidden]'))
        .filter(el => el.getClientRects().length > 0)
        .map(el => el.outerHTML.slice(0, 120))""")


def assert_refused_on_the_row(page, row, name: str, words: str):
    error = row.locator(".row-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("Not saved")
    expect(error).to_contain_text(words)
    # Still announced to screen readers, and the row does not look saved.
    expect(page.locator("#roster-status")).to_contain_text(name)
    expect(row.locator("[aria-pressed=true]")).to_have_count(0)
    expect(row.locator("[data-current]")).to_have_text("Not marked yet")


def test_refused_marks_show_next_to_the_row_with_javascript(page, login, db, clinic):
    dana, group = clinic
    login(page, "clinician", staff_id=dana.id)
    page.goto(f"/sessions/{group.id}/roster")
    keep_screenshot(page, "roster-desktop")
    assert visible_hidden(page) == []

    avery = page.get_by_role("group", name="Avery Stone")
    avery.get_by_role("button", name="Absent (excused)").click()
    assert_refused_on_the_row(page, avery, "Avery Stone", "choose a reason")
    expect(avery.get_by_label("Reason")).to_be_focused()
    expect(avery.get_by_label("Reason")).to_have_attribute("aria-invalid", "true")

    blake = page.get_by_role("group", name="Blake Ortiz")
    blake.locator("summary").click()
    blake.get_by_label("Reason").select_option("transport")
    blake.get_by_label("Time").fill("23:00")
    blake.get_by_role("button", name="Late").click()
    assert_refused_on_the_row(page, blake, "Blake Ortiz", "must fall within the session")
    expect(blake.get_by_label("Time")).to_be_focused()
    keep_screenshot(page, "roster-after-failed-mark")
    assert marks(db) == {}

    # Corrected, the same row saves and the error goes.
    blake.get_by_label("Time").fill("08:00")
    blake.get_by_role("button", name="Late").click()
    expect(blake.get_by_role("button", name="Late")).to_have_attribute("aria-pressed", "true")
    expect(blake.locator(".row-error")).to_be_hidden()
    expect(blake.locator("[data-current]")).to_have_text("Now: Late (transport), 150 min")


def test_refused_marks_show_next_to_the_row_without_javascript(browser, live_server, login, db,
                                                               clinic):
    dana, group = clinic
    context = browser.new_context(base_url=live_server, java_script_enabled=False)
    try:
        page = context.new_page()
        login(page, "clinician", staff_id=dana.id)
        page.goto(f"/sessions/{group.id}/roster")
        assert visible_hidden(page) == []
        casey = page.get_by_role("group", name="Casey Lund")
        casey.get_by_role("button", name="Absent (excused)").click()
        casey = page.get_by_role("group", name="Casey Lund")
        error = casey.locator(".row-error")
        expect(error).to_be_visible()
        expect(error).to_contain_text("Not saved")
        expect(error).to_contain_text("Reason: choose one for absent (excused)")
        expect(casey.get_by_label("Reason")).to_be_focused()
        expect(casey.locator("[aria-pressed=true]")).to_have_count(0)
        assert visible_hidden(page) == []

        casey.get_by_label("Reason").select_option("illness")
        casey.get_by_role("button", name="Absent (excused)").click()
        casey = page.get_by_role("group", name="Casey Lund")
        expect(casey.get_by_role("button", name="Absent (excused)")).to_have_attribute(
            "aria-pressed", "true")
        expect(casey.locator(".row-error")).to_be_hidden()
    finally:
        context.close()


def test_mark_all_present_then_the_exceptions(page, login, db, clinic):
    dana, group = clinic
    login(page, "clinician", staff_id=dana.id)
    page.goto(f"/sessions/{group.id}/roster")
    page.get_by_role("button", name="Mark all present").click()
    expect(page.get_by_role("status").filter(has_text="Marked 8 clients present")).to_be_visible()
    expect(page.locator("main [aria-pressed=true]")).to_have_count(8)
    harper = page.get_by_role("group", name="Harper Quinn")
    harper.locator("summary").click()
    harper.get_by_label("Reason").select_option("illness")
    harper.get_by_role("button", name="Absent (excused)").click()
    expect(harper.get_by_role("button", name="Absent (excused)")).to_have_attribute(
        "aria-pressed", "true")
    db.expire_all()
    statuses = sorted(a.status for a in db.scalars(select(Attendance)))
    assert statuses == ["absent_excused"] + ["present"] * 7


def test_the_roster_fits_a_phone(phone, login, db, clinic):
    dana, group = clinic
    login(phone, "clinician", staff_id=dana.id)
    phone.goto(f"/sessions/{group.id}/roster")
    rows = phone.locator("form[data-roster]")
    expect(rows).to_have_count(8)
    first, last = rows.first.bounding_box(), rows.last.bounding_box()
    per_client = (last["y"] + last["height"] - first["y"]) / 8
    assert per_client <= PHONE_ROW_BUDGET, f"{per_client:.0f} px per client"
    # Nothing runs off the side of the phone either.
    assert page_width(phone) <= 390
    for index in range(8):
        box = rows.nth(index).get_by_role("button", name="Absent (unexcused)").bounding_box()
        assert box["x"] + box["width"] <= 390 and box["height"] >= 44
    assert visible_hidden(phone) == []
    keep_screenshot(phone, "roster-phone")

    # A tap works at phone size too.
    gray = phone.get_by_role("group", name="Gray Ruiz")
    gray.get_by_role("button", name="Present").tap()
    expect(gray.get_by_role("button", name="Present")).to_have_attribute("aria-pressed", "true")


@pytest.mark.parametrize("size", ["page", "phone"])
def test_a_cancelled_session_page_offers_only_restore(request, login, db, make, now, size):
    browser_page = request.getfixturevalue(size)
    program = make.program(name="Evening IOP")
    series = make.series(program=program, title="Relapse prevention",
                         room_id=make.room(name="Room A").id, start_date=date(2027, 2, 17),
                         rrule="FREQ=WEEKLY;BYDAY=WE")
    session = db.scalar(select(Session).where(Session.series_id == series.id)
                        .order_by(Session.starts_at))
    with clock.frozen(now - timedelta(days=1)):
        sessions.change_session(db, ACTOR, session, {"status": "cancelled"}, reason="Snow")
    db.commit()
    login(browser_page, "coordinator")
    browser_page.goto(f"/sessions/{session.id}")
    expect(browser_page.get_by_role("button", name="Move session")).to_have_count(0)
    expect(browser_page.get_by_role("button", name="Change room")).to_have_count(0)
    expect(browser_page.get_by_role("button", name="Change facilitator")).to_have_count(0)
    assert visible_hidden(browser_page) == []
    browser_page.get_by_role("button", name="Restore session").click()
    expect(browser_page.get_by_role("status").filter(has_text="restored")).to_be_visible()
    expect(browser_page.get_by_role("button", name="Move session")).to_be_visible()
    expect(browser_page).to_have_url(re.compile(rf"/sessions/{session.id}$"))
