"""Every API write leaves an AuditEvent: who, when, what it was and what it became."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from scheduler import clock
from scheduler.models import AuditEvent, Session
from scheduler.services import availability, booking, plans, sessions
from tests.helpers import ACTOR

API = "/api/v1"
# Issuing a bearer token writes a token row but changes no clinic record.
NOT_AUDITED = {("POST", "/api/v1/auth/token")}
# Writes only a client may make, audited in their own tests below (the CASES writer is staff).
CLIENT_WRITES = {("POST", "/api/v1/checkin")}


@pytest.fixture
def writer(make):
    return make.user("coordinator")


@pytest.fixture
def headers(auth, writer):
    return auth.for_user(writer)


@pytest.fixture
def rows(make, db, now):
    """Existing records for the update cases, made before the writer acts."""
    program = make.program(name="Evening IOP")
    room = make.room(name="Room A", capacity=12)
    other_room = make.room(name="Room B", capacity=12)
    staff = make.staff(name="Dana Reyes")
    series = make.series(program, title="Relapse prevention", room_id=room.id,
                         facilitator_ids=[staff.id], end_date=date(2027, 4, 30))
    session = db.scalars(
        select(Session).where(Session.series_id == series.id).order_by(Session.starts_at)
    ).first()
    # Another client's booking to cancel, and time off to withdraw, made before the writer acts.
    booked, _ = booking.book_client(db, ACTOR, session.id, make.client(program).id,
                                    now=clock.now())
    time_off = availability.add_time_off(db, ACTOR, staff.id, utc(2027, 6, 6), utc(2027, 6, 7),
                                         "Training")
    # A group meeting now (11:00–13:00 UTC) with a booked client, for the attendance roster.
    with clock.frozen(now - timedelta(days=1)):
        meeting = sessions.create_one_off(db, ACTOR, now=clock.now(), program_id=program.id,
                                          kind="group", starts_at=now - timedelta(hours=1),
                                          ends_at=now + timedelta(hours=1), capacity=8)
        attendee = make.client(program, name="Pat Attendee")
        booking.book_client(db, ACTOR, meeting.id, attendee.id, now=clock.now())
    # A client with a treatment plan, for the revision and Medicare-date cases.
    planned = make.client(program, name="Lee Planned")
    plan = plans.create_plan(db, ACTOR, planned.id, start_date=date(2027, 2, 1),
                             goals=["30 days sober"])
    db.commit()
    return {"plan": plan.id, "open_session": meeting.id, "attendee": attendee.id,
            "program": program.id, "room": room.id, "other_room": other_room.id,
            "staff": staff.id, "client": make.client(program, name="Sam Client").id,
            "series": series.id, "session": session.id, "booking": booked.id,
            "time_off": time_off.id}


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# (method, rule, entity_type, action, body(rows), expected before, expected after).
# For updates, before/after are exactly the changed fields; for creates, after is a subset.
CASES = [
    ("POST", "/api/v1/programs", "program", "create",
     lambda r: {"name": "Day IOP", "level_of_care": "2.5", "timezone": "America/Chicago"},
     None,
     lambda r: {"name": "Day IOP", "level_of_care": "2.5", "population": "adult",
                "timezone": "America/Chicago", "min_weekly_hours_override": None}),
    ("PATCH", "/api/v1/programs/<int:program_id>", "program", "update",
     lambda r: {"name": "Late IOP", "level_of_care": "2.1", "min_weekly_hours": 12},
     lambda r: {"name": "Evening IOP", "min_weekly_hours_override": None},
     lambda r: {"name": "Late IOP", "min_weekly_hours_override": "12.00"}),
    ("POST", "/api/v1/rooms", "room", "create",
     lambda r: {"name": "Room C", "capacity": 8},
     None,
     lambda r: {"name": "Room C", "capacity": 8, "is_active": True}),
    ("PATCH", "/api/v1/rooms/<int:room_id>", "room", "update",
     lambda r: {"name": "Room A", "capacity": 14},
     lambda r: {"capacity": 12},
     lambda r: {"capacity": 14}),
    ("POST", "/api/v1/staff", "staff", "create",
     lambda r: {"name": "Lee Park", "role": "medical", "email": "lee@clinic.test"},
     None,
     lambda r: {"name": "Lee Park", "role": "medical", "email": "lee@clinic.test"}),
    ("PATCH", "/api/v1/staff/<int:staff_id>", "staff", "update",
     lambda r: {"role": "therapist", "credentials": "LCSW"},
     lambda r: {"credentials": None},
     lambda r: {"credentials": "LCSW"}),
    ("POST", "/api/v1/clients", "client", "create",
     lambda r: {"name": "Alex Client", "program_id": r["program"], "admitted_on": "2027-02-01"},
     None,
     lambda r: {"name": "Alex Client", "program_id": r["program"], "admitted_on": "2027-02-01",
                "status": "active"}),
    ("PATCH", "/api/v1/clients/<int:client_id>", "client", "update",
     lambda r: {"name": "Sam Client", "preferred_name": "Sammy"},
     lambda r: {"preferred_name": None},
     lambda r: {"preferred_name": "Sammy"}),
    ("POST", "/api/v1/series", "series", "create",
     lambda r: {"program_id": r["program"], "kind": "education", "title": "Life skills",
                "start_date": "2027-03-02", "start_time": "10:00", "duration_minutes": 60,
                "rrule": "FREQ=WEEKLY;BYDAY=TU", "room_id": r["other_room"],
                "facilitator_ids": [r["staff"]]},
     None,
     lambda r: {"title": "Life skills", "kind": "education", "start_date": "2027-03-02",
                "start_time": "10:00:00", "rrule": "FREQ=WEEKLY;BYDAY=TU",
                "room_id": r["other_room"], "facilitator_ids": [r["staff"]],
                "timezone": "America/New_York"}),
    ("PATCH", "/api/v1/series/<int:series_id>", "series", "update",
     lambda r: {"title": "Relapse prevention II", "duration_minutes": 180},
     lambda r: {"title": "Relapse prevention"},
     lambda r: {"title": "Relapse prevention II"}),
    ("POST", "/api/v1/series/<int:series_id>/end", "series", "end",
     lambda r: {"end_date": "2027-03-15", "reason": "Facilitator leaving"},
     lambda r: {"end_date": "2027-04-30", "status": "active"},
     lambda r: {"end_date": "2027-03-15", "status": "ended"}),
    ("PATCH", "/api/v1/sessions/<int:session_id>", "session", "override",
     lambda r: {"room_id": r["other_room"]},
     lambda r: {"room_id": r["room"], "is_overridden": False, "sequence": 0},
     lambda r: {"room_id": r["other_room"], "is_overridden": True, "sequence": 1}),
    ("POST", "/api/v1/sessions", "session", "create",
     lambda r: {"program_id": r["program"], "kind": "individual",
                "starts_at": "2027-03-02T10:00:00-05:00", "ends_at": "2027-03-02T11:00:00-05:00",
                "room_id": r["other_room"], "facilitator_ids": [r["staff"]]},
     None,
     lambda r: {"starts_at": "2027-03-02T15:00:00+00:00", "ends_at": "2027-03-02T16:00:00+00:00",
                "room_id": r["other_room"], "status": "scheduled",
                "facilitator_ids": [r["staff"]]}),
    ("POST", "/api/v1/sessions/<int:session_id>/bookings", "booking", "book",
     lambda r: {"client_id": r["client"]},
     None,
     lambda r: {"session_id": r["session"], "client_id": r["client"], "status": "booked",
                "enrollment_id": None}),
    ("DELETE", "/api/v1/bookings/<int:booking_id>", "booking", "cancel",
     lambda r: {},
     lambda r: {"status": "booked"},
     lambda r: {"status": "cancelled"}),
    ("POST", "/api/v1/series/<int:series_id>/enrollments", "enrollment", "enroll",
     lambda r: {"client_id": r["client"], "start_date": "2027-03-01", "end_date": "2027-03-08"},
     None,
     lambda r: {"client_id": r["client"], "series_id": r["series"], "start_date": "2027-03-01",
                "end_date": "2027-03-08", "booked": 4, "waitlisted": 0}),
    ("POST", "/api/v1/clients/<int:client_id>/discharge", "client", "discharge",
     lambda r: {"date": "2027-03-10", "reason": "Completed program"},
     lambda r: {"status": "active", "discharged_on": None},
     lambda r: {"status": "discharged", "discharged_on": "2027-03-10"}),
    ("PUT", "/api/v1/clients/<int:client_id>/availability", "client", "set_availability",
     lambda r: {"unavailable": [{"weekday": 0, "start": "09:00", "end": "17:00", "label": "Work"}]},
     lambda r: {"unavailable": []},
     lambda r: {"unavailable": [{"weekday": 0, "start": "09:00", "end": "17:00",
                                 "label": "Work"}]}),
    ("POST", "/api/v1/staff/<int:staff_id>/time-off", "staff_time_off", "create",
     lambda r: {"starts_at": "2027-07-01T00:00:00-04:00", "ends_at": "2027-07-03T00:00:00-04:00",
                "reason": "Vacation"},
     None,
     lambda r: {"staff_id": r["staff"], "starts_at": "2027-07-01T04:00:00+00:00",
                "ends_at": "2027-07-03T04:00:00+00:00", "reason": "Vacation"}),
    ("PUT", "/api/v1/staff/<int:staff_id>/working-hours", "staff", "set_working_hours",
     lambda r: {"windows": [{"weekday": 0, "start": "09:00", "end": "17:00"}]},
     lambda r: {"working_hours": []},
     lambda r: {"working_hours": [{"weekday": 0, "start": "09:00", "end": "17:00"}]}),
    ("DELETE", "/api/v1/staff/<int:staff_id>/time-off/<int:time_off_id>", "staff_time_off",
     "delete",
     lambda r: {},
     lambda r: {"staff_id": r["staff"], "starts_at": "2027-06-06T00:00:00+00:00",
                "ends_at": "2027-06-07T00:00:00+00:00", "reason": "Training"},
     lambda r: None),
    ("PUT", "/api/v1/sessions/<int:session_id>/attendance", "attendance", "attendance",
     lambda r: {"records": [{"client_id": r["attendee"], "status": "late",
                             "reason_code": "transport",
                             "arrived_at": "2027-02-16T11:30:00+00:00", "note": "Bus"}]},
     None,
     lambda r: {"status": "late", "reason_code": "transport",
                "arrived_at": "2027-02-16T11:30:00+00:00", "left_at": None,
                "minutes_attended": 90, "method": "roster", "note": "Bus"}),
    ("POST", "/api/v1/clients/<int:client_id>/assessments", "assessment", "create",
     lambda r: {"assessed_on": "2027-02-15", "clinician_id": r["staff"],
                "recommended_level": "2.1", "summary": "Fits IOP"},
     None,
     lambda r: {"client_id": r["client"], "assessed_on": "2027-02-15",
                "clinician_id": r["staff"], "kind": "intake", "recommended_level": "2.1",
                "summary": "Fits IOP"}),
    ("POST", "/api/v1/clients/<int:client_id>/plans", "treatment_plan", "create",
     lambda r: {"start_date": "2027-03-01", "goals": ["Sober"]},
     None,
     lambda r: {"client_id": r["client"], "version": 1, "status": "active",
                "start_date": "2027-03-01", "goals": ["Sober"], "weekly_hours_target": "9.00"}),
    ("POST", "/api/v1/plans/<int:plan_id>/revisions", "treatment_plan", "revise",
     lambda r: {"goals": ["60 days sober"]},
     lambda r: {"version": 1, "goals": ["30 days sober"]},
     lambda r: {"version": 2, "goals": ["60 days sober"]}),
    ("POST", "/api/v1/plans/<int:plan_id>/certification", "treatment_plan", "certify",
     lambda r: {"certified_on": "2027-02-10"},
     lambda r: {"certified_on": None, "certification_due": None},
     lambda r: {"certified_on": "2027-02-10", "certification_due": "2027-04-11"}),
    ("POST", "/api/v1/plans/<int:plan_id>/review", "treatment_plan", "review",
     lambda r: {"reviewed_on": "2027-02-12"},
     lambda r: {"reviewed_on": None, "review_due": None},
     lambda r: {"reviewed_on": "2027-02-12", "review_due": "2027-04-13"}),
]

CASES.append(
    ("PUT", "/api/v1/clients/<int:client_id>/kiosk-pin", "client", "set_kiosk_pin",
     lambda r: {"pin": "4821"}, lambda r: {"kiosk_pin": None}, lambda r: {"kiosk_pin": "set"}))
CASES.append(
    ("PUT", "/api/v1/clients/<int:client_id>/notification-preferences", "client",
     "set_preferences", lambda r: {"remind_two_hours": True, "notifications_opt_out": False},
     lambda r: {"remind_two_hours": False}, lambda r: {"remind_two_hours": True}))
# Issuing a feed link is filed under the feed's owner, with the token's id.
FEED_OWNERS = (("client", "client_id"), ("staff", "staff_id"), ("room", "room_id"),
               ("program", "program_id"))
for _kind, _arg in FEED_OWNERS:
    CASES.append(
        ("POST", f"/api/v1/{'staff' if _kind == 'staff' else _kind + 's'}/<int:{_arg}>/feed",
         f"{_kind}_feed", "issue", lambda r: {}, None, lambda r: {"replaces_token_ids": []}))
# Audited, and checked in tests/test_kiosk.py, which sets up a PIN and an open session, and
# tests/test_feeds.py, which revokes a link it made.
AUDITED_IN_OWN_TESTS = {("POST", "/api/v1/kiosk/checkin"),
                        # tests/test_closures.py closes a program with sessions booked, then
                        # lifts the closure.
                        ("POST", "/api/v1/programs/<int:program_id>/closures"),
                        ("DELETE", "/api/v1/programs/<int:program_id>/closures/<int:closure_id>"),
                        # tests/test_intake_episodes.py discharges the client first.
                        ("POST", "/api/v1/clients/<int:client_id>/episodes"),
                        # tests/test_caseload.py: a clinician outside the caseload breaks
                        # the glass (clinicians only); the event, the alert and the email.
                        ("POST", "/api/v1/clients/<int:client_id>/break-glass"),
                        # tests/test_consents_api.py: a consent needs a recipient; who,
                        # when, before and after of recording and revoking one.
                        ("POST", "/api/v1/clients/<int:client_id>/consents"),
                        ("DELETE", "/api/v1/clients/<int:client_id>/consents/<int:consent_id>"),
                        # tests/test_jobs.py raises an alert first.
                        ("POST", "/api/v1/alerts/<int:alert_id>/acknowledge"),
                        # tests/test_security.py locks an account first; admins only.
                        ("POST", "/api/v1/users/<int:user_id>/unlock"),
                        # tests/test_login_sessions.py signs in first, then ends the sign-in.
                        ("DELETE", "/api/v1/auth/token"),
                        ("DELETE", "/api/v1/auth/sessions/<int:login_session_id>"),
                        ("DELETE", "/api/v1/auth/tokens/<int:token_id>"),
                        # tests/test_users_admin.py: a login needs a second admin to change.
                        ("PATCH", "/api/v1/users/<int:user_id>"),
                        # tests/test_webhooks.py: an endpoint needs a recipient, and a
                        # delivery a consented client, first; admins only.
                        ("POST", "/api/v1/webhooks"),
                        ("PATCH", "/api/v1/webhooks/<int:webhook_id>"),
                        ("DELETE", "/api/v1/webhooks/<int:webhook_id>"),
                        ("POST", "/api/v1/webhooks/<int:webhook_id>/rotate-secret"),
                        ("POST", "/api/v1/webhooks/<int:webhook_id>/deliveries/"
                                 "<int:delivery_id>/retry"),
                        # tests/test_mfa.py: two-step sign-in needs codes from its secret.
                        ("POST", "/api/v1/auth/mfa"), ("POST", "/api/v1/auth/mfa/confirm"),
                        ("DELETE", "/api/v1/auth/mfa"),
                        ("DELETE", "/api/v1/users/<int:user_id>/mfa"),
                        # tests/test_invitations.py and tests/test_password_reset.py read
                        # the emailed link first.
                        ("POST", "/api/v1/users/invitations"),
                        ("POST", "/api/v1/auth/invitations/accept"),
                        ("POST", "/api/v1/auth/password-reset"),
                        ("POST", "/api/v1/auth/password-reset/confirm"),
                        ("POST", "/api/v1/auth/password"),
                        # tests/test_proposals.py: accepting needs a proposal the planner
                        # made; proposing writes only the proposal (a read of the client,
                        # logged in the access log), accepting is audited once with it.
                        ("POST", "/api/v1/clients/<int:client_id>/schedule-proposals"),
                        ("POST", "/api/v1/programs/<int:program_id>/schedule-proposals"),
                        ("POST", "/api/v1/clients/<int:client_id>/make-up-proposals"),
                        ("POST", "/api/v1/schedule-proposals/<int:proposal_id>/accept"),
                        # tests/test_sites.py: sites and a login's sites are admins' writes.
                        ("POST", "/api/v1/sites"), ("PATCH", "/api/v1/sites/<int:site_id>"),
                        ("PUT", "/api/v1/users/<int:user_id>/sites"),
                        # tests/test_recipients_api.py: recipients and their FHIR API clients
                        # (made and revoked) are admins' writes, audited without secrets.
                        ("POST", "/api/v1/recipients"),
                        ("PATCH", "/api/v1/recipients/<int:recipient_id>"),
                        ("POST", "/api/v1/recipients/<int:recipient_id>/api-clients"),
                        ("DELETE",
                         "/api/v1/recipients/<int:recipient_id>/api-clients/<int:api_client_id>"),
                        } | {
    ("DELETE", f"/api/v1/{'staff' if kind == 'staff' else kind + 's'}/<int:{arg}>/feed")
    for kind, arg in FEED_OWNERS}

# Writes whose answer carries no id of the audited record: where to find it instead.
ENTITY_IDS = {
    "/api/v1/clients/<int:client_id>/kiosk-pin": lambda r: r["client"],
    "/api/v1/clients/<int:client_id>/availability": lambda r: r["client"],
    "/api/v1/staff/<int:staff_id>/time-off/<int:time_off_id>": lambda r: r["time_off"],
    "/api/v1/staff/<int:staff_id>/working-hours": lambda r: r["staff"],
    "/api/v1/clients/<int:client_id>/feed": lambda r: r["client"],
    "/api/v1/staff/<int:staff_id>/feed": lambda r: r["staff"],
    "/api/v1/rooms/<int:room_id>/feed": lambda r: r["room"],
    "/api/v1/programs/<int:program_id>/feed": lambda r: r["program"],
    "/api/v1/clients/<int:client_id>/notification-preferences": lambda r: r["client"],
}
# Writes that answer a list: the audited record's id within it.
RESPONSE_IDS = {
    "/api/v1/sessions/<int:session_id>/attendance": lambda body: body["items"][0]["id"],
}
# Writes whose path names a record other than the shared fixture's (rule arg → rows key).
PATH_OVERRIDES = {
    "/api/v1/sessions/<int:session_id>/attendance": {"session_id": "open_session"},
}
# Writes that also record each row they touch, besides their own event.
SIDE_EVENTS = {
    "/api/v1/series/<int:series_id>/enrollments": {("booking", "book")},
    # The client's stay is an episode: admitting opens one, discharging closes it.
    "/api/v1/clients": {("episode", "create")},
    "/api/v1/clients/<int:client_id>/discharge": {("episode", "discharge")},
    # The previous version's status change is its own event.
    "/api/v1/plans/<int:plan_id>/revisions": {("treatment_plan", "supersede")},
}

PATH_KEYS = {"program_id": "program", "room_id": "room", "staff_id": "staff",
             "client_id": "client", "series_id": "series", "session_id": "session",
             "booking_id": "booking", "time_off_id": "time_off", "plan_id": "plan"}


def url_for_rule(rule: str, rows: dict) -> str:
    for arg, key in {**PATH_KEYS, **PATH_OVERRIDES.get(rule, {})}.items():
        rule = rule.replace(f"<int:{arg}>", str(rows[key]))
    return rule


def newest_event(db) -> AuditEvent | None:
    return db.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()


def test_every_write_route_has_an_audit_case(app):
    """A new write endpoint fails here until it gets an audit case below."""
    writes = {
        (method, rule.rule)
        for rule in app.url_map.iter_rules() if rule.rule.startswith(API + "/")
        for method in rule.methods & {"POST", "PUT", "PATCH", "DELETE"}
    }
    assert writes - NOT_AUDITED - CLIENT_WRITES - AUDITED_IN_OWN_TESTS == {
        (method, rule) for method, rule, *_ in CASES}


@pytest.mark.parametrize(
    ("method", "rule", "entity_type", "action", "body", "before", "after"),
    CASES, ids=[f"{c[0]} {c[1]}" for c in CASES],
)
def test_a_write_records_who_when_before_and_after(
    client, db, headers, writer, rows, now, method, rule, entity_type, action, body, before, after
):
    """The write's audit event names the writer, the instant, the record and its change."""
    last = db.scalar(select(func.max(AuditEvent.id))) or 0
    response = client.open(url_for_rule(rule, rows), method=method, json=body(rows),
                           headers=headers)
    assert response.status_code in (200, 201, 204), response.json

    new = db.scalars(select(AuditEvent).where(AuditEvent.id > last)).all()
    assert all((e.actor_user_id, e.actor, e.occurred_at) == (writer.id, writer.email, now)
               for e in new)
    [event] = [e for e in new if (e.entity_type, e.action) == (entity_type, action)]
    assert {(e.entity_type, e.action) for e in new if e is not event} <= SIDE_EVENTS.get(
        rule, set())
    if rule in ENTITY_IDS:
        entity_id = ENTITY_IDS[rule](rows)
    elif rule in RESPONSE_IDS:
        entity_id = RESPONSE_IDS[rule](response.json)
    else:
        entity_id = response.json["id"]
    assert event.entity_id == entity_id
    if before is None:
        assert event.before is None
        expected = after(rows)
        assert {k: event.after.get(k) for k in expected} == expected
    else:
        assert event.before == before(rows)
        assert event.after == after(rows)


