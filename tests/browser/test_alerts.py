"""An admin reviews the alerts page in Chromium at desktop and phone width: a break of the glass
with who, for whom, when and why, and the clients who need a call, acknowledged in one tap.

The screens are kept in test-artifacts/screens/alerts-desktop.png and alerts-phone.png for a
person to look at.
"""

from datetime import UTC, date, datetime, timedelta

import pytest
from playwright.sync_api import expect

from scheduler.models import Alert
from scheduler.services import caseload, plans
from tests.browser.conftest import PASSWORD, keep_screenshot, page_width
from tests.helpers import ACTOR

NOW = datetime(2027, 2, 16, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clinic_clock(now):
    """The server runs at the frozen clinic 'now' (Tue 2027-02-16 12:00 UTC, 07:00 New York)."""


@pytest.fixture
def alerts_clinic(db, make):
    program = make.program(name="Evening IOP")
    dana, sam = make.staff(name="Dana Reyes"), make.staff(name="Sam Ortiz")
    avery = make.client(program, name="Avery Stone")
    blake = make.client(program, name="Blake Quinn")
    plans.create_plan(db, ACTOR, avery.id, start_date=date(2027, 1, 4),
                      primary_therapist_id=dana.id)
    db.add_all([
        Alert(key="streak", kind="absence_streak", client_id=avery.id, program_id=program.id,
              detail={"unexcused_streak": 3,
                      "last_attended_at": datetime(2027, 2, 8, 23, tzinfo=UTC).isoformat()},
              raised_at=NOW - timedelta(hours=3)),
        Alert(key="short", kind="below_target", client_id=blake.id, program_id=program.id,
              detail={"projected_hours": 4.5, "target_hours": 9.0, "fixable": False},
              raised_at=NOW - timedelta(hours=2)),
    ])
    caseload.break_glass(db, ACTOR, make.user("clinician", staff_id=sam.id), avery.id,
                         "Covering Dana's crisis call after a relapse disclosed at the desk",
                         NOW, caseload.Policy())
    db.commit()
    return {"admin": make.user("admin", password=PASSWORD)}


def test_an_admin_reviews_the_alerts_at_desktop_and_phone_width(page, phone, login,
                                                                alerts_clinic):
    login(page, "admin", user=alerts_clinic["admin"])
    page.get_by_role("navigation").get_by_role("link", name="Alerts").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Alerts")
    table = page.locator("#alerts")
    expect(table.locator("tbody tr")).to_have_count(3)
    glass = table.locator("tbody tr").filter(has_text="Broke the glass")
    expect(glass).to_contain_text("Sam Ortiz broke the glass to read Avery Stone's clinical "
                                  "record")
    expect(glass).to_contain_text("Covering Dana's crisis call")
    expect(glass.get_by_role("link", name="Avery Stone")).to_be_visible()
    keep_screenshot(page, "alerts-desktop")

    login(phone, "admin", user=alerts_clinic["admin"])
    phone.goto("/alerts")
    expect(phone.locator("#alerts tbody tr")).to_have_count(3)
    # Nothing runs off the side of a phone.
    assert page_width(phone) <= 390
    keep_screenshot(phone, "alerts-phone")

    page.get_by_role("button", name="Reviewed: Broke the glass, Avery Stone").click()
    expect(page.locator(".flash")).to_contain_text("Broke the glass: Avery Stone, acknowledged.")
    expect(page.locator("#alerts tbody tr")).to_have_count(2)
