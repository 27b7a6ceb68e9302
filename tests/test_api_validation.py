"""Bad input: a 422 (or 404) naming the field, never a 500, and nothing written."""

from datetime import date

import pytest
from sqlalchemy import func, select

from scheduler.extensions import db as _db
from scheduler.models import AuditEvent, Session

API = "/api/v1"
DROP = object()  # marks a field to leave out of an otherwise valid body


@pytest.fixture
def coordinator(auth):
    return auth("coordinator")


@pytest.fixture
def clinic(make):
    """One of everything, so each request below can point at real rows."""
    program = make.program()
    room = make.room(name="Room B", capacity=10)
    small_room = make.room(name="Closet", capacity=2)
    staff = make.staff()
    series = make.series(program, room_id=room.id, capacity=10, facilitator_ids=[staff.id],
                         end_date=date(2027, 4, 30))
    session = _db.session.scalars(
        select(Session).where(Session.series_id == series.id).order_by(Session.starts_at)
    ).first()
    return {
        "program": program.id, "room": room.id, "small_room": small_room.id, "staff": staff.id,
        "client": make.client(program).id, "series": series.id, "session": session.id,
    }


def valid_body(resource: str, ids: dict) -> dict:
    return {
        "programs": {"name": "Evening IOP", "level_of_care": "2.1", "population": "adult",
                     "timezone": "America/New_York"},
        "rooms": {"name": "Room Z", "capacity": 8},
        "staff": {"name": "Dana Reyes", "role": "counselor", "email": "dana@clinic.test"},
        "clients": {"name": "Sam Client", "program_id": ids["program"],
                    "admitted_on": "2027-02-01"},
        "series": {"program_id": ids["program"], "kind": "group", "title": "Relapse prevention",
                   "timezone": "America/New_York", "start_date": "2027-03-01",
                   # Mornings: the clinic's evening group already holds this room and staff.
                   "start_time": "09:00", "duration_minutes": 180,
                   "rrule": "FREQ=WEEKLY;BYDAY=MO,WE,TH", "end_date": "2027-04-30",
                   "capacity": 10, "room_id": ids["room"], "facilitator_ids": [ids["staff"]]},
    }[resource]


def row_counts() -> dict:
    """Rows in every table, so a refused request can be shown to have written nothing."""
    return {
        table.name: _db.session.scalar(select(func.count()).select_from(table))
        for table in _db.metadata.sorted_tables
    }


def assert_refused(response, status: int, field: str, location: str = "json"):
    assert response.status_code == status, response.json
    assert field in response.json["errors"][location], response.json
    assert response.json["errors"][location][field], response.json


def _resolve(value, ids):
    """Let a case name a fixture row by key, e.g. ("id", "small_room")."""
    if isinstance(value, tuple) and value[:1] == ("id",):
        return ids[value[1]]
    if isinstance(value, list):
        return [_resolve(v, ids) for v in value]
    return value


def _merge(base: dict, changes: dict, ids: dict) -> dict:
    body = dict(base)
    for key, value in changes.items():
        if value is DROP:
            body.pop(key, None)
        else:
            body[key] = _resolve(value, ids)
    return body


@pytest.mark.parametrize("resource", ["programs", "rooms", "staff", "clients", "series"])
def test_each_base_request_is_accepted(client, coordinator, clinic, resource):
    """The bodies the refusals below start from are valid, so each refusal is its one change."""
    response = client.post(f"{API}/{resource}", json=valid_body(resource, clinic),
                           headers=coordinator)
    assert response.status_code == 201, response.json


