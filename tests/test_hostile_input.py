"""Hostile requests get a 4xx naming the problem, never a 500, and cost the server little.

Each case here answered 500 (or held a whole huge body in memory) before; both databases,
since PostgreSQL refuses some values (NUL, ids past 32 bits) that SQLite stores or ignores.
"""

import io
import re
from datetime import date

import pytest
from sqlalchemy import select
from werkzeug.routing import IntegerConverter

from scheduler import create_app
from scheduler.models import Session
from tests.helpers import sign_in

API = "/api/v1"
MB = 1024 * 1024


class HugeBody(io.RawIOBase):
    """A request body of `size` bytes that exists only as it is read, counting what was read.

    Seekable because the test client measures the body by seeking to its end; only reads
    produce (and count) bytes, so the test holds no 50 MB and sees what the app consumed.
    """

    def __init__(self, size: int, fill: bytes = b"["):
        super().__init__()
        self.size = size
        self.fill = fill
        self.position = 0
        self.bytes_read = 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self.position

    def seek(self, offset, whence=io.SEEK_SET):
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = base + offset
        return self.position

    def readinto(self, buffer):
        count = max(0, min(len(buffer), self.size - self.position))
        buffer[:count] = self.fill * count
        self.position += count
        self.bytes_read += count
        return count


# --- size limits --------------------------------------------------------------------------------


def test_an_anonymous_50_mb_body_is_refused_with_413_before_it_is_read(client):
    """A body announcing 50 MB is refused on its Content-Length: not one byte of it is read."""
    body = HugeBody(50 * MB)

    response = client.post(f"{API}/auth/token", input_stream=body,
                           content_type="application/json")

    assert response.status_code == 413
    assert response.json["code"] == 413
    assert response.json["status"] == "Request Entity Too Large"
    assert "1 MB" in response.json["message"]
    assert body.bytes_read == 0


def test_a_chunked_body_without_a_length_is_cut_off_at_the_limit(client):
    """With no Content-Length (chunked), reading stops just past 1 MB instead of at 50 MB."""
    body = HugeBody(50 * MB)

    response = client.post(
        f"{API}/auth/token", input_stream=body, content_type="application/json",
        headers={"Transfer-Encoding": "chunked"},
        # What a WSGI server that decodes chunked bodies (gunicorn) tells the app.
        environ_overrides={"wsgi.input_terminated": True})

    assert response.status_code == 413
    assert response.json["code"] == 413
    assert body.bytes_read <= 2 * MB


def test_a_too_large_form_gets_an_html_page(client):
    """Pages answer 413 with a page saying what happened, not a JSON body."""
    body = HugeBody(50 * MB, fill=b"a")

    response = client.post("/login", input_stream=body,
                           content_type="application/x-www-form-urlencoded")

    assert response.status_code == 413
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "too large" in page
    assert "1 MB" in page
    assert body.bytes_read == 0


def test_a_body_under_the_limit_is_read_as_usual(client):
    """The limit refuses only what is too large: a 900 kB sign-in is read, and simply wrong."""
    response = client.post(f"{API}/auth/token",
                           json={"email": "x" * 900_000 + "@clinic.test", "password": "nope"})
    assert response.status_code == 401


def test_the_limit_is_a_setting(database_url):
    """MAX_CONTENT_LENGTH (from the environment, like every setting) moves the limit."""
    app = create_app({"CONFIG_NAME": "testing", "SQLALCHEMY_DATABASE_URI": database_url,
                      "MAX_CONTENT_LENGTH": 1000})
    response = app.test_client().post(f"{API}/auth/token",
                                      json={"email": "x" * 2000, "password": "y"})
    assert response.status_code == 413
    assert "1000 bytes" in response.json["message"]


# --- JSON nesting and numbers -----------------------------------------------------------------


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def assert_bad_json(response, words: str):
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert response.json["code"] == 400
    assert words in response.json["message"]
    assert words in response.json["errors"]["json"][0]


