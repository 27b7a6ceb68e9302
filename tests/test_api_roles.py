"""Who may do what: anonymous 401, clients only their own record, clinicians read, writers write."""

import re
import secrets
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from scheduler import clock
from scheduler.extensions import db as _db
from scheduler.models import ApiToken, Booking, Client, Session, WebhookDelivery
from scheduler.services import availability, consents, plans, recipients, webhooks
from scheduler.services import booking as booking_service
from tests.authorization_matrix import OUTSIDE, READ_QUERIES, ROUTES, routes_where
from tests.helpers import ACTOR

API = "/api/v1"
# Who may do what comes from the one table, tests/authorization_matrix.py; these walks read it
# through the sets below, so a change of rights is made there and nowhere else.
PUBLIC = routes_where("anonymous", "allow", api_only=True)
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Clinicians mark the roster, write the clinical record (assessments and plans), sign clients
# in at the kiosk and close the alerts they acted on. Their own staff feed is theirs too, but
# the clinicians of these walks are linked to no staff record.
CLINICIAN_WRITES = {(m, r) for m, r in routes_where("clinician", "allow", api_only=True)
                    if m in WRITE_METHODS}
# A client checks in with the room's code, and on their own record sets their kiosk PIN, their
# emails and their calendar feed link.
CLIENT_WRITES = {(m, r) for m, r in routes_where("client", "allow", "own", api_only=True)
                 if m in WRITE_METHODS}
# Reads a clinician may not make (only an admin reads the job history).
CLINICIAN_DENIED_READS = {(m, r) for m, r in routes_where("clinician", "deny", api_only=True)
                          if m == "GET"}
# Writes only an admin may make: lifting a sign-in lock, resetting two-step sign-in.
ADMIN_WRITES = {(m, r) for m, r in routes_where("coordinator", "deny", api_only=True)
                if m in WRITE_METHODS} & routes_where("admin", "allow", api_only=True)
PASSWORD = "correct horse battery"


def api_routes(app):
    """(method, rule) for every /api/v1 route, read from the app so new routes are covered."""
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API + "/"):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((method, rule.rule))
    return routes


def concrete(rule: str, ids: dict | None = None) -> str:
    """A URL for a rule, with each <int:x_id> filled from ids (default 1)."""
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str((ids or {}).get(m.group(1), 1)), rule)


def call(client, method, url, headers=None):
    kwargs = {"json": {}} if method in WRITE_METHODS else {}
    return client.open(url, method=method, headers=headers or {}, **kwargs)


def row_counts() -> dict:
    return {
        table.name: _db.session.scalar(select(func.count()).select_from(table))
        for table in _db.metadata.sorted_tables
    }


@pytest.fixture
def clinic(make):
    """Rows behind every path id, so a refusal cannot be a 404 in disguise."""
    program = make.program()
    room, staff = make.room(), make.staff()
    series = make.series(program, room_id=room.id, facilitator_ids=[staff.id],
                         end_date=date(2027, 4, 30))
    session_id = _db.session.scalar(
        select(Session.id).where(Session.series_id == series.id).order_by(Session.starts_at)
    )
    client_id = make.client(program).id
    booking, _ = booking_service.book_client(_db.session, ACTOR, session_id, client_id,
                                             now=clock.now())
    time_off = availability.add_time_off(
        _db.session, ACTOR, staff.id, datetime(2027, 6, 1, tzinfo=UTC),
        datetime(2027, 6, 2, tzinfo=UTC), "Training")
    assessment = plans.record_assessment(_db.session, ACTOR, client_id,
                                         assessed_on=date(2027, 2, 1), clinician_id=staff.id,
                                         recommended_level="2.1")
    plan = plans.create_plan(_db.session, ACTOR, client_id, start_date=date(2027, 2, 1))
    kipu = recipients.create_recipient(_db.session, ACTOR, name="Kipu EHR", kind="ehr")
    consent = consents.record(_db.session, ACTOR, _db.session.get(Client, client_id),
                              recipient_id=kipu.id, purpose="Coordination of care",
                              scope=["appointments"], signed_on=date(2027, 2, 10),
                              expires_on=date(2027, 8, 10), now=clock.now())
    _db.session.commit()
    return {"program_id": program.id, "room_id": room.id, "staff_id": staff.id,
            "client_id": client_id, "series_id": series.id, "session_id": session_id,
            "booking_id": booking.id, "time_off_id": time_off.id,
            "assessment_id": assessment.id, "plan_id": plan.id, "consent_id": consent.id}