CREATE_CASES = [
    # programs
    ("programs", {"timezone": "Mars/Olympus_Mons"}, "timezone"),
    ("programs", {"timezone": "posixrules"}, "timezone"),
    ("programs", {"timezone": "EST5EDT "}, "timezone"),
    ("programs", {"timezone": 5}, "timezone"),
    ("programs", {"level_of_care": "3.7"}, "level_of_care"),
    ("programs", {"population": "elderly"}, "population"),
    ("programs", {"name": ""}, "name"),
    ("programs", {"name": "   "}, "name"),
    ("programs", {"name": 42}, "name"),
    ("programs", {"name": None}, "name"),
    ("programs", {"name": DROP}, "name"),
    ("programs", {"min_weekly_hours": -1}, "min_weekly_hours"),
    ("programs", {"min_weekly_hours": "lots"}, "min_weekly_hours"),
    ("programs", {"colour": "red"}, "colour"),
    ("programs", {"name": "Evening\x00IOP"}, "name"),
    ("programs", {"name": "Evening \ud800 IOP"}, "name"),
    ("programs", {"name": "Evening\x1b[31mIOP"}, "name"),  # a control character
    ("programs", {"name": "Evening\x01IOP"}, "name"),
    ("programs", {"address": "Suite 200\r\nBcc: x@evil.test"}, "address"),
    # rooms
    ("rooms", {"capacity": 0}, "capacity"),
    ("rooms", {"capacity": -3}, "capacity"),
    ("rooms", {"capacity": "ten"}, "capacity"),
    ("rooms", {"capacity": 12.5}, "capacity"),
    ("rooms", {"capacity": True}, "capacity"),
    ("rooms", {"capacity": DROP}, "capacity"),
    ("rooms", {"name": ""}, "name"),
    ("rooms", {"name": "  "}, "name"),
    ("rooms", {"name": "Room B"}, "name"),  # taken
    ("rooms", {"floor": 2}, "floor"),
    # staff
    ("staff", {"role": "wizard"}, "role"),
    ("staff", {"email": "not-an-email"}, "email"),
    ("staff", {"email": "x" * 250 + "@clinic.test"}, "email"),
    ("staff", {"name": "\t"}, "name"),
    ("staff", {"name": ["Dana"]}, "name"),
    ("staff", {"credentials": "LCSW\x1b[0m"}, "credentials"),
    # clients
    ("clients", {"program_id": 999999}, "program_id"),
    ("clients", {"program_id": 10**20}, "program_id"),
    ("clients", {"program_id": "abc"}, "program_id"),
    ("clients", {"program_id": DROP}, "program_id"),
    ("clients", {"admitted_on": "yesterday"}, "admitted_on"),
    ("clients", {"admitted_on": "2027-02-30"}, "admitted_on"),
    ("clients", {"name": ""}, "name"),
    ("clients", {"email": "sam@"}, "email"),
    ("clients", {"admitted_on": "9999-12-31"}, "admitted_on"),
    ("clients", {"admitted_on": "0001-01-01"}, "admitted_on"),
    ("clients", {"phone": "555\x00"}, "phone"),
    # series
    ("series", {"timezone": "Not/AZone"}, "timezone"),
    ("series", {"rrule": "FREQ=HOURLY"}, "rrule"),
    ("series", {"rrule": "nonsense"}, "rrule"),
    ("series", {"rrule": "FREQ=WEEKLY;BYDAY=XX"}, "rrule"),
    ("series", {"rrule": "FREQ=WEEKLY;COUNT=3;UNTIL=20270401"}, "rrule"),
    ("series", {"rrule": ""}, "rrule"),
    ("series", {"end_date": "2027-02-28"}, "end_date"),
    ("series", {"duration_minutes": 0}, "duration_minutes"),
    ("series", {"duration_minutes": -30}, "duration_minutes"),
    ("series", {"duration_minutes": 721}, "duration_minutes"),
    ("series", {"duration_minutes": 90.5}, "duration_minutes"),
    ("series", {"capacity": 0}, "capacity"),
    ("series", {"capacity": 11}, "capacity"),  # room B seats 10
    ("series", {"capacity": "12"}, "capacity"),
    ("series", {"program_id": 999999}, "program_id"),
    ("series", {"room_id": 999999}, "room_id"),
    ("series", {"room_id": ("id", "small_room")}, "capacity"),
    ("series", {"facilitator_ids": [999999]}, "facilitator_ids"),
    ("series", {"facilitator_ids": [("id", "staff"), 999999]}, "facilitator_ids"),
    ("series", {"facilitator_ids": ("id", "staff")}, "facilitator_ids"),
    ("series", {"kind": "party"}, "kind"),
    ("series", {"start_time": "25:00"}, "start_time"),
    ("series", {"start_date": "2027-02-30"}, "start_date"),
    ("series", {"start_date": "0001-01-01", "end_date": DROP}, "start_date"),
    ("series", {"end_date": "9999-12-31"}, "end_date"),
    ("series", {"title": " "}, "title"),
    ("series", {"video_url": "http://insecure.example/meet"}, "video_url"),
    ("series", {"start_time": "18:00+05:00"}, "start_time"),
    ("series", {"start_time": "18:00Z"}, "start_time"),
    ("series", {"title": "Relapse\nprevention"}, "title"),
    ("series", {"facilitator_ids": [("id", "staff")] * 21}, "facilitator_ids"),
]


@pytest.mark.parametrize(("resource", "changes", "field"), CREATE_CASES,
                         ids=[f"{r}-{f}-{i}" for i, (r, _, f) in enumerate(CREATE_CASES)])