def test_ending_a_series_keeps_the_reason_given(client, db, headers, rows):
    """Why a series ended is part of its audit record."""
    client.post(f"{API}/series/{rows['series']}/end",
                json={"end_date": "2027-03-15", "reason": "Facilitator leaving"}, headers=headers)
    assert newest_event(db).reason == "Facilitator leaving"


def test_an_edit_that_changes_nothing_is_not_recorded(client, db, headers, rows):
    """PATCHing a record with its current values writes no empty audit events."""
    events = db.scalar(select(func.count(AuditEvent.id)))
    for url, body in [
        (f"{API}/programs/{rows['program']}", {"name": "Evening IOP"}),
        (f"{API}/rooms/{rows['room']}", {"capacity": 12}),
        (f"{API}/staff/{rows['staff']}", {"name": "Dana Reyes"}),
        (f"{API}/clients/{rows['client']}", {"name": "Sam Client"}),
        (f"{API}/series/{rows['series']}", {"title": "Relapse prevention"}),
        (f"{API}/sessions/{rows['session']}", {"room_id": rows["room"]}),
    ]:
        assert client.patch(url, json=body, headers=headers).status_code == 200, url
    assert client.put(f"{API}/clients/{rows['client']}/availability", json={"unavailable": []},
                      headers=headers).status_code == 200
    assert db.scalar(select(func.count(AuditEvent.id))) == events


