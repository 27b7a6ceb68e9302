"""The logins page through the test client: who sees which logins, the row actions, CSRF."""

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from scheduler.models import AuditEvent, User
from tests import mailbox
from tests.helpers import beside, sign_in
from tests.mailbox import link_in

inbox = mailbox.inbox  # a real SMTP server, as a fixture


def csrf(client) -> str:
    page = client.get("/users").get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def post(client, path, **data):
    return client.post(path, data={"csrf_token": csrf(client), **data})


@pytest.fixture
def admin(make):
    return make.user("admin")


@pytest.fixture
def member(make):
    return make.user("client", client_id=make.client(name="Avery Stone").id)


def test_an_admin_sees_every_login_with_its_state(client, make, db, admin, member):
    clinician = make.user("clinician")
    clinician.last_login_at = datetime(2027, 2, 15, 9, 30, tzinfo=UTC)
    clinician.locked_until = datetime(2027, 2, 16, 12, 15, tzinfo=UTC)
    db.commit()
    sign_in(client, admin)
    page = client.get("/users")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<title>Logins ·" in html and "Avery" not in html.split("</title>")[0]
    for text in (admin.email, member.email, clinician.email, "Avery Stone", "15 Feb 2027 09:30",
                 "Locked until 16 Feb 12:15", "Change role", "Never"):
        assert text in html
    assert 'href="/users"' in html  # in the navigation
    events = db.scalars(select(AuditEvent).where(AuditEvent.action == "read",
                                                 AuditEvent.entity_id == member.client_id))
    assert [e.after["resource"] for e in events] == ["login_list"]


def test_a_coordinator_sees_client_logins_only_and_no_role_changes(client, make, admin, member):
    coordinator = make.user("coordinator")
    sign_in(client, coordinator)
    html = client.get("/users").get_data(as_text=True).split("</header>")[1]
    assert member.email in html and admin.email not in html and coordinator.email not in html
    assert "Change role" not in html
    assert post(client, f"/users/{admin.id}/deactivate").status_code == 403
    assert post(client, f"/users/{member.id}/role", role="clinician").status_code == 403


@pytest.mark.parametrize("role", ["clinician", "client"])
def test_other_roles_get_the_403_page(client, make, role):
    sign_in(client, make.user(role))
    assert client.get("/users").status_code == 403


def test_filters_narrow_the_list_and_a_bad_one_is_named(client, make, db, admin, member):
    gone = make.user("coordinator")
    gone.is_active = False
    db.commit()
    sign_in(client, admin)
    html = client.get("/users?status=deactivated").get_data(as_text=True)
    assert gone.email in html and member.email not in html
    html = client.get(f"/users?email={member.email.upper()}").get_data(as_text=True)
    assert member.email in html and gone.email not in html
    bad = client.get("/users?role=root")
    assert bad.status_code == 400 and "Role" in bad.get_data(as_text=True)


def test_deactivate_reactivate_and_change_role_from_the_page(client, make, db, admin, member):
    sign_in(client, admin)
    done = post(client, f"/users/{member.id}/deactivate")
    assert done.status_code == 303
    page = client.get("/users").get_data(as_text=True)
    assert f"{member.email} is deactivated" in page and "Reactivate" in page
    db.expire_all()
    assert not db.get(User, member.id).is_active
    assert post(client, f"/users/{member.id}/reactivate").status_code == 303
    db.expire_all()
    assert db.get(User, member.id).is_active
    clinician = make.user("clinician")
    assert post(client, f"/users/{clinician.id}/role", role="coordinator").status_code == 303
    db.expire_all()
    assert db.get(User, clinician.id).role == "coordinator"
    event = db.scalar(select(AuditEvent).where(AuditEvent.entity_id == clinician.id,
                                               AuditEvent.action == "update"))
    assert event.actor == admin.email and event.address == "127.0.0.1"


def test_the_last_admin_is_told_in_plain_words(client, db, admin):
    sign_in(client, admin)
    refused = post(client, f"/users/{admin.id}/deactivate")
    html = refused.get_data(as_text=True)
    assert refused.status_code == 409
    words = beside(html, f"status-{admin.id}")
    assert words.startswith("Not changed:") and "is the last active admin" in words
    assert db.get(User, admin.id).is_active