def test_a_bad_create_is_refused_naming_the_field_and_writes_nothing(
    client, coordinator, clinic, resource, changes, field
):
    """POST with one bad field answers 422 with errors.json.<field>; no row, no audit event."""
    body = _merge(valid_body(resource, clinic), changes, clinic)
    before = row_counts()

    response = client.post(f"{API}/{resource}", json=body, headers=coordinator)

    assert_refused(response, 422, field)
    assert row_counts() == before


UPDATE_CASES = [
    ("programs", "program", {"timezone": "Nowhere/Special"}, "timezone"),
    ("programs", "program", {"name": "  "}, "name"),
    ("programs", "program", {"name": None}, "name"),
    ("programs", "program", {"level_of_care": "9"}, "level_of_care"),
    ("programs", "program", {"min_weekly_hours": 81}, "min_weekly_hours"),
    ("programs", "program", {"id": 7}, "id"),
    ("rooms", "room", {"capacity": 0}, "capacity"),
    ("rooms", "room", {"capacity": None}, "capacity"),
    ("rooms", "room", {"capacity": 9}, "capacity"),  # its series has 10 places
    ("rooms", "room", {"name": "Closet"}, "name"),  # taken
    ("staff", "staff", {"role": ""}, "role"),
    ("staff", "staff", {"is_active": "perhaps"}, "is_active"),
    ("clients", "client", {"program_id": 999999}, "program_id"),
    ("clients", "client", {"admitted_on": None}, "admitted_on"),
    ("clients", "client", {"status": "discharged"}, "status"),
    ("series", "series", {"timezone": "America/Gotham"}, "timezone"),
    ("series", "series", {"rrule": "FREQ=MONTHLY"}, "rrule"),
    ("series", "series", {"end_date": "2027-02-01"}, "end_date"),
    ("series", "series", {"start_date": "2027-05-01"}, "end_date"),  # now after end_date
    ("series", "series", {"duration_minutes": 0}, "duration_minutes"),
    ("series", "series", {"duration_minutes": 24 * 60}, "duration_minutes"),
    ("series", "series", {"capacity": 0}, "capacity"),
    ("series", "series", {"capacity": 11}, "capacity"),
    ("series", "series", {"room_id": 999999}, "room_id"),
    ("series", "series", {"facilitator_ids": [999999]}, "facilitator_ids"),
    ("series", "series", {"facilitator_ids": None}, "facilitator_ids"),
    ("series", "series", {"status": "ended"}, "status"),
    ("series", "series", {"start_time": "18:00+05:00"}, "start_time"),
    ("clients", "client", {"admitted_on": "9999-12-31"}, "admitted_on"),
    ("staff", "staff", {"name": "Dana\x00"}, "name"),
]


@pytest.mark.parametrize(("resource", "key", "changes", "field"), UPDATE_CASES,
                         ids=[f"{r}-{f}-{i}" for i, (r, _, _, f) in enumerate(UPDATE_CASES)])
def test_a_bad_update_is_refused_naming_the_field_and_changes_nothing(
    client, coordinator, clinic, resource, key, changes, field
):
    """PATCH with one bad field answers 422 naming it; the record and the audit stay as they are."""
    url = f"{API}/{resource}/{clinic[key]}"
    record_before = client.get(url, headers=coordinator).json
    before = row_counts()

    response = client.patch(url, json=changes, headers=coordinator)

    assert_refused(response, 422, field)
    assert row_counts() == before
    assert client.get(url, headers=coordinator).json == record_before


SESSION_CASES = [
    ({"starts_at": "2027-03-02T18:00:00"}, "starts_at"),  # naive: which 18:00?
    ({"ends_at": "2027-03-01T22:00:00"}, "ends_at"),
    ({"starts_at": "next tuesday"}, "starts_at"),
    ({"starts_at": "2027-03-02T18:00:00-05:00", "ends_at": "2027-03-02T17:00:00-05:00"},
     "ends_at"),
    ({"starts_at": "2027-03-02T18:00:00-05:00", "ends_at": "2027-03-02T18:00:00-05:00"},
     "ends_at"),
    ({"ends_at": "2027-03-01T17:00:00-05:00"}, "ends_at"),  # before the session's start
    ({"ends_at": "2027-03-02T07:00:00-05:00"}, "ends_at"),  # 13 h long
    ({"starts_at": "9999-12-31T23:00:00-05:00"}, "starts_at"),
    ({"starts_at": "0001-01-01T00:00:00+05:00"}, "starts_at"),
    ({"status": "cancelled"}, "reason"),
    ({"status": "cancelled", "reason": ""}, "reason"),
    ({"status": "postponed", "reason": "x"}, "status"),
    ({"room_id": 999999}, "room_id"),
    ({"room_id": ("id", "small_room")}, "room_id"),  # 10 places in a room for 2
    ({"room_id": "B"}, "room_id"),
    ({"facilitator_ids": [999999]}, "facilitator_ids"),
    ({"facilitator_ids": 5}, "facilitator_ids"),
    ({"video_url": "ftp://example.test/x"}, "video_url"),
    ({"title": "Renamed"}, "title"),
    # The valid move must not survive the bad room: never half-written.
    ({"starts_at": "2027-03-02T18:00:00-05:00", "room_id": 999999}, "room_id"),
    ({"status": "cancelled", "reason": "Snow", "facilitator_ids": [999999]}, "facilitator_ids"),
    ({"facilitator_ids": [1] * 21}, "facilitator_ids"),
    ({"status": "cancelled", "reason": "Snow\x00"}, "reason"),
]


