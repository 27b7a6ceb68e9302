"""Practitioner, Location and HealthcareService under /fhir/R4 (issue 20): no client data, so any
live token reads them and no consent is asked; inactive rows are shown, marked so."""

import pytest

from scheduler.models import Disclosure
from scheduler.services import recipients, rooms, staff
from tests.fhir_check import assert_valid
from tests.fhir_clients import api_client, token
from tests.helpers import ACTOR

FHIR = "/fhir/R4"


@pytest.fixture
def world(db, make):
    program = make.program(name="Evening IOP")
    closed = make.program(name="Morning IOP")
    closed.is_active = False
    room_b = make.room(name="Room B", location="Second floor")
    room_c = make.room(name="Room C")
    rooms.update_room(db, ACTOR, room_c, {"is_active": False})
    jo = make.staff(name="Jo Rivera", credentials="LCSW")
    sam = make.staff(name="Sam Lee")
    staff.update_staff(db, ACTOR, sam, {"is_active": False})
    recipient = recipients.create_recipient(db, ACTOR, name="Referral Net", kind="referral")
    db.commit()
    return {"program": program, "closed": closed, "room_b": room_b, "room_c": room_c,
            "jo": jo, "sam": sam, "recipient": recipient, "site_id": program.site_id,
}


@pytest.fixture
def headers(client, db, world):
    # A token of the narrowest scope: the directory needs no particular one.
    row, secret = api_client(db, world["recipient"], scopes=["system/Slot.read"])
    return token(client, row, secret)


def ids_of(bundle: dict) -> list[str]:
    return [entry["resource"]["id"] for entry in bundle.get("entry", [])]


def test_practitioners_read_and_search_by_name_with_inactive_marked(client, db, world,
                                                                    headers):
    jo = client.get(f"{FHIR}/Practitioner/{world['jo'].id}", headers=headers).get_json()
    assert_valid(jo)
    assert (jo["name"], jo["active"]) == ([{"text": "Jo Rivera"}], True)
    assert jo["qualification"] == [{"code": {"text": "LCSW"}}]
    assert "telecom" not in jo
    every = client.get(f"{FHIR}/Practitioner", headers=headers).get_json()
    assert_valid(every)
    assert ids_of(every) == [str(world["jo"].id), str(world["sam"].id)]
    assert [e["resource"]["active"] for e in every["entry"]] == [True, False]
    found = client.get(f"{FHIR}/Practitioner?name=riv", headers=headers).get_json()
    assert ids_of(found) == [str(world["jo"].id)]
    active = client.get(f"{FHIR}/Practitioner?active=true", headers=headers).get_json()
    assert ids_of(active) == [str(world["jo"].id)]
    assert db.query(Disclosure).count() == 0


def test_sites_and_rooms_are_locations_with_rooms_part_of_their_site(client, world, headers):
    site_id = world["site_id"]
    site = client.get(f"{FHIR}/Location/site-{site_id}", headers=headers).get_json()
    room = client.get(f"{FHIR}/Location/{world['room_b'].id}", headers=headers).get_json()
    closed = client.get(f"{FHIR}/Location/{world['room_c'].id}", headers=headers).get_json()
    assert_valid(site, room, closed)
    assert site["physicalType"]["coding"][0]["code"] == "si"
    assert (room["name"], room["partOf"], room["description"], room["status"]) == (
        "Room B", {"reference": f"Location/site-{site_id}"}, "Second floor", "active")
    assert closed["status"] == "inactive"

    every = client.get(f"{FHIR}/Location?_count=2", headers=headers).get_json()
    assert_valid(every)
    assert ids_of(every) == [f"site-{site_id}", str(world["room_b"].id)]
    following = next(link["url"] for link in every["link"] if link["relation"] == "next")
    rest = client.get(following, headers=headers).get_json()
    assert_valid(rest)
    assert ids_of(rest) == [str(world["room_c"].id)]

    rooms_of_site = client.get(f"{FHIR}/Location?partof=Location/site-{site_id}&status=active",
                               headers=headers).get_json()
    assert ids_of(rooms_of_site) == [str(world["room_b"].id)]


def test_programs_are_healthcare_services_at_their_site(client, world, headers):
    body = client.get(f"{FHIR}/HealthcareService/{world['program'].id}",
                      headers=headers).get_json()
    assert_valid(body)
    assert (body["name"], body["active"]) == ("Evening IOP", True)
    assert body["location"] == [{"reference": f"Location/site-{world['site_id']}"}]
    every = client.get(f"{FHIR}/HealthcareService", headers=headers).get_json()
    assert_valid(every)
    assert ids_of(every) == [str(world["program"].id), str(world["closed"].id)]
    open_only = client.get(f"{FHIR}/HealthcareService?active=true&name=even",
                           headers=headers).get_json()
    assert ids_of(open_only) == [str(world["program"].id)]


@pytest.mark.parametrize("path", [
    "/Practitioner/abc", f"/Practitioner/{2**63}", f"/Practitioner/{2**40}",
    "/Location/site-abc", "/Location/site-0", f"/Location/site-{2**64}", "/Location/-3",
    "/HealthcareService/999999", "/HealthcareService/1e3",
])
def test_ids_that_name_nothing_are_404_outcomes(client, world, headers, path):
    answer = client.get(f"{FHIR}{path}", headers=headers)
    assert answer.status_code == 404
    assert answer.content_type.startswith("application/fhir+json")
    assert_valid(answer.get_json())


@pytest.mark.parametrize("path", ["/Practitioner", "/Location/site-1", "/HealthcareService"])
def test_without_a_token_the_directory_answers_401(client, world, path):
    answer = client.get(f"{FHIR}{path}")
    assert answer.status_code == 401
    assert_valid(answer.get_json())


@pytest.mark.parametrize("query, parameter", [
    ("/Location?status=closed", "status"),
    ("/Location?partof=Location/3", "partof"),
    ("/Practitioner?active=yes", "active"),
    ("/HealthcareService?type=group", "type"),
])
def test_search_parameters_it_cannot_read_are_400(client, world, headers, query, parameter):
    answer = client.get(f"{FHIR}{query}", headers=headers)
    assert answer.status_code == 400
    assert answer.get_json()["issue"][0]["expression"] == [parameter]
