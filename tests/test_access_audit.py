"""The access log: every read of a client's record leaves a row naming who, whose and what."""

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from scheduler import clock
from scheduler.feeds import tokens
from scheduler.models import AuditEvent, Booking, Session, TreatmentPlan
from scheduler.services import access_log, alerts, booking, plans
from scheduler.services.audit import Actor
from tests.helpers import ACTOR, sign_in
from tests.test_pages_clients import clinic

API = "/api/v1"


@pytest.fixture
def setup(db, make):
    """Avery and Blake booked into two past groups (see tests/test_pages_clients.clinic)."""
    found = clinic(db, make)
    found.sessions = db.scalars(select(Session.id).where(Session.program_id == found.program.id)
                                .order_by(Session.starts_at)).all()
    found.assessment = plans.record_assessment(db, ACTOR, found.avery.id,
                                               assessed_on=date(2027, 1, 2),
                                               clinician_id=found.therapist.id,
                                               recommended_level="2.1")
    db.commit()
    found.plan = db.scalar(
        select(TreatmentPlan.id).where(TreatmentPlan.client_id == found.avery.id))
    found.booking = db.scalar(select(Booking.id).where(Booking.client_id == found.avery.id))
    return found


@pytest.fixture
def coordinator(make):
    return make.user("coordinator")


def last_id(db) -> int:
    return db.scalar(select(func.max(AuditEvent.id))) or 0


def new_rows(db, since: int) -> list[AuditEvent]:
    db.expire_all()
    return db.scalars(select(AuditEvent).where(AuditEvent.id > since)
                      .order_by(AuditEvent.id)).all()


def access(rows) -> set[tuple]:
    """(actor id, action, entity type, entity id, resource, via) of each row."""
    return {(r.actor_user_id, r.action, r.entity_type, r.entity_id, (r.after or {}).get("resource"),
             (r.after or {}).get("via")) for r in rows}


def expect(user, ids, resource, action="read", via="api") -> set[tuple]:
    return {(user.id, action, "client", i, resource, via) for i in ids}


# --- API reads ---------------------------------------------------------------------------------

PERIOD = "program_id={program}&from=2027-02-01&to=2027-02-14"
# (url, the clients whose record it shows, resource); s is the setup above.
API_READS = [
    (lambda s: f"/clients/{s.avery.id}", lambda s: [s.avery], "client"),
    (lambda s: f"/clients/{s.avery.id}/plans", lambda s: [s.avery], "plans"),
    (lambda s: f"/clients/{s.avery.id}/availability", lambda s: [s.avery], "availability"),
    (lambda s: f"/clients/{s.avery.id}/assessments", lambda s: [s.avery], "assessments"),
    (lambda s: f"/clients/{s.avery.id}/free-slots?staff_id={s.therapist.id}"
     "&duration_minutes=60&from=2027-03-01T00:00:00Z&to=2027-03-02T00:00:00Z",
     lambda s: [s.avery], "free_slots"),
    (lambda s: f"/clients/{s.avery.id}/episodes", lambda s: [s.avery], "episodes"),
    (lambda s: "/clients/matches?name=avery%20%20STONE", lambda s: [s.avery], "client_matches"),
    (lambda s: f"/assessments/{s.assessment.id}", lambda s: [s.avery], "assessment"),
    (lambda s: f"/plans/{s.plan}", lambda s: [s.avery], "plan"),
    (lambda s: "/plans/due?within_days=60", lambda s: [s.avery], "plans_due"),
    (lambda s: "/clients", lambda s: [s.avery, s.blake], "client_list"),
    (lambda s: f"/sessions/{s.sessions[1]}/attendance", lambda s: [s.avery, s.blake],
     "attendance"),
    (lambda s: f"/sessions/{s.sessions[1]}/bookings", lambda s: [s.avery, s.blake],
     "session_bookings"),
    (lambda s: f"/bookings/{s.booking}", lambda s: [s.avery], "booking"),
    (lambda s: f"/sessions?client_id={s.blake.id}", lambda s: [s.blake], "schedule"),
    (lambda s: "/reports/weekly-hours?" + PERIOD.format(program=s.program.id),
     lambda s: [s.avery, s.blake], "weekly-hours"),
    (lambda s: "/reports/attendance-rates?" + PERIOD.format(program=s.program.id),
     lambda s: [s.avery, s.blake], "attendance-by-client"),
    (lambda s: "/reports/billing-days?" + PERIOD.format(program=s.program.id),
     lambda s: [s.avery], "billing-days"),
    (lambda s: f"/reports/follow-up?program_id={s.program.id}", lambda s: [s.blake],
     "follow-up"),
    (lambda s: f"/reports/below-target?program_id={s.program.id}",
     lambda s: [s.avery, s.blake], "below-target"),
]


