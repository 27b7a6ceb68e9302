"""A coordinator of one site at network scale, in Chromium: the week and the client list show
their site only, at desktop and phone width; an admin narrows the week with the site filter."""

import re

import pytest
from playwright.sync_api import expect

from scheduler.services import sites
from tests.browser.conftest import PASSWORD, keep_screenshot, watch_console
from tests.helpers import ACTOR
from tests.test_pages_site_scope import network  # noqa: F401 - the fixture


@pytest.fixture(autouse=True)
def _clinic_clock(now):
    """The server runs at the frozen clinic 'now' (Tue 2027-02-16 12:00 UTC)."""


def _eastside_coordinator(db, make, network):  # noqa: F811
    user = make.user("coordinator", password=PASSWORD)
    sites.set_user_sites(db, ACTOR, user, [network["Eastside"]["site"].id])
    db.commit()
    return user


@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_a_scoped_coordinator_sees_their_site_on_the_week_and_clients(
        request, width, login, db, make, network):  # noqa: F811
    screen = request.getfixturevalue("page" if width == "desktop" else "phone")
    problems = watch_console(screen)
    login(screen, "coordinator", user=_eastside_coordinator(db, make, network))
    screen.goto("/week")
    expect(screen.locator(".sites-shown")).to_have_text("Showing Eastside")
    expect(screen.get_by_role("link", name=re.compile("Eastside group")).first).to_be_visible()
    expect(screen.locator("main")).not_to_contain_text("Westside")
    keep_screenshot(screen, f"site-scope-week-{width}")
    screen.goto("/clients")
    expect(screen.locator(".sites-shown")).to_have_text("Showing Eastside")
    expect(screen.get_by_role("link", name="Eastside Client")).to_be_visible()
    expect(screen.locator("main")).not_to_contain_text("Westside")
    keep_screenshot(screen, f"site-scope-clients-{width}")
    assert problems == []


def test_an_admin_narrows_the_week_with_the_site_filter(page, login, network):  # noqa: F811
    problems = watch_console(page)
    login(page, "admin")
    page.goto("/week")
    expect(page.locator(".sites-shown")).to_have_text("Showing All sites")
    page.get_by_label("Site").select_option(label="Westside")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(rf"site={network['Westside']['site'].id}"))
    expect(page.locator(".sites-shown")).to_have_text("Showing Westside")
    expect(page.locator(".week")).not_to_contain_text("Eastside group")
    expect(page.locator(".week")).to_contain_text("Westside group")
    # The next week keeps the filter.
    page.get_by_role("link", name="Next week →").click()
    expect(page.locator(".sites-shown")).to_have_text("Showing Westside")
    keep_screenshot(page, "site-scope-week-admin-filter")
    assert problems == []
