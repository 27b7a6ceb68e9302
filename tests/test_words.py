"""Words people understand (issue 17 §5): refusals name people, rooms and sessions, never ids,
and never an internal field name such as `first_week` or `start_date`.

Each refusal is reached through HTTP, on the API and on the pages that share its services.
The API's JSON still names the field in its key (the contract); only the human text is checked.
"""

import re
from datetime import date, datetime, time

import pytest
from sqlalchemy import select

from scheduler.models import Session
from scheduler.services.recurrence import zone
from tests.helpers import sign_in

API = "/api/v1"
NEW_YORK = zone("America/New_York")

# "session 16", "Staff member 1", "client 22", "room #3": a thing named by its row id.
ID_WORDS = re.compile(r"\b(session|staff member|staff|client|room|series|plan|booking|user)"
                      r"\s+#?\d+\b", re.IGNORECASE)
# first_week, start_date, the series' start_date: a column name where a label belongs.
SNAKE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")
# "phases.0.last_week: …": the API message's prefix naming the field, as the JSON key does.
FIELD_PREFIX = re.compile(r"^[a-z_][\w.]*: ")


def human_texts(body: dict) -> list[str]:
    """The human text of an API error: its message (after the "field: " prefix that names the
    field as the contract does), every field message, and every clash's detail."""
    texts = []
    texts.append(FIELD_PREFIX.sub("", body.get("message", "")))

    def walk(node):
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str):
            texts.append(node)

    walk(body.get("errors", {}))
    texts += [c["detail"] for c in body.get("conflicts", [])]
    return texts


def assert_plain(texts: list[str]) -> None:
    for text in texts:
        assert not ID_WORDS.search(text), text
        assert not SNAKE.search(text), text