@pytest.mark.parametrize(("url", "shown", "resource"), API_READS,
                         ids=[resource for _, _, resource in API_READS])
def test_an_api_read_logs_one_row_per_client_shown(client, db, auth, coordinator, setup,
                                                    url, shown, resource, now):
    """Who read, whose record, what part of it, when: and nothing else is logged."""
    since = last_id(db)
    response = client.get(API + url(setup), headers=auth.for_user(coordinator))
    assert response.status_code == 200, response.json
    rows = new_rows(db, since)
    assert access(rows) == expect(coordinator, [c.id for c in shown(setup)], resource)
    assert len(rows) == len(shown(setup))
    assert all((r.occurred_at, r.actor, r.before, r.reason) == (now, coordinator.email, None, None)
               for r in rows)


def test_the_log_says_what_was_read_never_what_it_said(client, db, auth, setup):
    """No name, goal or note of the client reaches the log row."""
    headers = auth("clinician")
    since = last_id(db)
    client.get(f"{API}/clients/{setup.avery.id}/plans", headers=headers)
    [row] = new_rows(db, since)
    assert row.after == {"resource": "plans", "via": "api"}
    assert "Avery" not in str(row.after) and "sober" not in str(row.after)


def test_a_csv_download_is_logged_as_an_export(client, db, auth, coordinator, setup):
    since = last_id(db)
    response = client.get(f"{API}/reports/weekly-hours?format=csv&"
                          + PERIOD.format(program=setup.program.id),
                          headers=auth.for_user(coordinator))
    assert response.mimetype == "text/csv"
    assert access(new_rows(db, since)) == expect(
        coordinator, [setup.avery.id, setup.blake.id], "weekly-hours", action="export")


def test_a_list_that_names_no_client_logs_nothing(client, db, auth, setup):
    """Head counts (the census, the session list) show no one's record."""
    headers = auth("coordinator")
    since = last_id(db)
    assert client.get(f"{API}/reports/census?" + PERIOD.format(program=setup.program.id),
                      headers=headers).status_code == 200
    assert client.get(f"{API}/sessions", headers=headers).status_code == 200
    assert new_rows(db, since) == []


def test_a_client_reading_their_own_record_is_logged(client, db, auth, make, setup):
    """The client is the actor and the subject; honest, and cheap."""
    user = make.user("client", client_id=setup.avery.id)
    headers = auth.for_user(user)
    since = last_id(db)
    assert client.get(f"{API}/clients/{setup.avery.id}", headers=headers).status_code == 200
    assert client.get(f"{API}/sessions", headers=headers).status_code == 200
    assert access(new_rows(db, since)) == (expect(user, [setup.avery.id], "client")
                                           | expect(user, [setup.avery.id], "schedule"))


def test_a_client_reaching_for_another_record_is_refused_and_logged(client, db, auth, make,
                                                                      setup):
    """The 403 leaves a 'denied' row naming whose record was asked for."""
    user = make.user("client", client_id=setup.avery.id)
    since = last_id(db)
    response = client.get(f"{API}/clients/{setup.blake.id}/plans", headers=auth.for_user(user))
    assert response.status_code == 403
    assert access(new_rows(db, since)) == expect(user, [setup.blake.id], "plans", "denied")


def test_a_probe_for_an_impossible_id_is_a_404_without_a_row(client, db, auth, make, setup):
    """An id past the column's range names no one: no route takes it, and no row would fit it.

    (It used to be a 403 from the view; since ids past the range match no route, the 404
    says nothing about anyone, as the OpenAPI document states that range.)
    """
    user = make.user("client", client_id=setup.avery.id)
    since = last_id(db)
    response = client.get(f"{API}/clients/{2**63}", headers=auth.for_user(user))
    assert response.status_code == 404
    assert new_rows(db, since) == []


def test_an_anonymous_read_is_refused_without_a_row(client, db, setup):
    since = last_id(db)
    assert client.get(f"{API}/clients/{setup.avery.id}").status_code == 401
    assert new_rows(db, since) == []


