"""The authorization matrix, walked: every route, for anonymous and each role, by real requests."""

# The table is tests/authorization_matrix.py. Two clients of one program, Avery and Blake, each
# have a plan, an assessment, a booking in a session of their own, attendance, an alert and a
# calendar feed, so every id in a path has a real "mine" (Avery's) and "theirs" (Blake's).

import re
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from sqlalchemy import select, true

from scheduler import clock
from scheduler.extensions import db as _db
from scheduler.feeds import render, tokens
from scheduler.models import (
    Alert,
    Attendance,
    Booking,
    Program,
    Room,
    ScheduleProposal,
    Session,
    Site,
    Staff,
    WebhookEndpoint,
)
from scheduler.services import (
    attendance,
    availability,
    consents,
    plans,
    recipients,
    scope,
    sessions,
    sites,
    webhooks,
)
from scheduler.web import navigation
from tests.authorization_matrix import (
    OTHER,
    OTHER_SITE,
    OUTSIDE,
    OUTSIDE_CASELOAD,
    READ_QUERIES,
    ROLES,
    ROUTES,
    SITE_ARGS,
    Route,
    coordinator_api_routes,
    record_routes_clinicians_reach,
)
from tests.helpers import ACTOR, sign_in

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
MISSING_ID = 999999
# Valid bodies for the writes a client or clinician may make on their own record: their own
# id must answer 2xx, so a refusal of someone else's is the door and not a bad body.
OWN_BODIES = {
    ("PUT", "/api/v1/clients/<int:client_id>/kiosk-pin"): {"pin": "4821"},
    ("PUT", "/api/v1/clients/<int:client_id>/notification-preferences"):
        {"remind_two_hours": True},
}
# GET /api/v1/sessions names its client in the query string, not the path.
OWN_QUERIES = {("GET", "/api/v1/sessions"): "?client_id={client_id}"}


# --- the table and the app agree ---------------------------------------------------------------



def shown(page: str) -> str:
    """The page without the words its scripts may write (base.html's #script-words block):
    what a person reads, not what a script could."""
    return re.sub(r'<script type="application/json" id="script-words">.*?</script>', "", page,
                  flags=re.S)

def app_routes(app: Flask) -> set[tuple[str, str]]:
    """(method, rule) of every route the app serves, but HEAD, OPTIONS and static files."""
    return {(method, rule.rule) for rule in app.url_map.iter_rules() if rule.endpoint != "static"
            for method in rule.methods - {"HEAD", "OPTIONS"}}


def unlisted_routes(app: Flask) -> str:
    """What the matrix lacks, one route a line, said so a developer knows what to add."""
    listed = {(r.method, r.rule) for r in ROUTES}
    missing = sorted(app_routes(app) - listed, key=lambda mr: (mr[1], mr[0]))
    return "".join(f"{method} {rule} is not in tests/authorization_matrix.py: add a line "
                   f"saying who may use it.\n" for method, rule in missing)


def test_every_route_of_the_app_is_in_the_matrix(app):
    assert unlisted_routes(app) == ""


def test_every_line_of_the_matrix_is_a_route_of_the_app(app):
    """A route that was removed or renamed leaves no stale line behind."""
    stale = [str(r) for r in ROUTES if (r.method, r.rule) not in app_routes(app)]
    assert stale == []


@pytest.mark.own_app
def test_a_new_route_fails_until_it_is_added_to_the_matrix(app):
    app.add_url_rule("/api/v1/secret-reports", "secret_reports", lambda: "",
                     methods=["GET", "DELETE"])
    message = unlisted_routes(app)
    assert "DELETE /api/v1/secret-reports is not in tests/authorization_matrix.py" in message
    assert "GET /api/v1/secret-reports is not in" in message
    assert message.count("\n") == 2


def test_the_matrix_is_sorted_by_path_then_method():
    """Sorted, so a reviewer finds a route, and two people adding lines rarely collide."""
    order = [(r.rule, r.method) for r in ROUTES]
    assert order == sorted(order)