def test_the_audit_names_the_admin_when_an_admin_writes(client, db, make, auth):
    """The actor is whoever holds the token, not a fixed service account."""
    admin = make.user("admin")
    client.post(f"{API}/rooms", json={"name": "Room Z", "capacity": 4},
                headers=auth.for_user(admin))
    event = newest_event(db)
    assert (event.actor_user_id, event.actor) == (admin.id, admin.email)


def test_moved_times_are_audited_in_utc_whatever_offset_was_sent(client, db, headers, rows):
    """One spelling per instant, so before and after compare and sort as instants."""
    client.patch(f"{API}/sessions/{rows['session']}",
                 json={"starts_at": "2027-03-01T19:00:00-05:00"}, headers=headers)
    event = newest_event(db)
    assert event.before["starts_at"] == "2027-03-01T23:00:00+00:00"
    assert event.after["starts_at"] == "2027-03-02T00:00:00+00:00"
    assert event.after["ends_at"] == "2027-03-02T03:00:00+00:00"


def test_re_sending_the_same_instant_in_another_offset_is_not_a_change(
    client, db, headers, rows
):
    """18:00 New York and 23:00 UTC are the same start: no override, no audit."""
    events = db.scalar(select(func.count(AuditEvent.id)))
    body = client.patch(f"{API}/sessions/{rows['session']}",
                        json={"starts_at": "2027-03-01T23:00:00Z"}, headers=headers).json
    assert (body["sequence"], body["is_overridden"]) == (0, False)
    assert db.scalar(select(func.count(AuditEvent.id))) == events