@pytest.mark.parametrize("body", [
    '{"email": ' + nested(1000) + ', "password": "x"}',
    nested(1000),
    nested(400_000),  # as deep as 1 MB allows
    '{"a":' * 1000 + "1" + "}" * 1000,
])
def test_a_deeply_nested_body_is_refused_with_400(client, body):
    """1,000 levels used to raise RecursionError (500) on the anonymous token endpoint."""
    response = client.post(f"{API}/auth/token", data=body, content_type="application/json")
    assert_bad_json(response, "nested at most 32 levels")


def test_nesting_up_to_the_limit_reaches_the_schema(client):
    """32 levels are read, and the schema says what is wrong with them; 33 are not read."""
    at_limit = '{"email": ' + nested(31) + ', "password": "x"}'
    response = client.post(f"{API}/auth/token", data=at_limit, content_type="application/json")
    assert response.status_code == 422
    assert "email" in response.json["errors"]["json"]

    past_limit = '{"email": ' + nested(32) + ', "password": "x"}'
    response = client.post(f"{API}/auth/token", data=past_limit, content_type="application/json")
    assert_bad_json(response, "nested at most 32 levels")


def test_brackets_inside_text_are_not_nesting(client, make):
    """A password of brackets and quotes is text: it signs in."""
    password = '[{"[\\' * 30 + "]]]"
    user = make.user("coordinator", password=password)
    response = client.post(f"{API}/auth/token", json={"email": user.email, "password": password})
    assert response.status_code == 200, response.json


@pytest.mark.parametrize("number", ["9" * 5000, "-" + "9" * 5000, "1." + "9" * 5000,
                                    "9" * 51, "1e" + "9" * 60])
def test_a_number_with_too_many_digits_is_refused_with_400(client, number):
    """A 5,000-digit password raised ValueError past Python's int-digit limit (500)."""
    response = client.post(f"{API}/auth/token", data='{"email": "a@clinic.test", "password": '
                           + number + "}", content_type="application/json")
    assert_bad_json(response, "at most 50 digits")


def test_a_long_but_sane_number_still_reaches_the_schema(client, auth):
    """20 digits are read; the id's range check names the field as before."""
    response = client.post(f"{API}/clients", json={
        "name": "Sam", "program_id": 10**20, "admitted_on": "2027-02-01"},
        headers=auth("coordinator"))
    assert response.status_code == 422
    assert "program_id" in response.json["errors"]["json"]


def _with_json_body(app) -> list[tuple[str, str]]:
    """(method, path) of every API operation that reads a JSON body, ids set to 1."""
    document = app.test_client().get(f"{API}/openapi.json").json
    operations = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "requestBody" in operation:
                operations.append((method, re.sub(r"\{[^}]+\}", "1", path)))
    return operations


def test_every_json_body_of_the_api_has_the_limits(app, client, auth):
    """Not only the token endpoint: every operation with a body answers 400, never a 500."""
    # A clinician for the one operation only clinicians make: breaking the glass.
    callers = [auth("admin"), auth("client"), auth("clinician")]
    operations = _with_json_body(app)
    assert len(operations) > 20
    for method, path in operations:
        for body in (nested(1000), '{"x": ' + "7" * 5000 + "}"):
            for headers in callers:  # a client-only operation refuses admins first
                response = client.open(path, method=method, data=body, headers=headers,
                                       content_type="application/json")
                if response.status_code != 403:
                    break
            assert response.status_code == 400, (method, path, response.json)
            assert response.json["errors"]["json"], (method, path)


# --- NUL and control characters ----------------------------------------------------------------


def _query_parameters(app) -> list[tuple[str, str]]:
    """(path, name) of every query parameter of every GET operation, ids in paths set to 1."""
    document = app.test_client().get(f"{API}/openapi.json").json
    return [(re.sub(r"\{[^}]+\}", "1", path), parameter["name"])
            for path, item in document["paths"].items()
            for parameter in item.get("get", {}).get("parameters", [])
            if parameter["in"] == "query"]