def test_no_page_or_api_route_is_public_by_accident():
    """The routes anyone may use without signing in, spelled out: adding one is a decision."""
    public = {str(r) for r in ROUTES if r.access["anonymous"] != "deny"}
    assert public == {
        "GET /", "POST /api/v1/auth/token", "GET /api/v1/docs", "GET /api/v1/openapi.json",
        "GET /favicon.ico", "GET /feeds/<token>.ics", "GET /healthz", "GET /login",
        # FHIR's CapabilityStatement: what the server supports, before any token; and how a
        # recipient's system gets a token (it proves itself there with its credentials).
        "GET /fhir/R4/metadata", "GET /fhir/R4/.well-known/smart-configuration",
        "POST /fhir/R4/auth/token",
        # Open group seats for referral partners (SMART Scheduling Links): no client data.
        "GET /fhir/R4/$bulk-publish", "GET /fhir/R4/$bulk-publish/Location.ndjson",
        "GET /fhir/R4/$bulk-publish/Schedule.ndjson", "GET /fhir/R4/$bulk-publish/Slot.ndjson",
        "GET /login/code", "GET /manifest.webmanifest", "POST /login", "POST /login/code",
        # The portal's service worker: code only, and a phone whose login ran out must still
        # get its updates (a redirect to the sign-in page would fail the update check).
        "GET /sw.js",
        "POST /logout",
        # The account links by email: the person has no sign-in yet, or forgot it.
        "POST /api/v1/auth/invitations/accept", "POST /api/v1/auth/password-reset",
        "POST /api/v1/auth/password-reset/confirm", "GET /forgot-password",
        "POST /forgot-password", "GET /invite/<token>", "POST /invite/<token>",
        "GET /reset/<token>", "POST /reset/<token>",
        # The language switch of the signed-out pages: kept in the browser's session only.
        "POST /language",
    }


# --- a clinic with two clients -----------------------------------------------------------------


def _one_off(program, staff, client_id, starts_at):
    return sessions.create_one_off(
        _db.session, ACTOR, now=clock.now(), program_id=program.id, kind="individual",
        starts_at=starts_at, ends_at=starts_at + timedelta(hours=1), facilitator_ids=[staff.id],
        client_id=client_id)


def _alert(program, client_id) -> Alert:
    alert = Alert(key=f"absence_streak:client={client_id}", kind="absence_streak",
                  client_id=client_id, program_id=program.id, detail={}, raised_at=clock.now())
    _db.session.add(alert)
    _db.session.flush()
    return alert


def _webhook(db) -> WebhookEndpoint:
    """An EHR's endpoint (nothing is sent to it in the walk: no client consented)."""
    ehr = recipients.create_recipient(db, ACTOR, name="Walk EHR", kind="ehr")
    endpoint, _ = webhooks.create(db, ACTOR, webhooks.Settings(key=b"walk"),
                                  recipient_id=ehr.id, url="https://ehr.example.test/hooks",
                                  events=["booking.created"], now=clock.now())
    return endpoint


def _proposal(program, client) -> ScheduleProposal:
    """A lapsed-free proposal that books nothing: reading and accepting it is the door's test
    (tests/test_proposals.py tests what accepting books)."""
    row = ScheduleProposal(program_id=program.id, client_id=client.id, client_ids=[client.id],
                           kind="schedule", from_date=date(2027, 2, 22), weeks=1,
                           body={"kind": "schedule", "client_id": client.id}, actions={},
                           expires_at=clock.now() + timedelta(days=1))
    _db.session.add(row)
    _db.session.flush()
    return row


