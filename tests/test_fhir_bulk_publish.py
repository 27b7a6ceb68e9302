"""$bulk-publish (issue 20): open group seats as SMART Scheduling Links publishes them, public
and holding no client data. The world: tests/fhir_world.py (a 3-seat evening group)."""

import json
from datetime import UTC, date, datetime, time
from urllib.parse import urlsplit

import pytest

from scheduler import clock
from scheduler.fhir.slots import FREE_SEATS
from tests.fhir_check import assert_valid
from tests.fhir_world import FHIR, build

CAPACITY = "http://fhir-registry.smarthealthit.org/StructureDefinition/slot-capacity"


@pytest.fixture
def world(db, make):
    return build(db, make)


def ndjson(client, url) -> list[dict]:
    parts = urlsplit(url)
    answer = client.get(parts.path)
    assert answer.status_code == 200
    assert answer.content_type.startswith("application/fhir+ndjson")
    text = answer.get_data(as_text=True)
    assert text == "" or text.endswith("\n")
    lines = [json.loads(line) for line in text.splitlines()]
    if lines:
        assert_valid(*lines)
    return lines


def published(client) -> dict:
    answer = client.get(f"{FHIR}/$bulk-publish")  # no token: it is public
    assert answer.status_code == 200
    manifest = answer.get_json()
    return {kind: ndjson(client, next(o["url"] for o in manifest["output"] if o["type"] == kind))
            for kind in ("Location", "Schedule", "Slot")}


def test_the_manifest_links_a_location_a_schedule_and_a_slot_file(client, world):
    answer = client.get(f"{FHIR}/$bulk-publish")
    assert answer.status_code == 200
    manifest = answer.get_json()
    assert manifest["transactionTime"] == "2027-02-16T12:00:00Z"
    assert manifest["request"] == f"http://localhost{FHIR}/$bulk-publish"
    assert [o["type"] for o in manifest["output"]] == ["Location", "Schedule", "Slot"]
    assert all(o["url"].startswith(f"http://localhost{FHIR}/$bulk-publish/")
               for o in manifest["output"])
    assert manifest["error"] == []


def test_only_free_group_seats_ahead_are_published(client, world):
    files = published(client)
    slots = files["Slot"]
    # Ahead of now: not Wed 17 (full), not Mon 22 (cancelled); Thu 18 has its three seats.
    assert slots[0]["start"] == "2027-02-18T23:00:00Z"
    assert {s["status"] for s in slots} == {"free"}
    starts = [s["start"] for s in slots]
    assert "2027-02-17T23:00:00Z" not in starts and "2027-02-22T23:00:00Z" not in starts
    assert starts == sorted(starts)
    first = slots[0]["extension"]
    assert {e["url"]: e["valueInteger"] for e in first} == {CAPACITY: 3, FREE_SEATS: 3}
    one_to_one = {str(world.one_offs[k].id) for k in ("now", "late")}
    assert not one_to_one & {s["id"] for s in slots}
    assert {s["schedule"]["reference"] for s in slots} == {f"Schedule/series-{world.series.id}"}
    assert files["Schedule"] == [{
        "resourceType": "Schedule", "id": f"series-{world.series.id}",
        "serviceType": [{"coding": [{
            "system": "https://iop-scheduler.org/fhir/CodeSystem/session-kind",
            "code": "group", "display": "Group session"}]}],
        "actor": [{"reference": f"Location/site-{world.program.site_id}"}]}]
    assert [loc["id"] for loc in files["Location"]] == [f"site-{world.program.site_id}"]


def test_nothing_published_names_a_client_a_title_or_a_facilitator(client, world):
    text = json.dumps(published(client))
    for person in world.people.values():
        assert person.name not in text
    assert "Patient" not in text and "Relapse" not in text
    assert world.dana.name not in text and "Practitioner" not in text


def test_a_full_or_ended_series_leaves_the_files(client, db, world, make):
    # A one-to-one series (one seat) is never published, however free.
    make.series(world.program, kind="individual", title="Weekly check-in", capacity=1,
                facilitator_ids=[world.eli.id], start_date=date(2027, 3, 1),
                start_time=time(9, 0), duration_minutes=60, rrule="FREQ=WEEKLY;BYDAY=TU")
    files = published(client)
    assert [s["id"] for s in files["Schedule"]] == [f"series-{world.series.id}"]
    with clock.frozen(datetime(2027, 4, 1, tzinfo=UTC)):
        later = published(client)
    assert later == {"Location": [], "Schedule": [], "Slot": []}


def test_the_operation_is_in_the_capability_statement(client):
    body = client.get(f"{FHIR}/metadata").get_json()
    assert {"name": "bulk-publish",
            "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/bulk-publish"} \
        in body["rest"][0]["operation"]
    assert_valid(body)


def test_the_slot_file_streams_in_chunks_and_loses_no_line_between_them(client, world,
                                                                        monkeypatch):
    whole = published(client)["Slot"]
    monkeypatch.setattr("scheduler.fhir.bulk_publish.CHUNK", 2)
    chunked = published(client)["Slot"]
    assert [s["id"] for s in chunked] == [s["id"] for s in whole]
    assert len(whole) > 4
