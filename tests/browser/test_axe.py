"""WCAG 2.1 AA held by axe-core (issue 21 §2): every page of every role, at desktop and phone
size, empty and full, with form errors shown, the conflict previews, the roster after a refused
mark, the kiosk after wrong PINs, the portal with and without its calendar link, and the error
pages. Target: no violation at all.

A new page is one line in EMPTY or FULL (or, if it is no page a person reads, in NOT_PAGES with the
reason); test_every_page_route_is_checked fails until it is. One browser context per role is
signed in once and re-sized rather than re-made, which keeps the walk to seconds a page.
"""

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, time, timedelta

import pyotp
import pytest
from sqlalchemy import select

from scheduler import demo_clinic
from scheduler.models import Client, Session, SessionSeries, Site, Staff, User
from scheduler.services import (
    account_links,
    accounts,
    alerts,
    booking,
    kiosk,
    mfa,
    proposals,
    recipients,
    sessions,
)
from tests.browser.axe import axe_source, describe, load_in, violations
from tests.browser.conftest import NO_WORKER, enhanced, pick, watch_csp
from tests.helpers import ACTOR

# States that put an error on the page, and how the app shows one.
SHOWS_ERRORS = ("errors", "wrong PINs", "refused mark", "booking conflict", "conflict preview")
ERROR_SHOWN = (".field-error, .flash-error, .row-error, .preview-bad, [role=alert],"
               " [aria-invalid=true]")
SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
PASSWORD = "correct horse battery staple"


# --- what a case does to reach its state --------------------------------------------------------

def blank(button: str) -> Callable:
    """Send the form of the submit button of this text with its typed fields emptied and the
    browser's own checks off, as a hurried user would: the server's form errors come back."""

    def act(page, ids):
        with page.expect_navigation():
            page.evaluate("""name => {
                const button = [...document.querySelectorAll('button')]
                    .find(b => b.type === 'submit' && b.textContent.trim() === name);
                const form = button.form;
                form.noValidate = true;
                for (const field of form.querySelectorAll(
                        'input[type=text], input[type=email], input[type=number], input[type=date],'
                        + 'input[type=time], input[type=password], input:not([type]), textarea'))
                    field.value = '';
                form.requestSubmit(button);
            }""", button)
    return act


def invalid(selector: str, value: str, button: str) -> Callable:
    """Send a form with one field wrong, where empty fields are no error ("unchanged", "off")."""

    def act(page, ids):
        field = page.locator(selector).first
        field.evaluate("(el, value) => { el.form.noValidate = true; el.value = value; }", value)
        with page.expect_navigation():
            page.get_by_role("button", name=re.compile(button)).click()
    return act


def fill_and_send(fields: dict, button: str) -> Callable:
    """Fill labelled fields and press the button (a wrong password, a wrong PIN)."""

    def act(page, ids):
        for label, value in fields.items():
            page.get_by_label(label, exact=True).fill(value)
        page.get_by_role("button", name=button, exact=True).click()
        page.wait_for_load_state()
    return act


def refused_role(page, ids):
    """A row's role changed to none of the listed roles: the refusal stands in that row."""
    field = page.locator("select[aria-label^='New role for']").first
    with page.expect_navigation():
        field.evaluate("el => { el.value = ''; el.form.requestSubmit(); }")


def kiosk_wrong_pins(page, ids):
    for _ in range(3):
        page.get_by_label("Your name").select_option(index=1)
        page.get_by_label("Your PIN").fill("0000")
        page.get_by_role("button", name="Check in", exact=True).click()
        page.wait_for_load_state()


def calendar_link(page, ids):
    page.get_by_role("button", name="Get my calendar link").click()
    page.get_by_role("img", name="QR code of your calendar link").wait_for()


def refused_mark(page, ids):
    """An excused absence without its reason: the row says why it was not saved."""
    row = page.locator("[data-roster]").first
    row.get_by_role("button", name="Absent (excused)").click()
    row.locator(".row-error").wait_for()


