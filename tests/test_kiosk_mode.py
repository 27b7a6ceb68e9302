"""The kiosk is a kiosk: a tablet's own login reaches the check-in and nothing else, and the
kiosk page offers no way into the staff pages, whoever opened it."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from scheduler import clock
from scheduler.models import Attendance, AuditEvent, LoginSession, User
from scheduler.services import booking, kiosk, sessions
from tests import mailbox
from tests.helpers import ACTOR, sign_in

inbox = mailbox.inbox  # a real SMTP server, as a fixture
STAFF_PAGES = ("/follow-up", "/today", "/week", "/clients", "/intake", "/reports", "/users",
               "/audit", "/account/mfa", "/me")
NEW_PASSWORD = "the desk tablet's new passphrase"
START = datetime(2027, 2, 16, 23, 0, tzinfo=UTC)  # Tue 18:00 New York
AT_THE_DOOR = START - timedelta(minutes=10)
PASSWORD = "a tablet at the front desk"


def links_of(html: str) -> set[str]:
    return set(re.findall(r'<a [^>]*href="([^"]*)"', html))


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


@pytest.fixture
def tablet(make):
    return make.user("kiosk", password=PASSWORD)


@pytest.fixture
def tonight(db, make):
    """Avery, booked into tonight's group, with the PIN 4821."""
    program = make.program(name="Evening IOP")
    avery = make.client(program, name="Avery Stone")
    group = sessions.create_one_off(db, ACTOR, now=clock.now(), program_id=program.id,
                                    kind="group", starts_at=START,
                                    ends_at=START + timedelta(hours=3), capacity=12)
    booking.book_client(db, ACTOR, group.id, avery.id, now=clock.now())
    kiosk.set_pin(db, ACTOR, avery.id, "4821")
    db.commit()
    return avery, group


@pytest.mark.parametrize("role", ["clinician", "coordinator", "admin", "kiosk"])
def test_the_kiosk_page_offers_no_way_into_the_staff_pages(client, make, role):
    """Seen: the kiosk showed the staff menu, and "Follow-up" opened the absences list."""
    sign_in(client, make.user(role))
    page = client.get("/kiosk")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert not [href for href in links_of(html) if href.startswith(STAFF_PAGES)]
    assert 'aria-label="Main"' not in html
    # The brand would go to "/", which takes staff to their own start page.
    assert 'href="/"' not in html
    # The one way out signs the tablet out.
    assert re.search(r'<form[^>]*action="/logout".*?Leave kiosk', html, re.S)
    # A kiosk login's own password page is one discreet link; a staff member's is not offered
    # here, where a client could follow it into the staff layout.
    assert ("/account/password" in links_of(html)) == (role == "kiosk")


def test_a_kiosk_login_signs_in_on_the_login_page_and_lands_on_the_kiosk(client, tablet):
    form = client.get("/login").get_data(as_text=True)
    answer = client.post("/login", data={"csrf_token": csrf(form), "email": tablet.email,
                                         "password": PASSWORD})
    assert answer.status_code == 302 and answer.headers["Location"] == "/kiosk"
    assert client.get("/").headers["Location"] == "/kiosk"
    assert client.get("/kiosk").status_code == 200
    # A tablet added to the home screen opens the manifest's start_url: the kiosk, not a 403.
    start = client.get("/manifest.webmanifest").json["start_url"]
    assert client.get(start, follow_redirects=True).request.path == "/kiosk"


@pytest.mark.parametrize("path", ["/follow-up", "/today", "/week", "/clients", "/me",
                                  "/account/mfa", "/login", "/forgot-password"])
def test_a_kiosk_login_gets_403_on_every_other_page(client, tablet, path):
    sign_in(client, tablet)
    answer = client.get(path)
    assert answer.status_code == 403
    html = answer.get_data(as_text=True)
    # The refusal offers the way back to the kiosk, and no staff page.
    assert "/kiosk" in links_of(html)
    assert not [href for href in links_of(html) if href.startswith(STAFF_PAGES)]