def test_feed_polls_are_not_logged(client, db, setup, now):
    """The owner's own calendar app polls every few minutes; logging each would bury the log."""
    token = tokens.issue(db, ACTOR, "client", setup.avery.id, now)
    db.commit()
    since = last_id(db)
    for _ in range(3):
        assert client.get(f"/feeds/{token}.ics").status_code == 200
    assert new_rows(db, since) == []


@pytest.fixture
def access_log_down(db):
    """The audit table out of reach, for real: renamed away, and put back afterwards."""
    db.commit()
    db.execute(text("ALTER TABLE audit_events RENAME TO audit_events_away"))
    db.commit()
    yield
    db.rollback()
    db.execute(text("ALTER TABLE audit_events_away RENAME TO audit_events"))
    db.commit()


@pytest.fixture
def signed_in(client, coordinator):
    """The coordinator's page sign-in, made (and audited) while the audit table is there."""
    sign_in(client, coordinator)


def test_a_read_that_cannot_be_logged_is_not_served(client, auth, coordinator, setup, signed_in,
                                                    access_log_down):
    """Fail closed: 503 with no record in the body, through the API and on the page."""
    response = client.get(f"{API}/clients/{setup.avery.id}", headers=auth.for_user(coordinator))
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0, "the caller learns when to try again"
    assert "access log" in response.json["message"]
    assert "Avery" not in response.get_data(as_text=True)
    page = client.get(f"/clients/{setup.avery.id}")
    assert page.status_code == 503
    assert int(page.headers["Retry-After"]) > 0
    assert "Avery" not in page.get_data(as_text=True)
    assert "access log" in page.get_data(as_text=True)


# --- pages -------------------------------------------------------------------------------------

PAGE_READS = [
    (lambda s: f"/clients/{s.avery.id}", lambda s: [s.avery], "client"),
    (lambda s: "/clients", lambda s: [s.avery, s.blake], "client_list"),
    (lambda s: f"/follow-up?program={s.program.id}", lambda s: [s.avery, s.blake], "follow_up"),
    (lambda s: f"/reports?program={s.program.id}&from=2027-02-01&to=2027-02-14",
     lambda s: [s.avery, s.blake], "reports"),
    (lambda s: f"/sessions/{s.sessions[1]}", lambda s: [s.avery, s.blake], "session_roster"),
    (lambda s: f"/sessions/{s.sessions[1]}/roster", lambda s: [s.avery, s.blake], "roster"),
    (lambda s: f"/clients/{s.avery.id}/find-a-time?staff_id={s.therapist.id}&week=2027-03-01",
     lambda s: [s.avery], "free_slots"),
]


@pytest.mark.parametrize(("url", "shown", "resource"), PAGE_READS,
                         ids=[resource for _, _, resource in PAGE_READS])
def test_a_page_view_logs_one_row_per_client_shown(client, db, coordinator, setup, url, shown,
                                                   resource):
    sign_in(client, coordinator)
    since = last_id(db)
    assert client.get(url(setup)).status_code == 200
    assert access(new_rows(db, since)) == expect(coordinator, [c.id for c in shown(setup)],
                                                 resource, via="page")


def test_a_client_opening_their_portal_is_logged(client, db, make, setup):
    user = make.user("client", client_id=setup.avery.id)
    sign_in(client, user)
    since = last_id(db)
    assert client.get("/me").status_code == 200
    assert access(new_rows(db, since)) == expect(user, [setup.avery.id], "portal", via="page")


def test_a_client_opening_a_staff_page_of_a_record_is_refused_and_logged(client, db, make,
                                                                         setup):
    user = make.user("client", client_id=setup.avery.id)
    sign_in(client, user)
    since = last_id(db)
    assert client.get(f"/clients/{setup.blake.id}").status_code == 403
    assert access(new_rows(db, since)) == expect(user, [setup.blake.id], "client_pages.detail",
                                                 "denied", via="page")


def test_a_refused_form_post_logs_no_read(client, db, make, setup):
    """Only GETs log: a write request holds the database lock the log row would wait for."""
    user = make.user("clinician")
    sign_in(client, user)
    since = last_id(db)
    assert client.post(f"/clients/{setup.avery.id}/feed").status_code in (400, 403)
    assert new_rows(db, since) == []


# --- searching the log: GET /api/v1/audit-events ------------------------------------------------

