"""Issue 21 §2, keyboard only: the core flows done with Tab, Shift+Tab, Enter, Space and the
arrow keys alone (no click, no fill), in Chromium. Each page's first Tab stop is the skip link,
shown when focused, and it moves focus into main; each flow's stops come in the order the page
shows them; every stop looks focused (its outline or shadow differs from its unfocused look);
and a refused submission brings focus, or an announcement, to the error."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from scheduler.models import Attendance
from scheduler.services import attendance, booking, kiosk, sessions
from tests.browser.conftest import PASSWORD
from tests.helpers import ACTOR

# The focused element's look, now and (for the element focused before it) after it lost focus.
LOOK = """() => {
  const look = (el) => { const s = getComputedStyle(el);
    return [s.outlineStyle, s.outlineWidth, s.outlineColor, s.boxShadow].join(' | '); };
  const el = document.activeElement;
  const s = getComputedStyle(el);
  const box = el.getBoundingClientRect();
  const report = {
    look: look(el),
    ring: (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2) || s.boxShadow !== 'none',
    box: [box.left, box.top, box.width, box.height],
    onScreen: box.width > 0 && box.height > 0 && box.right > 0 && box.bottom > 0
              && box.left < innerWidth && box.top < innerHeight,
  };
  if (window.__lastFocus && window.__lastFocus !== el && window.__lastFocus.isConnected) {
    report.before = [window.__lastLook, look(window.__lastFocus)];
  }
  window.__lastFocus = el; window.__lastLook = report.look;
  return report;
}"""


@pytest.fixture(autouse=True)
def _clinic_clock(now):
    """The live server runs at the frozen clinic 'now' (Tue 2027-02-16 07:00 New York)."""


def here(page):
    """The focused element; in a time input, focus sits on a part inside it, where *:focus
    does not reach."""
    page.evaluate("""() => {
      for (const old of document.querySelectorAll('[data-test-focus]')) {
        old.removeAttribute('data-test-focus');
      }
      document.activeElement.setAttribute('data-test-focus', '');
    }""")
    return page.locator("[data-test-focus]")


def focused(page) -> str:
    """The focused element as a screen reader names it: role, accessible name and states
    ([pressed], [expanded]), not its value."""
    # Playwright's snapshot has no role for a <summary>; a screen reader says "Reason or time,
    # collapsed" (a disclosure).
    summary = page.evaluate("""() => document.activeElement.tagName === 'SUMMARY'
        ? [document.activeElement.textContent.trim(), document.activeElement.parentElement.open]
        : null""")
    if summary:
        return f'summary "{summary[0]}"' + (" [expanded]" if summary[1] else "")
    line = here(page).aria_snapshot().splitlines()[0]
    role, name, states = re.match(r'- (\w+)(?: "((?:[^"\\]|\\.)*)")?((?: \[[^\]]*\])*)',
                                  line).groups()
    return f'{role} "{name}"{states}' if name is not None else role + states


def press(page, key: str) -> str:
    """Press a key; the stop it lands on must be seen to be focused. Returns that stop."""
    page.keyboard.press(key)
    seen = page.evaluate(LOOK)
    here = focused(page)
    assert seen["onScreen"], f"{here} is focused off screen: {seen['box']}"
    assert seen["ring"], f"{here} has no visible focus ring: {seen['look']}"
    if "before" in seen:
        then, now = seen["before"]
        assert then != now, f"the stop before {here} looked the same focused and not: {then}"
    return here


def tab_through(page, count: int, key: str = "Tab") -> list[str]:
    return [press(page, key) for _ in range(count)]


def skip_link_first(page) -> None:
    """From the top of a freshly loaded page: Tab shows the skip link; Enter lands in main."""
    # A redirect's URL comes before its stylesheet: the focus ring is app.css's, so wait for
    # the page to have loaded it (Chromium's own 1px ring otherwise, and a false failure).
    page.wait_for_load_state("load")
    assert press(page, "Tab") == 'link "Skip to content"'
    skip = page.locator("a.skip")
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()
    assert page.evaluate("document.activeElement.id") == "main"


def announced(page, text: str) -> None:
    """The text sits in an alert or live region, so a screen reader says it unasked."""
    live = page.locator("[role=alert], [role=status], [aria-live]:not([aria-live=off])")
    expect(live.filter(has_text=text).first).to_be_attached()


def described_by_error(page, text: str) -> None:
    """The focused input is marked invalid, and its description is the error."""
    field = page.locator("*:focus")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_accessible_description(re.compile(re.escape(text)))


def test_signing_in_by_keyboard(page, make, app):
    brand = f'link "{app.config["PUBLIC_NAME"]}"'
    user = make.user("coordinator", password=PASSWORD)
    page.goto("/login")
    # Email has focus on arrival (autofocus), so typing can start at once; before it, in the
    # page's order, come the skip link, the name and the language switch, and after it the
    # rest, top to bottom.
    expect(page.get_by_label("Email")).to_be_focused()
    switch = ['button "English" [pressed]', 'button "Español"']
    assert tab_through(page, 4, "Shift+Tab") == [*reversed(switch), brand,
                                                 'link "Skip to content"']
    expect(page.locator("a.skip")).to_be_in_viewport()
    assert tab_through(page, 7) == [
        brand, *switch, 'textbox "Email"', 'textbox "Password"', 'button "Sign in"',
        'link "Forgot your password?"']
    tab_through(page, 3, "Shift+Tab")
    assert focused(page) == 'textbox "Email"'

    page.keyboard.type(user.email)
    press(page, "Tab")
    page.keyboard.type("not the password")
    page.keyboard.press("Enter")
    # Refused: focus is back on Email, which is invalid and described by the refusal.
    expect(page.get_by_label("Email")).to_be_focused()
    described_by_error(page, "Email or password is wrong.")
    announced(page, "Email or password is wrong.")

    press(page, "Tab")
    page.keyboard.type(PASSWORD)
    assert press(page, "Tab") == 'button "Sign in"'
    page.keyboard.press("Space")
    expect(page).not_to_have_url(re.compile(r"/login"))
    skip_link_first(page)


@pytest.fixture
def roster_clinic(db, make, now):
    program = make.program(name="Morning IOP")
    dana = make.staff(name="Dana Reyes")
    group = sessions.create_one_off(
        db, ACTOR, now=now, program_id=program.id, kind="group", title="Coping skills",
        starts_at=now + timedelta(minutes=30), ends_at=now + timedelta(hours=3, minutes=30),
        capacity=8, facilitator_ids=[dana.id], room_id=make.room(name="Room B").id)
    clients = [make.client(program, name=name) for name in ("Avery Stone", "Blake Ortiz")]
    for client in clients:
        booking.book_client(db, ACTOR, group.id, client.id, now=now)
    db.commit()
    return dana, group, clients


def marks(db) -> dict[int, str]:
    db.expire_all()
    return dict(db.execute(select(Attendance.client_id, Attendance.status)).tuples().all())


def test_marking_a_roster_by_keyboard(page, login, make, db, roster_clinic):
    dana, group, (avery, blake) = roster_clinic
    login(page, "clinician", user=make.user("clinician", password=PASSWORD, staff_id=dana.id))
    page.goto("/today")
    skip_link_first(page)
    # From main, the day's links, then the session's roster.
    assert tab_through(page, 3) == [
        'link "Previous day"', 'link "Next day"', 'link "Roster for Coping skills at 07:30"']
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Roster: Coping skills")).to_be_visible()
    skip_link_first(page)
    # The day, then Avery's row (her five marks, then "Reason or time"), then Blake's.
    assert tab_through(page, 10) == [
        'link "Back to today"', 'button "Mark all present"',
        'button "Present"', 'button "Late"', 'button "Left early"', 'button "Absent (excused)"',
        'button "Absent (unexcused)"', 'summary "Reason or time"',
        'button "Present"', 'button "Late"']
    assert page.evaluate("document.activeElement.closest('form').id") == f"row-{blake.id}"

    # Avery: Present with Enter.
    assert tab_through(page, 7, "Shift+Tab")[-1] == 'button "Present"'
    assert page.evaluate("document.activeElement.closest('form').id") == f"row-{avery.id}"
    page.keyboard.press("Enter")
    expect(page.locator("*:focus")).to_have_attribute("aria-pressed", "true")
    announced(page, "Avery Stone")
    assert marks(db) == {avery.id: "present"}

    # Avery again: Late without a reason is refused; focus goes to the reason, which says why.
    assert press(page, "Tab") == 'button "Late"'
    page.keyboard.press("Space")
    expect(page.locator(f"#reason-{avery.id}")).to_be_focused()
    described_by_error(page, "choose a reason")
    announced(page, "choose a reason")
    # The arrow keys choose a reason; back up past the disclosure and the three marks to Late.
    page.keyboard.press("ArrowDown")
    expect(page.locator(f"#reason-{avery.id}")).not_to_have_value("")
    assert tab_through(page, 5, "Shift+Tab") == [
        'summary "Reason or time" [expanded]', 'button "Absent (unexcused)"',
        'button "Absent (excused)"', 'button "Left early"', 'button "Late"']
    page.keyboard.press("Enter")
    expect(page.locator("*:focus")).to_have_attribute("aria-pressed", "true")
    announced(page, "Avery Stone: ")
    assert marks(db) == {avery.id: "late"}

    # Forward past Avery's open fields (reason, time) to Blake's row: Absent (excused) with a
    # reason, the same way.
    # (A time input is several stops, its hour, minute and so on: counted once here.)
    stops = []
    while len(stops) < 12 and not (stops[-3:] == ['button "Present"', 'button "Late"',
                                                  'button "Left early"'] and stops[-4:-3]):
        stop = press(page, "Tab")
        if not stops or stops[-1] != stop:
            stops.append(stop)
    assert stops == [
        'button "Left early"', 'button "Absent (excused)"', 'button "Absent (unexcused)"',
        'summary "Reason or time" [expanded]', 'combobox "Reason (late or absent)"',
        'textbox "Time (late or left early; blank = now)"',
        'button "Present"', 'button "Late"', 'button "Left early"']
    assert press(page, "Tab") == 'button "Absent (excused)"'
    assert page.evaluate("document.activeElement.closest('form').id") == f"row-{blake.id}"
    page.keyboard.press("Enter")
    expect(page.locator(f"#reason-{blake.id}")).to_be_focused()
    page.keyboard.press("ArrowDown")
    assert tab_through(page, 3, "Shift+Tab")[-1] == 'button "Absent (excused)"'
    page.keyboard.press("Enter")
    expect(page.locator("*:focus")).to_have_attribute("aria-pressed", "true")
    assert marks(db) == {avery.id: "late", blake.id: "absent_excused"}


def test_checking_in_at_the_kiosk_by_keyboard(page, login, make, db, now):
    program = make.program(name="Morning IOP")
    group = sessions.create_one_off(
        db, ACTOR, now=now, program_id=program.id, kind="group", title="Coping skills",
        starts_at=now + timedelta(minutes=20), ends_at=now + timedelta(hours=3), capacity=8)
    avery = make.client(program, name="Avery Stone")
    blake = make.client(program, name="Blake Ortiz")
    for person in (avery, blake):
        booking.book_client(db, ACTOR, group.id, person.id, now=now)
    kiosk.set_pin(db, ACTOR, avery.id, "4821")
    db.commit()
    login(page, "kiosk", user=make.user("kiosk", password=PASSWORD))
    expect(page).to_have_url(re.compile(r"/kiosk$"))
    page.goto("/kiosk")
    # Skip link, the language toggle, the bar's two tools, then the form, top to bottom.
    assert tab_through(page, 8) == [
        'link "Skip to content"', 'button "English" [pressed]', 'button "Español"',
        'link "Password"', 'button "Leave kiosk"',
        'combobox "Your name"', 'textbox "Your PIN"', 'button "Check in"']

    def choose_and_type(pin: str) -> None:
        page.goto("/kiosk")
        skip_link_first(page)
        assert press(page, "Tab") == 'combobox "Your name"'
        page.keyboard.press("ArrowDown")
        expect(page.locator("#client_id")).to_have_value(str(avery.id))
        assert press(page, "Tab") == 'textbox "Your PIN"'
        page.keyboard.type(pin)
        page.keyboard.press("Enter")

    choose_and_type("0000")
    # Refused: the PIN says why beside itself, as an alert, and has focus.
    expect(page.locator("#pin")).to_be_focused()
    described_by_error(page, "PIN: does not match.")
    announced(page, "PIN: does not match.")
    assert marks(db) == {}

    choose_and_type("4821")
    announced(page, "You are checked in")
    assert marks(db) == {avery.id: "present"}


def test_subscribing_to_a_calendar_and_checking_in_from_the_portal_by_keyboard(
        page, login, make, db, now, app):
    program = make.program(name="Morning IOP")
    me = make.client(program, name="Avery Stone")
    group = sessions.create_one_off(
        db, ACTOR, now=now, program_id=program.id, kind="group", title="Coping skills",
        starts_at=now + timedelta(minutes=30), ends_at=now + timedelta(hours=3, minutes=30),
        capacity=8)
    booking.book_client(db, ACTOR, group.id, me.id, now=now)
    db.commit()
    login(page, "client", client_id=me.id)
    expect(page).to_have_url(re.compile(r"/me$"))
    skip_link_first(page)
    assert tab_through(page, 3) == [
        'textbox "Code shown in the room"', 'button "Check in"', 'button "Get my calendar link"']
    page.keyboard.press("Enter")
    expect(page.get_by_role("img", name="QR code of your calendar link")).to_be_visible()
    skip_link_first(page)
    stops = tab_through(page, 5)
    assert stops[2:5] == ['link "Add to my calendar"', 'link "Add to Google Calendar"',
                          'textbox "Link for other calendar apps"'], stops
    expect(page.locator("*:focus")).to_have_value(re.compile(r"^https?://.+\.ics$"))

    # A wrong code: focus on the code, which says why beside itself, as an alert.
    page.goto("/me")
    skip_link_first(page)
    assert press(page, "Tab") == 'textbox "Code shown in the room"'
    page.keyboard.type("000000")
    page.keyboard.press("Enter")
    expect(page.locator("#code")).to_be_focused()
    described_by_error(page, "Code:")
    announced(page, "Code:")
    code = attendance.checkin_code(app.config["SECRET_KEY"], group)
    page.keyboard.type(code)
    assert press(page, "Tab") == 'button "Check in"'
    page.keyboard.press("Enter")
    announced(page, "You are checked in")
