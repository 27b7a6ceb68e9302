"""Every page works under the Content-Security-Policy: Chromium reports no violation."""

from datetime import date, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from scheduler.models import Session
from scheduler.services import booking, plans
from tests.browser.conftest import PASSWORD, watch_csp
from tests.helpers import ACTOR


@pytest.fixture
def clinic(make, db, now):
    """A booked group, a client with a plan: pages with their charts, forms and scripts."""
    program = make.program(name="Evening IOP")
    room = make.room(name="Room B")
    series = make.series(program=program, title="Relapse prevention", room_id=room.id,
                         start_date=date(2027, 2, 15), rrule="FREQ=WEEKLY;BYDAY=MO,TU,TH")
    person = make.client(program, name="Ann Lee")
    plans.create_plan(db, ACTOR, person.id, start_date=date(2027, 2, 1))
    session = db.scalars(select(Session).where(Session.series_id == series.id)
                         .order_by(Session.starts_at)).first()
    booking.book_client(db, ACTOR, session.id, person.id, now=now - timedelta(days=1))
    db.commit()
    return {"series": series, "client": person, "session": session}


def test_the_signed_out_pages_and_the_api_docs_raise_no_csp_violation(page):
    violations = watch_csp(page)
    page.goto("/login")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    page.goto("/api/v1/docs")
    # Swagger UI renders the API's title only if its (static) start script ran.
    expect(page.get_by_role("heading", name="IOP Scheduler API")).to_be_visible()
    expect(page.get_by_text("/api/v1/auth/token").first).to_be_visible()
    assert violations == []


def test_every_coordinator_page_raises_no_csp_violation(page, login, clinic):
    violations = watch_csp(page)
    login(page, "coordinator")
    nav = page.get_by_role("navigation", name="Main").get_by_role("link")
    paths = [nav.nth(i).get_attribute("href") for i in range(nav.count())]
    assert "/week" in paths and "/kiosk" in paths
    paths += [f"/clients/{clinic['client'].id}", "/series/new",
              f"/series/{clinic['series'].id}", f"/sessions/{clinic['session'].id}",
              f"/sessions/{clinic['session'].id}/roster"]
    for path in paths:
        response = page.goto(path)
        assert response.status == 200, path
        page.wait_for_load_state("networkidle")
    # The series form's script runs: the live preview fills in once a rule is chosen.
    page.goto("/series/new")
    page.get_by_label("Monday").check()
    page.wait_for_load_state("networkidle")
    assert violations == []


def test_the_client_portal_raises_no_csp_violation(phone, login, clinic, make):
    violations = watch_csp(phone)
    member = make.user("client", client_id=clinic["client"].id,
                       password=PASSWORD)
    login(phone, "client", user=member)
    expect(phone.get_by_role("heading", level=1)).to_be_visible()
    phone.wait_for_load_state("networkidle")
    assert violations == []


def test_a_blocked_inline_script_would_be_caught(browser, live_server):
    """The watch itself works: an inline script on our origin is refused and reported."""
    context = browser.new_context(base_url=live_server)
    try:
        page = context.new_page()
        violations = watch_csp(page)
        page.goto("/login")
        with page.expect_console_message(lambda m: "Content Security Policy" in m.text):
            page.evaluate("""() => {
                const script = document.createElement('script');
                script.textContent = 'window.ran = true';
                document.body.appendChild(script);
            }""")
        assert page.evaluate("() => window.ran === undefined")
        assert any("script-src" in v for v in violations), violations
    finally:
        context.close()