T0 = datetime(2027, 2, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def history(db, make, setup):
    """Reads on three days by two users, and a write, all at known instants."""
    alice, bob = make.user("clinician"), make.user("coordinator")
    actors = {u.id: Actor(u.id, u.email) for u in (alice, bob)}
    plan = [(T0, alice, [setup.avery.id], "plans", "read"),
            (T0 + timedelta(days=1), bob, [setup.avery.id, setup.blake.id], "clients", "read"),
            (T0 + timedelta(days=2), bob, [setup.blake.id], "weekly-hours", "export"),
            (T0 + timedelta(days=2, hours=1), alice, [setup.blake.id], "plans", "denied")]
    for at, user, ids, resource, action in plan:
        with clock.frozen(at):
            access_log.record_access(db, actors[user.id], ids, resource, action=action)
    return {"alice": alice, "bob": bob}


@pytest.fixture
def admin_headers(auth):
    return auth("admin")


def search(http, headers, **query):
    return http.get(f"{API}/audit-events", query_string=query, headers=headers)


def keys(body) -> list[tuple]:
    return [(e["action"], e["entity_type"], e["entity_id"], e["occurred_at"])
            for e in body["items"]]


def test_the_search_filters_by_client_newest_first(client, admin_headers, setup, history):
    body = search(client, admin_headers, client_id=setup.blake.id, action="read").json
    assert [(e["action"], e["entity_id"], e["after"]) for e in body["items"]] == [
        ("read", setup.blake.id, {"resource": "clients", "via": "api"})]
    every = search(client, admin_headers, client_id=setup.blake.id,
                   **{"from": "2027-02-10", "to": "2027-02-12"}).json
    assert [e["action"] for e in every["items"]] == ["denied", "export", "read"]
    assert every["total"] == 3


def test_the_search_filters_by_user_and_action(client, admin_headers, history, setup):
    alice = history["alice"]
    body = search(client, admin_headers, actor_user_id=alice.id, entity_type="client").json
    assert {(e["actor"], e["action"]) for e in body["items"]} == {
        (alice.email, "read"), (alice.email, "denied")}
    exports = search(client, admin_headers, action="export").json
    assert [(e["entity_id"], e["after"]["resource"]) for e in exports["items"]] == [
        (setup.blake.id, "weekly-hours")]


def test_a_date_means_the_whole_utc_day_and_a_datetime_the_instant(client, admin_headers,
                                                                   setup, history):
    day = search(client, admin_headers, action="read",
                 **{"from": "2027-02-11", "to": "2027-02-11"}).json
    assert {e["occurred_at"] for e in day["items"]} == {"2027-02-11T09:00:00+00:00"}
    assert day["total"] == 2
    before = search(client, admin_headers, client_id=setup.avery.id,
                    to="2027-02-11T08:59:59Z").json
    assert [e["occurred_at"] for e in before["items"]] == ["2027-02-10T09:00:00+00:00"]
    offset = search(client, admin_headers, client_id=setup.blake.id,
                    **{"from": "2027-02-12T04:30:00-05:00", "to": "2027-02-13"}).json
    assert [e["occurred_at"] for e in offset["items"]] == ["2027-02-12T10:00:00+00:00"]


def test_the_search_pages_through_the_log(client, admin_headers, history):
    """Two per page over five rows: three pages, none repeated, none missing, newest first."""
    seen = []
    for page in (1, 2, 3):
        # Up to the 13th: the clients' own creation (on the 16th) is not in the period.
        body = search(client, admin_headers, entity_type="client", to="2027-02-13", page=page,
                      per_page=2).json
        assert (body["total"], body["page"], body["per_page"]) == (5, page, 2)
        seen += keys(body)
    assert len(seen) == len(set(seen)) == 5
    assert [k[3] for k in seen] == sorted((k[3] for k in seen), reverse=True)


def test_a_search_is_itself_logged(client, db, make, auth, setup, history):
    """Reading the log is an access to the log: who searched, for what."""
    admin = make.user("admin")
    since = last_id(db)
    search(client, auth.for_user(admin), client_id=setup.avery.id, **{"from": "2027-02-10"})
    [row] = new_rows(db, since)
    assert (row.actor_user_id, row.action, row.entity_type, row.entity_id) == (
        admin.id, "read", "audit_log", None)
    assert row.after == {"resource": "audit_events", "via": "api", "filters": {
        "client_id": setup.avery.id, "from": "2027-02-10T00:00:00+00:00", "page": 1,
        "per_page": 50}}


@pytest.mark.parametrize("role", ["coordinator", "clinician", "client"])
def test_only_admins_may_search(client, db, auth, role):
    headers = auth(role)
    since = last_id(db)
    assert search(client, headers).status_code == 403
    assert search(client, {}).status_code == 401
    assert new_rows(db, since) == []


@pytest.mark.parametrize(("query", "field"), [
    ({"from": "yesterday"}, "from"),
    ({"to": "2027-02-30"}, "to"),
    ({"from": "1999-12-31"}, "from"),
    ({"from": "2027-02-12", "to": "2027-02-11"}, "to"),
    ({"from": "2027-02-12T10:00:00Z", "to": "2027-02-12T09:00:00Z"}, "to"),
    ({"client": "3"}, "client"),
    ({"client_id": "abc"}, "client_id"),
    ({"client_id": "0"}, "client_id"),
    ({"client_id": "3", "entity_type": "booking"}, "client_id"),
    ({"actor_user_id": str(2**40)}, "actor_user_id"),
    ({"per_page": "501"}, "per_page"),
])
def test_a_bad_search_is_refused_naming_the_field(client, db, admin_headers, query, field):
    since = last_id(db)
    response = search(client, admin_headers, **query)
    assert response.status_code == 422, response.json
    assert field in response.json["errors"]["query"]
    assert new_rows(db, since) == []


# --- the /audit page ---------------------------------------------------------------------------


def rows_of(page: str) -> list[str]:
    if 'id="events"' not in page:
        return []
    body = page.split('id="events"', 1)[1].split("</tbody>", 1)[0]
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()
            for row in re.findall(r"<tr>(.*?)</tr>", body.split("<tbody>", 1)[1], re.S)]