@pytest.fixture
def clinic(make):
    """Avery's ids ("mine") and Blake's ("theirs"), and a user of every role."""
    program = make.program()
    room = make.room()
    therapist, other_staff = make.staff(), make.staff()
    series = make.series(program, room_id=room.id, facilitator_ids=[therapist.id],
                         start_date=date(2027, 2, 8), end_date=date(2027, 3, 31))
    avery = make.client(program, name="Avery Aldridge")
    blake = make.client(program, name="Blake Bramwell")
    db = _db.session
    # Last night's group (Mon 18:00 New York): both came, marked on the roster.
    last_night = db.scalar(select(Session).where(
        Session.series_id == series.id, Session.starts_at < clock.now())
        .order_by(Session.starts_at.desc()))
    attendance.record_roster(db, ACTOR, "coordinator", last_night.id,
                             [{"client_id": c.id, "status": "present"} for c in (avery, blake)],
                             now=clock.now(), policy=attendance.Policy())
    people = {}
    kipu = recipients.create_recipient(db, ACTOR, name="Kipu EHR", kind="ehr")
    for key, person, day in (("mine", avery, 18), ("theirs", blake, 19)):
        own = _one_off(program, therapist, person.id, datetime(2027, 2, day, 15,
                                                                tzinfo=UTC))
        people[key] = {
            "client_id": person.id, "session_id": own.id,
            "booking_id": db.scalar(select(Booking.id).where(Booking.session_id == own.id)),
            "plan_id": plans.create_plan(db, ACTOR, person.id, start_date=date(2027, 2, 1)).id,
            "assessment_id": plans.record_assessment(
                db, ACTOR, person.id, assessed_on=date(2027, 2, 1), clinician_id=therapist.id,
                recommended_level="2.1").id,
            "alert_id": _alert(program, person.id).id,
            "token": tokens.issue(db, ACTOR, "client", person.id, clock.now()),
            "consent_id": consents.record(
                db, ACTOR, person, recipient_id=kipu.id, purpose="Coordination of care",
                scope=["appointments"], signed_on=date(2027, 2, 10),
                expires_on=date(2027, 8, 10), now=clock.now()).id,
        }
    time_off = availability.add_time_off(
        db, ACTOR, therapist.id, datetime(2027, 6, 1, tzinfo=UTC),
        datetime(2027, 6, 2, tzinfo=UTC), "Training")
    # The EHR the consents above name, and its FHIR API client (issue 20): admins manage them.
    api_client, _ = recipients.create_fhir_client(db, ACTOR, kipu, scopes=["system/Slot.read"])
    db.commit()
    shared = {"program_id": program.id, "room_id": room.id, "series_id": series.id,
              "recipient_id": kipu.id, "api_client_id": api_client.id,
              # /fhir/R4 reads by id: the door (a FHIR token) answers before any lookup.
              "resource_id": avery.id,
              # Both marked present there: whose marks a clinician outside reads.
              "marked_session_id": last_night.id,
              "site_id": program.site_id,
              "time_off_id": time_off.id, "proposal_id": _proposal(program, avery).id,
              # Nobody's: past the door, ending it answers 404.
              "login_session_id": MISSING_ID, "token_id": MISSING_ID, "closure_id": MISSING_ID,
              "webhook_id": _webhook(db).id, "delivery_id": MISSING_ID}
    users = {
        "client": make.user("client", client_id=avery.id),
        "clinician": make.user("clinician", staff_id=therapist.id),
        "coordinator": make.user("coordinator"),
        "admin": make.user("admin"),
        "kiosk": make.user("kiosk"),
    }
    people["mine"]["user_id"] = users["client"].id
    people["theirs"]["user_id"] = make.user("client", client_id=blake.id).id
    return {
        "mine": {**shared, "staff_id": therapist.id, **people["mine"]},
        "theirs": {**shared, "staff_id": other_staff.id, **people["theirs"]},
        "missing": {**shared, **{k: MISSING_ID for k in people["mine"] if k.endswith("_id")},
                    "staff_id": MISSING_ID},
        "blake": blake.name, "users": users,
    }


# --- requests as each role ---------------------------------------------------------------------


def concrete(route: Route, ids: dict, query: str = "") -> str:
    """The route's URL with each <arg> taken from ids, plus the query string it needs."""
    def fill(match):
        if match.group(1) not in ids:
            raise LookupError(f"{route}: the clinic fixture has no {match.group(1)}; add one")
        return str(ids[match.group(1)])

    path = re.sub(r"<(?:\w+:)?(\w+)>", fill, route.rule)
    return path + (query or READ_QUERIES.get(route.rule, "")).format(**ids)


class Caller:
    """One role's requests: bearer token for the API, the login session (with CSRF) for pages."""

    def __init__(self, app, auth, user, api_by_session: bool = False):
        self.user = user
        self.auth = auth
        self.pages = app.test_client()
        # The login form gives this browser its CSRF token before anyone signs in.
        form = self.pages.get("/login").get_data(as_text=True)
        self.csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form).group(1)
        self.api = self.pages if api_by_session else app.test_client()
        self.bearer = auth.for_user(user) if user is not None and not api_by_session else {}

    def __call__(self, route: Route, ids: dict, body: dict | None = None, query: str = ""):
        url = concrete(route, ids, query)
        writes = route.method in WRITE_METHODS
        if self.user is not None and (self.api is self.pages or not route.is_api):
            sign_in(self.pages, self.user)  # every time: a POST /logout ends the session
        if route.is_api:
            headers = self.bearer
            if self.bearer and (route.method, route.rule) == ("DELETE", "/api/v1/auth/token"):
                headers = self.auth.for_user(self.user)  # revokes itself; keep the walk's own
            if writes and self.api is self.pages:
                # A page's own script: the CSRF token and this site's origin (the browser's).
                headers = {"X-CSRFToken": self.csrf, "Origin": "http://localhost"}
            return self.api.open(url, method=route.method, headers=headers,
                                 **({"json": body or {}} if writes else {}))
        return self.pages.open(url, method=route.method,
                               **({"data": {"csrf_token": self.csrf},
                                   "headers": {"X-CSRFToken": self.csrf}} if writes else {}))


def to_login(response) -> bool:
    where = urlsplit(response.headers.get("Location", ""))
    return response.status_code == 302 and where.path == "/login" and "next" in parse_qs(
        where.query)


def refused(route: Route, role: str, response) -> bool:
    """The door's answer: 401 or a login redirect when anonymous, 403 when signed in.

    /fhir/R4 takes only a FHIR client's token (tests/test_fhir_*.py walk those): a person's
    sign-in, of any role, is no token there, so every role hears 401 as an OperationOutcome.
    """
    if route.rule.startswith("/fhir/"):
        return (response.status_code == 401
                and response.mimetype == "application/fhir+json"
                and response.get_json()["resourceType"] == "OperationOutcome")
    if role != "anonymous":
        return response.status_code == 403
    if route.is_api:
        return (response.status_code == 401
                and response.headers.get("WWW-Authenticate") == "Bearer")
    return to_login(response)


