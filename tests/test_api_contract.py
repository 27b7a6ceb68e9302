"""The /api/v1 contract (issue 2): requests with only the documented fields, and answers."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from scheduler.models import Client, Program, Room, SessionSeries, Staff

API = "/api/v1"


@pytest.fixture
def coordinator(auth):
    return auth("coordinator")


def _create(client, headers, resource, body):
    response = client.post(f"{API}/{resource}", json=body, headers=headers)
    assert response.status_code == 201, response.json
    return response.json


# --- create with only the contract's fields --------------------------------------------------


def test_a_program_is_created_from_name_level_population_and_timezone(client, coordinator):
    """POST /programs with the four contract fields answers 201 with id and min_weekly_hours."""
    body = {"name": "Evening IOP", "level_of_care": "2.1", "population": "adult",
            "timezone": "America/New_York"}
    created = _create(client, coordinator, "programs", body)

    assert isinstance(created["id"], int)
    assert created["min_weekly_hours"] == 9
    assert {k: created[k] for k in body} == body
    fetched = client.get(f"{API}/programs/{created['id']}", headers=coordinator)
    assert fetched.status_code == 200
    assert fetched.json == created


def test_a_room_is_created_from_name_and_capacity(client, coordinator):
    """POST /rooms with name and capacity answers 201 and the room reads back."""
    created = _create(client, coordinator, "rooms", {"name": "Room B", "capacity": 12})

    assert isinstance(created["id"], int)
    assert (created["name"], created["capacity"]) == ("Room B", 12)
    assert client.get(f"{API}/rooms/{created['id']}", headers=coordinator).json == created


def test_a_staff_member_is_created_from_name_role_and_email(client, coordinator):
    """POST /staff with name, role and email answers 201 and the member reads back."""
    body = {"name": "Dana Reyes", "role": "counselor", "email": "dana@clinic.test"}
    created = _create(client, coordinator, "staff", body)

    assert isinstance(created["id"], int)
    assert {k: created[k] for k in body} == body
    assert client.get(f"{API}/staff/{created['id']}", headers=coordinator).json == created


def test_a_staff_email_is_kept_lower_case_so_it_matches_a_login(client, coordinator):
    """Staff emails differing only in case are the same address."""
    created = _create(client, coordinator, "staff",
                      {"name": "Dana Reyes", "role": "counselor", "email": "Dana@Clinic.TEST"})
    assert created["email"] == "dana@clinic.test"


def test_a_client_is_admitted_from_name_program_and_admission_date(client, coordinator, make):
    """POST /clients with name, program_id and admitted_on answers 201 as an active client."""
    program = make.program()
    body = {"name": "Sam Client", "program_id": program.id, "admitted_on": "2027-02-01"}
    created = _create(client, coordinator, "clients", body)

    assert isinstance(created["id"], int)
    assert {k: created[k] for k in body} == body
    assert created["status"] == "active"
    assert client.get(f"{API}/clients/{created['id']}", headers=coordinator).json == created


def test_a_series_is_created_from_the_contract_fields_and_makes_its_sessions(
    client, coordinator, make
):
    """POST /series with the contract's fields answers 201 and its occurrences exist at once."""
    program, room, staff = make.program(), make.room(capacity=12), make.staff()
    body = {
        "program_id": program.id,
        "kind": "group",
        "title": "Relapse prevention",
        "timezone": "America/New_York",
        "start_date": "2027-03-01",
        "start_time": "18:00",
        "duration_minutes": 180,
        "rrule": "FREQ=WEEKLY;BYDAY=MO,WE,TH",
        "end_date": "2027-03-31",
        "capacity": 12,
        "room_id": room.id,
        "facilitator_ids": [staff.id],
    }
    created = _create(client, coordinator, "series", body)

    assert isinstance(created["id"], int)
    assert {k: created[k] for k in body} == body
    sessions = client.get(f"{API}/sessions", query_string={"series_id": created["id"]},
                          headers=coordinator).json
    # March 2027 has 5 Mondays, 5 Wednesdays and 4 Thursdays.
    assert sessions["total"] == 14
    assert created["occurrences"]["created"] == 14
    first = sessions["items"][0]
    assert set(first) >= {"id", "series_id", "starts_at", "ends_at", "status"}
    assert (first["series_id"], first["status"]) == (created["id"], "scheduled")
    assert first["starts_at"] == "2027-03-01T18:00:00-05:00"
    assert first["ends_at"] == "2027-03-01T21:00:00-05:00"
    assert first["room_id"] == room.id
    assert first["facilitator_ids"] == [staff.id]