@pytest.mark.parametrize("value", ["\x00", "read\x00", "a\x01b", "line\nbreak", "\x1b[31m", "\x85"])
def test_no_query_value_of_the_api_takes_control_characters(app, client, auth, value):
    """GET /api/v1/audit-events?action=%00 crashed on PostgreSQL; every query value is checked."""
    callers = [auth("admin"), auth("client")]
    parameters = _query_parameters(app)
    assert ("/api/v1/audit-events", "action") in parameters
    for path, name in parameters:
        for headers in callers:
            response = client.get(path, query_string={name: value}, headers=headers)
            if response.status_code != 403:
                break
        assert response.status_code == 422, (path, name, response.json)
        assert response.json["errors"]["query"][name], (path, name)


def test_a_nul_in_the_audit_action_names_the_parameter(client, auth):
    response = client.get(f"{API}/audit-events?action=%00", headers=auth("admin"))
    assert response.status_code == 422
    assert response.json["errors"]["query"]["action"] == ["Must not contain NUL characters."]


@pytest.fixture
def coordinator(auth):
    return auth("coordinator")


@pytest.fixture
def session_with_client(make, db):
    """A session that has ended, and a client of its program to mark (a walk-in)."""
    program = make.program()
    series = make.series(program, start_date=date(2027, 2, 10), end_date=date(2027, 2, 28))
    session = db.scalars(select(Session).where(Session.series_id == series.id)
                         .order_by(Session.starts_at)).first()
    return session.id, make.client(program).id


PROGRAM = {"name": "Evening IOP", "level_of_care": "2.1", "timezone": "America/New_York"}


@pytest.mark.parametrize(("changes", "field", "why"), [
    ({"name": "Evening\x01IOP"}, "name", "Must not contain control characters."),
    ({"name": "Evening\x7fIOP"}, "name", "Must not contain control characters."),
    ({"name": "Evening\nIOP"}, "name", "Must be one line, without tabs or line breaks."),
    ({"name": "Evening\tIOP"}, "name", "Must be one line, without tabs or line breaks."),
    ({"address": "200 Main St\r\nBcc: x@evil.test"}, "address",
     "Must be one line, without tabs or line breaks."),
    ({"unknown": "a\x00b"}, "unknown", "Must not contain NUL characters."),
])
def test_control_characters_in_a_one_line_field_are_refused(client, coordinator, changes,
                                                             field, why):
    response = client.post(f"{API}/programs", json={**PROGRAM, **changes}, headers=coordinator)
    assert response.status_code == 422, response.json
    assert response.json["errors"]["json"][field] == [why]


def test_multi_line_text_keeps_its_line_breaks_and_tabs(client, coordinator, make):
    """A description, a note or an assessment is typed in a box: tab and line breaks stay."""
    program = make.program()
    response = client.post(f"{API}/series", headers=coordinator, json={
        "program_id": program.id, "kind": "group", "title": "Relapse prevention",
        "start_date": "2027-03-01", "start_time": "09:00", "duration_minutes": 60,
        "rrule": "FREQ=WEEKLY;BYDAY=MO", "end_date": "2027-03-31",
        "description": "Week 1:\tTriggers\r\nWeek 2:\tCoping"})
    assert response.status_code == 201, response.json
    assert response.json["description"] == "Week 1:\tTriggers\r\nWeek 2:\tCoping"

    client_id = make.client(program).id
    staff_id = make.staff().id
    response = client.post(f"{API}/clients/{client_id}/assessments", headers=coordinator, json={
        "assessed_on": "2027-02-01", "clinician_id": staff_id, "recommended_level": "2.1",
        "summary": "Stable.\n\tSleeps well."})
    assert response.status_code == 201, response.json
    assert response.json["summary"] == "Stable.\n\tSleeps well."

    response = client.post(f"{API}/clients/{client_id}/assessments", headers=coordinator, json={
        "assessed_on": "2027-02-01", "clinician_id": staff_id, "recommended_level": "2.1",
        "summary": "Stable.\x00"})
    assert response.status_code == 422
    assert response.json["errors"]["json"]["summary"] == ["Must not contain NUL characters."]