def let_through(route: Route, response) -> bool:
    """Past the door: a read answers, a write may still refuse its (empty) input with a 4xx."""
    status = response.status_code
    if status in (401, 403) or status >= 500 or to_login(response):
        return False
    return route.method != "GET" or status < 400


# Written by every signed-in request, refused or not: each page call signs in afresh, and a
# sign-in or token records when it was last used.
SIGN_IN_TABLES = ("login_sessions", "api_tokens")


def snapshot() -> dict:
    """Every row of every table, read afresh; the access log's "denied" rows are meant to grow,
    and so are the sign-ins (and their audit events) the walk itself makes."""
    _db.session.rollback()
    rows = {table.name: _db.session.execute(
        select(table).order_by(*table.primary_key.columns)).all()
        for table in _db.metadata.sorted_tables if table.name not in SIGN_IN_TABLES}
    rows["audit_events"] = [row for row in rows["audit_events"]
                            if row.action not in ("denied", "sign_in")]
    _db.session.rollback()
    return rows


def _phase(route: Route, role: str) -> int:
    # Reads first and a role's own writes next, so no accepted write (a cancelled booking, a
    # revoked feed) changes what a later read of the walk finds.
    if route.method == "GET":
        return 0
    return 1 if route.access[role] == "own" else 2


def walk(app, auth, clinic, role: str, api_by_session: bool = False) -> list:
    """Every route as this role; a line for each answer that disagrees with the matrix."""
    call = Caller(app, auth, clinic["users"].get(role), api_by_session)
    wrong = []

    def check(ok: bool, route, side, response):
        # Nothing shown to Avery or to anonymous callers, allowed or refused, names Blake.
        # Bytes, not text: an icon is no UTF-8.
        leaked = (role in ("anonymous", "client")
                  and clinic["blake"].encode() in response.get_data())
        if not ok or leaked:
            wrong.append(f"{route} with {side} ids: {response.status_code}"
                         + (", and it names the other client" if leaked else ""))

    def own_request(route, side):
        key = (route.method, route.rule)
        return call(route, clinic[side], OWN_BODIES.get(key), OWN_QUERIES.get(key, ""))

    routes = [r for r in ROUTES if r.is_api or not api_by_session]
    before = snapshot()
    for route in routes:
        access = route.access[role]
        if access == "deny":
            response = call(route, clinic["mine"])
            check(refused(route, role, response), route, "mine", response)
        elif access == "own":
            for side in ("theirs", "missing"):
                response = own_request(route, side)
                check(response.status_code == 403, route, side, response)
    # A refused write writes nothing, not even half a change.
    if snapshot() != before:
        wrong.append(f"requests refused to {role} changed the database")
    for route in sorted(routes, key=lambda r: _phase(r, role)):
        access = route.access[role]
        if access == "own":
            response = own_request(route, "mine")
            check(200 <= response.status_code < 300, route, "mine", response)
        elif access == "allow":
            response = call(route, clinic["mine"])
            check(let_through(route, response), route, "mine", response)
    return wrong


@pytest.mark.parametrize("role", ROLES)
def test_every_route_answers_each_role_as_the_matrix_says(app, auth, clinic, role):
    """Denied: 401/403 or /login and nothing written; own: 403 but for one's own; allowed: in."""
    assert walk(app, auth, clinic, role) == []


def test_a_client_signed_in_to_the_pages_gets_no_more_from_the_api(app, auth, clinic):
    """The API takes the login session too; a client's cookie opens no more than their token."""
    assert walk(app, auth, clinic, "client", api_by_session=True) == []


# --- a clinician outside the caseload (issue 19) -------------------------------------------------


def test_every_route_to_a_clients_record_says_what_a_clinician_outside_the_caseload_gets():
    """Sorted, complete and no more: a new client-record route open to clinicians needs a line."""
    assert set(OUTSIDE) == record_routes_clinicians_reach()
    lines = [line.split()[:2] for line in OUTSIDE_CASELOAD.strip().splitlines()[1:]]
    assert [(rule, method) for method, rule in lines] == sorted(
        (rule, method) for method, rule in lines)


# Around last night's group, which both clients attended, so a report has rows to hold back.
OUTSIDE_PERIOD = "?program_id={program_id}&from=2027-02-08&to=2027-02-21"
OUTSIDE_QUERIES = {rule: OUTSIDE_PERIOD for rule, query in READ_QUERIES.items()
                   if rule.startswith("/api/v1/reports/") and "from=" in query}