def test_a_series_without_a_timezone_takes_its_programs(client, coordinator, make):
    """The series' zone defaults to the program's, so local times follow the clinic."""
    program = make.program(timezone="America/Chicago")
    created = _create(client, coordinator, "series", {
        "program_id": program.id, "kind": "group", "title": "Skills", "start_date": "2027-03-01",
        "start_time": "10:00", "duration_minutes": 90, "rrule": "FREQ=WEEKLY;BYDAY=MO",
    })
    assert created["timezone"] == "America/Chicago"


def test_a_series_patch_edits_the_series_and_its_future_sessions(client, coordinator, make):
    """PATCH /series answers the edited series; its untouched occurrences follow the edit."""
    series = make.series(end_date=date(2027, 3, 31))
    response = client.patch(f"{API}/series/{series.id}",
                            json={"title": "Relapse prevention", "start_time": "17:30"},
                            headers=coordinator)

    assert response.status_code == 200, response.json
    assert (response.json["title"], response.json["start_time"]) == ("Relapse prevention",
                                                                     "17:30")
    items = client.get(f"{API}/sessions", query_string={"series_id": series.id},
                       headers=coordinator).json["items"]
    assert {item["title"] for item in items} == {"Relapse prevention"}
    assert {item["starts_at"][10:] for item in items} == {"T17:30:00-05:00", "T17:30:00-04:00"}


def test_a_series_capacity_of_null_returns_it_to_the_kinds_default(client, coordinator, make):
    """As on create, no capacity means 12 for a group."""
    series = make.series(capacity=8)
    response = client.patch(f"{API}/series/{series.id}", json={"capacity": None},
                            headers=coordinator)
    assert response.status_code == 200, response.json
    assert response.json["capacity"] == 12


def test_ending_a_series_cancels_later_sessions_without_deleting_them(client, coordinator, make):
    """POST /series/{id}/end marks the series ended; sessions after the end are cancelled."""
    series = make.series(end_date=date(2027, 3, 31))
    before = client.get(f"{API}/sessions", query_string={"series_id": series.id},
                        headers=coordinator).json["total"]
    response = client.post(f"{API}/series/{series.id}/end", json={"end_date": "2027-03-15"},
                           headers=coordinator)

    assert response.status_code == 200, response.json
    assert (response.json["status"], response.json["end_date"]) == ("ended", "2027-03-15")
    items = client.get(f"{API}/sessions", query_string={"series_id": series.id},
                       headers=coordinator).json["items"]
    assert len(items) == before
    for item in items:
        expected = "scheduled" if item["starts_at"][:10] <= "2027-03-15" else "cancelled"
        assert item["status"] == expected, item


def test_a_room_may_shrink_to_exactly_what_its_series_needs(client, coordinator, make):
    """Lowering a room's capacity is fine while every group in it still fits."""
    room = make.room(capacity=14)
    make.series(room_id=room.id, capacity=10)
    response = client.patch(f"{API}/rooms/{room.id}", json={"capacity": 10}, headers=coordinator)
    assert response.status_code == 200, response.json
    assert response.json["capacity"] == 10


def test_a_session_reads_back_by_id(client, coordinator, make):
    """GET /sessions/{id} answers the same session the list shows."""
    series = make.series()
    listed = client.get(f"{API}/sessions", query_string={"series_id": series.id},
                        headers=coordinator).json["items"][0]
    fetched = client.get(f"{API}/sessions/{listed['id']}", headers=coordinator)
    assert fetched.status_code == 200
    assert fetched.json == listed


# --- GET and PATCH on programs, rooms, staff and clients --------------------------------------