def test_text_inside_lists_is_checked_and_named_by_its_place(client, coordinator, make,
                                                              session_with_client):
    """A NUL in the third goal or the first record's note is named by its index."""
    client_id = make.client().id
    response = client.post(f"{API}/clients/{client_id}/plans", headers=coordinator, json={
        "start_date": "2027-02-01", "goals": ["Attend", "Sleep", "Work\x00"]})
    assert response.status_code == 422
    assert response.json["errors"]["json"]["goals"] == {"2": ["Must not contain NUL characters."]}

    response = client.post(f"{API}/clients/{client_id}/plans", headers=coordinator, json={
        "start_date": "2027-02-01", "goals": ["Attend\nSleep"]})
    assert response.status_code == 422
    assert response.json["errors"]["json"]["goals"] == {
        "0": ["Must be one line, without tabs or line breaks."]}

    session_id, booked = session_with_client
    response = client.put(f"{API}/sessions/{session_id}/attendance", headers=coordinator, json={
        "records": [{"client_id": booked, "status": "present", "note": "ok\x00"}]})
    assert response.status_code == 422
    assert response.json["errors"]["json"]["records"] == {
        "0": {"note": ["Must not contain NUL characters."]}}

    response = client.put(f"{API}/sessions/{session_id}/attendance", headers=coordinator, json={
        "records": [{"client_id": booked, "status": "present", "note": "Left early:\nill"}]})
    assert response.status_code == 200, response.json
    assert response.json["items"][0]["note"] == "Left early:\nill"

    response = client.put(f"{API}/clients/{client_id}/availability", headers=coordinator, json={
        "unavailable": [{"weekday": 0, "start": "09:00", "end": "17:00", "label": "Job\x07"}]})
    assert response.status_code == 422
    assert response.json["errors"]["json"]["unavailable"] == {
        "0": {"label": ["Must not contain control characters."]}}


# --- list lengths -------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body", "field", "most"), [
    ("put", "/clients/{client}/availability", "unavailable", "unavailable", 100),
    ("put", "/sessions/{session}/attendance", "records", "records", 500),
    ("patch", "/series/{series}", "facilitator_ids", "facilitator_ids", 20),
    ("post", "/sessions", "facilitator_ids", "facilitator_ids", 20),
    ("patch", "/sessions/{session}", "facilitator_ids", "facilitator_ids", 20),
    ("post", "/clients/{client}/plans", "goals", "goals", 50),
    ("post", "/clients/{client}/plans", "phases", "phases", 20),
])
def test_a_list_past_its_bound_is_refused_before_any_item_is_read(
        client, coordinator, session_with_client, db, method, path, body, field, most):
    """Items that are all invalid get one error, the length: none of them was loaded."""
    session_id, client_id = session_with_client
    series_id = db.get(Session, session_id).series_id
    url = API + path.format(client=client_id, session=session_id, series=series_id)

    response = getattr(client, method)(url, json={body: [0] * 100_000},
                                       headers=coordinator)

    assert response.status_code == 422, response.json
    assert response.json["errors"]["json"][field] == [f"Must have at most {most} items."]


def test_a_list_at_its_bound_is_read_item_by_item(client, coordinator, make):
    """At the bound the items are loaded, and a bad one is named by its index."""
    client_id = make.client().id
    windows = [{"weekday": 0, "start": "09:00", "end": "10:00"}] * 99 + [{"weekday": 9}]
    response = client.put(f"{API}/clients/{client_id}/availability",
                          json={"unavailable": windows}, headers=coordinator)
    assert response.status_code == 422
    assert list(response.json["errors"]["json"]["unavailable"]) == ["99"]


def _arrays_without_max(node, document, seen, path="") -> list[str]:
    if isinstance(node, dict):
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            if name in seen:
                return []
            seen.add(name)
            return _arrays_without_max(document["components"]["schemas"][name], document, seen,
                                       name)
        found = [path] if node.get("type") == "array" and "maxItems" not in node else []
        for key, value in node.items():
            found += _arrays_without_max(value, document, seen, f"{path}/{key}")
        return found
    if isinstance(node, list):
        return [p for i, v in enumerate(node)
                for p in _arrays_without_max(v, document, seen, f"{path}/{i}")]
    return []