def caseload_call(call, route, clinic):
    """A "caseload" line called on last night's group and the period around it."""
    ids = {**clinic["mine"], "session_id": clinic["mine"]["marked_session_id"]}
    return call(route, ids, query=OUTSIDE_QUERIES.get(route.rule, ""))


def holds_nobody(route, response, clinic) -> bool:
    """What a clinician with an empty caseload may get from a "caseload" line: the answer,
    with no client's row, mark or name in it."""
    if response.status_code != 200:
        return False
    if route.is_api:
        if response.mimetype != "application/json":
            return False
        body = response.json
        if route.rule.endswith("/attendance"):
            return body["items"] == [] and body["withheld"] == 2
        return body["items"] == []
    page = shown(response.get_data(as_text=True))
    if route.rule.endswith("/roster"):
        # Who is booked shows (they may mark, covering); what they were marked does not.
        return page.count("Mark not shown") == 2 and "Now: " not in page
    return "Avery Aldridge" not in page and clinic["blake"] not in page


def walk_outside(app, auth, clinic, user) -> list:
    """Every line of the outside-caseload table, as `user`, on Avery's ids."""
    call = Caller(app, auth, user)
    by_rule = {(r.method, r.rule): r for r in ROUTES}
    wrong = []
    before = snapshot()
    for key, access in sorted(OUTSIDE.items(), key=lambda kv: kv[0][0] != "GET"):
        if access != "deny":
            continue
        response = call(by_rule[key], clinic["mine"])
        if response.status_code != 403:
            wrong.append(f"{by_rule[key]} refused? {response.status_code}")
    if snapshot() != before:
        wrong.append("requests refused outside the caseload changed the database")
    for key, access in sorted(OUTSIDE.items(), key=lambda kv: kv[0][0] != "GET"):
        route = by_rule[key]
        if access == "allow":
            response = call(route, clinic["mine"])
            if not let_through(route, response):
                wrong.append(f"{route} let through? {response.status_code}")
        elif access == "hidden":
            response = call(route, clinic["mine"])
            if response.status_code != 404:
                wrong.append(f"{route} hidden? {response.status_code}")
        elif access == "caseload":
            response = caseload_call(call, route, clinic)
            if not holds_nobody(route, response, clinic):
                wrong.append(f"{route} held to the caseload? {response.status_code}")
    return wrong


@pytest.fixture
def outsider(make, clinic, db):
    """A clinician who facilitates nothing and is nobody's primary therapist."""
    return make.user("clinician", staff_id=clinic["theirs"]["staff_id"])


def test_a_clinician_outside_the_caseload_gets_what_the_table_says(app, auth, clinic,
                                                                   outsider):
    assert walk_outside(app, auth, clinic, outsider) == []


def test_the_caseload_lines_give_a_clinician_who_leads_the_group_its_rows(app, auth, clinic):
    """The same calls as the outsider's, by the clinician who leads both clients' sessions:
    not empty, so the outsider's empty answers are held back, not merely empty."""
    call = Caller(app, auth, clinic["users"]["clinician"])
    by_rule = {(r.method, r.rule): r for r in ROUTES}
    empty = []
    for key in ("/api/v1/alerts", "/api/v1/reports/weekly-hours",
                "/api/v1/reports/attendance-rates", "/api/v1/reports/census",
                "/api/v1/sessions/<int:session_id>/attendance"):
        response = caseload_call(call, by_rule[("GET", key)], clinic)
        if response.status_code != 200 or not response.json["items"]:
            empty.append(key)
    roster = caseload_call(call, by_rule[("GET", "/sessions/<int:session_id>/roster")], clinic)
    assert shown(roster.get_data(as_text=True)).count("Now: ") == 2
    alerts_page = caseload_call(call, by_rule[("GET", "/alerts")], clinic)
    assert "Avery Aldridge" in alerts_page.get_data(as_text=True)
    assert empty == []


def test_after_breaking_the_glass_the_outsider_reads_as_the_caseload_does(app, auth, clinic,
                                                                          outsider, client):
    broke = client.post(f"/api/v1/clients/{clinic['mine']['client_id']}/break-glass",
                        json={"reason": "Covering the group tonight"},
                        headers=auth.for_user(outsider))
    assert broke.status_code == 201
    call = Caller(app, auth, outsider)
    by_rule = {(r.method, r.rule): r for r in ROUTES}
    wrong = [str(by_rule[key]) for key, access in sorted(OUTSIDE.items(),
                                                         key=lambda kv: kv[0][0] != "GET")
             if access == "deny"
             and not let_through(by_rule[key], call(by_rule[key], clinic["mine"]))]
    assert wrong == []


# --- a coordinator of another site (issue 19) ----------------------------------------------------