def csrf(client, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def ny(day: date, at: time) -> str:
    return datetime.combine(day, at, tzinfo=NEW_YORK).isoformat()


@pytest.fixture
def coordinator(make):
    return make.user("coordinator")


@pytest.fixture
def headers(auth, coordinator):
    return auth.for_user(coordinator)


@pytest.fixture
def clinic(make, db):
    """Monday 1 March 2027, 18:00–21:00 New York: the evening group in Room A, led by Dana,
    with Jordan Rivers booked."""
    program = make.program(name="Evening IOP")
    room_a, room_b = make.room(name="Room A"), make.room(name="Room B")
    dana, lee = make.staff(name="Dana Whitfield"), make.staff(name="Lee Park")
    series = make.series(program, title="Relapse prevention", start_date=date(2027, 3, 1),
                         end_date=date(2027, 3, 1), rrule="FREQ=DAILY", room_id=room_a.id,
                         facilitator_ids=[dana.id])
    group = db.scalars(select(Session).where(Session.series_id == series.id)).one()
    jordan = make.client(program, name="Jordan Rivers")
    return {"program": program, "room_a": room_a, "room_b": room_b, "dana": dana, "lee": lee,
            "series": series, "group": group, "jordan": jordan}


GROUP_WORDS = "Relapse prevention (Mon 2027-03-01 18:00–21:00)"


def one_off(clinic, **body) -> dict:
    return {"program_id": clinic["program"].id, "kind": "individual",
            "starts_at": ny(date(2027, 3, 1), time(19, 0)),
            "ends_at": ny(date(2027, 3, 1), time(20, 0)), **body}


def test_room_and_staff_clashes_name_the_room_the_person_and_the_session(client, headers, clinic):
    response = client.post(f"{API}/sessions", headers=headers, json=one_off(
        clinic, room_id=clinic["room_a"].id, facilitator_ids=[clinic["dana"].id]))
    assert response.status_code == 409, response.json
    details = [c["detail"] for c in response.json["conflicts"]]
    assert f"Room A is used by {GROUP_WORDS}." in details
    assert f"Dana Whitfield facilitates {GROUP_WORDS}." in details
    assert_plain(human_texts(response.json))


def test_a_client_clash_says_which_client(client, headers, clinic):
    booked = client.post(f"{API}/sessions/{clinic['group'].id}/bookings", headers=headers,
                         json={"client_id": clinic["jordan"].id})
    assert booked.status_code == 201, booked.json
    response = client.post(f"{API}/sessions", headers=headers, json=one_off(
        clinic, room_id=clinic["room_b"].id, client_id=clinic["jordan"].id))
    assert response.status_code == 409, response.json
    details = [c["detail"] for c in response.json["conflicts"]]
    assert f"Jordan Rivers is already booked into {GROUP_WORDS}." in details
    assert_plain(human_texts(response.json))


def test_admission_and_discharge_refusals_say_which_client(client, headers, clinic, make):
    later = make.client(clinic["program"], name="Sam Okafor", admitted_on=date(2027, 6, 1))
    response = client.post(f"{API}/sessions/{clinic['group'].id}/bookings", headers=headers,
                           json={"client_id": later.id})
    assert response.status_code == 409, response.json
    [detail] = [c["detail"] for c in response.json["conflicts"]]
    assert detail.startswith("Sam Okafor is not admitted until "), detail
    assert "Tue 2027-06-01" in detail or "1 June 2027" in detail, detail
    assert_plain(human_texts(response.json))

    gone = make.client(clinic["program"], name="Ana Ruiz", admitted_on=date(2027, 1, 4),
                       discharged_on=date(2027, 2, 20))
    response = client.post(f"{API}/sessions/{clinic['group'].id}/bookings", headers=headers,
                           json={"client_id": gone.id})
    assert response.status_code == 409, response.json
    [detail] = [c["detail"] for c in response.json["conflicts"]]
    assert detail.startswith("Ana Ruiz was discharged on "), detail
    assert_plain(human_texts(response.json))


def test_an_unavailable_window_says_whose(client, headers, clinic):
    put = client.put(f"{API}/clients/{clinic['jordan'].id}/availability", headers=headers,
                     json={"unavailable": [{"weekday": 0, "start": "17:00", "end": "22:00",
                                            "label": "work"}]})
    assert put.status_code == 200, put.json
    response = client.post(f"{API}/sessions/{clinic['group'].id}/bookings", headers=headers,
                           json={"client_id": clinic["jordan"].id})
    assert response.status_code == 409, response.json
    [detail] = [c["detail"] for c in response.json["conflicts"]]
    assert detail.startswith("Jordan Rivers is unavailable Mon 17:00–22:00"), detail
    assert_plain(human_texts(response.json))


def test_the_session_page_names_the_clash_in_words(client, coordinator, clinic, make, db):
    other = make.series(clinic["program"], title="Skills", start_date=date(2027, 3, 2),
                        end_date=date(2027, 3, 2), rrule="FREQ=DAILY",
                        room_id=clinic["room_a"].id)
    skills = db.scalars(select(Session).where(Session.series_id == other.id)).one()
    sign_in(client, coordinator)
    page = client.post(f"/sessions/{skills.id}/move",
                       data={"new_date": "2027-03-01", "new_time": "18:30",
                             "csrf_token": csrf(client, f"/sessions/{skills.id}")})
    text = page.get_data(as_text=True)
    assert page.status_code == 409, text
    assert f"Room A is used by {GROUP_WORDS}." in text
    assert not ID_WORDS.search(text.split("<main", 1)[-1])


# --- internal field names ------------------------------------------------------------------


def refusals(clinic, make) -> list[tuple[str, str, dict]]:
    """(method, path, body) of requests refused by a rule whose message once named a field."""
    group, series, jordan = clinic["group"], clinic["series"], clinic["jordan"]
    sunday = ny(date(2027, 2, 28), time(18, 0))
    return [
        # The API's own checks of a request.
        ("PATCH", f"/sessions/{group.id}", {"starts_at": ny(date(2027, 3, 1), time(18, 0)),
                                            "ends_at": sunday}),
        ("POST", "/sessions", one_off(clinic, ends_at=ny(date(2027, 3, 1), time(18, 0)))),
        ("POST", "/series", {"program_id": clinic["program"].id, "kind": "group",
                             "title": "Skills", "start_date": "2027-03-08",
                             "end_date": "2027-03-01", "rrule": "FREQ=DAILY",
                             "start_time": "19:00", "duration_minutes": 60}),
        ("POST", f"/staff/{clinic['dana'].id}/time-off",
         {"starts_at": ny(date(2027, 3, 1), time(9, 0)), "ends_at": sunday}),
        # The services' rules, which the pages show too.
        ("PATCH", f"/sessions/{group.id}", {"ends_at": sunday}),
        ("POST", f"/series/{series.id}/end", {"end_date": "2027-02-01", "reason": "Moved"}),
        ("PATCH", f"/clients/{jordan.id}", {"discharged_on": "2027-01-01"}),
        ("POST", f"/series/{series.id}/enrollments",
         {"client_id": jordan.id, "start_date": "2027-03-01", "end_date": "2027-02-01"}),
        ("POST", f"/clients/{jordan.id}/plans",
         {"start_date": "2027-03-01", "end_date": "2027-02-01"}),
        ("POST", f"/clients/{jordan.id}/plans",
         {"start_date": "2027-03-01", "phases": [{"first_week": 3, "last_week": 2}]}),
    ]


def test_no_refusal_names_an_internal_field(client, headers, clinic, make):
    for method, path, body in refusals(clinic, make):
        response = client.open(f"{API}{path}", method=method, json=body, headers=headers)
        assert 400 <= response.status_code < 500, (path, response.status_code, response.json)
        assert response.json.get("errors") or response.json.get("message"), response.json
        assert_plain(human_texts(response.json))


def test_plan_dates_before_the_plan_are_refused_in_words(client, headers, clinic):
    plan = client.post(f"{API}/clients/{clinic['jordan'].id}/plans", headers=headers,
                       json={"start_date": "2027-02-01"})
    assert plan.status_code == 201, plan.json
    response = client.post(f"{API}/plans/{plan.json['id']}/review", headers=headers,
                           json={"reviewed_on": "2027-01-15"})
    assert response.status_code == 422, response.json
    assert "reviewed_on" in response.json["errors"]["json"]  # the contract keeps the key
    assert_plain(human_texts(response.json))


def test_a_page_never_shows_a_bare_field_name_when_it_has_no_label_for_it():
    from scheduler.services.errors import InvalidField
    from scheduler.web.refusals import describe

    assert describe(InvalidField("room_id", "Room 'B' is not in use.")) == \
        "Room: Room 'B' is not in use."
    assert describe(InvalidField("phases.0.last_week", "Must not be before the first week.")) \
        == "Last week: Must not be before the first week."