@pytest.mark.parametrize(
    ("resource", "factory", "changes"),
    [
        ("programs", "program", {"name": "Daytime IOP", "address": "1 Elm St"}),
        ("rooms", "room", {"capacity": 9, "location": "Second floor"}),
        ("staff", "staff", {"role": "medical", "credentials": "MD"}),
        ("clients", "client", {"preferred_name": "Sam", "phone": "555-0100"}),
    ],
)
def test_patch_changes_only_the_fields_sent(client, coordinator, make, resource, factory, changes):
    """PATCH answers the updated record; fields not sent keep their values."""
    row_id = getattr(make, factory)().id
    before = client.get(f"{API}/{resource}/{row_id}", headers=coordinator).json

    response = client.patch(f"{API}/{resource}/{row_id}", json=changes, headers=coordinator)

    assert response.status_code == 200, response.json
    assert response.json == {**before, **changes}
    assert client.get(f"{API}/{resource}/{row_id}", headers=coordinator).json == response.json


def test_a_client_can_be_moved_to_another_program(client, coordinator, make):
    """PATCH program_id transfers the client."""
    target = make.program()
    row = make.client()
    response = client.patch(f"{API}/clients/{row.id}", json={"program_id": target.id},
                            headers=coordinator)
    assert response.status_code == 200
    assert response.json["program_id"] == target.id


def test_a_room_can_be_taken_out_of_use(client, coordinator, make):
    """PATCH is_active=false keeps the room but marks it unused."""
    room = make.room()
    response = client.patch(f"{API}/rooms/{room.id}", json={"is_active": False},
                            headers=coordinator)
    assert response.json["is_active"] is False
    assert client.get(f"{API}/rooms/{room.id}", headers=coordinator).json["is_active"] is False


# --- min_weekly_hours ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "population", "hours"),
    [
        ("2.1", "adult", 9),
        ("2.1", "adolescent", 6),
        ("2.5", "adult", 20),
        ("2.5", "adolescent", 20),
        ("1", "adult", None),
        ("1", "adolescent", None),
    ],
)
def test_min_weekly_hours_default_follows_asam_level_and_population(
    client, coordinator, level, population, hours
):
    """Without an override the minimum is ASAM's for the level and population."""
    created = _create(client, coordinator, "programs", {
        "name": "P", "level_of_care": level, "population": population,
        "timezone": "America/New_York",
    })
    assert created["min_weekly_hours"] == hours
    assert created["min_weekly_hours_is_default"] is True


def test_population_defaults_to_adult(client, coordinator):
    """A program posted without population is an adult program with the adult minimum."""
    created = _create(client, coordinator, "programs",
                      {"name": "P", "level_of_care": "2.1", "timezone": "America/New_York"})
    assert (created["population"], created["min_weekly_hours"]) == ("adult", 9)


def test_min_weekly_hours_can_be_overridden_on_create(client, coordinator):
    """A program may demand more than ASAM's minimum."""
    created = _create(client, coordinator, "programs", {
        "name": "P", "level_of_care": "2.1", "population": "adult",
        "timezone": "America/New_York", "min_weekly_hours": 12.5,
    })
    assert created["min_weekly_hours"] == 12.5
    assert created["min_weekly_hours_is_default"] is False


def test_min_weekly_hours_override_is_reset_to_the_default_with_null(client, coordinator, make):
    """PATCH min_weekly_hours=null returns the program to its level's default."""
    program = make.program(level_of_care="2.1", population="adolescent")
    url = f"{API}/programs/{program.id}"

    overridden = client.patch(url, json={"min_weekly_hours": 8}, headers=coordinator).json
    assert (overridden["min_weekly_hours"], overridden["min_weekly_hours_is_default"]) == (8, False)

    reset = client.patch(url, json={"min_weekly_hours": None}, headers=coordinator).json
    assert (reset["min_weekly_hours"], reset["min_weekly_hours_is_default"]) == (6, True)


def test_a_default_minimum_follows_a_level_change_but_an_override_does_not(
    client, coordinator, make
):
    """Only a program on the default re-derives its minimum when the level changes."""
    on_default = make.program(level_of_care="2.1")
    overridden = make.program(level_of_care="2.1", min_weekly_hours=11)

    for program in (on_default, overridden):
        client.patch(f"{API}/programs/{program.id}", json={"level_of_care": "2.5"},
                     headers=coordinator)

    assert client.get(f"{API}/programs/{on_default.id}",
                      headers=coordinator).json["min_weekly_hours"] == 20
    assert client.get(f"{API}/programs/{overridden.id}",
                      headers=coordinator).json["min_weekly_hours"] == 11


# --- lists and pagination --------------------------------------------------------------------

LISTS = [
    ("programs", "program", Program),
    ("rooms", "room", Room),
    ("staff", "staff", Staff),
    ("clients", "client", Client),
    ("series", "series", SessionSeries),
]


