"""A returning client's login and calendar link: what re-admission finds and what it offers.

Discharge stops the client's calendar link and leaves their login as it is; re-admission brings
neither back on its own. Seen before the fix: intake step 3 offered a returning client with a
password an invitation that could only fail ("already has a login"), and neither the client
page nor /me said that the old calendar link had stopped at discharge.
"""

import re
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from scheduler import clock
from scheduler.feeds import tokens
from scheduler.models import AuditEvent, FeedToken, User
from scheduler.services import booking, episodes, plans
from tests.helpers import ACTOR, sign_in

API = "/api/v1"
NOW = datetime(2027, 2, 16, 15, 0, tzinfo=UTC)
PASSWORD = "a long enough passphrase"
EMAIL = "jesse@example.test"


@pytest.fixture
def now():
    with clock.frozen(NOW):
        yield NOW


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


@pytest.fixture
def returning(db, make, now):
    """Jesse: admitted in September with a login, a password and a calendar link, discharged
    on 1 December, re-admitted today with a new plan."""
    program = make.program(name="Evening IOP")
    jesse = make.client(program, name="Jesse Test", email=EMAIL, admitted_on=date(2026, 9, 1))
    login = make.user("client", password=PASSWORD, client_id=jesse.id)
    login.email = EMAIL
    tokens.issue(db, ACTOR, "client", jesse.id, datetime(2026, 9, 2, tzinfo=UTC))
    booking.discharge_client(db, ACTOR, jesse.id, date(2026, 12, 1), now=datetime(
        2026, 12, 1, 20, 0, tzinfo=UTC), reason="Completed the program")
    db.commit()
    return program, jesse, login


def readmit(db, program, jesse) -> None:
    episodes.readmit(db, ACTOR, jesse.id, admitted_on=date(2027, 2, 16), program_id=program.id)
    plans.create_plan(db, ACTOR, jesse.id, start_date=date(2027, 2, 16))
    db.commit()


def page_sign_in(client, email=EMAIL, password=PASSWORD):
    form = client.get("/login").get_data(as_text=True)
    return client.post("/login", data={"csrf_token": csrf(form), "email": email,
                                       "password": password})


def test_a_returning_clients_own_login_signs_in_after_discharge_and_after_re_admission(
        client, db, returning):
    program, jesse, _ = returning
    signed_in = page_sign_in(client)
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/me"
    assert client.get("/me").status_code == 200
    client.post("/logout", data={"csrf_token": csrf(client.get("/me").get_data(as_text=True))})
    readmit(db, program, jesse)
    assert page_sign_in(client).headers["Location"] == "/me"
    assert client.get("/me").status_code == 200


def test_intake_step_three_offers_no_invitation_to_a_client_who_can_sign_in(
        client, db, make, returning):
    """Seen: the invitation was offered, and ticking it answered 409 "already has a login"."""
    program, jesse, _ = returning
    readmit(db, program, jesse)
    group = make.series(program, title="Relapse prevention")
    sign_in(client, make.user("coordinator"))
    page = client.get(f"/intake/{jesse.id}/enrol").get_data(as_text=True)
    assert 'name="invite"' not in page
    assert f"Jesse Test already has an account ({EMAIL})" in page
    assert "sign in as before" in page
    done = client.post(f"/intake/{jesse.id}/enrol", data={
        "csrf_token": csrf(page), "series_ids": group.id})
    assert done.status_code == 303
    # An invitation posted anyway is refused in words, and nothing is booked with it.
    refused = client.post(f"/intake/{jesse.id}/enrol", data={
        "csrf_token": csrf(page), "invite": "y"})
    assert refused.status_code == 409
    assert "already has a login" in refused.get_data(as_text=True)


def test_intake_step_three_still_invites_a_returning_client_who_never_had_a_login(
        client, db, make, now):
    program = make.program()
    casey = make.client(program, name="Casey Quill", email="casey@example.test",
                        admitted_on=date(2026, 9, 1))
    booking.discharge_client(db, ACTOR, casey.id, date(2026, 12, 1), now=NOW)
    db.commit()
    readmit(db, program, casey)
    make.series(program, title="Relapse prevention")
    sign_in(client, make.user("coordinator"))
    page = client.get(f"/intake/{casey.id}/enrol").get_data(as_text=True)
    assert 'name="invite"' in page and "already has an account" not in page