def test_every_list_a_request_may_carry_documents_its_bound(client):
    """OpenAPI clients see maxItems on every array of every request body and parameter."""
    document = client.get(f"{API}/openapi.json").json
    requests = [operation.get(part) for item in document["paths"].values()
                for operation in item.values() if isinstance(operation, dict)
                for part in ("requestBody", "parameters")]
    assert _arrays_without_max(requests, document, set()) == []
    assert document["components"]["schemas"]["RosterIn"]["properties"]["records"][
        "maxItems"] == 500


# --- ids out of range in paths ------------------------------------------------------------------


def test_a_client_asking_for_a_plan_past_the_id_range_gets_404(client, auth):
    """GET /api/v1/plans/99999999999999999999 as a client reached the database: a 500."""
    response = client.get(f"{API}/plans/99999999999999999999", headers=auth("client"))
    assert response.status_code == 404
    assert response.json["code"] == 404
    assert response.json["message"]


def test_a_roster_page_past_the_id_range_gets_an_html_404(client, make):
    sign_in(client, make.user("clinician"))
    response = client.get("/sessions/99999999999999999999/roster")
    assert response.status_code == 404
    assert response.mimetype == "text/html"


def _int_names(rule) -> list[str]:
    return [name for name, converter in rule._converters.items()
            if isinstance(converter, IntegerConverter)]


def _int_routes(app) -> list[tuple[str, str, list[str]]]:
    return [(rule.rule, method, _int_names(rule))
            for rule in app.url_map.iter_rules() if _int_names(rule)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]


@pytest.mark.parametrize("number", ["99999999999999999999", "2147483648", "0", "9" * 5000])
def test_no_route_takes_an_id_no_row_can_have(app, client, auth, make, number):
    """Every <int:...> in every route, API and page, answers 404 for an id out of range."""
    headers = auth("admin")
    sign_in(client, make.user("admin"))
    routes = _int_routes(app)
    assert any(rule.startswith("/api/") for rule, _, _ in routes)
    assert any(not rule.startswith("/api/") for rule, _, _ in routes)
    for rule, method, names in routes:
        path = rule
        for name in names:
            path = re.sub(rf"<int:{name}>", number, path)
        response = client.open(path, method=method, headers=headers, json={})
        assert response.status_code == 404, (method, path, response.status_code)


