"""Issue 21 §2, WCAG 1.4.10 Reflow: every page of every role at 320 CSS px wide, and at 1280 px
zoomed to 200 % (a 640 px viewport at twice the pixel density), reads without scrolling sideways
and with nothing cut off. A data table may scroll inside its own box (1.4.10 allows it); the
page itself may not. One browser context per role and size, every page in it. A coordinator's
pages are the admin's less the admin's own, under a shorter menu: the admin walk covers them."""

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from scheduler import clock
from scheduler.models import Site
from scheduler.services import account_links, booking, plans, recipients, sessions
from tests.browser.conftest import NO_WORKER, PASSWORD
from tests.helpers import ACTOR

SIZES = {
    "320px": {"viewport": {"width": 320, "height": 640}},
    "1280px-at-200%": {"viewport": {"width": 640, "height": 450}, "device_scale_factor": 2},
}

# What overflows, in words: the page's sideways scroll, text past the right edge outside any
# scrolling box, text an overflow:hidden box cuts, and boxes that scroll sideways without a
# table in them.
PROBLEMS = """() => {
  const out = [];
  const root = document.scrollingElement;
  if (root.scrollWidth > root.clientWidth) {
    out.push(`the page scrolls sideways: ${root.scrollWidth} > ${root.clientWidth}`);
  }
  const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
    + (el.classList.length ? '.' + [...el.classList].join('.') : '');
  const text = (el) => [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
  const shown = (el) => el.getClientRects().length > 0
    && getComputedStyle(el).visibility !== 'hidden';
  const hiddenOnPurpose = (el) => el.closest('.visually-hidden, .skip:not(:focus), [hidden]');
  const scroller = (el) => {
    for (let box = el.parentElement; box && box !== document.body; box = box.parentElement) {
      const x = getComputedStyle(box).overflowX;
      if (x === 'auto' || x === 'scroll') return box;
    }
    return null;
  };
  for (const el of document.body.querySelectorAll('*')) {
    if (!shown(el) || hiddenOnPurpose(el)) continue;
    const style = getComputedStyle(el);
    const rect = el.getBoundingClientRect();
    if (text(el) && rect.right > root.clientWidth + 1 && !scroller(el)) {
      const words = el.textContent.trim().slice(0, 40);
      out.push(`${name(el)} ends at ${Math.round(rect.right)} px: "${words}"`);
    }
    const clips = style.overflowX === 'hidden' || style.overflowX === 'clip'
      || style.overflowY === 'hidden' || style.overflowY === 'clip';
    if (clips && el.textContent.trim() && rect.width > 2 && rect.height > 2
        && (el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1)) {
      out.push(`${name(el)} cuts its text off: "${el.textContent.trim().slice(0, 40)}"`);
    }
    if ((style.overflowX === 'auto' || style.overflowX === 'scroll')
        && el.scrollWidth > el.clientWidth + 1 && !el.querySelector('table')) {
      out.push(`${name(el)} scrolls sideways and holds no table`);
    }
  }
  return out;
}"""


@pytest.fixture(autouse=True)
def _clinic_clock(now):
    """The live server runs at the frozen clinic 'now' (Tue 2027-02-16 07:00 New York)."""


@pytest.fixture
def full_clinic(db, make, now):
    """A clinic with one of everything a page shows: program, room, staff, clients booked into
    a group and a series, a recipient, and the logins of every role."""
    program = make.program(name="Morning Intensive Outpatient Program")
    room = make.room(name="Group room B")
    dana = make.staff(name="Dana Reyes-Whitfield")
    group = sessions.create_one_off(
        db, ACTOR, now=now, program_id=program.id, kind="group",
        title="Coping skills and relapse prevention", starts_at=now + timedelta(minutes=20),
        ends_at=now + timedelta(hours=3), capacity=8, facilitator_ids=[dana.id], room_id=room.id)
    series = make.series(program, now=now, title="Evening relapse-prevention group")
    avery = make.client(program, name="Avery Montgomery-Stone", email="avery@clinic.test")
    blake = make.client(program, name="Blake Ortiz")
    for person in (avery, blake):
        booking.book_client(db, ACTOR, group.id, person.id, now=now)
    plans.create_plan(db, ACTOR, avery.id, start_date=date(2027, 2, 1))
    recipient = recipients.create_recipient(db, ACTOR, name="County Health Information Exchange",
                                            kind="ehr")
    db.commit()
    users = {role: make.user(role, password=PASSWORD, **extra) for role, extra in (
        ("client", {"client_id": avery.id}), ("clinician", {"staff_id": dana.id}),
        ("admin", {}), ("kiosk", {}))}
    site = db.scalars(select(Site)).first()
    invited = make.user("client", client_id=blake.id)
    invite, _ = account_links.issue_link(db, invited, "invite", clock.now())
    db.commit()
    ids = dict(client=avery.id, session=group.id, series=series.id, program=program.id,
               room=room.id, staff=dana.id, recipient=recipient.id, site=site.id,
               user=users["clinician"].id)
    staff_pages = [
        "/", "/account/password", "/account/mfa", "/alerts", "/follow-up", "/today",
        f"/clients/{avery.id}", f"/clients/{avery.id}/plan/revise",
        f"/sessions/{group.id}/roster"]
    coordinator_pages = staff_pages + [
        "/week", "/closures", "/clients", "/intake", f"/intake/{avery.id}/enrol",
        f"/intake/{avery.id}/plan", f"/clients/{avery.id}/find-a-time",
        f"/clients/{avery.id}/suggest-schedule", "/reports", "/programs",
        f"/programs/{program.id}/edit", f"/programs/{program.id}/suggest-schedules",
        "/suggest-schedules", "/rooms", f"/rooms/{room.id}/edit", "/staff",
        f"/staff/{dana.id}/hours", f"/staff/{dana.id}/sites", "/users", "/series/new",
        f"/series/{series.id}", f"/series/{series.id}/edit", f"/sessions/{group.id}", "/kiosk"]
    pages = {
        "anonymous": ["/login", "/forgot-password", f"/invite/{invite}", "/no-such-page"],
        "client": ["/me", "/account/password", "/account/mfa"],
        "clinician": staff_pages,
        "admin": coordinator_pages + [
            "/audit", "/recipients", f"/recipients/{recipient.id}", "/sites",
            f"/sites/{site.id}/edit", f"/users/{ids['user']}/sites"],
        "kiosk": ["/kiosk", "/account/password"],
    }
    return users, pages


@pytest.mark.parametrize("size", list(SIZES))
def test_every_page_reflows_at_320_px_and_at_200_percent_zoom(browser, live_server, full_clinic,
                                                             size):
    users, pages = full_clinic
    problems: dict[str, list[str]] = {}
    checked = 0
    for role, paths in pages.items():
        context = browser.new_context(base_url=live_server, **NO_WORKER, **SIZES[size])
        context.set_default_timeout(10_000)
        page = context.new_page()
        if role != "anonymous":
            page.goto("/login")
            page.get_by_label("Email").fill(users[role].email)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_load_state()
        for path in paths:
            response = page.goto(path)
            # The page itself, not a refusal: a 403 page would reflow and prove nothing.
            expected = 404 if path == "/no-such-page" else 200
            if response is None or response.status != expected:
                problems[f"{role} {path}"] = [f"answered {response and response.status}"]
                continue
            checked += 1
            found = page.evaluate(PROBLEMS)
            if found:
                problems[f"{role} {path}"] = found
        context.close()
    assert checked > 50
    assert problems == {}, "\n".join(f"{where}:\n  " + "\n  ".join(what)
                                     for where, what in problems.items())
