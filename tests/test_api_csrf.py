"""No cross-site request forgery through the API: a page sign-in's cookie alone changes nothing.

A cookie-authenticated write to /api/v1 needs the page's CSRF token in X-CSRFToken and this
site's Origin (or Referer); bearer-token callers are unaffected. Everything through HTTP.
"""

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from scheduler import clock
from scheduler.extensions import db as _db
from scheduler.feeds import tokens
from scheduler.models import AuditEvent, Booking, User
from scheduler.services import plans, sessions
from tests.helpers import ACTOR, sign_in

API = "/api/v1"
OWN = "http://localhost"  # the test client's own origin
EVIL = "https://evil.example"
SIGN_IN_TABLES = ("login_sessions", "api_tokens")


def page_token(client) -> str:
    """The CSRF token a signed-in page exposes to its scripts."""
    page = client.get("/").get_data(as_text=True)
    if "csrf-token" not in page:
        page = client.get(client.get("/").headers["Location"]).get_data(as_text=True)
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)


def snapshot() -> dict:
    """Every row but the sign-ins' own bookkeeping, read afresh."""
    _db.session.rollback()
    rows = {t.name: _db.session.execute(select(t).order_by(*t.primary_key.columns)).all()
            for t in _db.metadata.sorted_tables if t.name not in SIGN_IN_TABLES}
    rows["audit_events"] = [r for r in rows["audit_events"] if r.action != "sign_in"]
    _db.session.rollback()
    return rows


@pytest.fixture
def targets(db, make):
    """A plan, a booking, a client feed and a locked account: what an attacker would change."""
    program = make.program()
    staff = make.staff()
    person = make.client(program)
    starts = datetime(2027, 2, 18, 15, tzinfo=UTC)
    one_off = sessions.create_one_off(
        db, ACTOR, now=clock.now(), program_id=program.id, kind="individual",
        starts_at=starts, ends_at=starts + timedelta(hours=1), facilitator_ids=[staff.id],
        client_id=person.id)
    plan = plans.create_plan(db, ACTOR, person.id, start_date=datetime(2027, 2, 1).date())
    tokens.issue(db, ACTOR, "client", person.id, clock.now())
    locked = make.user("clinician")
    locked.failed_logins, locked.locked_until = 7, clock.now() + timedelta(hours=1)
    db.commit()
    booking_id = db.scalar(select(Booking.id).where(Booking.session_id == one_off.id))
    return {"plan": f"{API}/plans/{plan.id}/revisions",
            "feed": f"{API}/clients/{person.id}/feed",
            "booking": f"{API}/bookings/{booking_id}",
            "unlock": f"{API}/users/{locked.id}/unlock",
            "locked_id": locked.id}


ATTACKS = [("POST", "plan"), ("POST", "feed"), ("DELETE", "booking"), ("POST", "unlock")]


@pytest.mark.parametrize("body", [
    {"data": '{"reason": "x"}', "content_type": "text/plain"},
    {"data": "reason=x", "content_type": "application/x-www-form-urlencoded"},
])
def test_a_cross_site_form_changes_nothing(client, make, targets, body):
    """What a hostile page can send with the admin's cookie: 403 for each, nothing written."""
    sign_in(client, make.user("admin"))
    token = page_token(client)
    before = snapshot()
    for method, name in ATTACKS:
        for headers in ({"Origin": EVIL}, {"Origin": EVIL, "X-CSRFToken": token},
                        {"Referer": f"{EVIL}/page"}, {}, {"Origin": OWN}, {"Origin": "null"},
                        {"Origin": OWN, "X-CSRFToken": "forged"}):
            answer = client.open(targets[name], method=method, headers=headers, **body)
            assert answer.status_code == 403, (name, headers, answer.status_code)
            error = answer.get_json()
            assert error["code"] == 403 and error["status"] == "Forbidden", error
            assert "id" not in error["message"].lower().split(), error
    assert snapshot() == before


def test_the_pages_own_write_with_token_and_origin_goes_through(client, make, targets):
    """The same write from the site's own script (token and origin) is let in: the check is
    the header, not a wall."""
    sign_in(client, make.user("admin"))
    token = page_token(client)
    answer = client.post(targets["unlock"], headers={"Origin": OWN, "X-CSRFToken": token})
    assert answer.status_code == 200, answer.get_json()
    assert _db.session.get(User, targets["locked_id"]).failed_logins == 0
    # A Referer of this site stands in for a missing Origin.
    answer = client.delete(targets["booking"],
                           headers={"Referer": f"{OWN}/week", "X-CSRFToken": token})
    assert answer.status_code in (200, 204), answer.get_json()


def test_a_bearer_token_needs_no_csrf_token(client, auth, targets):
    """Scripts and integrations with a bearer token hold no cookie to forge: unaffected."""
    answer = client.post(targets["unlock"], headers={**auth("admin"), "Origin": EVIL})
    assert answer.status_code == 200, answer.get_json()


def test_no_sign_in_at_all_still_gets_401(client, targets):
    answer = client.post(targets["unlock"], headers={"Origin": EVIL})
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"


def test_cookie_reads_need_no_token(client, make):
    """Reads change nothing, so the cookie alone may read (the pages' own scripts do)."""
    sign_in(client, make.user("coordinator"))
    assert client.get(f"{API}/auth/me", headers={"Origin": EVIL}).status_code == 200


def test_every_page_carries_the_token_for_its_scripts(client, make):
    sign_in(client, make.user("coordinator"))
    assert page_token(client)
    docs = client.get(f"{API}/docs").get_data(as_text=True)
    assert '<meta name="csrf-token"' in docs


def test_refusals_are_not_audited_as_changes(client, make, targets):
    sign_in(client, make.user("admin"))
    client.post(targets["unlock"], headers={"Origin": EVIL})
    actions = set(_db.session.scalars(select(AuditEvent.action)))
    assert "unlock" not in actions
