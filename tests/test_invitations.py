"""Invitations: a coordinator or admin invites by email; the person sets their own password."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from scheduler import clock
from scheduler.models import AuditEvent, Notification, User
from tests import mailbox
from tests.mailbox import link_in
from tests.test_jobs import FORBIDDEN

API = "/api/v1"
inbox = mailbox.inbox  # a real SMTP server, as a fixture
PASSWORD = "a long enough passphrase"


def invite(client, headers, **body):
    # buffered: the test client then closes the response at once, which sends the email.
    return client.post(f"{API}/users/invitations", json=body, headers=headers, buffered=True)


def accept(client, token, password=PASSWORD):
    return client.post(f"{API}/auth/invitations/accept",
                       json={"token": token, "password": password})


def sign_in(client, email, password=PASSWORD):
    return client.post(f"{API}/auth/token", json={"email": email, "password": password})


def test_a_coordinator_invites_a_client_who_sets_a_password_and_signs_in(
        client, db, make, auth, inbox, now):
    casey = make.client(name="Casey Quill", email="casey@example.test")
    headers = auth("coordinator")
    answer = invite(client, headers, email="Casey@Example.test", role="client",
                    client_id=casey.id)
    assert answer.status_code == 201, answer.json
    assert answer.json["expires_at"] == (now + timedelta(hours=72)).isoformat()
    [message] = inbox.to("casey@example.test")
    assert message["Subject"] == "Your Appointments account"
    text = (message["Subject"] + message.get_content()).lower()
    assert not [word for word in FORBIDDEN if word in text]
    token = link_in(message, "invite")
    assert sign_in(client, "casey@example.test").status_code == 401  # no password yet
    assert accept(client, token).status_code == 204
    me = sign_in(client, "casey@example.test")
    assert me.status_code == 200
    who = client.get(f"{API}/auth/me",
                     headers={"Authorization": f"Bearer {me.json['token']}"}).json
    assert (who["id"], who["role"], who["client_id"]) == (answer.json["id"], "client", casey.id)
    # The link is used up; the body kept in the database no longer carries it.
    assert accept(client, token, "another long passphrase").status_code == 410
    stored = db.scalar(select(Notification).where(Notification.kind == "invitation"))
    assert token not in stored.body and stored.status == "sent"


def test_the_invitation_and_its_acceptance_are_audited_with_who_whom_and_address(
        client, db, make, auth, inbox):
    casey = make.client(email="casey@example.test")
    coordinator = make.user("coordinator")
    answer = invite(client, auth.for_user(coordinator), email="casey@example.test",
                    role="client", client_id=casey.id)
    accept(client, link_in(inbox.messages[-1], "invite"))
    db.expire_all()
    events = {e.action: e for e in db.scalars(
        select(AuditEvent).where(AuditEvent.entity_type == "user",
                                 AuditEvent.entity_id == answer.json["id"]))}
    assert events["invite"].actor_user_id == coordinator.id
    assert events["invite"].address == "127.0.0.1"
    assert events["invite"].after["role"] == "client"
    assert events["accept_invitation"].actor_user_id == answer.json["id"]
    assert events["accept_invitation"].address == "127.0.0.1"


def test_coordinators_invite_clients_only_and_admins_anyone(client, make, auth, inbox):
    therapist = make.staff(email="t@clinic.test")
    answer = invite(client, auth("coordinator"), email="t@clinic.test", role="clinician",
                    staff_id=therapist.id)
    assert answer.status_code == 403
    answer = invite(client, auth("admin"), email="t@clinic.test", role="clinician",
                    staff_id=therapist.id)
    assert answer.status_code == 201
    assert len(inbox.to("t@clinic.test")) == 1
    for role in ("client", "clinician"):
        assert invite(client, auth(role), email="x@clinic.test",
                      role="client").status_code == 403


def test_an_email_that_already_has_a_login_is_refused_by_name(client, make, auth, inbox):
    existing = make.user("coordinator", password=PASSWORD)
    answer = invite(client, auth("admin"), email=existing.email.upper(), role="clinician")
    assert answer.status_code == 409
    assert existing.email in answer.json["message"]
    assert "email" in answer.json["errors"]["json"]
    assert inbox.messages == []


def test_a_new_invitation_supersedes_the_old_one(client, db, make, auth, inbox):
    casey = make.client(email="casey@example.test")
    headers = auth("coordinator")
    first = invite(client, headers, email="casey@example.test", role="client",
                   client_id=casey.id)
    second = invite(client, headers, email="casey@example.test", role="client",
                    client_id=casey.id)
    assert second.status_code == 201 and second.json["id"] == first.json["id"]
    old, new = (link_in(m, "invite") for m in inbox.to("casey@example.test"))
    assert accept(client, old).status_code == 410
    assert accept(client, new).status_code == 204


def test_an_invitation_expires_after_72_hours(client, make, auth, inbox, now):
    casey = make.client(email="casey@example.test")
    invite(client, auth("coordinator"), email="casey@example.test", role="client",
           client_id=casey.id)
    token = link_in(inbox.messages[-1], "invite")
    with clock.frozen(now + timedelta(hours=72)):
        answer = accept(client, token)
    assert answer.status_code == 410
    assert "expired" in answer.json["message"]


def test_the_new_password_is_held_to_the_password_rules(client, make, auth, inbox):
    casey = make.client(email="casey@example.test")
    invite(client, auth("coordinator"), email="casey@example.test", role="client",
           client_id=casey.id)
    token = link_in(inbox.messages[-1], "invite")
    answer = accept(client, token, "short")
    assert answer.status_code == 422
    assert "password" in answer.json["errors"]["json"]
    assert accept(client, token).status_code == 204  # the refusal did not use the link


def test_an_unknown_token_is_gone(client):
    assert accept(client, "not-a-token").status_code == 410


@pytest.mark.parametrize("body, field", [
    ({"email": "a@b.test\x00", "role": "client"}, "email"),
    ({"email": "a" * 300 + "@b.test", "role": "client"}, "email"),
    ({"email": ["a@b.test"], "role": "client"}, "email"),
    ({"email": "a@b.test", "role": "boss"}, "role"),
    ({"email": "a@b.test", "role": "client", "client_id": "7"}, "client_id"),
    ({"email": "a@b.test", "role": "client", "client_id": 2**40}, "client_id"),
    ({"email": "a@b.test", "role": "client"}, "client_id"),
])
def test_hostile_invitations_name_the_field(client, auth, body, field):
    answer = invite(client, auth("admin"), **body)
    assert answer.status_code in (400, 404, 422), answer.json
    assert field in str(answer.json), answer.json


@pytest.mark.parametrize("body, field", [
    ({"token": "x\x00", "password": PASSWORD}, "token"),
    ({"token": "x" * 10_000, "password": PASSWORD}, "token"),
    ({"token": 12, "password": PASSWORD}, "token"),
    ({"token": "x", "password": "p" * 100_000}, "password"),
    ({"token": "x", "password": None}, "password"),
])
def test_hostile_acceptances_name_the_field(client, body, field):
    answer = client.post(f"{API}/auth/invitations/accept", json=body)
    assert answer.status_code == 422, answer.json
    assert field in answer.json["errors"]["json"]


def test_without_a_mail_server_the_invitation_waits_for_the_mail_job(client, db, make, auth):
    casey = make.client(email="casey@example.test")
    answer = invite(client, auth("coordinator"), email="casey@example.test", role="client",
                    client_id=casey.id)
    assert answer.status_code == 201
    row = db.scalar(select(Notification).where(Notification.kind == "invitation"))
    assert row.status == "pending"
    assert db.get(User, answer.json["id"]).password_hash is None


def test_a_client_with_a_login_under_another_email_is_named_not_overwritten(
        client, make, auth, inbox):
    casey = make.client(name="Casey Quill", email="casey@example.test")
    make.user("client", client_id=casey.id)
    answer = invite(client, auth("coordinator"), email="casey@example.test", role="client",
                    client_id=casey.id)
    assert answer.status_code == 409
    assert "Casey Quill already has a login" in answer.json["message"]
    assert "client_id" in answer.json["errors"]["json"]
    assert inbox.messages == []