def test_every_coordinator_api_route_says_what_a_coordinator_of_another_site_gets():
    """Complete, sorted, and a route naming a site's record in its path is never "open"."""
    assert set(OTHER) == coordinator_api_routes()
    lines = [line.split()[:2] for line in OTHER_SITE.strip().splitlines()[1:]]
    assert [(rule, method) for method, rule in lines] == sorted(
        (rule, method) for method, rule in lines)
    assert [key for key, cell in OTHER.items()
            if any(arg in key[1] for arg in SITE_ARGS) and cell != "404"] == []


# Valid bodies, so that a write reaches its lookup instead of stopping at a missing field:
# {name} is filled from the ids walked (the clinic's, or ids that do not exist).
OTHER_SITE_BODIES = {
    ("POST", "/api/v1/clients"): {"name": "Casey Cole", "program_id": "{program_id}",
                                  "admitted_on": "2027-03-01"},
    ("POST", "/api/v1/rooms"): {"name": "Room Z", "capacity": 8, "site_id": "{site_id}"},
    ("POST", "/api/v1/programs"): {"name": "Evening IOP", "level_of_care": "2.1",
                                   "population": "adult", "timezone": "America/New_York",
                                   "address": "1 Main Street", "site_id": "{site_id}"},
    ("POST", "/api/v1/staff"): {"name": "Dana Drew", "role": "therapist", "email": None,
                                "site_ids": ["{site_id}"]},
    ("POST", "/api/v1/kiosk/checkin"): {"client_id": "{client_id}", "pin": "4821"},
    ("POST", "/api/v1/series"): {"program_id": "{program_id}", "kind": "group",
                                 "title": "Morning group", "start_date": "2027-04-05",
                                 "start_time": "09:00", "duration_minutes": 60,
                                 "rrule": "FREQ=WEEKLY;BYDAY=MO", "room_id": "{room_id}"},
    ("POST", "/api/v1/sessions"): {"program_id": "{program_id}", "kind": "individual",
                                   "starts_at": "2027-04-05T15:00:00Z",
                                   "ends_at": "2027-04-05T16:00:00Z",
                                   "facilitator_ids": ["{staff_id}"],
                                   "client_id": "{client_id}"},
    ("POST", "/api/v1/sessions/<int:session_id>/bookings"): {"client_id": "{client_id}"},
    ("POST", "/api/v1/series/<int:series_id>/enrollments"): {"client_id": "{client_id}"},
    ("POST", "/api/v1/clients/<int:client_id>/assessments"): {
        "assessed_on": "2027-02-01", "clinician_id": "{staff_id}", "recommended_level": "2.1"},
    ("PUT", "/api/v1/clients/<int:client_id>/availability"): {"unavailable": []},
    ("POST", "/api/v1/clients/<int:client_id>/consents"): {
        "recipient_id": "{recipient_id}", "purpose": "Coordination of care",
        "scope": ["appointments"], "signed_on": "2027-02-10", "expires_on": "2027-08-10"},
    ("POST", "/api/v1/clients/<int:client_id>/discharge"): {"date": "2027-02-20"},
    ("POST", "/api/v1/clients/<int:client_id>/episodes"): {"admitted_on": "2027-03-01",
                                                           "program_id": "{program_id}"},
    ("POST", "/api/v1/clients/<int:client_id>/make-up-proposals"): {"week_start": "2027-02-22"},
    ("POST", "/api/v1/clients/<int:client_id>/plans"): {"start_date": "2027-03-01"},
    ("POST", "/api/v1/clients/<int:client_id>/schedule-proposals"): {"from": "2027-02-22"},
    ("POST", "/api/v1/plans/<int:plan_id>/certification"): {"certified_on": "2027-02-02"},
    ("POST", "/api/v1/plans/<int:plan_id>/review"): {"reviewed_on": "2027-02-02"},
    ("POST", "/api/v1/programs/<int:program_id>/closures"): {
        "starts_on": "2027-03-10", "ends_on": "2027-03-10", "reason": "Snow"},
    ("POST", "/api/v1/programs/<int:program_id>/schedule-proposals"): {
        "from": "2027-02-22", "client_ids": ["{client_id}"]},
    ("POST", "/api/v1/series/<int:series_id>/end"): {"end_date": "2027-03-20"},
    ("PUT", "/api/v1/sessions/<int:session_id>/attendance"): {
        "records": [{"client_id": "{client_id}", "status": "present"}]},
    ("PUT", "/api/v1/clients/<int:client_id>/kiosk-pin"): {"pin": "4821"},
    ("PUT", "/api/v1/clients/<int:client_id>/notification-preferences"):
        {"remind_two_hours": True},
    ("PATCH", "/api/v1/users/<int:user_id>"): {"is_active": False},
    ("POST", "/api/v1/users/invitations"): {"email": "casey@clinic.test", "role": "client",
                                            "client_id": "{client_id}"},
}


