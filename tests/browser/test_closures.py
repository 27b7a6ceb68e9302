"""Closures and what clients see of changes, in Chromium at desktop and phone size."""

import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from scheduler.models import Closure, Session
from scheduler.services import booking, closures, sessions
from tests.browser.conftest import PASSWORD, keep_screenshot, watch_console
from tests.helpers import ACTOR
from tests.test_closures import on


@pytest.fixture(autouse=True)
def _clinic_clock(now):
    """The live server runs at the frozen clinic 'now' (Tue 2027-02-16 07:00 New York)."""


@pytest.fixture
def clinic(make, db, now):
    program = make.program(name="Morning IOP")
    group = make.series(program, title="Coping skills", start_date=date(2027, 2, 17))
    me = make.client(program, name="Avery Stone")
    booking.enroll_client(db, ACTOR, group.id, me.id, now=now)
    db.commit()
    return {"program": program, "group": group, "client": me}


@pytest.mark.parametrize("size", ["page", "phone"])
def test_a_coordinator_closes_a_range_fixes_a_mistake_and_lifts_it(request, size, login, db,
                                                                   clinic):
    screen = request.getfixturevalue(size)
    problems = watch_console(screen)
    login(screen, "coordinator")
    if size == "page":
        screen.get_by_role("navigation", name="Main").get_by_role("link", name="Closures").click()
    else:
        screen.goto("/closures")
    expect(screen.get_by_role("heading", level=1)).to_have_text("Closures")
    expect(screen.get_by_text("No closures ahead.")).to_be_visible()

    screen.get_by_label("First closed day").fill("2027-02-18")
    screen.get_by_label("Last closed day").fill("2027-02-17")
    screen.get_by_label("Reason").fill("Snow")
    screen.get_by_role("button", name="Close", exact=True).click()
    last_day = screen.get_by_label("Last closed day")
    expect(last_day).to_have_attribute("aria-invalid", "true")
    expect(screen.locator("#ends_on-error")).to_have_text(
        "The last day must not be before the first day.")
    expect(screen.get_by_label("Reason")).to_have_value("Snow")

    last_day.fill("2027-02-22")
    screen.get_by_role("button", name="Close", exact=True).click()
    expect(screen.get_by_role("status").filter(has_text="Morning IOP is closed")).to_contain_text(
        "2 sessions cancelled")
    row = screen.get_by_role("row").filter(has_text="Snow")
    expect(row).to_contain_text("Thu 18 Feb 2027 – Mon 22 Feb 2027")
    keep_screenshot(screen, f"closures-{'desktop' if size == 'page' else 'phone'}")
    assert db.scalar(select(Closure.id)) is not None

    row.get_by_role("button", name=re.compile("^Lift")).click()
    expect(screen.get_by_role("status").filter(has_text="Open again")).to_contain_text(
        "2 sessions back on")
    expect(screen.get_by_text("No closures ahead.")).to_be_visible()
    db.expire_all()
    assert db.scalar(select(Session.id).where(Session.status == "cancelled")) is None
    assert problems == []


def _changes(db, clinic, now):
    """A closed Wednesday, a Thursday cancelled by hand and a Monday moved to Tuesday 19:00."""
    closures.create_closure(db, ACTOR, clinic["program"], starts_on=date(2027, 2, 17),
                            ends_on=date(2027, 2, 17), reason="Snow day", now=now,
                            public_name="Appointments")
    sessions.change_session(db, ACTOR, on(db, clinic["group"], date(2027, 2, 18)),
                            {"status": "cancelled"}, reason="Facilitator away")
    monday = on(db, clinic["group"], date(2027, 2, 22))
    sessions.change_session(db, ACTOR, monday,
                            {"starts_at": monday.starts_at + timedelta(days=1, hours=1)})
    db.commit()


@pytest.mark.parametrize("size", ["page", "phone"])
def test_the_portal_shows_what_changed_and_copies_the_calendar_link(request, size, login, db,
                                                                    clinic, now):
    screen = request.getfixturevalue(size)
    screen.context.grant_permissions(["clipboard-read", "clipboard-write"])
    problems = watch_console(screen)
    _changes(db, clinic, now)
    login(screen, "client", client_id=clinic["client"].id)
    expect(screen).to_have_url(re.compile(r"/me$"))

    items = screen.locator("ul.sessions li")
    closed = items.filter(has_text="Wed 17 Feb, 18:00")
    expect(closed).to_contain_text("Closed")
    expect(closed).to_contain_text("Snow day")
    expect(items.filter(has_text="Thu 18 Feb, 18:00")).to_contain_text("Cancelled")
    expect(items.filter(has_text="Mon 22 Feb, 18:00")).to_contain_text(
        "Moved to Tue 23 Feb, 19:00")
    expect(items.filter(has_text="Tue 23 Feb, 19:00–22:00")).to_be_visible()

    # The calendar link is near the top, above the list of sessions, not under it.
    link_button = screen.get_by_role("button", name="Get my calendar link")
    top = link_button.bounding_box()["y"]
    assert top < screen.get_by_role("heading", name="My upcoming sessions").bounding_box()["y"]
    link_button.click()
    url = screen.get_by_label("Link for other calendar apps").input_value()
    assert url.endswith(".ics")
    screen.get_by_role("button", name="Copy link").click()
    expect(screen.locator("#copy-status")).to_have_text(
        "Link copied. Paste it into your calendar app.")
    assert screen.evaluate("navigator.clipboard.readText()") == url
    keep_screenshot(screen, f"portal-{'desktop' if size == 'page' else 'phone'}")

    # Rotating: a fresh page offers a new link, and shows the new one.
    screen.goto("/me")
    screen.get_by_role("button", name="Make a new calendar link").click()
    rotated = screen.get_by_label("Link for other calendar apps").input_value()
    assert rotated != url and rotated.endswith(".ics")
    assert problems == []


def test_the_calendar_link_works_without_javascript(browser, live_server, make, db, clinic):
    context = browser.new_context(base_url=live_server, java_script_enabled=False,
                                  viewport={"width": 390, "height": 844})
    try:
        screen = context.new_page()
        user = make.user("client", password=PASSWORD, client_id=clinic["client"].id)
        screen.goto("/login")
        screen.get_by_label("Email").fill(user.email)
        screen.get_by_label("Password").fill(PASSWORD)
        screen.get_by_role("button", name="Sign in").click()
        screen.get_by_role("button", name="Get my calendar link").click()
        expect(screen.get_by_label("Link for other calendar apps")).to_have_value(
            re.compile(r"\.ics$"))
        # No script, no dead button: the link is there to select by hand.
        expect(screen.get_by_role("button", name="Copy link")).to_have_count(0)
    finally:
        context.close()