@pytest.mark.parametrize(("resource", "factory", "model"), LISTS)
def test_lists_answer_items_with_page_per_page_and_total(
    client, coordinator, make, db, resource, factory, model
):
    """Every list is an envelope {"items", "page", "per_page", "total"}."""
    for _ in range(3):
        getattr(make, factory)()
    body = client.get(f"{API}/{resource}", headers=coordinator).json

    total = len(db.scalars(select(model.id)).all())
    assert set(body) == {"items", "page", "per_page", "total"}
    assert (body["page"], body["total"], len(body["items"])) == (1, total, total)


@pytest.mark.parametrize(("resource", "factory", "model"), LISTS)
def test_paging_through_a_list_returns_every_row_exactly_once(
    client, coordinator, make, db, resource, factory, model
):
    """Walking pages of 2 yields each row once and the last page holds the remainder."""
    for _ in range(5):
        getattr(make, factory)()
    expected = set(db.scalars(select(model.id)))

    seen = []
    for page in (1, 2, 3, 4):
        body = client.get(f"{API}/{resource}", query_string={"page": page, "per_page": 2},
                          headers=coordinator).json
        assert (body["page"], body["per_page"], body["total"]) == (page, 2, len(expected))
        seen.extend(item["id"] for item in body["items"])
    assert len(seen) == len(set(seen))
    assert set(seen) == expected


def test_sessions_paginate_in_start_order(client, coordinator, make):
    """Session pages follow each other in time, with nothing repeated or skipped."""
    series = make.series(rrule="FREQ=DAILY", end_date=date(2027, 3, 7))
    starts = []
    for page in (1, 2, 3):
        body = client.get(f"{API}/sessions", query_string={
            "series_id": series.id, "page": page, "per_page": 3}, headers=coordinator).json
        assert body["total"] == 7
        starts.extend(item["starts_at"] for item in body["items"])
    assert starts == [f"2027-03-0{d}T18:00:00-05:00" for d in range(1, 8)]


def test_clients_can_be_listed_per_program(client, coordinator, make):
    """?program_id= narrows the client list to one program."""
    program = make.program()
    mine = {make.client(program).id, make.client(program).id}
    make.client()
    body = client.get(f"{API}/clients", query_string={"program_id": program.id},
                      headers=coordinator).json
    assert {item["id"] for item in body["items"]} == mine
    assert body["total"] == 2


# --- session list filters --------------------------------------------------------------------


@pytest.fixture
def two_groups(make):
    """Two weekly groups in different rooms with different facilitators."""
    program = make.program()
    room_a, room_b = make.room(), make.room()
    staff_a, staff_b = make.staff(), make.staff()
    a = make.series(program, room_id=room_a.id, facilitator_ids=[staff_a.id],
                    rrule="FREQ=WEEKLY;BYDAY=MO", end_date=date(2027, 3, 31))
    b = make.series(program, room_id=room_b.id, facilitator_ids=[staff_b.id],
                    rrule="FREQ=WEEKLY;BYDAY=TU", end_date=date(2027, 3, 31))
    return {"a": a, "b": b, "room_a": room_a, "room_b": room_b,
            "staff_a": staff_a, "staff_b": staff_b}


def _series_ids(client, headers, **query):
    body = client.get(f"{API}/sessions", query_string=query, headers=headers).json
    return [item["series_id"] for item in body["items"]]


def test_sessions_filter_by_series(client, coordinator, two_groups):
    """?series_id= lists only that series' occurrences."""
    found = _series_ids(client, coordinator, series_id=two_groups["a"].id)
    assert found == [two_groups["a"].id] * 5  # five Mondays in March 2027


def test_sessions_filter_by_facilitator(client, coordinator, two_groups):
    """?staff_id= lists only the sessions that staff member facilitates."""
    found = _series_ids(client, coordinator, staff_id=two_groups["staff_b"].id)
    assert found == [two_groups["b"].id] * 5  # five Tuesdays in March 2027


def test_sessions_filter_by_room(client, coordinator, two_groups):
    """?room_id= lists only the sessions in that room."""
    found = _series_ids(client, coordinator, room_id=two_groups["room_a"].id)
    assert set(found) == {two_groups["a"].id}


