"""Sharing outside the clinic in Chromium, at desktop and phone width: a coordinator records a
consent on the client page (a refusal first, shown under its field), then revokes it after the
confirmation; the client sees it on /me; an admin makes a recipient's API client and sees its
secret once."""

import shutil
from datetime import date, datetime
from pathlib import Path

import pytest
from playwright.sync_api import expect

from scheduler.services import consents, disclosures, plans, recipients
from tests.browser.conftest import keep_screenshot, page_width, watch_console
from tests.helpers import ACTOR

# Where a person looks at them after the run (the suite keeps its own under test-artifacts).
SHOTS = Path("/tmp/consentui-shots")


def shot(page, name: str, part: str | None = None) -> None:
    """The whole page, kept with the suite's screens and copied to SHOTS; with `part` (a CSS
    selector), that part of it alone too, as a person reads it."""
    path = keep_screenshot(page, name)
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SHOTS / path.name)
    if part is not None:
        page.locator(part).screenshot(path=str(SHOTS / f"{path.stem}-part.png"))


@pytest.fixture
def clinic(db, make):
    program = make.program(name="Evening IOP")
    therapist = make.staff(name="Dana Whitfield")
    avery = make.client(program, name="Avery Stone")
    kipu = recipients.create_recipient(db, ACTOR, name="Kipu EHR", kind="ehr",
                                       contact="Kipu support, 555-0100")
    recipients.create_recipient(db, ACTOR, name="Harbor Referrals", kind="referral")
    plans.create_plan(db, ACTOR, avery.id, start_date=date(2027, 2, 1),
                      primary_therapist_id=therapist.id)
    db.commit()
    return {"avery": avery, "kipu": kipu}


def _record_and_revoke(page, clinic, name: str) -> None:
    problems = watch_console(page)
    page.goto(f"/clients/{clinic['avery'].id}")
    section = page.locator("#sharing")
    expect(section.get_by_role("heading", name="Sharing outside the clinic")).to_be_visible()
    section.get_by_text("Record a signed consent").click()
    form = section.locator("form", has=page.get_by_role("button", name="Record consent"))
    form.get_by_label("Shared with").select_option(label="Kipu EHR")
    form.get_by_label("Purpose").fill("Coordination of care")
    form.get_by_label("Signed on").fill("2027-02-10")
    form.get_by_label("Expires on").fill("2027-08-10")
    form.get_by_label("Where the signed form is kept").fill("Scanned forms/avery-kipu.pdf")
    # Nothing ticked: refused, and said under "What it covers".
    form.get_by_role("button", name="Record consent").click()
    expect(page.get_by_role("alert").first).to_have_text(
        "Consent not recorded: please fix the fields marked below.")
    expect(page.locator("#scope-error")).to_have_text("Tick at least one.")
    expect(page.get_by_label("Purpose")).to_have_value("Coordination of care")
    page.locator("#scope-error").scroll_into_view_if_needed()
    shot(page, f"{name}-refused", "#sharing")

    form = page.locator("#sharing form", has=page.get_by_role("button", name="Record consent"))
    form.get_by_label("Appointments (dates, times, place)").check()
    form.get_by_label("Attendance (came, late, absent)").check()
    form.get_by_role("button", name="Record consent").click()
    expect(page.get_by_role("status").first).to_have_text(
        "Consent recorded: Kipu EHR may receive appointments and attendance until 10 Aug 2027.")
    row = page.locator("#consents tbody tr", has_text="Kipu EHR")
    expect(row).to_contain_text("In force")
    expect(row).to_contain_text("Appointments and attendance")
    page.locator("#sharing").scroll_into_view_if_needed()
    shot(page, f"{name}-recorded", "#sharing")

    row.get_by_text("Revoke").first.click()
    expect(row.get_by_role("button", name="Yes, revoke: stop sharing with Kipu EHR")) \
        .to_be_visible()
    row.get_by_label("Reason (optional)").fill("Client asked by phone")
    shot(page, f"{name}-revoke-confirm", "#sharing")
    row.get_by_role("button", name="Yes, revoke: stop sharing with Kipu EHR").click()
    expect(page.get_by_role("status").first).to_have_text(
        "Consent revoked: nothing more goes to Kipu EHR from now on.")
    row = page.locator("#consents tbody tr", has_text="Kipu EHR")
    expect(row).to_contain_text("Revoked 16 Feb 2027")
    expect(row).to_contain_text("Client asked by phone")
    expect(row.get_by_role("button")).to_have_count(0)
    page.locator("#sharing").scroll_into_view_if_needed()
    shot(page, f"{name}-revoked", "#sharing")
    assert problems == []


