"""Slot and Schedule (issue 20): a Slot per session, free or busy with its free seats, and a
Schedule per series and per practitioner. No client data, so no consent: never whose seat.

The world (tests/fhir_world.py): the evening group has 3 seats; on Wed 17 February all three are
taken (and Dylan waits), on Thu 18 Avery's cancellation left it empty, Mon 22 was cancelled.
Avery's one-to-one sessions are one-offs led by Dana.
"""

from urllib.parse import urlsplit

import pytest

from scheduler.fhir.slots import FREE_SEATS
from tests.fhir_check import assert_valid
from tests.fhir_world import FHIR, build, token


@pytest.fixture
def world(db, make):
    return build(db, make)


@pytest.fixture
def headers(db, world):
    """A recipient holding no consent at all: Slots and Schedules need none."""
    return token(db, world.billing, ["system/Slot.read"])


def get(client, path, headers, status=200):
    answer = client.get(f"{FHIR}{path}", headers=headers)
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert answer.content_type.startswith("application/fhir+json")
    body = answer.get_json()
    assert_valid(body)
    return body


def search_all(client, kind, query, headers) -> list[dict]:
    found, url = [], f"{FHIR}/{kind}?{query}"
    while url:
        bundle = get(client, url.removeprefix(FHIR), headers)
        found += [entry["resource"] for entry in bundle.get("entry", [])]
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
        if url:
            parts = urlsplit(url)
            url = f"{parts.path}?{parts.query}"
    return found


def seats(slot) -> int | None:
    return next((e["valueInteger"] for e in slot.get("extension", []) if e["url"] == FREE_SEATS),
                None)


def test_a_sessions_slot_says_free_or_busy_and_how_many_seats_are_left(client, world,
                                                                         headers):
    by_key = {key: get(client, f"/Slot/{world.sessions[key].id}", headers)
              for key in ("mon15", "wed17", "thu18", "mon22")}
    assert {key: (slot["status"], seats(slot)) for key, slot in by_key.items()} == {
        "mon15": ("busy", 1),               # over: nobody can join it now
        "wed17": ("busy", 0),               # full
        "thu18": ("free", 3),               # Avery cancelled: all three free
        "mon22": ("busy-unavailable", 2),   # cancelled (Avery's booking stands)
    }
    slot = by_key["wed17"]
    assert slot["schedule"] == {"reference": f"Schedule/series-{world.series.id}"}
    assert (slot["start"], slot["end"]) == ("2027-02-17T23:00:00Z", "2027-02-18T02:00:00Z")
    text = str(by_key)
    assert "Patient/" not in text and "Relapse" not in text
    assert not any(person.name in text for person in world.people.values())


def test_a_one_to_one_slot_is_just_busy_and_never_says_whose(client, world, headers):
    for key in ("now", "late"):
        slot = get(client, f"/Slot/{world.one_offs[key].id}", headers)
        assert slot["status"] == "busy"
        assert "extension" not in slot
        assert slot["schedule"] == {"reference": f"Schedule/practitioner-{world.dana.id}"}
        text = str(slot)
        assert "Patient" not in text and world.people["avery"].name not in text


def test_slots_are_searched_by_schedule_start_and_status(client, world, headers):
    series = f"schedule=Schedule/series-{world.series.id}"
    week = search_all(client, "Slot", f"{series}&start=ge2027-02-16&start=lt2027-02-23",
                      headers)
    assert [int(s["id"]) for s in week] == [world.sessions[k].id
                                           for k in ("wed17", "thu18", "mon22")]
    free = search_all(client, "Slot", f"{series}&status=free&start=le2027-02-28", headers)
    assert [s["start"][:10] for s in free] == [
        "2027-02-18", "2027-02-24", "2027-02-25"]
    own = search_all(client, "Slot", f"schedule=Schedule/practitioner-{world.dana.id}",
                     headers)
    assert [int(s["id"]) for s in own] == [world.one_offs["now"].id, world.one_offs["late"].id]
    # 20:00 on the 19th in New York: the 19th there, the 20th in UTC.
    assert [int(s["id"]) for s in search_all(client, "Slot", "start=2027-02-19", headers)] \
        == [world.one_offs["late"].id]
    cancelled = search_all(client, "Slot", "status=busy-unavailable", headers)
    assert [int(s["id"]) for s in cancelled] == [world.sessions["mon22"].id]