def test_a_staff_member_without_sessions_has_an_empty_list(client, coordinator, make, two_groups):
    """Filtering by an idle staff member answers an empty list, not everything."""
    idle = make.staff()
    body = client.get(f"{API}/sessions", query_string={"staff_id": idle.id},
                      headers=coordinator).json
    assert (body["items"], body["total"]) == ([], 0)


@pytest.mark.parametrize(
    ("window", "listed"),
    [
        # The only session runs 2027-03-01 18:00-21:00 New York time (23:00-02:00 UTC).
        ({"from": "2027-03-01T20:00:00-05:00"}, True),   # still running at 20:00
        ({"from": "2027-03-01T21:00:00-05:00"}, False),  # ended exactly then
        ({"to": "2027-03-01T18:00:00-05:00"}, False),    # has not started before 18:00
        ({"to": "2027-03-01T18:01:00-05:00"}, True),     # started before 18:01
        ({"from": "2027-03-01T19:00:00-05:00", "to": "2027-03-01T19:30:00-05:00"}, True),
        ({"from": "2027-03-02T01:30:00Z", "to": "2027-03-02T03:00:00Z"}, True),
        ({"from": "2027-03-02T02:00:00Z", "to": "2027-03-02T03:00:00Z"}, False),
        ({"from": "2027-02-28T00:00:00-05:00", "to": "2027-03-01T17:59:00-05:00"}, False),
    ],
)
def test_the_time_window_lists_sessions_that_overlap_it(client, coordinator, make, window, listed):
    """from/to select sessions overlapping [from, to), whatever offset the window is given in."""
    series = make.series(rrule="FREQ=WEEKLY;BYDAY=MO;COUNT=1")
    found = _series_ids(client, coordinator, series_id=series.id, **window)
    assert found == ([series.id] if listed else [])


# --- UTC offsets -----------------------------------------------------------------------------


def _starts(client, headers, series, frm, to):
    body = client.get(f"{API}/sessions", query_string={
        "series_id": series.id, "from": frm, "to": to}, headers=headers).json
    return [item["starts_at"] for item in body["items"]]


def test_new_york_sessions_carry_minus_five_in_winter_and_minus_four_in_summer(
    client, coordinator, make
):
    """An 18:00 group stays at 18:00 local across the March DST change, with the offset moving."""
    series = make.series(start_date=date(2027, 3, 8))  # Mon/Wed/Thu; DST starts Sun 14 March
    assert _starts(client, coordinator, series, "2027-03-08T00:00:00Z", "2027-03-19T00:00:00Z") == [
        "2027-03-08T18:00:00-05:00",
        "2027-03-10T18:00:00-05:00",
        "2027-03-11T18:00:00-05:00",
        "2027-03-15T18:00:00-04:00",
        "2027-03-17T18:00:00-04:00",
        "2027-03-18T18:00:00-04:00",
    ]


def test_sydney_sessions_carry_their_own_zones_offset_across_its_april_change(
    client, coordinator, make
):
    """A southern-hemisphere series moves from +11:00 to +10:00 when Sydney's DST ends."""
    program = make.program(timezone="Australia/Sydney")
    series = make.series(program, start_date=date(2027, 3, 29), rrule="FREQ=WEEKLY;BYDAY=MO,WE")
    assert _starts(client, coordinator, series, "2027-03-28T00:00:00Z", "2027-04-08T00:00:00Z") == [
        "2027-03-29T18:00:00+11:00",
        "2027-03-31T18:00:00+11:00",
        "2027-04-05T18:00:00+10:00",
        "2027-04-07T18:00:00+10:00",
    ]


def test_every_listed_time_carries_the_offset_of_its_series_zone(client, coordinator, make):
    """starts_at, ends_at and original_start are ISO 8601 with the series zone's offset."""
    series = make.series(make.program(timezone="Asia/Kolkata"), rrule="FREQ=DAILY")
    body = client.get(f"{API}/sessions", query_string={"series_id": series.id, "per_page": 1000},
                      headers=coordinator).json
    tz = ZoneInfo("Asia/Kolkata")
    assert body["total"] > 100
    for item in body["items"]:
        for key in ("starts_at", "ends_at", "original_start"):
            instant = datetime.fromisoformat(item[key])
            assert instant.utcoffset() == tz.utcoffset(instant.replace(tzinfo=None)), item
            assert item[key].endswith("+05:30")