def test_a_coordinator_records_and_revokes_a_consent(page, login, clinic):
    login(page, "coordinator")
    _record_and_revoke(page, clinic, "consent-desktop")


def test_recording_and_revoking_work_on_a_phone(phone, login, clinic):
    login(phone, "coordinator")
    _record_and_revoke(phone, clinic, "consent-phone")
    assert page_width(phone) <= 390


def test_the_client_sees_whom_they_share_with_on_a_phone(phone, login, clinic, db, make):
    avery = clinic["avery"]
    row = consents.record(db, ACTOR, avery, recipient_id=clinic["kipu"].id,
                          purpose="Coordination of care", scope=["appointments", "demographics"],
                          signed_on=date(2027, 2, 10), expires_on=date(2027, 8, 10),
                          now=datetime.fromisoformat("2027-02-16T12:00:00+00:00"))
    disclosures.log(db, row, channel="fhir", scope="appointments", what="Appointment/3",
                    at=datetime.fromisoformat("2027-02-15T19:05:00+00:00"))
    db.commit()
    login(phone, "client", client_id=avery.id)
    problems = watch_console(phone)
    phone.goto("/me")
    section = phone.locator("#sharing")
    expect(section.get_by_role("heading", name="Who sees my information")).to_be_visible()
    expect(section).to_contain_text("your appointments and your name, date of birth and "
                                    "identifiers")
    expect(section).to_contain_text("Kipu EHR received one of your appointments")
    expect(section).not_to_contain_text("FHIR")
    section.scroll_into_view_if_needed()
    shot(phone, "consent-portal-phone", "#sharing")
    assert page_width(phone) <= 390
    assert problems == []


def _make_api_client(page, name: str) -> None:
    problems = watch_console(page)
    page.goto("/week")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Setup").click()
    page.get_by_role("navigation", name="Setup").get_by_role("link", name="Recipients").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Recipients")
    form = page.locator("form", has=page.get_by_role("heading", name="Add a recipient"))
    form.get_by_label("Name").fill("Claims Co")
    form.get_by_label("Kind").select_option(label="Billing")
    form.get_by_label("Contact (optional)").fill("Claims desk, 555-0142")
    form.get_by_role("button", name="Add").click()
    expect(page.get_by_role("status").first).to_have_text("Claims Co added.")
    shot(page, f"{name}-list")
    page.get_by_role("link", name="Kipu EHR").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Kipu EHR")
    page.get_by_label("Read appointments of clients who consented").check()
    page.get_by_role("button", name="Make API client").click()
    secret = page.get_by_label("Client secret")
    expect(secret).to_be_visible()
    expect(page.locator("#new-api-client")).to_contain_text("cannot be shown again")
    value = secret.input_value()
    client_id = page.get_by_label("Client ID").input_value()
    assert len(value) >= 40 and client_id.startswith("fc_")
    shot(page, f"{name}-secret")
    # Back to the recipient's page afresh: the secret is gone for good.
    page.get_by_role("link", name="All recipients").click()
    page.get_by_role("link", name="Kipu EHR").click()
    expect(page.get_by_label("Client secret")).to_have_count(0)
    assert value not in page.content()
    expect(page.locator("#api-clients")).to_contain_text(client_id)
    assert problems == []


def test_an_admin_makes_an_api_client_and_sees_the_secret_once(page, login, clinic):
    login(page, "admin")
    _make_api_client(page, "recipients-desktop")


def test_the_recipients_pages_work_on_a_phone(phone, login, clinic):
    login(phone, "admin")
    _make_api_client(phone, "recipients-phone")
    assert page_width(phone) <= 390