def test_the_audit_page_filters_by_client_user_and_dates(client, db, make, setup, history):
    admin = make.user("admin")
    sign_in(client, admin)
    answer = client.get(f"/audit?client={setup.blake.id}&user={history['bob'].id}"
                        "&from=2027-02-11&to=2027-02-12")
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    # Names and the clinic's local time (09:00 UTC is 04:00 in New York), not "client 2".
    assert rows_of(page) == [
        f"Fri 12 Feb 2027 04:00:00 {history['bob'].email} Exported Blake Ortiz "
        "Weekly hours (API)",
        f"Thu 11 Feb 2027 04:00:00 {history['bob'].email} Read Blake Ortiz Clients (API)"]
    assert "times in the clinic's time zone, America/New_York" in page
    assert '<label for="client">' in page and 'name="csrf_token"' in page
    assert 'href="/audit"' in page  # the admin's navigation links the page
    [logged] = db.scalars(select(AuditEvent).where(AuditEvent.entity_type == "audit_log")).all()
    assert (logged.actor_user_id, logged.after["via"]) == (admin.id, "page")


def test_the_audit_page_pages_through_results(client, make, setup, now):
    actor = Actor(None, "system")
    for _ in range(55):
        access_log.record_access(make.db, actor, [setup.avery.id], "plans")
    sign_in(client, make.user("admin"))
    first = client.get(f"/audit?client={setup.avery.id}&action=read").get_data(as_text=True)
    assert len(rows_of(first)) == 50 and "page 1 of 2" in first
    assert 'rel="next"' in first and 'rel="prev"' not in first
    second = client.get(f"/audit?client={setup.avery.id}&action=read&page=2").get_data(
        as_text=True)
    # The first page named Avery, and that look is logged too: one more row to page through.
    assert len(rows_of(second)) == 6 and 'rel="prev"' in second


@pytest.mark.parametrize(("query", "status", "message"), [
    ("from=2027-02-12&to=2027-02-11", 422, "To: must not be before From."),
    # Malformed values are a bad address (400); one naming no row is not found (404).
    ("from=12/02/2027", 400, "From: must be a date"),
    ("client=abc", 400, "Client id: must be a whole number"),
    ("page=0", 400, "Page: must be a whole number"),
    ("user=999999", 404, "User: there is no such user."),
])
def test_the_audit_page_names_a_bad_filter(client, make, query, status, message):
    sign_in(client, make.user("admin"))
    answer = client.get(f"/audit?{query}")
    assert answer.status_code == status
    assert message in answer.get_data(as_text=True)


@pytest.mark.parametrize("role", ["coordinator", "clinician", "client"])
def test_the_audit_page_is_for_admins_only(client, make, role):
    sign_in(client, make.user(role))
    answer = client.get("/audit")
    assert answer.status_code == 403
    assert 'href="/audit"' not in answer.get_data(as_text=True)


def test_an_anonymous_visitor_is_sent_to_sign_in(client):
    answer = client.get("/audit")
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]