# --- anonymous -------------------------------------------------------------------------------


def test_the_route_walk_sees_every_api_resource(app):
    """Guard for the walks below: they must see the routes they claim to cover."""
    rules = {rule for _, rule in api_routes(app)}
    for expected in ("/api/v1/programs/<int:program_id>", "/api/v1/sessions/<int:session_id>",
                     "/api/v1/series/<int:series_id>/end", "/api/v1/auth/me"):
        assert expected in rules


def test_every_api_route_refuses_an_anonymous_caller_with_401(app, client, clinic):
    """Apart from the token exchange and the API docs, nothing under /api/v1 is public."""
    wrong = []
    for method, rule in api_routes(app):
        if (method, rule) in PUBLIC:
            continue
        response = call(client, method, concrete(rule, clinic))
        if response.status_code != 401 or response.headers.get("WWW-Authenticate") != "Bearer":
            wrong.append((method, rule, response.status_code))
    assert wrong == []


def test_an_anonymous_write_writes_nothing(app, client, clinic):
    """A refused anonymous write leaves every table as it was."""
    before = row_counts()
    for method, rule in api_routes(app):
        if method in WRITE_METHODS and (method, rule) not in PUBLIC:
            call(client, method, concrete(rule, clinic))
    assert row_counts() == before


def test_the_openapi_document_and_docs_need_no_login(client):
    """Integrators can read the API description before they have an account."""
    assert client.get(f"{API}/openapi.json").status_code == 200
    assert client.get(f"{API}/docs").status_code == 200


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer garbage",
        "Bearer ",
        "Bearer",
        "bearer not-a-token-either",
        "Token abc",
        "Basic Y29vcmRpbmF0b3I6cGFzc3dvcmQ=",
        "Bearer " + "A" * 5000,
        "Bearer \u00ff\u00fe",
    ],
)
def test_a_garbage_authorization_header_answers_401(client, authorization):
    """Anything but a live bearer token is anonymous."""
    response = client.get(f"{API}/programs", headers={"Authorization": authorization})
    assert response.status_code == 401


def test_a_token_works_until_it_expires(client, make, auth, now):
    """A token issued for an hour answers 200 inside the hour and 401 after it."""
    headers = auth.for_user(make.user("coordinator"))
    with clock.frozen(now + timedelta(minutes=59)):
        assert client.get(f"{API}/programs", headers=headers).status_code == 200
    with clock.frozen(now + timedelta(hours=1)):
        assert client.get(f"{API}/programs", headers=headers).status_code == 401


def test_a_revoked_token_answers_401(client, make, auth, db, now):
    """Revoking a token shuts it out at once."""
    headers = auth.for_user(make.user("admin"))
    for row in db.scalars(select(ApiToken)):
        row.revoked_at = now
    db.commit()
    assert client.get(f"{API}/programs", headers=headers).status_code == 401


def test_a_deactivated_users_token_answers_401(client, make, auth, db):
    """Deactivating an account ends its API access without waiting for the token to expire."""
    user = make.user("coordinator")
    headers = auth.for_user(user)
    user.is_active = False
    db.commit()
    assert client.get(f"{API}/programs", headers=headers).status_code == 401