@pytest.mark.parametrize(("changes", "field"), SESSION_CASES,
                         ids=[f"{f}-{i}" for i, (_, f) in enumerate(SESSION_CASES)])
def test_a_bad_session_override_is_refused_naming_the_field_and_changes_nothing(
    client, coordinator, clinic, changes, field
):
    """A bad PATCH /sessions/{id} answers 422; the session keeps its time, room and sequence."""
    url = f"{API}/sessions/{clinic['session']}"
    session_before = client.get(url, headers=coordinator).json
    before = row_counts()

    response = client.patch(url, json=_merge({}, changes, clinic), headers=coordinator)

    assert_refused(response, 422, field)
    assert row_counts() == before
    assert client.get(url, headers=coordinator).json == session_before


def test_ending_a_series_before_it_starts_is_refused(client, coordinator, clinic):
    """POST /series/{id}/end with an end before start_date answers 422 naming end_date."""
    before = row_counts()
    response = client.post(f"{API}/series/{clinic['series']}/end",
                           json={"end_date": "2027-02-01"}, headers=coordinator)
    assert_refused(response, 422, "end_date")
    assert row_counts() == before
    assert client.get(f"{API}/series/{clinic['series']}",
                      headers=coordinator).json["status"] == "active"


def test_ending_a_series_needs_an_end_date(client, coordinator, clinic):
    """An end request without end_date names the missing field."""
    response = client.post(f"{API}/series/{clinic['series']}/end", json={"reason": "Done"},
                           headers=coordinator)
    assert_refused(response, 422, "end_date")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "2027-03-01T00:00:00"}, "from"),
        ({"to": "tomorrow"}, "to"),
        ({"from": "2027-03-02T00:00:00Z", "to": "2027-03-01T00:00:00Z"}, "to"),
        ({"from": "2027-03-02T00:00:00Z", "to": "2027-03-02T00:00:00Z"}, "to"),
        ({"from": "0001-01-01T00:00:00+05:00"}, "from"),
        ({"status": "maybe"}, "status"),
        ({"series_id": "one"}, "series_id"),
        ({"series_id": 10**20}, "series_id"),
        ({"page": 0}, "page"),
        ({"page": 10**20}, "page"),
        ({"per_page": 0}, "per_page"),
        ({"per_page": 100000}, "per_page"),
    ],
)
def test_bad_session_list_arguments_are_refused_naming_the_parameter(
    client, coordinator, clinic, query, field
):
    """GET /sessions with a bad query parameter answers 422 with errors.query.<param>."""
    response = client.get(f"{API}/sessions", query_string=query, headers=coordinator)
    assert_refused(response, 422, field, location="query")


@pytest.mark.parametrize("resource", ["programs", "rooms", "staff", "clients", "series"])
def test_list_paging_arguments_are_checked(client, coordinator, resource):
    """page and per_page outside their range answer 422 instead of an empty or huge page."""
    assert_refused(client.get(f"{API}/{resource}", query_string={"page": 0}, headers=coordinator),
                   422, "page", location="query")
    assert_refused(client.get(f"{API}/{resource}", query_string={"per_page": 501},
                              headers=coordinator), 422, "per_page", location="query")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/programs/999999"), ("patch", "/programs/999999"),
        ("get", "/rooms/999999"), ("patch", "/rooms/999999"),
        ("get", "/staff/999999"), ("patch", "/staff/999999"),
        ("get", "/clients/999999"), ("patch", "/clients/999999"),
        ("get", "/series/999999"), ("patch", "/series/999999"),
        ("post", "/series/999999/end"),
        ("get", "/sessions/999999"), ("patch", "/sessions/999999"),
        ("get", "/programs/100000000000000000000"),
        ("patch", "/sessions/100000000000000000000"),
        ("get", "/plans/100000000000000000000"),
        ("get", "/bookings/100000000000000000000"),
        ("post", "/sessions/100000000000000000000/bookings"),
        ("get", "/sessions/2147483648"),
    ],
)
def test_an_unknown_id_in_the_path_answers_404(client, coordinator, clinic, method, path):
    """A path id that names no row is 404 with a message, whatever its size."""
    kwargs = {"json": {"end_date": "2027-04-01"}} if path.endswith("/end") else {}
    if method == "patch":
        kwargs = {"json": {}}
    before = row_counts()
    response = getattr(client, method)(API + path, headers=coordinator, **kwargs)
    assert response.status_code == 404, response.json
    assert "No " in response.json["message"]
    assert row_counts() == before


