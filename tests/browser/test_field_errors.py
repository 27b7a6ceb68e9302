"""Issue 21 §2: a refused field's error sits next to it and is announced, never only one of the
two. For each form here, in Chromium, after a refused submission: every input marked
aria-invalid is described by an error shown beside it (in the same paragraph or group), that
error is in a live region (role=alert) a screen reader reads out, and no field error on the page
is left unlinked to its input."""

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from scheduler import clock
from scheduler.services import account_links, booking, kiosk, sessions
from tests.browser.conftest import PASSWORD
from tests.helpers import ACTOR

# For each refused input: its error's text, whether the error is beside it (shares the input's
# paragraph, label or fieldset), and whether a live region holds it.
REFUSED = """() => {
  const live = '[role=alert], [role=status], [aria-live]:not([aria-live=off])';
  const group = (el) => el.closest('p, fieldset, label, .picker, li, td') || el.parentElement;
  const fields = [...document.querySelectorAll('[aria-invalid=true]')].map(field => {
    const errors = (field.getAttribute('aria-describedby') || '').split(/\\s+/)
      .map(id => id && document.getElementById(id)).filter(e => e && e.textContent.trim());
    return {
      field: field.id || field.name,
      errors: errors.map(e => e.textContent.trim()),
      beside: errors.some(e => group(field).contains(e)),
      announced: errors.some(e => e.closest(live)),
      shown: errors.some(e => e.getClientRects().length > 0),
      // Its border takes the error's colour: found by eye too, not only by its words.
      border: getComputedStyle(field).borderTopColor,
      marked: ['INPUT', 'SELECT', 'TEXTAREA'].includes(field.tagName) && field.type !== 'hidden'
        ? getComputedStyle(field).borderTopColor === getComputedStyle(errors[0] || field).color
        : true,
      colour: errors[0] && getComputedStyle(errors[0]).color,
    };
  });
  const described = new Set([...document.querySelectorAll('[aria-describedby]')]
    .flatMap(el => el.getAttribute('aria-describedby').split(/\\s+/)));
  const unlinked = [...document.querySelectorAll('.field-error')]
    .filter(e => e.getClientRects().length > 0 && !described.has(e.id))
    .map(e => e.textContent.trim());
  return {fields, unlinked};
}"""


@pytest.fixture(autouse=True)
def _clinic_clock(now):
    """The live server runs at the frozen clinic 'now' (Tue 2027-02-16 07:00 New York)."""


def refused(page, *expected: tuple[str, str], shared: tuple[str, ...] = ()) -> None:
    """Each (field id, words of its error) is refused, beside the field and announced; so is
    every other invalid field; and no error stands unlinked. `shared`: fields refused together
    whose one error stands beside the last of them."""
    # The answer's stylesheets first: a field's border is judged as the person sees it.
    page.wait_for_load_state("load")
    report = page.evaluate(REFUSED)
    by_field = {row["field"]: row for row in report["fields"]}
    for field, words in expected:
        assert field in by_field, f"{field} is not marked invalid: {report}"
        assert any(words in error for error in by_field[field]["errors"]), by_field[field]
    for row in report["fields"]:
        assert row["errors"], f"{row['field']} is invalid but described by no error"
        assert row["shown"], f"{row['field']}'s error is not on screen: {row}"
        assert row["beside"] or row["field"] in shared, f"{row['field']}'s error is apart: {row}"
        assert row["announced"], f"{row['field']}'s error is not announced: {row}"
        assert row["marked"], f"{row['field']}'s border does not show it is refused: {row}"
    assert report["unlinked"] == []


def test_sign_in_errors(page, make):
    user = make.user("coordinator", password=PASSWORD)
    page.goto("/login")
    page.get_by_role("button", name="Sign in").click()
    refused(page, ("email", "required"), ("password", "required"))

    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    # Which of the two was wrong is not said; both are described by the announced refusal.
    refused(page, ("email", "Email or password is wrong."),
            ("password", "Email or password is wrong."), shared=("email",))
    # Once: beside the fields, not again on top.
    expect(page.get_by_text("Email or password is wrong.")).to_have_count(1)


def test_password_setting_errors(page, db, make):
    invited = make.user("coordinator")
    token, _ = account_links.issue_link(db, invited, "invite", clock.now())
    db.commit()
    page.goto(f"/invite/{token}")
    page.get_by_label("New password", exact=True).fill("short")
    page.get_by_label("New password again").fill("different")
    page.get_by_role("button", name="Set password").click()
    refused(page, ("confirm", "differ"))
    page.get_by_label("New password", exact=True).fill("short")
    page.get_by_label("New password again").fill("short")
    page.get_by_role("button", name="Set password").click()
    refused(page, ("password", "12"))


def test_intake_and_series_form_errors(page, login, make):
    make.program(name="Morning IOP")
    login(page, "coordinator")
    page.goto("/intake")
    page.get_by_role("button", name="Save and continue").click()
    # The answer's stylesheets first: a field's border is judged as the person sees it.
    page.wait_for_load_state("load")
    report = page.evaluate(REFUSED)
    assert len(report["fields"]) >= 1, report
    refused(page)

    page.goto("/series/new")
    page.get_by_role("button", name="Save series").click()
    refused(page, ("title", "Give the series a title."))


def test_kiosk_pin_and_portal_code_errors(page, login, make, db, now):
    program = make.program(name="Morning IOP")
    group = sessions.create_one_off(
        db, ACTOR, now=now, program_id=program.id, kind="group", title="Coping skills",
        starts_at=now + timedelta(minutes=20), ends_at=now + timedelta(hours=3), capacity=8)
    avery = make.client(program, name="Avery Stone")
    booking.book_client(db, ACTOR, group.id, avery.id, now=now)
    kiosk.set_pin(db, ACTOR, avery.id, "4821")
    db.commit()

    login(page, "kiosk", user=make.user("kiosk", password=PASSWORD))
    page.get_by_label("Your name").select_option(label="Avery S.")
    page.get_by_label("Your PIN").fill("0000")
    page.get_by_role("button", name="Check in").click()
    refused(page, ("pin", "PIN: does not match."))
    expect(page.get_by_label("Your PIN")).to_be_focused()

    page.get_by_role("button", name="Leave kiosk").click()
    login(page, "client", client_id=avery.id)
    page.get_by_label("Code shown in the room").fill("000000")
    page.get_by_role("button", name="Check in").click()
    refused(page, ("code", "Code:"))
    expect(page.get_by_label("Code shown in the room")).to_be_focused()
