"""The portal on a phone without a connection: the service worker shows the last schedule the
client loaded, marked as possibly out of date, and nothing else of /me; signing out, a login
that ran out and the next person's sign-in all leave nothing of it behind.

Chromium runs the real worker (static/js/offline-worker.js at /sw.js) against the live server on
http://127.0.0.1, a secure context, so service workers and Clear-Site-Data work there.
"""

import re
from datetime import date, datetime, timedelta

import pytest
from playwright.sync_api import Error, expect

from scheduler.services import booking, consents, recipients, sessions
from tests.browser.conftest import PASSWORD, watch_console
from tests.helpers import ACTOR

BANNER = ("Offline — this is your schedule as of Tue 16 Feb, 07:00; "
          "it may be out of date.")
# Everything the offline copy's cache may hold: the schedule, its two stylesheets and icons.
KEPT = ["/favicon.ico", "/me/offline", "/static/app.css", "/static/icons/icon.svg",
        "/static/portal.css"]
CACHED = """async () => {
    const kept = {};
    for (const name of await caches.keys()) {
        const cache = await caches.open(name);
        for (const request of await cache.keys()) {
            kept[new URL(request.url).pathname] = await (await cache.match(request)).text();
        }
    }
    return kept;
}"""


@pytest.fixture
def phone(phone_with_worker):
    """This file is about the worker: its phones run it (the others block it)."""
    return phone_with_worker


@pytest.fixture(autouse=True)
def _clinic_clock(now):
    """The live server runs at the frozen clinic 'now' (Tue 2027-02-16 07:00 New York)."""


@pytest.fixture
def clinic(db, make, now):
    program = make.program(name="Evening program")
    avery = make.client(program, name="Avery Stone")
    blake = make.client(program, name="Blake Rivera")
    for person, title, room in ((avery, "Coping skills", make.room(name="Room B")),
                                (blake, "Job readiness", make.room(name="Room C"))):
        group = sessions.create_one_off(
            db, ACTOR, now=now, program_id=program.id, kind="group", title=title,
            starts_at=now + timedelta(hours=2), ends_at=now + timedelta(hours=4), capacity=8,
            room_id=room.id)
        booking.book_client(db, ACTOR, group.id, person.id, now=now)
    kipu = recipients.create_recipient(db, ACTOR, name="Kipu EHR", kind="ehr")
    consents.record(db, ACTOR, avery, recipient_id=kipu.id, purpose="Coordination of care",
                    scope=["appointments"], signed_on=date(2027, 2, 10),
                    expires_on=date(2027, 8, 10),
                    now=datetime.fromisoformat("2027-02-16T12:00:00+00:00"))
    db.commit()
    return {"avery": make.user("client", client_id=avery.id, password=PASSWORD),
            "blake": make.user("client", client_id=blake.id, password=PASSWORD)}


def worker_keeps_a_copy(page) -> None:
    """The worker controls the page and holds its copy: what a phone has after one visit."""
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    page.wait_for_function("() => caches.match('/me/offline').then(kept => kept !== undefined)")


def offline_visit(page, path: str):
    """Go to a page with the phone offline: the response, or None for the browser's own
    no-connection page."""
    try:
        return page.goto(path)
    except Error as error:
        # The worker with nothing to show fails the page as a network error (ERR_FAILED).
        assert re.search(r"net::ERR_(INTERNET_DISCONNECTED|FAILED)\b", str(error)), error
        # Chromium is still drawing its error page in place of the last one.
        page.wait_for_load_state()
        return None