def test_paging_through_slots_returns_each_once_in_order(client, world, headers):
    whole = search_all(client, "Slot", "_count=200", headers)
    paged = search_all(client, "Slot", "_count=4", headers)
    assert [s["id"] for s in paged] == [s["id"] for s in whole]
    assert len({s["id"] for s in paged}) == len(paged) > 8


@pytest.mark.parametrize("query, parameter", [
    ("schedule=Schedule/room-1", "schedule"),
    ("schedule=Schedule/series-" + str(2**63), "schedule"),
    ("start=9999-99-99", "start"),
    ("start=ap2027-02-01", "start"),
    ("status=open", "status"),
    ("status=free%00", "status"),
    ("_count=abc", "_count"),
    ("_cursor=bm9wZQ", "_cursor"),
    ("patient=1", "patient"),
])
def test_hostile_slot_searches_are_refused_naming_the_parameter(client, headers, query,
                                                                parameter):
    body = get(client, f"/Slot?{query}", headers, 400)
    assert body["issue"][0]["expression"] == [parameter]


@pytest.mark.parametrize("path", ["/Slot/" + str(2**63), "/Slot/0", "/Slot/x%00",
                                  "/Slot/999999", "/Schedule/series-" + str(2**64),
                                  "/Schedule/series-999999", "/Schedule/practitioner-abc",
                                  "/Schedule/room-1", "/Schedule/999"])
def test_a_read_of_a_missing_or_impossible_id_is_a_404(client, headers, path):
    get(client, path, headers, 404)


def test_the_door_asks_the_slot_scope(client, db, world):
    get(client, "/Slot", {}, 401)
    get(client, "/Schedule", {}, 401)
    appointments_only = token(db, world.kipu, ["system/Appointment.read"])
    get(client, "/Slot", appointments_only, 403)
    get(client, f"/Schedule/series-{world.series.id}", appointments_only, 403)


def test_a_series_schedule_names_its_program_room_and_staff_but_not_its_title(client, world,
                                                                             headers):
    schedule = get(client, f"/Schedule/series-{world.series.id}", headers)
    assert [a["reference"] for a in schedule["actor"]] == [
        f"HealthcareService/{world.program.id}", f"Location/{world.room.id}",
        f"Practitioner/{world.dana.id}", f"Practitioner/{world.eli.id}"]
    assert schedule["active"] is True
    assert schedule["planningHorizon"] == {"start": "2027-02-08", "end": "2027-03-31"}
    assert "Relapse" not in str(schedule)
    own = get(client, f"/Schedule/practitioner-{world.dana.id}", headers)
    assert own["actor"] == [{"reference": f"Practitioner/{world.dana.id}"}]


def test_schedules_are_searched_by_actor_and_paged(client, world, headers):
    def ids(query):
        return [s["id"] for s in search_all(client, "Schedule", query, headers)]

    series = f"series-{world.series.id}"
    assert ids(f"actor=Practitioner/{world.dana.id}") == [series,
                                                           f"practitioner-{world.dana.id}"]
    assert ids(f"actor=Location/{world.room.id}") == [series]
    assert ids(f"actor=HealthcareService/{world.program.id}") == [series]
    assert ids("actor=Location/999") == []
    everything = ids("")
    assert everything == [series] + [f"practitioner-{s.id}" for s in (world.dana, world.eli)]
    assert ids("_count=1") == everything
    assert get(client, "/Schedule?actor=Patient/1", headers, 400)["issue"][0][
        "expression"] == ["actor"]
    assert get(client, "/Schedule?actor=Practitioner/" + str(2**63), headers, 400)


def test_the_capability_statement_declares_slot_and_schedule(client):
    body = get(client, "/metadata", {})
    declared = {r["type"]: r for r in body["rest"][0]["resource"]}
    assert [p["name"] for p in declared["Slot"]["searchParam"]] == [
        "schedule", "start", "status", "_count"]
    assert [p["name"] for p in declared["Schedule"]["searchParam"]] == ["actor", "_count"]
    assert FREE_SEATS in declared["Slot"]["documentation"]