def test_a_deactivated_login_is_offered_back_on_step_three_and_the_client_page(
        client, db, make, returning):
    program, jesse, login = returning
    readmit(db, program, jesse)
    coordinator = make.user("coordinator")
    sign_in(client, coordinator)
    page = client.get("/users").get_data(as_text=True)
    client.post(f"/users/{login.id}/deactivate", data={"csrf_token": csrf(page)})
    step3 = client.get(f"/intake/{jesse.id}/enrol").get_data(as_text=True)
    assert 'name="invite"' not in step3
    assert f"login ({EMAIL}) is deactivated" in step3
    action = f'action="/clients/{jesse.id}/login/reactivate"'
    assert action in step3
    detail = client.get(f"/clients/{jesse.id}").get_data(as_text=True)
    assert action in detail and f"login ({EMAIL}) is deactivated" in detail
    back = client.post(f"/clients/{jesse.id}/login/reactivate",
                       data={"csrf_token": csrf(step3), "back": "intake"})
    assert back.status_code == 303
    assert back.headers["Location"].endswith(f"/intake/{jesse.id}/enrol")
    db.expire_all()
    assert db.get(User, login.id).is_active
    event = db.scalar(select(AuditEvent).where(AuditEvent.entity_type == "user",
                                               AuditEvent.entity_id == login.id)
                      .order_by(AuditEvent.id.desc()).limit(1))
    assert event.after["is_active"] is True and event.actor_user_id == coordinator.id
    step3 = client.get(f"/intake/{jesse.id}/enrol").get_data(as_text=True)
    assert "sign in as before" in step3
    again = client.post(f"/clients/{jesse.id}/login/reactivate",
                        data={"csrf_token": csrf(step3)}, follow_redirects=True)
    assert f"Jesse Test can already sign in as {EMAIL}." in again.get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf(step3)})
    assert page_sign_in(client).headers["Location"] == "/me"


def test_reactivating_a_client_without_a_login_says_to_invite_them(client, make, now):
    casey = make.client(name="Casey Quill")
    sign_in(client, make.user("coordinator"))
    page = client.get(f"/clients/{casey.id}").get_data(as_text=True)
    assert "Casey Quill has no login of their own." in page
    answer = client.post(f"/clients/{casey.id}/login/reactivate",
                         data={"csrf_token": csrf(page)}, follow_redirects=True)
    assert "Casey Quill has no login to let in again; invite them instead." in answer.get_data(
        as_text=True)


def test_a_clinician_may_not_reactivate_a_clients_login(client, db, make, returning):
    _, jesse, login = returning
    login.is_active = False
    db.commit()
    sign_in(client, make.user("clinician"))
    page = client.get(f"/clients/{jesse.id}").get_data(as_text=True)
    assert "/login/reactivate" not in page
    refused = client.post(f"/clients/{jesse.id}/login/reactivate",
                          data={"csrf_token": csrf(page)})
    assert refused.status_code == 403
    db.expire_all()
    assert not db.get(User, login.id).is_active


def test_the_client_page_says_the_old_link_stopped_at_discharge_and_makes_a_new_one(
        client, db, make, returning):
    """Seen: after re-admission the page said only "The client has no calendar link"."""
    program, jesse, _ = returning
    readmit(db, program, jesse)
    sign_in(client, make.user("coordinator"))
    page = client.get(f"/clients/{jesse.id}").get_data(as_text=True)
    assert ("The calendar link Jesse Test had stopped working when they were discharged "
            "(2026-12-01)") in page
    assert f'action="/clients/{jesse.id}/feed"' in page
    made = client.post(f"/clients/{jesse.id}/feed", data={"csrf_token": csrf(page)})
    assert made.status_code == 201
    assert made.headers["Cache-Control"] == "no-store"
    assert "stopped working" not in made.get_data(as_text=True)
    assert db.scalar(select(FeedToken).where(FeedToken.owner_id == jesse.id,
                                             FeedToken.revoked_at.is_(None))) is not None


def test_step_three_offers_a_returning_client_a_new_calendar_link(client, db, make, returning):
    program, jesse, _ = returning
    readmit(db, program, jesse)
    sign_in(client, make.user("coordinator"))
    page = client.get(f"/intake/{jesse.id}/enrol").get_data(as_text=True)
    assert "stopped working when they were discharged (2026-12-01)" in page
    assert f'action="/clients/{jesse.id}/feed"' in page


def test_me_tells_the_returning_client_their_old_link_stopped_and_gives_a_new_one(
        client, db, returning):
    program, jesse, login = returning
    readmit(db, program, jesse)
    sign_in(client, login)
    page = client.get("/me").get_data(as_text=True)
    assert "Your previous calendar link stopped working on 1 December 2026" in page
    assert "Get my calendar link" in page
    made = client.post("/me/feed", data={"csrf_token": csrf(page)})
    assert made.status_code == 201 and made.headers["Cache-Control"] == "no-store"
    assert "stopped working" not in made.get_data(as_text=True)


def test_a_link_revoked_by_hand_is_not_called_a_discharge(client, db, make, now):
    casey = make.client(name="Casey Quill")
    tokens.issue(db, ACTOR, "client", casey.id, NOW)
    tokens.revoke(db, ACTOR, "client", casey.id, NOW)
    db.commit()
    sign_in(client, make.user("coordinator"))
    page = client.get(f"/clients/{casey.id}").get_data(as_text=True)
    assert "The calendar link Casey Quill had stopped working on 2027-02-16" in page
    assert "discharged" not in page.split('id="feed-heading"', 1)[1]