def series_conflict(page, ids):
    """A new series on the top of the evening group: the live preview lists the clashes."""
    page.get_by_label("Program").select_option(index=1)
    page.get_by_label("Title").fill("Clash")
    page.get_by_label("Monday").check()
    page.get_by_label("Start time (local)").fill("18:00")
    page.get_by_label("Length in minutes").fill("60")
    page.get_by_label("First day").fill("2027-02-22")
    page.get_by_label("Last day (optional)").fill("2027-03-07")
    # Dana facilitates the evening group in Group Room A at that hour.
    page.get_by_label("Dana Whitfield").check()
    enhanced(page)
    page.get_by_role("combobox", name="Room").fill("Group Room A")
    page.get_by_role("option", name="Group Room A").click()
    page.locator("#series-preview").get_by_text(re.compile("conflicts?:")).wait_for()


def booking_conflict(page, ids):
    """Enrol a client in a series at the hour of one of theirs: the page names the clash."""
    pick(page, "Client", ids["client_name"])
    with page.expect_navigation():
        page.get_by_role("button", name="Enrol client").click()


def paperwork_refused(page, ids):
    """Record the plan review on a day before the plan starts: refused beside the date."""
    form = page.locator("form", has=page.locator("#review-on"))
    form.locator("#review-on").fill("2000-01-03")
    with page.expect_navigation():
        form.get_by_role("button", name="Record").click()


def api_operation_open(page, ids):
    """Swagger UI drawn from the OpenAPI document, with one operation opened: its example
    boxes and tabs are what a developer reads."""
    page.locator(".opblock-summary").first.click()
    page.locator(".highlight-code pre[tabindex]").first.wait_for()


def password_step(page, ids):
    """The password of a login with two-step sign-in on: the code page comes next."""
    page.goto("/login")
    page.get_by_label("Email").fill(ids["mfa_email"])
    page.get_by_label("Password").fill(demo_clinic.DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/login/code$"))


def in_spanish(page, ids):
    """Only a check that the state is reached: the page is in the client's language."""
    assert page.locator("html").get_attribute("lang") == "es", page.url


def mfa_wrong_code(page, ids):
    """Two-step sign-in being set up, and a wrong code typed: the QR code and the error."""
    page.get_by_role("button", name="Set up two-step sign-in").click()
    page.get_by_label("Code", exact=True).fill("000000")
    page.get_by_role("button", name="Turn on two-step sign-in").click()
    page.wait_for_load_state()


# --- the cases ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    role: str  # anonymous, client, client (es), clinician, coordinator, admin, kiosk
    rule: str  # the app's URL rule; <…:name> is filled from the clinic's ids
    state: str
    query: str = ""
    act: Callable | None = None
    # (argument, key of the clinic's ids) where the argument's own name is not the id wanted.
    given: tuple = ()

    def path(self, ids: dict) -> str:
        names = dict(self.given)
        return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(ids[names.get(m.group(1), m.group(1))]),
                      self.rule) + self.query

    def __str__(self) -> str:
        return f"{self.role} {self.rule}{self.query} [{self.state}]"


# Before anything is set up: one user of each role, one program and the client of the client
# login, and no session, series, room or booking.
EMPTY = [
    Case("anonymous", "/", "empty"),
    Case("anonymous", "/login", "empty"),
    Case("anonymous", "/forgot-password", "empty"),
    Case("coordinator", "/week", "empty"),
    Case("coordinator", "/clients", "empty"),
    Case("coordinator", "/programs", "empty"),
    Case("coordinator", "/rooms", "empty"),
    Case("coordinator", "/closures", "empty"),
    Case("coordinator", "/staff", "empty"),
    Case("coordinator", "/users", "empty"),
    Case("coordinator", "/intake", "empty"),
    Case("coordinator", "/reports", "empty"),
    Case("coordinator", "/follow-up", "empty"),
    Case("coordinator", "/alerts", "empty"),
    Case("coordinator", "/suggest-schedules", "empty"),
    Case("coordinator", "/series/new", "empty"),
    Case("clinician", "/today", "empty"),
    Case("admin", "/sites", "empty"),
    Case("admin", "/recipients", "empty"),
    Case("admin", "/audit", "empty"),
    Case("kiosk", "/kiosk", "empty"),
    Case("client", "/me", "empty"),
    Case("anonymous", "/api/v1/docs", "full", act=api_operation_open),
]