def test_one_callers_identity_does_not_carry_over_to_the_next_request(client, auth):
    """An anonymous request right after an authenticated one is still anonymous."""
    assert client.get(f"{API}/programs", headers=auth("admin")).status_code == 200
    assert client.get(f"{API}/programs").status_code == 401
    clinician = auth("clinician")
    assert client.post(f"{API}/rooms", json={"name": "R", "capacity": 3},
                       headers=auth("admin")).status_code == 201
    assert client.post(f"{API}/rooms", json={"name": "S", "capacity": 3},
                       headers=clinician).status_code == 403


# --- clinicians read, coordinators and admins write -------------------------------------------


@pytest.mark.parametrize("leads_the_group", [True, False])
def test_a_clinician_may_read_every_staff_readable_route(app, client, auth, clinic,
                                                         leads_the_group):
    """Clinicians see the schedule: every GET answers 200. The client's clinical record
    answers 200 to the clinician who leads their group, 403 to one outside their caseload."""
    headers = auth("clinician", staff_id=clinic["staff_id"] if leads_the_group else None)
    wrong = []
    for method, rule in api_routes(app):
        if method == "GET" and (method, rule) not in PUBLIC:
            query = READ_QUERIES.get(rule, "").format(**clinic)
            response = client.get(concrete(rule, clinic) + query, headers=headers)
            refused = (method, rule) in CLINICIAN_DENIED_READS or (
                not leads_the_group and OUTSIDE.get((method, rule)) == "deny")
            if response.status_code != (403 if refused else 200):
                wrong.append((rule, response.status_code))
    assert wrong == []


# What an admin-only write needs in its body to succeed (the others need none).
ADMIN_BODIES = {("POST", f"{API}/sites"): {"name": "Harbor View", "timezone": "UTC"},
                ("PUT", f"{API}/users/<int:user_id>/sites"): {"site_ids": []},
                ("PATCH", f"{API}/recipients/<int:recipient_id>"): {"contact": "Support desk"},
                ("POST", f"{API}/recipients/<int:recipient_id>/api-clients"):
                    {"scopes": ["system/Slot.read"]}}


def _webhook(db) -> dict:
    """A fresh endpoint with one delivery, so each admin-only webhook write (in whatever order
    the walk takes them) finds its own; and the recipient a new one needs."""
    ehr = recipients.create_recipient(db, ACTOR, name=f"EHR {secrets.token_hex(4)}", kind="ehr")
    endpoint, _ = webhooks.create(db, ACTOR, webhooks.Settings(key=b"roles"),
                                  recipient_id=ehr.id, url="https://ehr.example.test/hooks",
                                  events=["booking.created"], now=clock.now())
    delivery = WebhookDelivery(endpoint_id=endpoint.id, message_id=f"msg_{ehr.id}",
                               event_type="booking.created", payload={}, status="failed",
                               attempts=10, created_at=clock.now())
    db.add(delivery)
    db.commit()
    return {"webhook_id": endpoint.id, "delivery_id": delivery.id, "recipient_id": ehr.id}


def _recipient(db) -> dict:
    """A fresh recipient with an API client, for each admin-only recipient write."""
    ehr = recipients.create_recipient(db, ACTOR, name=f"EHR {secrets.token_hex(4)}", kind="ehr")
    api_client, _ = recipients.create_fhir_client(db, ACTOR, ehr, scopes=["system/Slot.read"])
    db.commit()
    return {"recipient_id": ehr.id, "api_client_id": api_client.id}


def test_only_an_admin_lifts_a_sign_in_lock(app, client, auth, make):
    """Coordinators get 403 on every admin-only write; an admin's unlock, reset, site or
    webhook answers 2xx."""
    user = make.user("clinician")
    site_id = make.program().site_id
    for method, rule in ADMIN_WRITES:
        hook = _webhook(_db.session) if "/webhooks" in rule else {}
        url = concrete(rule, {"user_id": user.id, "site_id": site_id, **hook})
        body = ADMIN_BODIES.get((method, rule), {})
        if "/recipients/" in rule:
            hook = _recipient(_db.session)
            url = concrete(rule, {**hook})
        if (method, rule) == ("POST", f"{API}/webhooks"):
            body = {"recipient_id": hook["recipient_id"], "url": "https://ehr.example.test/h",
                    "events": ["session.cancelled"]}
        if (method, rule) == ("POST", f"{API}/recipients"):
            body = {"name": f"Billing {secrets.token_hex(4)}", "kind": "billing"}
        assert client.open(url, method=method, json=body,
                           headers=auth("coordinator")).status_code == 403
        assert client.open(url, method=method, json=body,
                           headers=auth("admin")).status_code in (200, 201, 204), rule


