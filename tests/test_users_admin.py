"""Managing logins through the API: the list, deactivation that ends everything, roles, audit."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from scheduler import clock
from scheduler.feeds import tokens
from scheduler.models import AuditEvent, Client, User
from scheduler.services import booking, kiosk, sessions
from tests.helpers import ACTOR
from tests.test_booking_concurrency import race, server  # noqa: F401 - server is a fixture

API = "/api/v1"
PASSWORD = "correct horse battery"


def patch(client, headers, user, body):
    return client.patch(f"{API}/users/{user.id}", json=body, headers=headers)


def token_for(client, user, password=PASSWORD):
    return client.post(f"{API}/auth/token", json={"email": user.email, "password": password})


@pytest.fixture
def admin(make):
    return make.user("admin", password=PASSWORD)


@pytest.fixture
def member(make):
    """A client with a login, a live calendar link and a kiosk PIN."""
    program = make.program(name="Evening IOP")
    person = make.client(program, name="Avery Stone")
    return make.user("client", password=PASSWORD, client_id=person.id)


# --- the list -----------------------------------------------------------------------------------


def test_an_admin_lists_every_login_by_email_with_its_state(client, auth, make, db, admin,
                                                             member):
    coordinator = make.user("coordinator")
    coordinator.last_login_at = datetime(2027, 2, 15, 9, 30, tzinfo=UTC)
    coordinator.locked_until = datetime(2027, 2, 16, 12, 15, tzinfo=UTC)
    db.commit()
    answer = client.get(f"{API}/users", headers=auth.for_user(admin))
    assert answer.status_code == 200
    items = answer.json["items"]
    assert [i["email"] for i in items] == sorted(i["email"] for i in items)
    assert answer.json["total"] == 3 and answer.json["page"] == 1
    row = next(i for i in items if i["email"] == coordinator.email)
    assert row == {"id": coordinator.id, "email": coordinator.email, "role": "coordinator",
                   "is_active": True, "client_id": None, "staff_id": None,
                   "last_sign_in_at": "2027-02-15T09:30:00+00:00", "mfa_enabled": False,
                   "locked_until": "2027-02-16T12:15:00+00:00", "site_ids": []}
    assert next(i for i in items if i["id"] == member.id)["client_id"] == member.client_id


def test_a_coordinator_sees_only_clients_logins_and_others_are_refused(client, auth, make,
                                                                      admin, member):
    make.user("clinician")
    coordinator = make.user("coordinator")
    answer = client.get(f"{API}/users", headers=auth.for_user(coordinator))
    assert answer.status_code == 200
    assert [i["email"] for i in answer.json["items"]] == [member.email]
    assert client.get(f"{API}/users?role=admin",
                      headers=auth.for_user(coordinator)).json["items"] == []
    for role in ("clinician", "client"):
        assert client.get(f"{API}/users", headers=auth(role)).status_code == 403
    assert client.get(f"{API}/users").status_code == 401


def test_filters_by_email_text_role_and_status(client, auth, make, db, admin):
    make.user("clinician")
    jo = make.user("coordinator")
    jo.email = "Jo.Smith@clinic.test"
    gone = make.user("coordinator")
    gone.is_active = False
    db.commit()
    headers = auth.for_user(admin)

    def emails(query):
        answer = client.get(f"{API}/users", query_string=query, headers=headers)
        assert answer.status_code == 200, answer.json
        return [i["email"] for i in answer.json["items"]]

    assert emails({"email": "SMITH"}) == ["Jo.Smith@clinic.test"]
    assert emails({"email": "%"}) == []  # a wildcard is just a character
    assert emails({"role": "coordinator"}) == sorted([jo.email, gone.email])
    assert emails({"role": "coordinator", "is_active": "false"}) == [gone.email]
    assert len(emails({"is_active": "true"})) == 3


def test_the_list_pages(client, auth, make, admin):
    for _ in range(3):
        make.user("clinician")
    answer = client.get(f"{API}/users?per_page=2&page=2", headers=auth.for_user(admin))
    assert answer.json["total"] == 4 and len(answer.json["items"]) == 2


@pytest.mark.parametrize(("query", "field"), [
    ("role=root", "role"), ("is_active=maybe", "is_active"), ("email=a%00b", "email"),
    ("email=" + "x" * 255, "email"), ("page=0", "page"), ("owner=1", "owner"),
])
def test_a_bad_filter_is_refused_naming_it(client, auth, admin, query, field):
    answer = client.get(f"{API}/users?{query}", headers=auth.for_user(admin))
    assert answer.status_code == 422
    assert field in answer.json["errors"]["query"]


# --- deactivation ends everything ---------------------------------------------------------------


@pytest.fixture
def linked(db, member):
    """The member's calendar link and kiosk PIN, and tonight's session they are booked into."""
    now = clock.now()
    feed = tokens.issue(db, ACTOR, "client", member.client_id, now)
    kiosk.set_pin(db, ACTOR, member.client_id, "4821")
    client_row = db.get(Client, member.client_id)
    starts = now + timedelta(minutes=5)
    session = sessions.create_one_off(db, ACTOR, now=now, program_id=client_row.program_id,
                                      kind="group", starts_at=starts,
                                      ends_at=starts + timedelta(hours=3), capacity=12)
    booking.book_client(db, ACTOR, session.id, member.client_id, now=now)
    db.commit()
    return feed


def test_deactivating_a_login_ends_its_tokens_feed_and_kiosk_pin(client, auth, make, db, admin,
                                                                 member, linked):
    own = auth.for_user(member)
    assert client.get(f"{API}/clients/{member.client_id}", headers=own).status_code == 200
    assert client.get(f"/feeds/{linked}.ics").status_code == 200
    coordinator = make.user("coordinator")
    answer = patch(client, auth.for_user(coordinator), member, {"is_active": False})
    assert answer.status_code == 200 and answer.json["is_active"] is False
    assert client.get(f"{API}/clients/{member.client_id}", headers=own).status_code == 401
    assert token_for(client, member).status_code == 401
    assert client.get(f"/feeds/{linked}.ics").status_code == 404
    desk = auth("clinician")
    at_desk = client.post(f"{API}/kiosk/checkin", json={"client_id": member.client_id,
                                                      "pin": "4821"}, headers=desk)
    assert at_desk.status_code == 422 and "pin" in at_desk.json["errors"]["json"]
    assert db.get(Client, member.client_id).kiosk_pin_hash is None
    event = db.scalar(select(AuditEvent).where(AuditEvent.entity_type == "user",
                                               AuditEvent.entity_id == member.id,
                                               AuditEvent.action == "update"))
    assert event.actor == coordinator.email and event.actor_user_id == coordinator.id
    assert event.address == "127.0.0.1"
    assert event.occurred_at == clock.now()
    assert event.before == {"is_active": True}
    assert event.after == {"is_active": False, "sign_ins_ended": 1}
    assert event.reason == "Login deactivated"


def test_reactivating_lets_the_person_sign_in_again_with_nothing_old_back(
        client, auth, db, admin, member, linked):
    headers = auth.for_user(admin)
    old = auth.for_user(member)
    patch(client, headers, member, {"is_active": False})
    answer = patch(client, headers, member, {"is_active": True})
    assert answer.status_code == 200 and answer.json["is_active"] is True
    assert client.get(f"{API}/auth/me", headers=old).status_code == 401
    assert client.get(f"/feeds/{linked}.ics").status_code == 404
    fresh = token_for(client, member)
    assert fresh.status_code == 200
    me = client.get(f"{API}/auth/me", headers={"Authorization": f"Bearer {fresh.json['token']}"})
    assert me.status_code == 200
    assert db.get(Client, member.client_id).kiosk_pin_hash is None


def test_deactivating_a_staff_login_stops_its_staff_feed(client, auth, make, admin):
    therapist = make.staff(name="Dana Reyes")
    user = make.user("clinician", staff_id=therapist.id)
    feed = client.post(f"{API}/staff/{therapist.id}/feed", headers=auth.for_user(user))
    path = "/" + feed.json["url"].split("://", 1)[1].split("/", 1)[1]
    assert client.get(path).status_code == 200
    patch(client, auth.for_user(admin), user, {"is_active": False})
    assert client.get(path).status_code == 404


def test_changing_nothing_writes_no_audit_event(client, auth, db, admin, member):
    before = db.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()))
    assert patch(client, auth.for_user(admin), member, {"is_active": True}).status_code == 200
    assert db.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc())) == before


# --- roles --------------------------------------------------------------------------------------


def test_an_admin_changes_a_role_and_it_ends_the_logins_sign_ins(client, auth, make, db, admin):
    user = make.user("clinician")
    theirs = auth.for_user(user)
    answer = patch(client, auth.for_user(admin), user, {"role": "coordinator"})
    assert answer.status_code == 200 and answer.json["role"] == "coordinator"
    assert client.get(f"{API}/auth/me", headers=theirs).status_code == 401
    event = db.scalar(select(AuditEvent).where(AuditEvent.entity_id == user.id,
                                               AuditEvent.action == "update"))
    assert event.before == {"role": "clinician"}
    assert event.after == {"role": "coordinator", "sign_ins_ended": 1}


def test_a_coordinator_may_not_change_roles_nor_touch_staff_logins(client, auth, make, member):
    coordinator = auth("coordinator")
    clinician = make.user("clinician")
    refused = patch(client, coordinator, member, {"role": "clinician"})
    assert refused.status_code == 403 and "admin" in refused.json["message"]
    assert patch(client, coordinator, clinician, {"is_active": False}).status_code == 403
    assert patch(client, auth("clinician"), member, {"is_active": False}).status_code == 403


def test_a_client_role_needs_a_client_and_a_client_has_one_login(client, auth, make, db, admin,
                                                                 member):
    headers = auth.for_user(admin)
    user = make.user("clinician")
    answer = patch(client, headers, user, {"role": "client"})
    assert answer.status_code == 422 and "client_id" in answer.json["errors"]["json"]
    taken = patch(client, headers, user, {"role": "client", "client_id": member.client_id})
    assert taken.status_code == 422
    assert taken.json["errors"]["json"]["client_id"] == ["That client already has a login."]
    free = make.client(name="Blake Ortiz")
    moved = patch(client, headers, user, {"role": "client", "client_id": free.id})
    assert moved.status_code == 200 and moved.json["client_id"] == free.id
    back = patch(client, headers, user, {"role": "clinician"})
    assert back.json["client_id"] is None
    assert patch(client, headers, user, {"client_id": free.id}).status_code == 422


def test_the_last_active_admin_can_neither_leave_nor_step_down(client, auth, make, db, admin):
    headers = auth.for_user(admin)
    for body in ({"is_active": False}, {"role": "coordinator"}):
        answer = patch(client, headers, admin, body)
        assert answer.status_code == 409
        assert "last active admin" in answer.json["message"]
    assert db.get(User, admin.id).is_active
    make.user("admin")
    assert patch(client, headers, admin, {"role": "coordinator"}).status_code == 200


@pytest.mark.parametrize(("body", "field"), [
    ({"is_active": "no"}, "is_active"), ({"is_active": None}, "is_active"),
    ({"role": "root"}, "role"), ({"client_id": 0}, "client_id"), ({"password": "x"}, "password"),
])
def test_a_bad_change_is_refused_naming_the_field(client, auth, admin, member, body, field):
    answer = patch(client, auth.for_user(admin), member, body)
    assert answer.status_code == 422
    assert field in answer.json["errors"]["json"]


def test_a_missing_login_is_404(client, auth, admin):
    answer = client.patch(f"{API}/users/999999", json={"is_active": False},
                          headers=auth.for_user(admin))
    assert answer.status_code == 404


def test_two_admins_demoting_each_other_at_once_leave_one_admin(server, make, db, auth):  # noqa: F811
    """Each sees another active admin; under the lock only one demotion goes through."""
    first, second = make.user("admin"), make.user("admin")
    results = race(server, [
        ("PATCH", f"{API}/users/{second.id}", {"role": "coordinator"}, auth.for_user(first)),
        ("PATCH", f"{API}/users/{first.id}", {"role": "coordinator"}, auth.for_user(second)),
    ])
    # The loser is refused as the last admin (409); or the winner's demotion of it came first,
    # so it is no longer signed in (401) or no longer an admin (403).
    assert sorted(status for status, _ in results)[0] == 200
    assert sorted(status for status, _ in results)[1] in (401, 403, 409)
    db.rollback()
    assert db.scalar(select(func.count()).select_from(User).where(
        User.role == "admin", User.is_active.is_(True))) == 1
