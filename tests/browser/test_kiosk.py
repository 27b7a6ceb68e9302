"""The front-desk kiosk in Chromium: a tablet signed in as a kiosk, clients checking in by PIN,
at desktop, tablet and phone size; and the PIN forms of the client page and the portal."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from scheduler.models import Attendance
from scheduler.services import booking, kiosk, sessions
from tests.browser.conftest import PASSWORD, keep_screenshot, page_width, watch_csp
from tests.helpers import ACTOR

SIZES = {
    "desktop": {"viewport": {"width": 1280, "height": 900}},
    "tablet": {"viewport": {"width": 820, "height": 1180}, "is_mobile": True, "has_touch": True},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
}


@pytest.fixture
def clinic(db, make, now):
    """A morning group opening for check-in now, with Avery (PIN 4821) and Blake booked."""
    program = make.program(name="Morning IOP")
    group = sessions.create_one_off(
        db, ACTOR, now=now, program_id=program.id, kind="group", title="Coping skills",
        starts_at=now + timedelta(minutes=20), ends_at=now + timedelta(hours=3), capacity=8)
    avery = make.client(program, name="Avery Stone")
    blake = make.client(program, name="Blake Ortiz")
    for person in (avery, blake):
        booking.book_client(db, ACTOR, group.id, person.id, now=now)
        kiosk.set_pin(db, ACTOR, person.id, "4821" if person is avery else "7788")
    db.commit()
    return program, group, avery, blake


@pytest.fixture
def sized(browser, live_server, request):
    """A browser context at the size the test is parametrized with."""
    context = browser.new_context(base_url=live_server, **SIZES[request.param])
    context.set_default_timeout(10_000)
    page = context.new_page()
    blocked = watch_csp(page)
    yield request.param, page
    context.close()
    assert blocked == [], f"Content-Security-Policy violations: {blocked}"


def checked_in(db, client_id) -> bool:
    db.expire_all()
    return db.query(Attendance).filter_by(client_id=client_id).count() == 1


@pytest.mark.parametrize("sized", list(SIZES), indirect=True)
def test_a_kiosk_tablet_checks_clients_in_and_offers_nothing_else(sized, login, make, db,
                                                                   clinic):
    size, page = sized
    program, group, avery, blake = clinic
    login(page, "kiosk", user=make.user("kiosk", password=PASSWORD))
    expect(page).to_have_url(re.compile(r"/kiosk$"))
    expect(page.get_by_role("heading", name="Check in")).to_be_visible()
    # No staff menu, no link but the tablet's own password page: the way out signs it out.
    expect(page.get_by_role("navigation")).to_have_count(0)
    expect(page.locator("a[href]:not(.skip)")).to_have_count(1)
    expect(page.get_by_role("link", name="Password")).to_be_visible()
    expect(page.get_by_role("button", name="Leave kiosk")).to_be_visible()

    page.get_by_label("Your name").select_option(label="Avery S.")
    page.get_by_label("Your PIN").fill("0000")
    page.get_by_role("button", name="Check in").click()
    expect(page.get_by_role("alert")).to_contain_text("PIN: does not match.")
    assert not checked_in(db, avery.id)

    page.get_by_label("Your name").select_option(label="Avery S.")
    page.get_by_label("Your PIN").fill("4821")
    page.get_by_role("button", name="Check in").click()
    expect(page.get_by_role("status").filter(has_text="You are checked in")).to_be_visible()
    assert checked_in(db, avery.id)

    # Big enough to hit standing at the desk, and nothing runs off the side.
    width = SIZES[size]["viewport"]["width"]
    assert page_width(page) <= width
    for control in (page.get_by_label("Your PIN"), page.get_by_role("button", name="Check in")):
        assert control.bounding_box()["height"] >= 48
    keep_screenshot(page, f"kiosk-{size}")

    # Typing a staff page's address gets the refusal, whose only way on is back to the kiosk.
    page.goto("/follow-up")
    expect(page.get_by_role("heading", name="You may not open this page")).to_be_visible()
    expect(page.get_by_text("Blake Ortiz")).to_have_count(0)
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/kiosk$"))

    page.get_by_role("button", name="Leave kiosk").click()
    expect(page).to_have_url(re.compile(r"/login$"))


def test_a_staff_member_who_opens_the_kiosk_sees_the_kiosk_only(page, login, clinic):
    """Seen: the kiosk showed the staff menu, and "Follow-up" opened the absences list."""
    login(page, "clinician")
    page.goto("/kiosk")
    expect(page.get_by_role("heading", name="Check in")).to_be_visible()
    expect(page.get_by_role("link", name="Follow-up")).to_have_count(0)
    expect(page.get_by_role("navigation")).to_have_count(0)
    # The clinician's own password page would open the staff layout: not offered here.
    expect(page.get_by_role("link", name="Password")).to_have_count(0)
    page.get_by_role("button", name="Leave kiosk").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto("/follow-up")
    expect(page).to_have_url(re.compile(r"/login\?next=/follow-up$"))


@pytest.mark.parametrize("sized", ["tablet", "phone"], indirect=True)
def test_a_kiosk_tablet_changes_its_own_password_and_goes_back_to_the_kiosk(sized, login, make,
                                                                           db, clinic):
    size, page = sized
    tablet = login(page, "kiosk", user=make.user("kiosk", password=PASSWORD))
    expect(page).to_have_url(re.compile(r"/kiosk$"))
    page.get_by_role("link", name="Password").click()
    expect(page.get_by_role("heading", name="Change your password")).to_be_visible()
    # Still the kiosk's bar: no staff menu, only the way back and the way out.
    expect(page.get_by_role("navigation")).to_have_count(0)
    expect(page.locator("a[href]:not(.skip)")).to_have_count(1)
    expect(page.get_by_role("button", name="Leave kiosk")).to_be_visible()
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill("the front desk's new passphrase")
    page.get_by_label("New password again").fill("the front desk's new passphrase")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("status").filter(has_text="Your password is changed")
           ).to_be_visible()
    assert page_width(page) <= SIZES[size]["viewport"][
        "width"]
    keep_screenshot(page, f"kiosk-password-{size}")
    page.get_by_role("link", name="Back to the kiosk").click()
    expect(page.get_by_role("heading", name="Check in")).to_be_visible()
    db.expire_all()
    assert kiosk.passwords.matches(db.get(type(tablet), tablet.id).password_hash,
                                   "the front desk's new passphrase")


def test_the_front_desk_sets_a_pin_on_the_client_page(page, login, db, clinic):
    program, group, avery, blake = clinic
    login(page, "clinician")
    page.goto(f"/clients/{avery.id}")
    section = page.locator("#kiosk-pin")
    expect(section).to_contain_text("Avery Stone has a PIN")
    section.get_by_label("New PIN (4 to 6 digits)").fill("2468")
    section.get_by_label("New PIN again").fill("2486")
    section.get_by_role("button", name="Reset PIN").click()
    expect(page.locator("#pin-field-pin_again-error")).to_have_text(
        "does not match the new PIN; type it again.")
    section = page.locator("#kiosk-pin")
    section.get_by_label("New PIN (4 to 6 digits)").fill("2468")
    section.get_by_label("New PIN again").fill("2468")
    section.get_by_role("button", name="Reset PIN").click()
    expect(page.get_by_role("status").filter(has_text="The kiosk PIN of Avery Stone is set")
           ).to_be_visible()
    assert "2468" not in page.content()
    db.expire_all()
    assert kiosk.passwords.matches(db.get(type(avery), avery.id).kiosk_pin_hash, "2468")


def test_a_client_changes_their_pin_on_their_phone(phone, login, db, clinic):
    program, group, avery, blake = clinic
    login(phone, "client", client_id=avery.id)
    section = phone.locator("#kiosk-pin")
    expect(section.get_by_role("heading", name="My check-in PIN")).to_be_visible()
    section.get_by_label("Current PIN").fill("1111")
    section.get_by_label("New PIN (4 to 6 digits)").fill("1357")
    section.get_by_label("New PIN again").fill("1357")
    section.get_by_role("button", name="Change my PIN").click()
    expect(phone.locator("#pin-field-current_pin-error")).to_have_text("does not match.")
    section = phone.locator("#kiosk-pin")
    section.get_by_label("Current PIN").fill("4821")
    section.get_by_label("New PIN (4 to 6 digits)").fill("1357")
    section.get_by_label("New PIN again").fill("1357")
    section.get_by_role("button", name="Change my PIN").click()
    expect(phone.get_by_role("status").filter(has_text="Your check-in PIN is changed")
           ).to_be_visible()
    keep_screenshot(phone, "portal-pin-phone")
    db.expire_all()
    assert kiosk.passwords.matches(db.get(type(avery), avery.id).kiosk_pin_hash, "1357")