def test_the_id_range_is_documented_for_every_path_id(client):
    document = client.get(f"{API}/openapi.json").json
    path_ids = [parameter["schema"] for item in document["paths"].values()
                for operation in [item, *item.values()] if isinstance(operation, dict)
                for parameter in operation.get("parameters", []) if parameter["in"] == "path"]
    assert path_ids
    assert all(schema == {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
               for schema in path_ids), path_ids


# --- times of day and dates ---------------------------------------------------------------------

SERIES = {"kind": "group", "title": "Relapse prevention", "start_date": "2027-03-01",
          "start_time": "09:00", "duration_minutes": 60, "rrule": "FREQ=WEEKLY;BYDAY=MO",
          "end_date": "2027-03-31"}


@pytest.mark.parametrize("start_time", ["18:00+05:00", "18:00Z", "18:00:00-03:00"])
def test_a_series_time_of_day_with_an_offset_is_refused(client, coordinator, make, start_time):
    """"start_time": "18:00+05:00" answered 500 on create and on edit; the zone decides."""
    program = make.program()
    response = client.post(f"{API}/series", json={**SERIES, "program_id": program.id,
                                                   "start_time": start_time},
                           headers=coordinator)
    assert response.status_code == 422, response.json
    assert "without a UTC offset" in response.json["errors"]["json"]["start_time"][0]

    series = make.series(program)
    response = client.patch(f"{API}/series/{series.id}", json={"start_time": start_time},
                            headers=coordinator)
    assert response.status_code == 422, response.json
    assert "without a UTC offset" in response.json["errors"]["json"]["start_time"][0]
    assert client.get(f"{API}/series/{series.id}",
                      headers=coordinator).json["start_time"] == "18:00"


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_an_admission_date_out_of_range_is_refused(client, coordinator, make, day):
    program = make.program()
    response = client.post(f"{API}/clients", json={"name": "Sam", "program_id": program.id,
                                                    "admitted_on": day}, headers=coordinator)
    assert response.status_code == 422
    assert response.json["errors"]["json"]["admitted_on"]
    existing = make.client(program)
    response = client.patch(f"{API}/clients/{existing.id}", json={"admitted_on": day},
                            headers=coordinator)
    assert response.status_code == 422
    assert response.json["errors"]["json"]["admitted_on"]


@pytest.mark.parametrize(("query", "name"), [
    ({"to": "9999-12-31T23:00:00-05:00"}, "to"),
    ({"from": "0001-01-01T00:00:00+05:00"}, "from"),
])
def test_an_audit_search_past_the_calendar_is_refused(client, auth, query, name):
    """Converting these to UTC overflowed datetime (a 500)."""
    response = client.get(f"{API}/audit-events", query_string=query, headers=auth("admin"))
    assert response.status_code == 422
    assert response.json["errors"]["query"][name]


def test_an_alert_search_for_a_program_past_the_id_range_is_refused(client, coordinator):
    """program_id=99999999999999999999 reached the database (a 500 on both)."""
    response = client.get(f"{API}/alerts", query_string={"program_id": 10**20},
                          headers=coordinator)
    assert response.status_code == 422
    assert response.json["errors"]["query"]["program_id"]


def _request_schemas():
    from scheduler.api.common import ApiSchema

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    return list(subclasses(ApiSchema))


def _is_unbounded(field) -> bool:
    """A date, instant, time or number field that accepts values outside our bounds."""
    from marshmallow import fields, validate

    from scheduler.api.common import BirthDate, CalendarDate, Instant, TimeOfDay

    if isinstance(field, fields.DateTime):
        return not isinstance(field, Instant)
    if isinstance(field, fields.Date):
        return not isinstance(field, CalendarDate | BirthDate)
    if isinstance(field, fields.Time):
        return not isinstance(field, TimeOfDay) and field.format != "%H:%M"
    if isinstance(field, fields.Number):
        return not any(isinstance(v, validate.Range) and v.max is not None
                       for v in field.validators)
    return False


def _loose_fields(schema, path) -> list[str]:
    from marshmallow import fields

    loose = []
    for name, field in schema.load_fields.items():
        here = f"{path}.{name}"
        while isinstance(field, fields.List):
            field = field.inner
        if isinstance(field, fields.Nested):
            loose += _loose_fields(field.schema, here)
        elif _is_unbounded(field):
            loose.append(here)
    return loose


def test_every_date_time_and_number_a_request_may_carry_is_bounded(app):
    """Dates in 2000-2100, instants likewise, times without offsets, numbers with a maximum."""
    schemas = _request_schemas()
    assert len(schemas) > 30
    assert [f for schema in schemas for f in _loose_fields(schema(), schema.__name__)] == []


@pytest.mark.parametrize("day, ok", [("1999-12-31", False), ("2000-01-01", True),
                                     ("2100-12-31", True), ("2101-01-01", False)])
def test_the_api_the_forms_and_the_query_strings_share_one_calendar(app, day, ok):
    """services/dates owns the bounds: every reader takes and refuses the same edge days."""
    from types import SimpleNamespace

    from marshmallow import ValidationError as SchemaError
    from wtforms import ValidationError as FormError

    from scheduler.api.common import CalendarDate, Instant
    from scheduler.web import query_args
    from scheduler.web.form_fields import in_range

    def accepts(check, error) -> bool:
        try:
            check()
        except error:
            return False
        return True

    parsed = date.fromisoformat(day)
    answers = {
        "api date": accepts(lambda: CalendarDate().deserialize(day), SchemaError),
        "api instant, last second": accepts(
            lambda: Instant().deserialize(f"{day}T23:59:59+00:00"), SchemaError),
        "form": accepts(lambda: in_range(None, SimpleNamespace(data=parsed)), FormError),
    }
    with app.test_request_context(f"/?day={day}"):
        answers["query"] = accepts(lambda: query_args.date_arg("day"), query_args.BadQuery)
    assert answers == dict.fromkeys(answers, ok)