NEW = (("client_id", "new_client_id"),)  # the demo's intake left after its first step
# The demo clinic (scheduler/demo_clinic.py) with alerts, a recipient and a proposal added.
FULL = [
    # Anyone
    Case("anonymous", "/", "full"),
    Case("anonymous", "/login", "full"),
    Case("anonymous", "/login", "errors", act=fill_and_send(
        {"Email": "nobody@example.org", "Password": "wrong password"}, "Sign in")),
    Case("anonymous", "/forgot-password", "errors", act=blank("Send the link")),
    Case("anonymous", "/invite/<token>", "full"),
    Case("anonymous", "/invite/<token>", "errors", act=blank("Set password")),
    Case("anonymous", "/reset/<token>", "full", given=(("token", "reset_token"),)),
    Case("anonymous", "/reset/<token>", "errors", act=blank("Set password"),
         given=(("token", "reset_token"),)),
    Case("anonymous", "/invite/not-a-token", "link gone"),
    Case("anonymous", "/no-such-page", "404"),
    # The client, on their phone
    Case("client", "/me", "full"),
    Case("client", "/me", "calendar link", act=calendar_link),
    Case("client", "/me", "errors", act=fill_and_send({"Code shown in the room": "000000"},
                                                       "Check in")),
    Case("client", "/account/password", "full"),
    Case("client", "/account/password", "errors", act=blank("Change password")),
    Case("client", "/account/mfa", "full"),
    Case("client", "/account/mfa", "errors", act=mfa_wrong_code),
    Case("client", "/week", "403"),
    Case("client", "/me/offline", "full"),
    # A client whose language is Spanish: the same pages in their words.
    Case("client (es)", "/me", "Spanish", act=in_spanish),
    Case("client (es)", "/me/offline", "Spanish", act=in_spanish),
    # The front desk's tablet
    Case("kiosk", "/kiosk", "full"),
    Case("kiosk", "/kiosk", "wrong PINs", act=kiosk_wrong_pins),
    # A clinician running the desk from their own login, with their top bar and language switch.
    Case("clinician", "/kiosk", "full"),
    # A clinician
    Case("clinician", "/today", "full"),
    Case("clinician", "/sessions/<session_id>/roster", "full"),
    Case("clinician", "/sessions/<session_id>/roster", "refused mark", act=refused_mark),
    Case("clinician", "/clients/<client_id>", "full"),
    Case("clinician", "/clients/<client_id>/plan/revise", "full"),
    Case("clinician", "/clients/<client_id>/plan/revise", "errors", act=invalid(
        "input[name$=weekly_hours_target]", "999", "^Save as version")),
    Case("clinician", "/alerts", "full"),
    Case("clinician", "/follow-up", "full"),
    Case("clinician", "/users", "403"),
    # A coordinator
    Case("coordinator", "/week", "full"),
    Case("coordinator", "/clients", "full"),
    Case("coordinator", "/clients/<client_id>", "full"),
    Case("coordinator", "/clients/<client_id>", "errors", act=blank("Record consent")),
    Case("coordinator", "/clients/<client_id>", "errors", act=paperwork_refused),
    Case("coordinator", "/clients/<client_id>/find-a-time", "full"),
    Case("coordinator", "/clients/<client_id>/find-a-time", "errors",
         query="?staff_id=&length=50&kind=individual&week=2027-02-15"),
    Case("coordinator", "/clients/<client_id>/suggest-schedule", "full"),
    Case("coordinator", "/clients/<client_id>/suggest-schedule", "errors",
         act=blank("Suggest a schedule")),
    Case("coordinator", "/schedule-proposals/<proposal_id>", "full"),
    Case("coordinator", "/intake", "full"),
    Case("coordinator", "/intake", "errors", act=blank("Save and continue")),
    Case("coordinator", "/intake/<client_id>/plan", "full", given=NEW),
    Case("coordinator", "/intake/<client_id>/plan", "errors", act=blank("Save plan and continue"),
         given=NEW),
    Case("coordinator", "/intake/<client_id>/enrol", "full", given=NEW),
    Case("coordinator", "/programs", "full"),
    Case("coordinator", "/programs", "errors", act=blank("Add")),
    Case("coordinator", "/programs/<program_id>/edit", "full"),
    Case("coordinator", "/programs/<program_id>/edit", "errors", act=blank("Save")),
    Case("coordinator", "/programs/<program_id>/suggest-schedules", "full"),
    Case("coordinator", "/programs/<program_id>/suggest-schedules", "errors",
         act=blank("Suggest schedules")),
    Case("coordinator", "/suggest-schedules", "full"),
    Case("coordinator", "/rooms", "full"),
    Case("coordinator", "/rooms", "errors", act=blank("Add")),
    Case("coordinator", "/rooms/<room_id>/edit", "full"),
    Case("coordinator", "/rooms/<room_id>/edit", "errors", act=blank("Save")),
    Case("coordinator", "/series/new", "full"),
    Case("coordinator", "/series/new", "conflict preview", act=series_conflict),
    Case("coordinator", "/series/new", "errors", act=blank("Save series")),
    Case("coordinator", "/series/<series_id>", "full"),
    Case("coordinator", "/series/<series_id>", "booking conflict", act=booking_conflict,
         given=(("series_id", "clash_series_id"),)),
    Case("coordinator", "/series/<series_id>/edit", "full"),
    Case("coordinator", "/series/<series_id>/edit", "errors", act=blank("Save changes")),
    Case("coordinator", "/sessions/<session_id>", "full"),
    Case("coordinator", "/closures", "full"),
    Case("coordinator", "/closures", "errors", act=blank("Close")),
    Case("coordinator", "/staff", "full"),
    Case("coordinator", "/staff/<staff_id>/hours", "full"),
    Case("coordinator", "/staff/<staff_id>/hours", "errors",
         act=invalid("input[placeholder*='17:00']", "soon", "^Save hours$")),
    Case("coordinator", "/staff/<staff_id>/sites", "full"),
    Case("coordinator", "/users", "full"),
    Case("coordinator", "/users", "errors", act=blank("Send invitation")),
    Case("coordinator", "/reports", "full"),
    Case("coordinator", "/reports", "errors", query="?from=2027-03-10&to=2027-03-01"),
    Case("coordinator", "/follow-up", "full"),
    Case("coordinator", "/alerts", "full"),
    Case("coordinator", "/sessions/999999", "404"),
    # An admin
    Case("admin", "/sites", "full"),
    Case("admin", "/sites", "errors", act=blank("Add")),
    Case("admin", "/sites/<site_id>/edit", "full"),
    Case("admin", "/sites/<site_id>/edit", "errors", act=blank("Save")),
    Case("admin", "/users/<user_id>/sites", "full"),
    Case("admin", "/users", "errors", act=refused_role),
    Case("admin", "/recipients", "full"),
    Case("admin", "/recipients", "errors", act=blank("Add")),
    Case("admin", "/recipients/<recipient_id>", "full"),
    Case("admin", "/audit", "full"),
    # Last for the anonymous context: it is half signed in from here on.
    Case("anonymous", "/login/code", "full", act=password_step),
    Case("anonymous", "/login/code", "errors", act=fill_and_send({"Code": "000000"}, "Sign in")),
]