def test_a_self_check_in_is_audited_with_the_client_as_actor(client, db, make, auth, rows, now):
    """POST /checkin records the client who checked in, the instant, and the new record."""
    user = make.user("client", client_id=rows["attendee"])
    code = client.get(f"{API}/sessions/{rows['open_session']}/checkin-code",
                      headers=auth("clinician")).json["code"]
    last = db.scalar(select(func.max(AuditEvent.id))) or 0
    response = client.post(f"{API}/checkin", json={"code": code}, headers=auth.for_user(user))
    assert response.status_code == 200, response.json

    [event] = db.scalars(select(AuditEvent).where(AuditEvent.id > last)).all()
    assert (event.entity_type, event.action, event.entity_id) == (
        "attendance", "attendance", response.json["id"])
    assert (event.actor_user_id, event.actor, event.occurred_at) == (user.id, user.email, now)
    assert event.before is None
    # 12:00 is an hour after the 11:00 start, past the grace period: late, 60 minutes left.
    assert {k: event.after[k] for k in ("status", "method", "arrived_at", "minutes_attended",
                                         "recorded_by_user_id")} == {
        "status": "late", "method": "self", "arrived_at": "2027-02-16T12:00:00+00:00",
        "minutes_attended": 60, "recorded_by_user_id": user.id}