def test_only_an_admin_reads_the_job_history(client, auth):
    """Job runs say what the system did; admins read them, coordinators get 403."""
    assert client.get(f"{API}/jobs/runs", headers=auth("admin")).status_code == 200
    assert client.get(f"{API}/jobs/runs", headers=auth("coordinator")).status_code == 403


@pytest.mark.parametrize("role", ["coordinator", "clinician"])
def test_only_an_admin_searches_the_audit_log(client, auth, role):
    """Who read whose record is for admins; every other staff role gets 403."""
    assert client.get(f"{API}/audit-events", headers=auth("admin")).status_code == 200
    assert client.get(f"{API}/audit-events", headers=auth(role)).status_code == 403


def test_a_clinician_may_not_write_anywhere(app, client, auth, clinic):
    """Every write but the roster and the clinical record answers 403 to a clinician."""
    headers = auth("clinician")
    before = row_counts()
    wrong = []
    for method, rule in api_routes(app):
        if method in WRITE_METHODS and (method, rule) not in PUBLIC | CLINICIAN_WRITES:
            response = call(client, method, concrete(rule, clinic), headers)
            if response.status_code != 403:
                wrong.append((method, rule, response.status_code))
    assert wrong == []
    assert row_counts() == before


@pytest.mark.parametrize("role", ["coordinator", "admin"])
def test_coordinators_and_admins_may_write(client, auth, clinic, role):
    """Both writer roles can create and edit records and override a session."""
    headers = auth(role)
    room = client.post(f"{API}/rooms", json={"name": "New room", "capacity": 8}, headers=headers)
    assert room.status_code == 201
    assert client.patch(f"{API}/rooms/{room.json['id']}", json={"capacity": 9},
                        headers=headers).status_code == 200
    assert client.patch(f"{API}/programs/{clinic['program_id']}", json={"name": "Renamed"},
                        headers=headers).status_code == 200
    cancel = client.patch(f"{API}/sessions/{clinic['session_id']}",
                          json={"status": "cancelled", "reason": "Snow"}, headers=headers)
    assert cancel.status_code == 200
    assert cancel.json["status"] == "cancelled"


@pytest.mark.parametrize("role", ["coordinator", "admin"])
def test_coordinators_and_admins_may_book_and_cancel(client, auth, make, clinic, role):
    """Both writer roles run the booking, enrolment, availability and discharge routes."""
    headers = auth(role)
    person = make.client()
    booked = client.post(f"{API}/sessions/{clinic['session_id']}/bookings",
                         json={"client_id": person.id}, headers=headers)
    assert booked.status_code == 201, booked.json
    cancelled = client.delete(f"{API}/bookings/{booked.json['id']}", headers=headers)
    assert (cancelled.status_code, cancelled.json["status"]) == (200, "cancelled")
    assert client.post(f"{API}/series/{clinic['series_id']}/enrollments",
                       json={"client_id": person.id}, headers=headers).status_code == 201
    assert client.put(f"{API}/clients/{person.id}/availability", json={"unavailable": []},
                      headers=headers).status_code == 200
    assert client.post(f"{API}/clients/{person.id}/discharge", json={"date": "2027-03-10"},
                       headers=headers).status_code == 200


# --- attendance: staff mark the roster, a client checks themselves in ------------------------


def _session_start(clinic) -> datetime:
    return _db.session.get(Session, clinic["session_id"]).starts_at