def test_a_client_role_without_a_client_is_refused_by_its_label(client, make, admin):
    clinician = make.user("clinician")
    sign_in(client, admin)
    refused = post(client, f"/users/{clinician.id}/role", role="client")
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert beside(html, f"role-{clinician.id}") == \
        "Not changed: Client: A client login must be linked to a client."
    # Only that row's field is marked.
    assert html.count('aria-invalid="true"') == 1
    unknown = post(client, f"/users/{clinician.id}/role", role="owner")
    assert unknown.status_code == 422
    assert beside(unknown.get_data(as_text=True), f"role-{clinician.id}") == \
        "Not changed: Role: choose one of the listed roles."


def test_unlock_from_the_page(client, make, db, admin):
    locked = make.user("coordinator")
    locked.failed_logins, locked.locked_until = 6, datetime(2027, 2, 16, 13, tzinfo=UTC)
    db.commit()
    sign_in(client, admin)
    assert post(client, f"/users/{locked.id}/unlock").status_code == 303
    db.expire_all()
    assert db.get(User, locked.id).locked_until is None


def test_a_post_without_the_csrf_token_changes_nothing(client, db, admin, member):
    sign_in(client, admin)
    assert client.post(f"/users/{member.id}/deactivate").status_code == 400
    assert db.get(User, member.id).is_active


def test_the_audit_log_shows_who_changed_a_login_and_from_where(client, admin, member):
    sign_in(client, admin)
    post(client, f"/users/{member.id}/deactivate")
    html = client.get("/audit").get_data(as_text=True)
    assert f'{admin.email} <span class="muted">from 127.0.0.1</span>' in html


def test_an_admin_invites_a_staff_member_who_gets_the_link_by_email(client, make, db, admin,
                                                                      inbox):
    nurse = make.staff(name="Noor Haddad")
    sign_in(client, admin)
    assert "Noor Haddad" in client.get("/users").get_data(as_text=True)
    # Buffered: the email goes once the answer is closed, as a server closes it.
    answer = client.post("/users/invite", buffered=True, data={
        "csrf_token": csrf(client), "email": "Noor@Clinic.test", "role": "clinician",
        "staff_id": str(nurse.id)})
    assert answer.status_code == 303
    assert "on its way to Noor@Clinic.test" in client.get("/users").get_data(as_text=True)
    invited = db.scalar(select(User).where(User.email == "noor@clinic.test"))
    assert (invited.role, invited.staff_id, invited.password_hash) == ("clinician", nurse.id, None)
    [message] = inbox.wait_for("noor@clinic.test")
    assert link_in(message, "invite")


def test_an_invitation_the_page_cannot_send_is_named(client, make, db, admin):
    coordinator = make.user("coordinator")
    sign_in(client, coordinator)
    refused = post(client, "/users/invite", email="someone@clinic.test", role="clinician")
    assert refused.status_code == 422
    assert beside(refused.get_data(as_text=True), "invite-role") == \
        "Role: choose one of the listed roles."
    refused = post(client, "/users/invite", email="someone@clinic.test", role="client")
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert beside(html, "invite-client") == "Client: A client login must be linked to a client."
    # The form stays open with what was typed, to correct.
    assert '<details class="invite" id="invite" open>' in html
    assert 'value="someone@clinic.test"' in html
    refused = post(client, "/users/invite", email="bad\x00@clinic.test", role="client")
    assert refused.status_code == 422
    assert beside(refused.get_data(as_text=True), "invite-email") == \
        "Email: give the person's email address."
    # An admin's login is not a coordinator's to turn into a client's.
    taken = post(client, "/users/invite", email=admin.email, role="client",
                 client_id=str(make.client(name="Blake Ortiz").id))
    assert taken.status_code == 403
    assert "Not invited: Only an admin may change" in taken.get_data(as_text=True)
    assert db.scalar(select(User).where(User.email == "someone@clinic.test")) is None


def test_signing_a_login_out_everywhere_ends_its_sign_ins(client, make, db, admin, member,
                                                        auth):
    headers = auth.for_user(member)
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    sign_in(client, admin)
    answer = post(client, f"/users/{member.id}/sign-out")
    assert answer.status_code == 303
    assert f"{member.email} is signed out everywhere (1 sign-in ended)." in \
        client.get("/users").get_data(as_text=True)
    assert client.application.test_client().get("/api/v1/auth/me",
                                                headers=headers).status_code == 401
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "end_sign_ins"))
    assert (event.actor_user_id, event.entity_id) == (admin.id, member.id)


def test_a_coordinator_cannot_sign_staff_out_or_reset_two_step_sign_in(client, make, admin):
    coordinator = make.user("coordinator")
    sign_in(client, coordinator)
    assert post(client, f"/users/{admin.id}/sign-out").status_code == 403
    assert post(client, f"/users/{admin.id}/mfa-reset").status_code == 403