def test_the_last_schedule_shows_offline_and_nothing_else_of_the_portal(phone, login, clinic):
    problems = watch_console(phone)
    avery = login(phone, "client", user=clinic["avery"])
    expect(phone).to_have_url(re.compile(r"/me$"))
    worker_keeps_a_copy(phone)
    # The one-time calendar link, shown on the page the POST answers.
    phone.get_by_role("button", name="Get my calendar link").click()
    feed_url = phone.get_by_label("Link for other calendar apps").input_value()
    token = re.search(r"/feeds/([^/.]+)\.ics$", feed_url).group(1)
    csrf = phone.locator("meta[name=csrf-token]").get_attribute("content")

    phone.context.set_offline(True)
    for path in ("/me", "/"):  # the portal, and the home-screen app's start
        answer = offline_visit(phone, path)
        assert answer is not None and answer.status == 200, path
        expect(phone.locator("#offline-banner")).to_have_text(BANNER)
        sessions_list = phone.get_by_role("region", name="My upcoming sessions")
        expect(sessions_list).to_contain_text("Coping skills")
        expect(sessions_list).to_contain_text("Room B")
        # Styled as ever: the top bar's navy comes from the kept app.css.
        assert phone.locator(".topbar").evaluate(
            "bar => getComputedStyle(bar).backgroundColor") == "rgb(18, 38, 63)"
        text = phone.content()
        for secret in (token, feed_url, csrf, avery.email, "Kipu EHR", "csrf", "Check in",
                       "Who sees my information", "Sign out", "<form"):
            assert secret not in text, secret
        expect(phone).to_have_title("My sessions · Appointments")

    kept = phone.evaluate(CACHED)
    assert sorted(kept) == KEPT
    for secret in (token, csrf, avery.email, "Kipu EHR", "csrf_token", "webcal"):
        assert secret not in kept["/me/offline"], secret

    # Back online, the live page, not the copy.
    phone.context.set_offline(False)
    phone.goto("/me")
    expect(phone.get_by_role("heading", name="Hello, Avery")).to_be_visible()
    expect(phone.locator("#offline-banner")).to_have_count(0)

    phone.get_by_role("button", name="Sign out").click()
    expect(phone).to_have_url(re.compile(r"/login$"))
    # Clear-Site-Data took the copy and the worker with it before the sign-in page drew.
    assert phone.evaluate(CACHED) == {}
    assert phone.evaluate("() => navigator.serviceWorker.getRegistrations()"
                          ".then(found => found.length)") == 0
    phone.context.set_offline(True)
    for path in ("/me", "/"):
        assert offline_visit(phone, path) is None, path
        expect(phone.locator("body")).not_to_contain_text("Coping skills")
    phone.context.set_offline(False)
    assert problems == []


def test_a_login_that_ran_out_and_the_next_client_see_nothing_of_the_last(phone, login,
                                                                         clinic):
    """Without a sign-out (the login ran out; a browser that ignores Clear-Site-Data), the
    worker itself forgets the copy at the sign-in page, and the next client gets their own."""
    login(phone, "client", user=clinic["avery"])
    worker_keeps_a_copy(phone)
    phone.context.clear_cookies()
    phone.goto("/me")
    expect(phone).to_have_url(re.compile(r"/login\?next="))
    phone.wait_for_function("() => caches.keys().then(names => names.length === 0)")
    assert phone.evaluate("() => navigator.serviceWorker.controller !== null")
    phone.context.set_offline(True)
    assert offline_visit(phone, "/me") is None
    expect(phone.locator("body")).not_to_contain_text("Coping skills")
    phone.context.set_offline(False)

    login(phone, "client", user=clinic["blake"])
    expect(phone).to_have_url(re.compile(r"/me$"))
    worker_keeps_a_copy(phone)
    phone.context.set_offline(True)
    offline_visit(phone, "/me")
    sessions_list = phone.get_by_role("region", name="My upcoming sessions")
    expect(sessions_list).to_contain_text("Job readiness")
    expect(sessions_list).not_to_contain_text("Coping skills")
    phone.context.set_offline(False)


def test_staff_pages_are_never_kept(phone, login, clinic):
    """A coordinator signing in on a phone a client used: the sign-in clears the client's
    copy, and staff pages neither register the worker nor enter any cache."""
    login(phone, "client", user=clinic["avery"])
    worker_keeps_a_copy(phone)
    phone.get_by_role("button", name="Sign out").click()
    login(phone, "coordinator")
    phone.goto("/today")
    phone.wait_for_load_state("networkidle")
    assert phone.evaluate(CACHED) == {}
    assert phone.evaluate("() => navigator.serviceWorker.getRegistrations()"
                          ".then(found => found.length)") == 0
