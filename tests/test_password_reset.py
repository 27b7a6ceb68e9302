"""Password reset by email, and changing one's own password."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from scheduler import clock
from scheduler.extensions import limiter
from scheduler.models import ApiToken, AuditEvent, Notification
from tests import mailbox
from tests.mailbox import link_in
from tests.test_jobs import FORBIDDEN

API = "/api/v1"
inbox = mailbox.inbox  # a real SMTP server, as a fixture
PASSWORD = "the first long passphrase"
NEW = "a second long passphrase"


def ask(client, email):
    return client.post(f"{API}/auth/password-reset", json={"email": email}, buffered=True)


def confirm(client, token, password=NEW):
    return client.post(f"{API}/auth/password-reset/confirm",
                       json={"token": token, "password": password})


def token_for(client, email, password):
    return client.post(f"{API}/auth/token", json={"email": email, "password": password})


def bearer(answer) -> dict:
    return {"Authorization": f"Bearer {answer.json['token']}"}


@pytest.fixture
def user(make):
    return make.user("clinician", password=PASSWORD)


def test_a_reset_link_sets_a_new_password_and_ends_every_sign_in(client, db, user, inbox, now):
    before = bearer(token_for(client, user.email, PASSWORD))
    assert ask(client, user.email.upper()).status_code == 202
    [message] = inbox.to(user.email)
    assert message["Subject"] == "Reset your Appointments password"
    text = (message["Subject"] + message.get_content()).lower()
    assert not [word for word in FORBIDDEN if word in text]
    token = link_in(message, "reset")
    assert confirm(client, token).status_code == 204
    assert client.get(f"{API}/auth/me", headers=before).status_code == 401
    assert token_for(client, user.email, PASSWORD).status_code == 401
    assert token_for(client, user.email, NEW).status_code == 200
    assert confirm(client, token, "yet another passphrase").status_code == 410
    stored = db.scalar(select(Notification).where(Notification.kind == "password-reset"))
    assert token not in stored.body


def test_unknown_and_inactive_emails_get_the_same_202_and_no_mail(client, db, make, inbox):
    gone = make.user("clinician", password=PASSWORD)
    gone.is_active = False
    db.commit()
    known = ask(client, make.user("clinician", password=PASSWORD).email)
    for email in ("nobody@clinic.test", gone.email):
        answer = ask(client, email)
        assert (answer.status_code, answer.data) == (202, known.data)
    assert len(inbox.messages) == 1
    assert len(db.scalars(select(AuditEvent).where(
        AuditEvent.action == "request_password_reset")).all()) == 1


def test_a_reset_link_lasts_30_minutes(client, user, inbox, now):
    ask(client, user.email)
    token = link_in(inbox.messages[-1], "reset")
    with clock.frozen(now + timedelta(minutes=30)):
        assert confirm(client, token).status_code == 410
    with clock.frozen(now + timedelta(minutes=29)):
        assert confirm(client, token).status_code == 204


def test_a_newer_reset_link_supersedes_the_older(client, user, inbox):
    ask(client, user.email)
    ask(client, user.email)
    old, new = (link_in(m, "reset") for m in inbox.to(user.email))
    assert confirm(client, old).status_code == 410
    assert confirm(client, new).status_code == 204


def test_an_invitation_link_is_no_reset_link(client, make, auth, inbox):
    casey = make.client(email="casey@example.test")
    client.post(f"{API}/users/invitations", headers=auth("coordinator"), buffered=True,
                json={"email": "casey@example.test", "role": "client", "client_id": casey.id})
    assert confirm(client, link_in(inbox.messages[-1], "invite")).status_code == 410


def test_a_reset_lifts_a_sign_in_lock(client, db, user, inbox):
    for _ in range(6):
        token_for(client, user.email, "wrong wrong wrong")
        limiter.reset()
    assert token_for(client, user.email, PASSWORD).status_code == 401  # locked
    ask(client, user.email)
    assert confirm(client, link_in(inbox.messages[-1], "reset")).status_code == 204
    assert token_for(client, user.email, NEW).status_code == 200


def test_reset_requests_and_resets_are_audited(client, db, user, inbox):
    ask(client, user.email)
    confirm(client, link_in(inbox.messages[-1], "reset"))
    events = {e.action: e for e in db.scalars(
        select(AuditEvent).where(AuditEvent.entity_id == user.id,
                                 AuditEvent.entity_type == "user"))}
    assert events["request_password_reset"].address == "127.0.0.1"
    assert events["reset_password"].actor_user_id == user.id
    assert events["reset_password"].address == "127.0.0.1"


def test_reset_requests_are_rate_limited_per_address(client, user, inbox):
    answers = [ask(client, f"someone{n}@clinic.test").status_code for n in range(6)]
    assert answers == [202] * 5 + [429]


@pytest.mark.parametrize("body", [{"email": "a\x00@b.test"}, {"email": "a" * 1000},
                                  {"email": 5}, {"email": None}, {}])
def test_hostile_reset_requests_name_the_field(client, body):
    answer = client.post(f"{API}/auth/password-reset", json=body)
    assert answer.status_code == 422
    assert "email" in answer.json["errors"]["json"]


# --- changing one's own password ---------------------------------------------------------------


def change(client, headers, current=PASSWORD, new=NEW):
    return client.post(f"{API}/auth/password", headers=headers,
                       json={"current_password": current, "new_password": new})


def test_changing_the_password_ends_every_other_sign_in_but_this_one(client, db, user):
    other = bearer(token_for(client, user.email, PASSWORD))
    mine = bearer(token_for(client, user.email, PASSWORD))
    assert change(client, mine).status_code == 204
    assert client.get(f"{API}/auth/me", headers=mine).status_code == 200
    assert client.get(f"{API}/auth/me", headers=other).status_code == 401
    assert token_for(client, user.email, NEW).status_code == 200
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "change_password"))
    assert (event.actor_user_id, event.entity_id) == (user.id, user.id)
    assert (event.address, event.after) == ("127.0.0.1", {"sign_ins_ended": 1})


def test_a_wrong_current_password_is_named_and_counts_towards_the_lock(client, db, user):
    mine = bearer(token_for(client, user.email, PASSWORD))
    for _ in range(5):
        answer = change(client, mine, current="not my password at all")
        assert answer.status_code == 422
        assert "current_password" in answer.json["errors"]["json"]
    # Now locked: even the right password is refused, here and at sign-in.
    assert change(client, mine).status_code == 422
    limiter.reset()
    assert token_for(client, user.email, PASSWORD).status_code == 401
    assert db.scalars(select(ApiToken).where(ApiToken.revoked_at.is_not(None))).all() == []


def test_the_new_password_is_held_to_the_rules_and_named(client, user):
    mine = bearer(token_for(client, user.email, PASSWORD))
    for weak in ("short", PASSWORD, "password1234"):
        answer = change(client, mine, new=weak)
        assert answer.status_code == 422
        assert "new_password" in answer.json["errors"]["json"]


def test_anonymous_callers_may_not_change_a_password(client):
    assert change(client, {}).status_code == 401


@pytest.mark.parametrize("body, field", [
    ({"current_password": 5, "new_password": NEW}, "current_password"),
    ({"current_password": PASSWORD, "new_password": "x" * 100_000}, "new_password"),
    ({"current_password": PASSWORD, "new_password": "abc\x00defghijklmnop"}, "new_password"),
    ({"current_password": PASSWORD}, "new_password"),
])
def test_hostile_changes_name_the_field(client, user, body, field):
    mine = bearer(token_for(client, user.email, PASSWORD))
    answer = client.post(f"{API}/auth/password", headers=mine, json=body)
    assert answer.status_code == 422
    assert field in answer.json["errors"]["json"]


def test_the_answer_goes_before_any_work_so_its_timing_tells_nothing(client, db, user, inbox):
    """Known or not, the 202 leaves having done the same: nothing. The work and the email
    follow once the answer is sent (the test client sends it when the response closes)."""
    answer = client.post(f"{API}/auth/password-reset", json={"email": user.email})
    assert answer.status_code == 202
    assert db.scalars(select(Notification)).all() == [] and inbox.messages == []
    answer.close()
    assert len(inbox.to(user.email)) == 1