def _filled(body, ids: dict):
    """The body with each "{name}" string replaced by that id (an int)."""
    if isinstance(body, dict):
        return {k: _filled(v, ids) for k, v in body.items()}
    if isinstance(body, list):
        return [_filled(v, ids) for v in body]
    if isinstance(body, str) and re.fullmatch(r"\{\w+\}", body):
        return ids[body[1:-1]]
    return body


def shape(value):
    """A JSON answer's keys, nested, without its values (which name the id asked for)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value[:1]]
    return type(value).__name__


def walk_other_site(app, auth, clinic, user) -> list:
    """Every line of the other-site table, as `user` (a coordinator of a second site), on the
    clinic's ids, against the same request with ids that do not exist."""
    call = Caller(app, auth, user)
    admin = Caller(app, auth, clinic["users"]["admin"])
    by_rule = {(r.method, r.rule): r for r in ROUTES}
    mine = clinic["mine"]
    missing = {k: (MISSING_ID if k.endswith("_id") else v) for k, v in mine.items()}
    missing["staff_id"] = mine["staff_id"]  # staff belong to no one site
    wrong = []
    before = snapshot()
    for key, cell in sorted(OTHER.items(), key=lambda kv: kv[0][0] != "GET"):
        if cell not in ("404", "422"):
            continue
        route, body = by_rule[key], OTHER_SITE_BODIES.get(key)
        theirs = call(route, mine, _filled(body, mine))
        absent = call(route, missing, _filled(body, missing))
        if not (theirs.status_code == absent.status_code == int(cell)):
            wrong.append(f"{route}: {theirs.status_code} for the other site's, "
                         f"{absent.status_code} for a missing one, not {cell}")
        elif shape(theirs.get_json()) != shape(absent.get_json()):
            wrong.append(f"{route}: the other site's answer differs from a missing one's")
    if snapshot() != before:
        wrong.append("requests refused to another site's coordinator changed the database")
    # What belongs to no one site reads as it does for any coordinator.
    for key, cell in sorted(OTHER.items()):
        if cell == "open" and key[0] == "GET":
            answer = call(by_rule[key], mine)
            if not let_through(by_rule[key], answer):
                wrong.append(f"{by_rule[key]}: {answer.status_code}, though open")
    # What would give the clinic's site away in a list: its people, places and groups, by
    # name or by id.
    markers = [clinic["blake"], "Avery Aldridge", *clinic["names"]]
    traces = {(key, mine[key]) for key in ("client_id", "program_id", "room_id", "series_id")}
    traces.add(("client_id", clinic["theirs"]["client_id"]))

    def shows(response) -> list:
        return [m for m in markers if m.encode() in response.get_data()] + sorted(
            set(_pairs(response.get_json())) & traces)

    for key, cell in sorted(OTHER.items()):
        if cell != "list":
            continue
        route = by_rule[key]
        query = OTHER_SITE_QUERIES.get(key, "")
        theirs, everyone = call(route, mine, query=query), admin(route, mine, query=query)
        shown = shows(theirs)
        if theirs.status_code != 200 or shown:
            wrong.append(f"{route}: {theirs.status_code}, showing {shown}")
        if not shows(everyone):
            wrong.append(f"{route}: an admin sees none of the clinic either; nothing tested")
    return wrong


def _pairs(value):
    """Every (key, value) pair anywhere in a JSON answer."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, int | str):
                yield key, item
            yield from _pairs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _pairs(item)


# The lists whose answer needs a query to hold anything of the clinic.
OTHER_SITE_QUERIES = {
    ("GET", "/api/v1/clients/matches"): "?name=Avery+Aldridge",
    ("GET", "/api/v1/plans/due"): "?within_days=365",
    ("GET", "/api/v1/sessions"): "?from=2027-02-01T00:00:00Z&to=2027-03-01T00:00:00Z",
}


@pytest.fixture
def other_site_coordinator(make, clinic, db):
    """A coordinator of Northside, a second site; the clinic's records are all another site's.
    The clinic's names are added for the walk to look for."""
    # Certified, so the plan falls due and the plans-due list has something to hide.
    plans.record_certification(db, ACTOR, clinic["mine"]["plan_id"], date(2027, 2, 2))
    north = sites.create_site(db, ACTOR, name="Northside", timezone="America/New_York")
    db.commit()
    user = make.user("coordinator")
    sites.set_user_sites(db, ACTOR, user, [north.id])
    db.commit()
    program = db.get(Program, clinic["mine"]["program_id"])
    clinic["names"] = [program.name, db.get(Site, program.site_id).name,
                       db.get(Room, clinic["mine"]["room_id"]).name,
                       db.get(Staff, clinic["mine"]["staff_id"]).name]
    return user