@pytest.mark.parametrize("role", ["clinician", "coordinator", "admin"])
def test_clinicians_coordinators_and_admins_may_mark_the_roster(client, auth, clinic, role):
    """PUT /sessions/{id}/attendance answers 200 to every staff role once the group meets."""
    with clock.frozen(_session_start(clinic) + timedelta(minutes=5)):
        response = client.put(f"{API}/sessions/{clinic['session_id']}/attendance",
                              json={"records": [{"client_id": clinic["client_id"],
                                                 "status": "present"}]},
                              headers=auth(role))
    assert response.status_code == 200, response.json


@pytest.mark.parametrize("role", ["clinician", "coordinator", "admin"])
def test_staff_may_not_self_check_in(client, auth, clinic, role):
    """POST /checkin is for a client's own arrival; every staff role gets 403."""
    with clock.frozen(_session_start(clinic)):
        response = client.post(f"{API}/checkin", json={"code": "123456"}, headers=auth(role))
    assert response.status_code == 403


def test_a_client_may_self_check_in(client, auth, make, clinic):
    """The client role passes POST /checkin's door: a bad body is a 422, not a 403."""
    user = make.user("client", client_id=clinic["client_id"])
    with clock.frozen(_session_start(clinic)):
        headers = auth.for_user(user)
        assert client.post(f"{API}/checkin", json={}, headers=headers).status_code == 422
        code = client.get(f"{API}/sessions/{clinic['session_id']}/checkin-code",
                          headers=auth("clinician")).json["code"]
        response = client.post(f"{API}/checkin", json={"code": code}, headers=headers)
    assert (response.status_code, response.json["status"]) == (200, "present")


# --- clients see only their own record --------------------------------------------------------


@pytest.fixture
def client_user(make):
    return make.user("client")


def test_a_client_reads_their_own_record(client, auth, client_user):
    """GET /clients/{own id} answers 200 with their record."""
    response = client.get(f"{API}/clients/{client_user.client_id}",
                          headers=auth.for_user(client_user))
    assert response.status_code == 200
    assert response.json["id"] == client_user.client_id


def test_a_client_may_not_read_another_clients_record(client, auth, make, client_user):
    """Someone else's record answers 403, as does an id that does not exist (no probing)."""
    headers = auth.for_user(client_user)
    other = make.client()
    assert client.get(f"{API}/clients/{other.id}", headers=headers).status_code == 403
    assert client.get(f"{API}/clients/999999", headers=headers).status_code == 403


# GETs a client may make with no id of someone else's in the path, each narrowed to their own
# rows (tested one by one below): /auth/me and their own schedule.
CLIENT_READABLE = {r.rule for r in ROUTES if r.is_api and r.method == "GET" and (
    r.access["client"] == "allow" or (r.access["client"] == "own" and "<" not in r.rule))}


def test_a_client_may_not_read_any_list_or_staff_record(app, client, auth, clinic, client_user):
    """Every GET but /auth/me, their schedule and their own records answers 403 to a client."""
    headers = auth.for_user(client_user)
    wrong = []
    for method, rule in api_routes(app):
        if method != "GET" or (method, rule) in PUBLIC or rule in CLIENT_READABLE:
            continue
        url = concrete(rule, clinic)  # clinic's client is not this user's client
        response = client.get(url, headers=headers)
        if response.status_code != 403:
            wrong.append((rule, response.status_code))
    assert wrong == []


@pytest.fixture
def schedules(make, client_user):
    """The client user booked into one session and queued for another; someone else in a third."""
    program = make.program()
    series = make.series(program, capacity=1, end_date=date(2027, 3, 8))
    mine, queued, theirs = _db.session.scalars(
        select(Session.id).where(Session.series_id == series.id).order_by(Session.starts_at)
    ).all()[:3]
    other = make.client(program).id
    for session_id, client_id in [(mine, client_user.client_id), (queued, other),
                                  (queued, client_user.client_id), (theirs, other)]:
        booking_service.book_client(_db.session, ACTOR, session_id, client_id, now=clock.now())
    _db.session.commit()
    bookings = dict(_db.session.execute(
        select(Booking.session_id, Booking.id).where(Booking.client_id == client_user.client_id)
    ).all())
    theirs_booking = _db.session.scalar(
        select(Booking.id).where(Booking.session_id == theirs))
    return {"mine": mine, "queued": queued, "theirs": theirs, "other_client": other,
            "my_booking": bookings[mine], "my_queue_place": bookings[queued],
            "their_booking": theirs_booking}


