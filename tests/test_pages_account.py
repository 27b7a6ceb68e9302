"""The account pages: invitation and reset links, 'Forgot your password?', changing one's own."""

import re
from datetime import date, timedelta

from sqlalchemy import func, select

from scheduler import clock
from scheduler.models import ApiToken, Booking, User
from tests import mailbox
from tests.helpers import sign_in
from tests.mailbox import link_in

inbox = mailbox.inbox  # a real SMTP server, as a fixture
PASSWORD = "the first long passphrase"
NEW = "a second long passphrase"


def csrf(page: bytes) -> str:
    return re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', page).group(1).decode()


def set_password(client, url, password=NEW, again=None):
    token = csrf(client.get(url).data)
    return client.post(url, data={"csrf_token": token, "password": password,
                                  "confirm": password if again is None else again})


def sign_in_page(client, email, password):
    token = csrf(client.get("/login").data)
    return client.post("/login", data={"csrf_token": token, "email": email,
                                       "password": password})


def test_login_links_to_forgot_and_the_reset_page_sets_a_new_password(client, db, make, inbox):
    user = make.user("clinician", password=PASSWORD)
    login = client.get("/login").get_data(as_text=True)
    assert 'href="/forgot-password">Forgot your password?' in login
    page = client.get("/forgot-password")
    answer = client.post("/forgot-password", buffered=True,
                         data={"csrf_token": csrf(page.data), "email": user.email})
    assert answer.status_code == 202
    assert "on its way" in answer.get_data(as_text=True)
    url = "/reset/" + link_in(inbox.to(user.email)[0], "reset")
    form = client.get(url).get_data(as_text=True)
    assert user.email in form and 'autocomplete="new-password"' in form
    done = set_password(client, url)
    assert (done.status_code, done.headers["Location"]) == (303, "/login")
    assert sign_in_page(client, user.email, NEW).status_code == 302
    again = client.get(url).get_data(as_text=True)
    assert "This link no longer works" in again and "Ask for a new link" in again


def test_an_unknown_email_gets_the_same_page_and_no_mail(client, inbox):
    page = client.get("/forgot-password")
    answer = client.post("/forgot-password", buffered=True,
                         data={"csrf_token": csrf(page.data), "email": "nobody@clinic.test"})
    assert answer.status_code == 202 and "on its way" in answer.get_data(as_text=True)
    assert inbox.messages == []


def test_the_invitation_page_sets_the_first_password_and_refuses_weak_ones(
        client, db, make, auth, inbox):
    casey = make.client(email="casey@example.test")
    client.post("/api/v1/users/invitations", headers=auth("coordinator"), buffered=True,
                json={"email": "casey@example.test", "role": "client", "client_id": casey.id})
    url = "/invite/" + link_in(inbox.messages[-1], "invite")
    assert "Choose your password" in client.get(url).get_data(as_text=True)
    weak = set_password(client, url, "short")
    assert weak.status_code == 422 and b"at least 12 characters" in weak.data
    differ = set_password(client, url, NEW, "something else entirely")
    assert differ.status_code == 422 and b"The two passwords differ." in differ.data
    assert set_password(client, url).status_code == 303
    assert sign_in_page(client, "casey@example.test", NEW).headers["Location"] == "/me"


def test_an_expired_or_unknown_link_shows_a_clear_page(client, db, make, auth, inbox, now):
    casey = make.client(email="casey@example.test")
    client.post("/api/v1/users/invitations", headers=auth("coordinator"), buffered=True,
                json={"email": "casey@example.test", "role": "client", "client_id": casey.id})
    url = "/invite/" + link_in(inbox.messages[-1], "invite")
    with clock.frozen(now + timedelta(hours=73)):
        page = client.get(url).get_data(as_text=True)
        assert "more than 72 hours old" in page
        token = csrf(client.get("/login").data)
        late = client.post(url, data={"csrf_token": token, "password": NEW, "confirm": NEW})
        assert late.status_code == 410 and b"This link no longer works" in late.data
    for token in ("nope", "x" * 5000, "%00"):
        assert "This link no longer works" in client.get(f"/reset/{token}").get_data(
            as_text=True)


def test_a_client_changes_their_password_and_other_sign_ins_end(client, db, make):
    user = make.user("client", password=PASSWORD)
    other = ApiToken(user_id=user.id, token_hash="a" * 64, expires_at=clock.now() + timedelta(1))
    db.add(other)
    db.commit()
    sign_in(client, user)
    portal = client.get("/me").get_data(as_text=True)
    assert 'href="/account/password"' in portal
    page = client.get("/account/password")
    wrong = client.post("/account/password", data={
        "csrf_token": csrf(page.data), "current_password": "not it at all!",
        "password": NEW, "confirm": NEW})
    assert wrong.status_code == 422 and b"This is not your current password." in wrong.data
    db.expire_all()
    assert db.get(User, user.id).failed_logins == 1
    done = client.post("/account/password", data={
        "csrf_token": csrf(page.data), "current_password": PASSWORD,
        "password": NEW, "confirm": NEW})
    assert done.status_code == 303
    db.expire_all()
    assert db.get(ApiToken, other.id).revoked_at is not None
    assert db.get(User, user.id).failed_logins == 0
    # A program signing in with the new password (no browser cookie: those writes need the
    # page's CSRF token).
    elsewhere = client.application.test_client()
    assert elsewhere.post("/api/v1/auth/token", json={"email": user.email,
                                                      "password": NEW}).status_code == 200


def test_the_intake_offers_to_invite_the_client(client, db, make, inbox):
    program = make.program()
    group = make.series(program, start_date=date(2027, 3, 1))
    casey = make.client(program, name="Casey Quill", email="casey@example.test")
    sign_in(client, make.user("coordinator"))
    url = f"/intake/{casey.id}/enrol"
    page = client.get(url)
    assert "invitation to their own account" in page.get_data(as_text=True)
    answer = client.post(url, buffered=True, data={
        "csrf_token": csrf(page.data), "series_ids": group.id, "invite": "y"})
    assert answer.status_code == 303
    assert db.scalar(select(func.count()).select_from(Booking)) > 0
    [message] = inbox.to("casey@example.test")
    assert link_in(message, "invite")
    invited = db.scalar(select(User).where(User.client_id == casey.id))
    assert (invited.email, invited.role, invited.password_hash) == (
        "casey@example.test", "client", None)
    shown = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "invitation to set up an account is on its way to casey@example.test" in shown


def test_after_a_suggested_schedule_the_intake_ends_with_the_invitation_alone(client, db, make,
                                                                             inbox):
    """The groups are booked already (an accepted suggestion): ticking no series, step 3 still
    sends the invitation and books nothing more."""
    program = make.program()
    make.series(program, start_date=date(2027, 3, 1))
    casey = make.client(program, name="Casey Quill", email="casey@example.test")
    sign_in(client, make.user("coordinator"))
    url = f"/intake/{casey.id}/enrol"
    page = client.get(url)
    answer = client.post(url, buffered=True, data={"csrf_token": csrf(page.data), "invite": "y"})
    assert answer.status_code == 303
    assert db.scalar(select(func.count()).select_from(Booking)) == 0
    [message] = inbox.to("casey@example.test")
    assert link_in(message, "invite")
    shown = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "invitation to set up an account is on its way to casey@example.test" in shown
    assert "enrolled in 0 series" not in shown
