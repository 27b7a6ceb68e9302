"""An admin manages logins on /users in Chromium: find one, deactivate it, bring it back."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import expect

SCREENSHOT = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser" / "users.png"


@pytest.fixture(autouse=True)
def _clinic_clock(now):
    """The server runs at the frozen clinic 'now' (Tue 2027-02-16 12:00 UTC)."""


def test_an_admin_deactivates_and_reactivates_a_clients_login(page, login, db, make):
    member = make.user("client", client_id=make.client(name="Avery Stone").id)
    locked = make.user("coordinator")
    locked.failed_logins, locked.locked_until = 6, datetime(2027, 2, 16, 12, 45, tzinfo=UTC)
    member.last_login_at = datetime(2027, 2, 15, 18, 5, tzinfo=UTC)
    db.commit()
    make.user("clinician")
    login(page, "admin")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Logins").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Logins")
    expect(page).to_have_title("Logins · Appointments")
    rows = page.locator("#logins tbody tr")
    expect(rows).to_have_count(4)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    expect(rows.filter(has_text=locked.email)).to_contain_text("Locked until 16 Feb 12:45")

    page.get_by_label("Email", exact=True).fill("CLIENT")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(1)
    row = rows.first
    expect(row).to_contain_text("Avery Stone")
    expect(row).to_contain_text("15 Feb 2027 18:05")
    row.get_by_role("button", name=f"Deactivate {member.email}").click()
    expect(page.get_by_role("status")).to_contain_text(f"{member.email} is deactivated")
    expect(rows.filter(has_text=member.email)).to_contain_text("Deactivated")
    page.get_by_role("button", name=f"Reactivate {member.email}").click()
    expect(page.get_by_role("status")).to_contain_text("can sign in again")