def test_a_client_lists_only_the_sessions_they_hold_a_seat_in(client, auth, client_user,
                                                                schedules):
    """GET /sessions for a client is their own schedule, whatever else exists."""
    headers = auth.for_user(client_user)
    listed = client.get(f"{API}/sessions", headers=headers)
    assert listed.status_code == 200
    assert [s["id"] for s in listed.json["items"]] == [schedules["mine"]]
    own = client.get(f"{API}/sessions", query_string={"client_id": client_user.client_id},
                     headers=headers)
    assert own.json["items"] == listed.json["items"]
    narrowed = client.get(f"{API}/sessions", query_string={"series_id": 1}, headers=headers)
    assert {s["id"] for s in narrowed.json["items"]} <= {schedules["mine"]}


def test_a_client_may_not_list_another_clients_sessions(client, auth, client_user, schedules):
    response = client.get(f"{API}/sessions", query_string={"client_id": schedules["other_client"]},
                          headers=auth.for_user(client_user))
    assert response.status_code == 403


def test_a_client_reads_a_session_only_when_booked_or_queued_there(
    client, auth, client_user, schedules
):
    """Their own seat or queue place answers 200; any other session, or none, 403."""
    headers = auth.for_user(client_user)
    for key, status in [("mine", 200), ("queued", 200), ("theirs", 403)]:
        response = client.get(f"{API}/sessions/{schedules[key]}", headers=headers)
        assert response.status_code == status, key
    assert client.get(f"{API}/sessions/999999", headers=headers).status_code == 403
    # Past the id range no row can exist, so its 404 tells nothing about which sessions do.
    assert client.get(f"{API}/sessions/{2**63}", headers=headers).status_code == 404


def test_a_client_reads_only_their_own_bookings(client, auth, client_user, schedules):
    """Their booking and queue place answer 200; another's, or a missing id, 403 (no probing)."""
    headers = auth.for_user(client_user)
    mine = client.get(f"{API}/bookings/{schedules['my_booking']}", headers=headers)
    assert (mine.status_code, mine.json["status"]) == (200, "booked")
    queued = client.get(f"{API}/bookings/{schedules['my_queue_place']}", headers=headers)
    assert (queued.status_code, queued.json["waitlist_position"]) == (200, 1)
    for booking_id in (schedules["their_booking"], 999999):
        assert client.get(f"{API}/bookings/{booking_id}", headers=headers).status_code == 403
    # Past the id range no row can exist, so its 404 tells nothing about which bookings do.
    assert client.get(f"{API}/bookings/{2**63}", headers=headers).status_code == 404


def test_a_client_reads_their_own_availability_only(client, auth, make, client_user):
    headers = auth.for_user(client_user)
    own = client.get(f"{API}/clients/{client_user.client_id}/availability", headers=headers)
    assert (own.status_code, own.json) == (200, {"unavailable": [], "preferred": []})
    other = make.client()
    assert client.get(f"{API}/clients/{other.id}/availability",
                      headers=headers).status_code == 403


def test_a_client_may_not_write_even_their_own_record(app, client, auth, clinic, client_user):
    """Clients change nothing through the API but their own check-in; every write answers 403."""
    headers = auth.for_user(client_user)
    ids = {**clinic, "client_id": client_user.client_id}
    before = row_counts()
    wrong = []
    for method, rule in api_routes(app):
        if method in WRITE_METHODS and (method, rule) not in PUBLIC | CLIENT_WRITES:
            response = call(client, method, concrete(rule, ids), headers)
            if response.status_code != 403:
                wrong.append((method, rule, response.status_code))
    assert wrong == []
    assert row_counts() == before