def test_a_kiosk_login_reaches_no_api_but_the_check_in(client, auth, tablet, tonight):
    avery, group = tonight
    with clock.frozen(AT_THE_DOOR):
        headers = auth.for_user(tablet)
        for method, path in (("GET", "/api/v1/clients"), ("GET", "/api/v1/auth/me"),
                             ("GET", f"/api/v1/clients/{avery.id}"),
                             ("PUT", f"/api/v1/clients/{avery.id}/kiosk-pin")):
            answer = client.open(path, method=method, headers=headers, json={"pin": "1111"})
            assert answer.status_code == 403, path
            assert answer.json["message"] == ("A kiosk login may only check clients in at "
                                              "the kiosk.")
        checked = client.post("/api/v1/kiosk/checkin", headers=headers,
                              json={"client_id": avery.id, "pin": "4821"})
    assert checked.status_code == 200, checked.json
    assert (checked.json["status"], checked.json["method"]) == ("present", "kiosk")


def test_a_kiosk_reaching_for_a_clients_record_is_in_the_access_log(client, auth, db, tablet,
                                                                      tonight):
    avery, _ = tonight
    sign_in(client, tablet)
    assert client.get(f"/clients/{avery.id}").status_code == 403
    assert client.get(f"/api/v1/clients/{avery.id}", headers=auth.for_user(tablet)
                      ).status_code == 403
    db.expire_all()
    denied = db.scalars(select(AuditEvent).where(
        AuditEvent.action == "denied", AuditEvent.entity_id == avery.id)).all()
    assert [(e.actor_user_id, e.entity_type) for e in denied] == [(tablet.id, "client")] * 2


def test_a_client_checks_in_on_a_kiosk_login_and_the_audit_names_the_tablet(client, db, tablet,
                                                                            tonight):
    avery, group = tonight
    sign_in(client, tablet)
    with clock.frozen(AT_THE_DOOR):
        form = client.get("/kiosk").get_data(as_text=True)
        assert "Avery S." in form and "Avery Stone" not in form
        wrong = client.post("/kiosk", data={"csrf_token": csrf(form), "client_id": avery.id,
                                            "pin": "0000"})
        assert wrong.status_code == 422 and "PIN: does not match." in wrong.get_data(as_text=True)
        right = client.post("/kiosk", data={"csrf_token": csrf(form), "client_id": avery.id,
                                            "pin": "4821"})
    assert right.status_code == 303
    assert db.scalar(select(Attendance.method).where(Attendance.client_id == avery.id)) == "kiosk"
    event = db.scalars(select(AuditEvent).where(AuditEvent.entity_type == "attendance")).one()
    assert event.actor.startswith(tablet.email)


def test_a_kiosk_sign_in_outlasts_the_staff_idle_timeout(client, make, tablet, app):
    """A tablet stands at the desk all day; a clinician's idle sign-in still ends."""
    clinician = client.application.test_client()
    sign_in(client, tablet)
    sign_in(clinician, make.user("clinician"))
    idle = timedelta(minutes=app.config["SESSION_IDLE_MINUTES"] + 5)
    with clock.frozen(clock.now() + idle):
        assert client.get("/kiosk").status_code == 200
        assert clinician.get("/kiosk").status_code == 302


def test_leave_kiosk_signs_the_tablet_out(client, db, tablet):
    sign_in(client, tablet)
    form = client.get("/kiosk").get_data(as_text=True)
    answer = client.post("/logout", data={"csrf_token": csrf(form)})
    assert answer.status_code == 302 and answer.headers["Location"] == "/login"
    assert db.scalar(select(LoginSession.ended_at).where(
        LoginSession.user_id == tablet.id)) is not None
    assert client.get("/kiosk").status_code == 302


def page_sign_in(client, email, password):
    form = client.get("/login").get_data(as_text=True)
    return client.post("/login", data={"csrf_token": csrf(form), "email": email,
                                       "password": password})