def test_a_coordinator_of_another_site_gets_what_the_table_says(app, auth, clinic,
                                                               other_site_coordinator):
    wrong = walk_other_site(app, auth, clinic, other_site_coordinator)
    assert wrong == [], "\n".join(wrong)


def test_the_other_site_walk_fails_when_a_route_forgets_the_scope(app, auth, clinic,
                                                                 other_site_coordinator,
                                                                 monkeypatch):
    """With the scope's checks switched off, the walk names the reads and lists that leak."""
    monkeypatch.setattr(scope, "allows", lambda db, row: True)
    monkeypatch.setattr(scope, "programs_filter", lambda column: true())
    wrong = "\n".join(walk_other_site(app, auth, clinic, other_site_coordinator))
    assert "GET /api/v1/clients/<int:client_id>: 200 for the other site's" in wrong
    assert "POST /api/v1/sessions/<int:session_id>/bookings: " in wrong
    assert "GET /api/v1/clients: 200, showing" in wrong
    assert "GET /api/v1/reports/census: 200 for the other site's" in wrong


# --- a client and the other client's records, reached sideways ----------------------------------


def test_a_clients_feed_holds_their_sessions_and_none_of_the_other_clients(client, db,
                                                                           clinic):
    mine, theirs = clinic["mine"], clinic["theirs"]
    feed = client.get(f"/feeds/{mine['token']}.ics")
    body = feed.get_data(as_text=True)
    assert feed.status_code == 200
    my_key = render.uid_key(db, "client", mine["client_id"])
    their_key = render.uid_key(db, "client", theirs["client_id"])
    assert render.event_uid(my_key, mine["session_id"]) in body
    for key in (my_key, their_key):
        assert render.event_uid(key, theirs["session_id"]) not in body
    assert clinic["blake"] not in body


def test_a_clients_schedule_lists_only_sessions_they_hold_a_seat_in(client, auth, clinic, db):
    """Whatever the filter (the shared series, the program), Blake's own session never shows."""
    mine, theirs = clinic["mine"], clinic["theirs"]
    headers = auth.for_user(clinic["users"]["client"])
    held = set(db.scalars(select(Booking.session_id).where(
        Booking.client_id == mine["client_id"])))
    for query in ({}, {"series_id": mine["series_id"]}, {"program_id": mine["program_id"]},
                  {"staff_id": mine["staff_id"]}):
        listed = client.get("/api/v1/sessions", query_string=query, headers=headers)
        ids = {item["id"] for item in listed.json["items"]}
        assert listed.status_code == 200
        assert theirs["session_id"] not in ids and ids <= held, query
    assert mine["session_id"] in ids


def test_the_other_clients_room_code_checks_nobody_in(client, auth, clinic, db, app):
    """Avery, standing in Blake's session with its code, is not checked into it."""
    session = db.get(Session, clinic["theirs"]["session_id"])
    code = attendance.checkin_code(app.config["SECRET_KEY"], session)
    with clock.frozen(session.starts_at + timedelta(minutes=5)):
        response = client.post("/api/v1/checkin", json={"code": code},
                               headers=auth.for_user(clinic["users"]["client"]))
    assert response.status_code == 409
    assert "No session of yours is open" in response.json["message"]
    assert db.scalar(select(Attendance.id).where(Attendance.session_id == session.id)) is None


def test_the_navigation_offers_each_role_the_pages_the_matrix_lets_it_open(app):
    """A link a role may not follow, or a listed page it may open but is not offered, is wrong."""
    rules = {rule.endpoint: rule.rule for rule in app.url_map.iter_rules()}
    access = {r.rule: r.access for r in ROUTES if r.method == "GET"}
    wrong = []
    for endpoint, _, roles in navigation.LINKS:
        for role in ROLES[1:]:
            if (role in roles) != (access[rules[endpoint]][role] == "allow"):
                wrong.append((endpoint, role))
    assert wrong == []


def test_a_client_login_linked_to_a_staff_record_manages_no_staff_feed(client, auth, make, clinic,
                                                                       db):
    """A client login that a slip linked to a staff record is still a client: no staff feed."""
    staff_id = clinic["theirs"]["staff_id"]
    user = make.user("client", staff_id=staff_id)
    headers = auth.for_user(user)
    before = snapshot()
    for method in ("POST", "DELETE"):
        response = client.open(f"/api/v1/staff/{staff_id}/feed", method=method, headers=headers)
        assert response.status_code == 403, method
    assert snapshot() == before


def test_a_deactivated_accounts_login_session_opens_nothing(client, make, db):
    """Deactivating a coordinator shuts their open browser out of pages and API alike."""
    user = make.user("coordinator")
    sign_in(client, user)
    assert client.get("/week").status_code == 200
    user.is_active = False
    db.commit()
    assert to_login(client.get("/week"))
    assert client.get("/api/v1/programs").status_code == 401