# --- POST /auth/token and GET /auth/me --------------------------------------------------------


def test_the_right_password_gives_a_token_that_works(client, make):
    """email + password exchange for a bearer token that authenticates later requests."""
    user = make.user("coordinator", password=PASSWORD)
    response = client.post(f"{API}/auth/token", json={"email": user.email, "password": PASSWORD})

    assert response.status_code == 200
    assert response.json["token_type"] == "Bearer"
    headers = {"Authorization": f"Bearer {response.json['token']}"}
    me = client.get(f"{API}/auth/me", headers=headers)
    assert me.status_code == 200
    assert (me.json["id"], me.json["email"], me.json["role"]) == (user.id, user.email,
                                                                  "coordinator")
    assert client.post(f"{API}/rooms", json={"name": "R", "capacity": 4},
                       headers=headers).status_code == 201


def test_the_email_is_matched_ignoring_case_and_spaces(client, make):
    """People type their address as they like; it is still their account."""
    user = make.user("clinician", password=PASSWORD)
    response = client.post(f"{API}/auth/token",
                           json={"email": f"  {user.email.upper()} ", "password": PASSWORD})
    assert response.status_code == 200


def test_the_token_expires_when_the_response_says(client, make, now):
    """expires_at is in the future, and the token stops working then."""
    user = make.user("clinician", password=PASSWORD)
    body = client.post(f"{API}/auth/token",
                       json={"email": user.email, "password": PASSWORD}).json
    headers = {"Authorization": f"Bearer {body['token']}"}
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert expires_at > now
    with clock.frozen(expires_at - timedelta(seconds=1)):
        assert client.get(f"{API}/auth/me", headers=headers).status_code == 200
    with clock.frozen(expires_at):
        assert client.get(f"{API}/auth/me", headers=headers).status_code == 401


@pytest.mark.parametrize(
    "credentials",
    [
        {"password": "wrong password!"},
        {"password": PASSWORD.upper()},
        {"email": "nobody@clinic.test"},
    ],
)
def test_wrong_credentials_answer_401_without_a_token(client, make, db, credentials):
    """A wrong password or unknown email gets 401 and no token row is made."""
    user = make.user("coordinator", password=PASSWORD)
    tokens = db.scalar(select(func.count(ApiToken.id)))
    body = {"email": user.email, "password": PASSWORD, **credentials}

    response = client.post(f"{API}/auth/token", json=body)

    assert response.status_code == 401
    assert "token" not in response.json
    assert db.scalar(select(func.count(ApiToken.id))) == tokens


def test_a_deactivated_user_cannot_get_a_token(client, make, db):
    """The right password does not open a deactivated account."""
    user = make.user("coordinator", password=PASSWORD)
    user.is_active = False
    db.commit()
    response = client.post(f"{API}/auth/token", json={"email": user.email, "password": PASSWORD})
    assert response.status_code == 401


def test_an_invited_user_without_a_password_cannot_get_a_token(client, make):
    """An account whose password was never set cannot be logged into with any password."""
    user = make.user("clinician")
    response = client.post(f"{API}/auth/token", json={"email": user.email, "password": ""})
    assert response.status_code == 401


def test_a_token_request_without_a_password_is_refused_naming_it(client):
    """A malformed token request is a 422 naming the missing field."""
    response = client.post(f"{API}/auth/token", json={"email": "a@clinic.test"})
    assert response.status_code == 422
    assert "password" in response.json["errors"]["json"]


def test_me_tells_a_client_which_client_they_are(client, auth, client_user):
    """GET /auth/me gives a client login its client_id, the key to its own records."""
    me = client.get(f"{API}/auth/me", headers=auth.for_user(client_user)).json
    assert (me["role"], me["client_id"], me["staff_id"]) == ("client", client_user.client_id,
                                                            None)
    assert "password" not in me and "password_hash" not in me