def test_a_kiosk_changes_its_own_password_behind_the_current_one(client, app, db, tablet):
    """Seen: the kiosk login could not open /account/password (403), and nothing else let a
    tablet's password change but a reset email."""
    other_tablet = app.test_client()
    assert page_sign_in(other_tablet, tablet.email, PASSWORD).headers["Location"] == "/kiosk"
    assert page_sign_in(client, tablet.email, PASSWORD).headers["Location"] == "/kiosk"
    kiosk_page = client.get("/kiosk").get_data(as_text=True)
    assert "/account/password" in links_of(kiosk_page)
    page = client.get("/account/password")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    # The kiosk's bar, not the staff one: the way back, the way out, and nothing else.
    assert 'aria-label="Main"' not in html
    assert links_of(html) - {"#main"} == {"/kiosk"}
    assert re.search(r'<form[^>]*action="/logout".*?Leave kiosk', html, re.S)
    wrong = client.post("/account/password", data={
        "csrf_token": csrf(html), "current_password": "not the password",
        "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert wrong.status_code == 422
    assert "This is not your current password." in wrong.get_data(as_text=True)
    done = client.post("/account/password", data={
        "csrf_token": csrf(html), "current_password": PASSWORD,
        "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert done.status_code == 303 and done.headers["Location"] == "/account/password"
    # This tablet goes on; the other one signed in with the old password is signed out.
    assert client.get("/kiosk").status_code == 200
    assert other_tablet.get("/kiosk").status_code == 302
    assert page_sign_in(other_tablet, tablet.email, PASSWORD).status_code == 401
    assert page_sign_in(other_tablet, tablet.email, NEW_PASSWORD).headers["Location"] == "/kiosk"
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "change_password"))
    assert event.entity_id == tablet.id


def test_the_kiosk_password_page_opens_nothing_else_for_the_tablet(client, tablet):
    sign_in(client, tablet)
    assert client.get("/account/password").status_code == 200
    for path in ("/account/mfa", "/me", "/follow-up"):
        assert client.get(path).status_code == 403, path


def test_a_kiosk_that_must_use_two_step_sign_in_can_set_it_up(client, app, tablet):
    """The admins' policy holds for kiosks too: the set-up page opens, the rest waits for it."""
    app.config["MFA_REQUIRED_ROLES"] = "kiosk"
    sign_in(client, tablet)
    held = client.get("/kiosk")
    assert held.status_code == 302 and held.headers["Location"] == "/account/mfa"
    assert client.get("/account/mfa").status_code == 200
    assert client.get("/follow-up").status_code == 403


def test_create_user_makes_a_kiosk_login_linked_to_no_one(runner, db, make):
    made = runner.invoke(args=["create-user", "--email", "Desk@Clinic.test", "--role", "kiosk",
                               "--password", PASSWORD])
    assert made.exit_code == 0, made.output
    assert "Created kiosk desk@clinic.test" in made.output
    staff = make.staff()
    refused = runner.invoke(args=["create-user", "--email", "desk2@clinic.test", "--role",
                                  "kiosk", "--password", PASSWORD, "--staff-id", str(staff.id)])
    assert refused.exit_code != 0
    assert "A kiosk login is linked to no staff member or client." in refused.output


def test_an_admin_invites_a_kiosk_login_on_the_logins_page(client, db, make, inbox):
    admin = make.user("admin")
    staff = make.staff()
    sign_in(client, admin)
    page = client.get("/users").get_data(as_text=True)
    assert '<option value="kiosk">Kiosk (front-desk tablet)</option>' in page
    # A staff member picked by mistake is not linked: a tablet is no one.
    answer = client.post("/users/invite", buffered=True, data={
        "csrf_token": csrf(page), "email": "desk@clinic.test", "role": "kiosk",
        "staff_id": str(staff.id)})
    assert answer.status_code == 303
    made = db.scalar(select(User).where(User.email == "desk@clinic.test"))
    assert (made.role, made.staff_id, made.client_id) == ("kiosk", None, None)
    assert inbox.wait_for("desk@clinic.test")


def test_a_coordinator_may_not_make_a_kiosk_login(client, make):
    sign_in(client, make.user("coordinator"))
    page = client.get("/users").get_data(as_text=True)
    assert 'value="kiosk"' not in page
    refused = client.post("/users/invite", data={"csrf_token": csrf(page),
                                                 "email": "desk@clinic.test", "role": "kiosk"})
    assert refused.status_code == 422


def test_the_api_refuses_a_kiosk_invitation_linked_to_a_person(client, auth, make):
    staff = make.staff()
    answer = client.post("/api/v1/users/invitations", headers=auth("admin"),
                         json={"email": "desk@clinic.test", "role": "kiosk",
                               "staff_id": staff.id})
    assert answer.status_code == 422
    assert "staff_id" in answer.json["errors"]["json"]