def test_a_body_that_is_not_json_is_refused(client, coordinator):
    """Malformed JSON answers 400 with a JSON error body."""
    response = client.post(f"{API}/rooms", data="{capacity: 3", headers={
        **coordinator, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json["code"] == 400


def test_a_json_array_instead_of_an_object_is_refused(client, coordinator):
    """A body of the wrong shape answers 422, not a 500."""
    response = client.post(f"{API}/rooms", json=[{"name": "A", "capacity": 3}],
                           headers=coordinator)
    assert response.status_code == 422


def test_the_same_staff_email_twice_is_refused_whatever_its_case(client, coordinator, make):
    """Staff emails are unique ignoring case; the second answers 422 naming email."""
    make.staff(email="dana@clinic.test")
    response = client.post(f"{API}/staff", json={
        "name": "Other Dana", "role": "counselor", "email": "DANA@clinic.test"},
        headers=coordinator)
    assert_refused(response, 422, "email")


def test_an_error_body_says_what_is_wrong(client, coordinator):
    """The 422 body carries code, status and a readable message per field."""
    response = client.post(f"{API}/programs", json={
        "name": "P", "level_of_care": "2.1", "timezone": "Mars/Base"}, headers=coordinator)
    assert response.json["code"] == 422
    assert response.json["status"] == "Unprocessable Entity"
    assert "Mars/Base" in response.json["errors"]["json"]["timezone"][0]


def test_a_refused_request_leaves_the_audit_trail_alone(client, coordinator, clinic):
    """No audit event records a change that did not happen."""
    events = _db.session.scalar(select(func.count(AuditEvent.id)))
    client.patch(f"{API}/rooms/{clinic['room']}", json={"capacity": 0}, headers=coordinator)
    client.post(f"{API}/series", json={"title": "x"}, headers=coordinator)
    assert _db.session.scalar(select(func.count(AuditEvent.id))) == events


def test_a_token_request_with_a_nul_in_the_email_is_refused_not_crashed(client):
    """PostgreSQL cannot compare text holding NUL; the caller gets a 422 naming email."""
    response = client.post(f"{API}/auth/token",
                           json={"email": "a\x00@clinic.test", "password": "whatever123"})
    assert_refused(response, 422, "email")


def test_every_numeric_bound_in_the_openapi_document_is_a_number(client):
    """Decimal fields once documented "maximum": "80.00", which OpenAPI tools reject."""
    bounds = []

    def walk(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
                    bounds.append((path + "/" + key, value))
                walk(value, path + "/" + key)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}/{i}")

    walk(client.get(f"{API}/openapi.json").json, "")

    assert ("/components/schemas/ProgramIn/properties/min_weekly_hours/maximum", 80) in bounds
    assert [(path, v) for path, v in bounds if not isinstance(v, (int, float))] == []


@pytest.mark.parametrize("path, body, field", [
    ("programs", {"name": "Evening IOP", "level_of_care": "2.1", "timezone": "America/New_York",
                  "min_weekly_hours": 80.01}, "min_weekly_hours"),
    ("programs", {"name": "Evening IOP", "level_of_care": "2.1", "timezone": "America/New_York",
                  "min_weekly_hours": -0.5}, "min_weekly_hours"),
])
def test_hours_outside_their_documented_bounds_are_refused(client, coordinator, path, body, field):
    """The bounds the document states as numbers are the ones the API enforces."""
    assert_refused(client.post(f"{API}/{path}", json=body, headers=coordinator), 422, field)


def test_clearing_a_series_capacity_gives_the_kinds_default_with_the_room_as_ceiling(
    client, coordinator, clinic
):
    """A group's default of 12 seats does not fit Room B's 10: the room's 10 it is, not a 422."""
    url = f"{API}/series/{clinic['series']}"

    response = client.patch(url, json={"capacity": None}, headers=coordinator)

    assert response.status_code == 200, response.json
    assert response.json["capacity"] == 10
