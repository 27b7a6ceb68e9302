"""Every API write leaves an AuditEvent: who, when, what it was and what it became."""

from datetime import date

import pytest
from sqlalchemy import func, select

from scheduler.models import AuditEvent, Session

API = "/api/v1"
# Issuing a bearer token writes a token row but changes no clinic record.
NOT_AUDITED = {("POST", "/api/v1/auth/token")}


@pytest.fixture(autouse=True)
def _clinic_clock(now):
    """Run every request at the frozen clinic 'now', so occurred_at is predictable."""


@pytest.fixture
def writer(make):
    return make.user("coordinator")


@pytest.fixture
def headers(auth, writer):
    return auth.for_user(writer)


@pytest.fixture
def rows(make, db):
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
    return {"program": program.id, "room": room.id, "other_room": other_room.id,
            "staff": staff.id, "client": make.client(program, name="Sam Client").id,
            "series": series.id, "session": session.id}


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
]

PATH_KEYS = {"program_id": "program", "room_id": "room", "staff_id": "staff",
             "client_id": "client", "series_id": "series", "session_id": "session"}


def url_for_rule(rule: str, rows: dict) -> str:
    for arg, key in PATH_KEYS.items():
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
    assert writes - NOT_AUDITED == {(method, rule) for method, rule, *_ in CASES}


@pytest.mark.parametrize(
    ("method", "rule", "entity_type", "action", "body", "before", "after"),
    CASES, ids=[f"{c[0]} {c[1]}" for c in CASES],
)
def test_a_write_records_who_when_before_and_after(
    client, db, headers, writer, rows, now, method, rule, entity_type, action, body, before, after
):
    """The newest audit event names the writer, the instant, the record and its change."""
    events = db.scalar(select(func.count(AuditEvent.id)))
    response = client.open(url_for_rule(rule, rows), method=method, json=body(rows),
                           headers=headers)
    assert response.status_code in (200, 201), response.json

    event = newest_event(db)
    assert db.scalar(select(func.count(AuditEvent.id))) == events + 1
    assert (event.actor_user_id, event.actor) == (writer.id, writer.email)
    assert event.occurred_at == now
    assert (event.entity_type, event.action, event.entity_id) == (
        entity_type, action, response.json["id"])
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