# GET routes that are no HTML page a person reads, so axe has nothing to check.
NOT_PAGES = {
    "/favicon.ico": "an icon",
    "/manifest.webmanifest": "JSON for the browser",
    "/feeds/<token>.ics": "an iCalendar feed",
    "/healthz": "a health check for the load balancer",
    "/sw.js": "the portal's service worker (JavaScript)",
}
# JSON and files, but for one HTML page among them: the API's Swagger UI, whose colours
# static/swagger-contrast.css darkens to pass.
NOT_PAGE_PREFIXES = ("/api/", "/fhir/", "/static/")
HTML_UNDER_PREFIXES = ("/api/v1/docs",)


def test_every_page_route_is_checked(app):
    checked = {case.rule for case in EMPTY + FULL}
    pages = {re.sub(r"<\w+:", "<", rule.rule) for rule in app.url_map.iter_rules()
             if "GET" in rule.methods and (not rule.rule.startswith(NOT_PAGE_PREFIXES)
                                           or rule.rule in HTML_UNDER_PREFIXES)}
    missing = sorted(pages - checked - set(NOT_PAGES))
    assert missing == [], f"pages axe does not check: add a Case (or a NOT_PAGES line): {missing}"
    assert set(NOT_PAGES) <= pages, "NOT_PAGES names a route the app no longer has"