def test_the_enrolment_list_and_the_alerts_log_the_clients_they_name(client, db, auth, make,
                                                                      coordinator, setup, now):
    series = make.series(setup.program, end_date=date(2027, 3, 31))
    booking.enroll_client(db, ACTOR, series.id, setup.blake.id, now=now)
    alerts.raise_alerts(db, now)
    db.commit()
    headers = auth.for_user(coordinator)
    since = last_id(db)
    assert client.get(f"{API}/series/{series.id}/enrollments", headers=headers).status_code == 200
    raised = client.get(f"{API}/alerts", headers=headers).json["items"]
    assert raised, "the fixture's absence run raises an alert"
    assert access(new_rows(db, since)) == (
        expect(coordinator, [setup.blake.id], "enrollments")
        | expect(coordinator, {a["client_id"] for a in raised}, "alerts"))


# Every GET under /api/v1 is here or in the logged cases: a new one fails until it is placed.
LOGGED_READS = {
    "/api/v1/clients", "/api/v1/clients/<int:client_id>",
    "/api/v1/clients/<int:client_id>/availability", "/api/v1/clients/<int:client_id>/plans",
    "/api/v1/clients/<int:client_id>/assessments", "/api/v1/assessments/<int:assessment_id>",
    "/api/v1/clients/<int:client_id>/free-slots",
    "/api/v1/clients/<int:client_id>/episodes", "/api/v1/clients/matches",
    "/api/v1/plans/<int:plan_id>", "/api/v1/plans/due", "/api/v1/bookings/<int:booking_id>",
    "/api/v1/sessions/<int:session_id>/bookings", "/api/v1/sessions/<int:session_id>/attendance",
    "/api/v1/series/<int:series_id>/enrollments", "/api/v1/alerts",
    # Logged when it is one client's schedule (?client_id=, or a client's own list).
    "/api/v1/sessions",
    "/api/v1/reports/weekly-hours", "/api/v1/reports/attendance-rates",
    "/api/v1/reports/billing-days", "/api/v1/reports/follow-up",
    "/api/v1/reports/below-target",
    # Logged as a read of the log itself (entity_type audit_log).
    "/api/v1/audit-events",
    # Logins: each client login listed is a look at that client (whose login it is).
    "/api/v1/users",
    # A proposal shows the client's schedule, hours and plan shortfalls (tests/test_proposals.py
    # checks proposing logs it too).
    "/api/v1/schedule-proposals/<int:proposal_id>",
    # A client's consents and accounting of disclosures (issue 20).
    "/api/v1/clients/<int:client_id>/consents",
    "/api/v1/clients/<int:client_id>/consents/<int:consent_id>",
    "/api/v1/clients/<int:client_id>/disclosures",
    # Each delivery names the client it was about (tests/test_webhooks.py).
    "/api/v1/webhooks/<int:webhook_id>/deliveries",
}
# Reads that show no client's record: places, people on staff, head counts, the caller's own
# account, the job history, and the API's own description.
NO_CLIENT_RECORD = {
    "/api/v1/programs", "/api/v1/programs/<int:program_id>", "/api/v1/rooms",
    "/api/v1/programs/<int:program_id>/closures",
    "/api/v1/rooms/<int:room_id>", "/api/v1/sites", "/api/v1/sites/<int:site_id>",
    "/api/v1/staff", "/api/v1/staff/<int:staff_id>",
    "/api/v1/staff/<int:staff_id>/time-off", "/api/v1/staff/<int:staff_id>/working-hours",
    "/api/v1/series", "/api/v1/series/<int:series_id>",
    "/api/v1/sessions/<int:session_id>", "/api/v1/sessions/<int:session_id>/checkin-code",
    "/api/v1/reports/census", "/api/v1/auth/me", "/api/v1/auth/sessions", "/api/v1/jobs/runs",
    "/api/v1/openapi.json", "/api/v1/docs",
    # Outside systems and their API clients (issue 20): no client's record.
    "/api/v1/recipients", "/api/v1/recipients/<int:recipient_id>",
    "/api/v1/recipients/<int:recipient_id>/api-clients",
    # A recipient's endpoints: a URL and event names, no client.
    "/api/v1/webhooks", "/api/v1/webhooks/<int:webhook_id>",
}


def test_every_api_read_is_placed_as_logged_or_showing_no_client(app):
    reads = {rule.rule for rule in app.url_map.iter_rules()
             if rule.rule.startswith(API + "/") and "GET" in rule.methods}
    assert reads == LOGGED_READS | NO_CLIENT_RECORD