# --- the walk ----------------------------------------------------------------------------------

class Walker:
    """One signed-in context per role, re-sized for each size."""

    def __init__(self, browser, live_server):
        self.browser, self.base = browser, live_server
        axe_source()  # skips at once when axe-core is missing
        self.pages: dict[str, object] = {}
        self.found: list[str] = []
        self.contexts: list = []
        self.csp: list[list[str]] = []
        self.password = PASSWORD

    def page_for(self, role: str, email: str | None):
        if role not in self.pages:
            context = self.browser.new_context(base_url=self.base, viewport=SIZES["desktop"],
                                               **NO_WORKER)
            load_in(context)
            context.set_default_timeout(10_000)
            self.contexts.append(context)
            page = context.new_page()
            # The CSP stays on (axe comes in as an init script): its reports are failures too.
            self.csp.append(watch_csp(page))
            if email:
                # Landing on a light page: a role's start page (the week, the audit trail)
                # would be drawn for nothing, its cases come later.
                page.goto("/login?next=/account/password")
                page.get_by_label("Email").fill(email)
                page.get_by_label("Password").fill(self.password)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_load_state()
            self.pages[role] = page
        return self.pages[role]

    def check(self, case: Case, emails: dict, ids: dict) -> None:
        page = self.page_for(case.role, emails.get(case.role))
        page.set_viewport_size(SIZES["desktop"])
        response = page.goto(case.path(ids))
        if case.state in ("403", "404"):
            assert response.status == int(case.state), f"{case}: answered {response.status}"
        if case.act is not None:
            case.act(page, ids)
        if case.state in SHOWS_ERRORS:
            # A case that no longer reaches its state would check the wrong page and pass.
            assert page.locator(ERROR_SHOWN).count() > 0, f"{case}: no error shown ({page.url})"
        for size, viewport in SIZES.items():
            page.set_viewport_size(viewport)
            self.found += describe(f"{case} at {size} ({page.url})",
                                   violations(page))

    def close(self):
        for context in self.contexts:
            context.close()


@pytest.fixture
def walker(browser, live_server):
    walker = Walker(browser, live_server)
    yield walker
    walker.close()


def selected(cases: list[Case]) -> list[Case]:
    """AXE_ONLY=text runs only the cases whose description holds it, while fixing a page."""
    only = os.environ.get("AXE_ONLY")
    return [case for case in cases if not only or only in str(case)]


def _users(make, client_id: int | None = None, staff_id: int | None = None) -> dict:
    emails = {}
    for role in ("coordinator", "clinician", "admin", "kiosk", "client"):
        links = {"client_id": client_id} if role == "client" else {}
        if role == "clinician" and staff_id:
            links = {"staff_id": staff_id}
        emails[role] = make.user(role, password=PASSWORD, **links).email
    return emails


def test_axe_finds_nothing_on_the_empty_pages(walker, db, make, now):
    program = make.program(name="Morning IOP")
    emails = _users(make, client_id=make.client(program).id, staff_id=make.staff().id)
    db.commit()
    for case in selected(EMPTY):
        walker.check(case, emails, {})
    assert walker.found == [], "axe (WCAG 2.1 AA) found:\n" + "\n".join(walker.found)
    assert sum(walker.csp, []) == [], "Content-Security-Policy violations"


@pytest.fixture
def clinic(app, db, make, now):
    """The demo clinic, with the alerts its absences raise, a recipient, a proposal, and
    invitation and reset links."""
    demo_clinic.seed(db, n_clients=6, weeks=2, now=now)
    db.flush()
    alerts.raise_alerts(db, now)
    recipient = recipients.create_recipient(db, ACTOR, name="County EHR", kind="ehr")
    cast = demo_clinic.follow_up_cast(6)
    names = [demo_clinic.client_name(i) for i in range(6)]
    new_name = names[next(i for i, roles in cast.items() if "unfinished" in roles)]
    client = db.scalar(select(Client).where(Client.name == names[0]))
    new_client = db.scalar(select(Client).where(Client.name == new_name))
    dana = db.scalar(select(Staff).where(Staff.name == "Dana Whitfield"))
    evening = db.scalar(select(SessionSeries).where(SessionSeries.title == "Evening group track"))
    # Monday's evening group, held yesterday with its marks taken.
    held = db.scalar(select(Session).where(Session.series_id == evening.id,
                                           Session.starts_at < now)
                     .order_by(Session.starts_at.desc()))
    proposal = proposals.propose_for_client(db, ACTOR, client.id, now=now,
                                            from_date=(now + timedelta(days=6)).date(),
                                            seconds=1)
    ids = {"client_id": client.id, "new_client_id": new_client.id, "series_id": evening.id,
           "session_id": held.id, "program_id": evening.program_id, "staff_id": dana.id,
           "room_id": evening.room_id,
           "site_id": db.scalar(select(Site.id).order_by(Site.id)),
           "recipient_id": recipient.id, "proposal_id": proposal.id,
           "client_name": client.name}
    db.flush()
    invited = make.user("clinician")
    ids["token"], _ = account_links.issue_link(db, invited, "invite", now)
    # A group opening for check-in now (07:00 in New York), with two clients and their PINs.
    group = sessions.create_one_off(
        db, ACTOR, now=now, program_id=client.program_id, kind="group", title="Check-in group",
        starts_at=now + timedelta(minutes=20), ends_at=now + timedelta(hours=1), capacity=8)
    for person, pin in ((client, "4821"), (new_client, "7788")):
        booking.book_client(db, ACTOR, group.id, person.id, now=now)
        kiosk.set_pin(db, ACTOR, person.id, pin)
    # A group on Monday at the hour of the client's afternoon track: enrolling them clashes.
    ids["clash_series_id"] = make.series(
        program=client.program, title="Clash group", start_date=date(2027, 2, 22),
        end_date=date(2027, 2, 28), start_time=time(15, 30), duration_minutes=60,
        rrule="FREQ=WEEKLY;BYDAY=MO", now=now).id
    ids["reset_token"], _ = account_links.issue_link(
        db, db.scalar(select(User).where(User.email == "admin@demo.clinic")), "reset", now)
    # A login with two-step sign-in on, for the code step of signing in.
    settings = mfa.MfaSettings.from_config(app.config)
    guarded = accounts.create_user(db, ACTOR, email="guarded@demo.clinic", role="coordinator",
                                   password=demo_clinic.DEMO_PASSWORD)
    pending = mfa.begin(db, ACTOR, guarded, settings, now)
    assert mfa.confirm(db, ACTOR, guarded, pyotp.TOTP(pending.secret).at(now), settings, now)
    ids["mfa_email"] = guarded.email
    new_client.language = "es"
    ids["es_email"] = accounts.create_user(db, ACTOR, email="cliente@demo.clinic", role="client",
                                           client_id=new_client.id,
                                           password=demo_clinic.DEMO_PASSWORD).email
    ids["user_id"] = db.scalar(select(User.id).where(User.email == "coordinator@demo.clinic"))
    db.commit()
    return ids


def test_axe_finds_nothing_on_the_full_pages(walker, db, make, clinic):
    emails = {role: f"{role}@demo.clinic"
              for role in ("coordinator", "clinician", "admin", "kiosk", "client")}
    emails["client (es)"] = clinic["es_email"]
    walker.password = demo_clinic.DEMO_PASSWORD
    for case in selected(FULL):
        walker.check(case, emails, clinic)
    assert walker.found == [], "axe (WCAG 2.1 AA) found:\n" + "\n".join(walker.found)
    assert sum(walker.csp, []) == [], "Content-Security-Policy violations"
