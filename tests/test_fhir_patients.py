"""Patient under /fhir/R4 (issue 20): what a recipient sees of a client is what the client's
Part 2 consent lets it see, each Patient sent is logged as a disclosure, and an EHR's referral
makes a client awaiting intake.

The clinic's clock stands at Tue 16 February 2027 12:00 UTC (07:00 in New York).
"""

import json
from datetime import date, timedelta

import pytest

from scheduler import clock
from scheduler.models import AuditEvent, Client, Disclosure
from scheduler.services import consents, episodes, recipients
from tests.fhir_check import assert_valid
from tests.fhir_clients import api_client, token
from tests.helpers import ACTOR

FHIR = "/fhir/R4"
PROGRAM_EXTENSION = "urn:iop-scheduler:referral-program"


@pytest.fixture
def world(db, make):
    program = make.program(name="Evening IOP", timezone="America/New_York")
    avery = make.client(program, name="Avery Stone", date_of_birth=date(1990, 5, 1),
                        phone="555-010-2233")
    blake = make.client(program, name="Blake Moss", date_of_birth=date(1985, 1, 2))
    casey = make.client(program, name="Casey Stone", date_of_birth=date(1979, 9, 9))
    kipu = recipients.create_recipient(db, ACTOR, name="Kipu EHR", kind="ehr")
    other = recipients.create_recipient(db, ACTOR, name="Claims Co", kind="billing")
    db.commit()
    return {"program": program, "avery": avery, "blake": blake, "casey": casey, "kipu": kipu,
            "other": other}


@pytest.fixture
def kipu_headers(client, db, world):
    row, secret = api_client(db, world["kipu"])
    return token(client, row, secret)


def consent(db, world, person, scope=("demographics",), recipient="kipu", **kw):
    fields = dict(recipient_id=world[recipient].id, purpose="Coordination of care",
                  scope=list(scope), signed_on=date(2027, 2, 10), expires_on=date(2027, 8, 10),
                  now=clock.now())
    fields.update(kw)
    row = consents.record(db, ACTOR, world[person], **fields)
    db.commit()
    return row


def disclosed(db) -> list[tuple[int, str, str]]:
    db.expire_all()
    return sorted((d.client_id, d.scope, d.what) for d in db.query(Disclosure))


def test_a_consented_client_reads_with_name_birth_date_and_identifier_only(client, db, world,
                                                                            kipu_headers):
    consent(db, world, "avery")
    avery = world["avery"]
    answer = client.get(f"{FHIR}/Patient/{avery.id}", headers=kipu_headers)
    assert answer.status_code == 200
    assert answer.content_type.startswith("application/fhir+json")
    body = answer.get_json()
    assert_valid(body)
    assert body["id"] == str(avery.id)
    assert body["name"] == [{"use": "official", "text": "Avery Stone"}]
    assert body["birthDate"] == "1990-05-01"
    assert body["identifier"][0] == {"use": "usual", "system": "urn:iop-scheduler:client-id",
                                     "value": str(avery.id)}
    # Demographics on the form are name, date of birth and identifiers: no phone.
    assert "telecom" not in body and "555" not in answer.get_data(as_text=True)
    assert disclosed(db) == [(avery.id, "demographics", f"Patient/{avery.id}")]


def test_without_consent_a_client_is_absent_and_reads_as_missing(client, db, world,
                                                                 kipu_headers):
    consent(db, world, "avery", recipient="other")           # another recipient's
    consent(db, world, "blake", scope=("appointments", "attendance"))  # not demographics
    for person in ("avery", "blake", "casey"):
        answer = client.get(f"{FHIR}/Patient/{world[person].id}", headers=kipu_headers)
        missing = client.get(f"{FHIR}/Patient/999999", headers=kipu_headers)
        assert answer.status_code == missing.status_code == 404
        # The same words as a record that does not exist, but for the id itself.
        assert (answer.get_json()["issue"][0]["diagnostics"].replace(str(world[person].id), "N")
                == missing.get_json()["issue"][0]["diagnostics"].replace("999999", "N"))
        assert_valid(answer.get_json())
    search = client.get(f"{FHIR}/Patient", headers=kipu_headers).get_json()
    assert_valid(search)
    assert (search["total"], search.get("entry", [])) == (0, [])
    assert disclosed(db) == []


def test_a_revoked_consent_stops_at_once_and_an_expired_one_at_its_end(client, db, world,
                                                                       kipu_headers):
    avery_consent = consent(db, world, "avery")
    consent(db, world, "blake", expires_on=date(2027, 2, 20))
    url = f"{FHIR}/Patient/{world['avery'].id}"
    assert client.get(url, headers=kipu_headers).status_code == 200
    consents.revoke(db, ACTOR, avery_consent, clock.now(), reason="Client asked")
    db.commit()
    assert client.get(url, headers=kipu_headers).status_code == 404
    ids = [e["resource"]["id"] for e in client.get(f"{FHIR}/Patient", headers=kipu_headers)
           .get_json()["entry"]]
    assert ids == [str(world["blake"].id)]
    # 20 February ends at midnight in New York: 05:00 UTC on the 21st.
    with clock.frozen(clock.now().replace(day=21, hour=5)):
        fresh = token(client, *api_client(db, world["kipu"]))
        assert client.get(f"{FHIR}/Patient/{world['blake'].id}",
                          headers=fresh).status_code == 404
        assert client.get(f"{FHIR}/Patient", headers=fresh).get_json()["total"] == 0


def test_search_pages_in_id_order_and_logs_exactly_what_it_returned(client, db, world,
                                                                    kipu_headers):
    for person in ("avery", "blake", "casey"):
        consent(db, world, person)
    first = client.get(f"{FHIR}/Patient?_count=2", headers=kipu_headers).get_json()
    assert_valid(first)
    assert first["total"] == 3
    assert [e["resource"]["id"] for e in first["entry"]] == [
        str(world["avery"].id), str(world["blake"].id)]
    assert disclosed(db) == sorted((world[p].id, "demographics", f"Patient/{world[p].id}")
                                   for p in ("avery", "blake"))
    next_url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    second = client.get(next_url, headers=kipu_headers).get_json()
    assert_valid(second)
    assert [e["resource"]["id"] for e in second["entry"]] == [str(world["casey"].id)]
    assert all(link["relation"] != "next" for link in second["link"])
    assert len(disclosed(db)) == 3


@pytest.mark.parametrize("query, who", [
    ("name=stone", ["avery", "casey"]),
    ("name=cas%20sto", ["casey"]),
    ("birthdate=1990-05-01", ["avery"]),
    ("birthdate=ge1980-01-01&birthdate=lt1990-01-01", ["blake"]),
    ("identifier=urn:iop-scheduler:client-id|{blake}", ["blake"]),
    ("identifier={casey}", ["casey"]),
    ("identifier=http://other.example/mrn|{casey}", []),
    ("identifier=99999999999999999999999", []),
])
def test_search_by_name_birth_date_and_identifier(client, db, world, kipu_headers, query, who):
    for person in ("avery", "blake", "casey"):
        consent(db, world, person)
    url = f"{FHIR}/Patient?" + query.format(**{p: world[p].id for p in ("blake", "casey")})
    body = client.get(url, headers=kipu_headers).get_json()
    assert_valid(body)
    assert [e["resource"]["id"] for e in body.get("entry", [])] == [str(world[p].id)
                                                                    for p in who]


@pytest.mark.parametrize("query, parameter", [
    ("gender=female", "gender"),
    ("name:exact=Avery", "name:exact"),
    ("birthdate=1990", "birthdate"),
    ("birthdate=9999-99-99", "birthdate"),
    ("_count=-1", "_count"),
    ("_count=0", "_count"),
    ("_cursor=forged", "_cursor"),
    ("name=%00", "name"),
])
def test_search_parameters_it_cannot_read_are_400_naming_them(client, world, kipu_headers,
                                                              query, parameter):
    answer = client.get(f"{FHIR}/Patient?{query}", headers=kipu_headers)
    assert answer.status_code == 400
    body = answer.get_json()
    assert_valid(body)
    assert body["issue"][0]["expression"] == [parameter]


@pytest.mark.parametrize("resource_id", ["abc", "0", "-1", "1.5", str(2**63), str(2**31),
                                         "9" * 40])
def test_ids_that_cannot_be_a_client_are_404(client, world, kipu_headers, resource_id):
    answer = client.get(f"{FHIR}/Patient/{resource_id}", headers=kipu_headers)
    assert answer.status_code == 404
    assert_valid(answer.get_json())


# --- referrals ---------------------------------------------------------------------------------


def referral(world, **changes) -> dict:
    body = {"resourceType": "Patient",
            "name": [{"given": ["Dana"], "family": "Reyes"}],
            "birthDate": "1992-07-14",
            "telecom": [{"system": "phone", "value": "555-777-1234"}],
            "extension": [{"url": PROGRAM_EXTENSION, "valueReference": {
                "reference": f"HealthcareService/{world['program'].id}"}}]}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def post(client, headers, body, content_type="application/fhir+json"):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(f"{FHIR}/Patient", data=data, content_type=content_type,
                       headers=headers)


def test_a_referral_makes_a_client_awaiting_intake(client, db, world, kipu_headers):
    answer = post(client, kipu_headers, referral(world))
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    assert_valid(body)
    made = db.get(Client, int(body["id"]))
    assert answer.headers["Location"].endswith(f"/fhir/R4/Patient/{made.id}")
    assert (made.name, made.date_of_birth, made.phone, made.status, made.admitted_on) == (
        "Dana Reyes", date(1992, 7, 14), "555-777-1234", "active", date(2027, 2, 16))
    # Awaiting intake: an open episode with no plan and nothing booked.
    assert made.id in episodes.without_plan(db, world["program"].id)
    event = db.query(AuditEvent).filter_by(entity_type="client", entity_id=made.id).one()
    assert "Kipu EHR" in event.actor and "Referral" in event.reason
    # Made, not disclosed: the referrer told us; nothing of ours went out.
    assert disclosed(db) == []
    # The referrer has no consent yet, so it cannot read the record back.
    assert client.get(f"{FHIR}/Patient/{made.id}", headers=kipu_headers).status_code == 404


def test_a_referral_needs_the_write_scope(client, db, world):
    row, secret = api_client(db, world["kipu"], scopes=["system/Patient.read"])
    answer = post(client, token(client, row, secret), referral(world))
    assert answer.status_code == 403
    assert db.query(Client).count() == 3


def test_a_referral_for_someone_the_referrer_already_sees_answers_that_record(client, db,
                                                                               world,
                                                                               kipu_headers):
    consent(db, world, "avery")
    answer = post(client, kipu_headers, referral(
        world, name=[{"text": "Avery  Stone"}], birthDate="1990-05-01", telecom=None))
    assert answer.status_code == 200
    assert answer.get_json()["id"] == str(world["avery"].id)
    assert db.query(Client).count() == 3
    assert disclosed(db) == [(world["avery"].id, "demographics",
                              f"Patient/{world['avery'].id}")]


def test_a_referral_matching_someone_the_referrer_may_not_see_reveals_nothing(client, db,
                                                                              world,
                                                                              kipu_headers):
    # Blake is a client, but Kipu has no consent: saying so would disclose his treatment.
    answer = post(client, kipu_headers, referral(
        world, name=[{"text": "Blake Moss"}], birthDate="1985-01-02", telecom=None))
    assert answer.status_code == 201
    made = int(answer.get_json()["id"])
    assert made != world["blake"].id
    reason = db.query(AuditEvent).filter_by(entity_type="client", entity_id=made).one().reason
    assert f"client {world['blake'].id} (name_and_birth)" in reason


HOSTILE = [
    ("no name", {"name": []}, 422, "Patient.name"),
    ("blank name", {"name": [{"text": "  "}]}, 422, "Patient.name[0].text"),
    ("NUL in name", {"name": [{"text": "Dana\x00Reyes"}]}, 422, "Patient.name[0].text"),
    ("year 9999", {"birthDate": "9999-01-01"}, 422, "Patient.birthDate"),
    ("not a date", {"birthDate": "1992-02-30"}, 422, "Patient.birthDate"),
    ("partial date", {"birthDate": "1992"}, 422, "Patient.birthDate"),
    ("number date", {"birthDate": 1e308}, 422, "Patient.birthDate"),
    ("no program", {"extension": []}, 422, f"Patient.extension('{PROGRAM_EXTENSION}')"),
    ("unknown program", {"extension": [{"url": PROGRAM_EXTENSION, "valueReference": {
        "reference": "HealthcareService/999999"}}]}, 422,
     f"Patient.extension('{PROGRAM_EXTENSION}')"),
    ("huge program id", {"extension": [{"url": PROGRAM_EXTENSION, "valueReference": {
        "reference": f"HealthcareService/{2**70}"}}]}, 422,
     f"Patient.extension('{PROGRAM_EXTENSION}')"),
    ("not a Patient", {"resourceType": "Appointment"}, 400, "Patient"),
    ("bad email", {"telecom": [{"system": "email", "value": "no-at-sign"}]}, 422,
     "Patient.telecom[0].value"),
]


@pytest.mark.parametrize("case, changes, status, element", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_a_referral_it_cannot_take_is_refused_naming_the_element(client, db, world,
                                                                 kipu_headers, case, changes,
                                                                 status, element):
    answer = post(client, kipu_headers, referral(world, **changes))
    assert answer.status_code == status, answer.get_json()
    body = answer.get_json()
    assert_valid(body)
    assert body["issue"][0]["expression"] == [element]
    assert db.query(Client).count() == 3


@pytest.mark.parametrize("data, content_type, status", [
    ("[" * 1000 + "]" * 1000, "application/fhir+json", 400),
    ('{"resourceType": "Patient", "n": ' + "9" * 5000 + "}", "application/fhir+json", 400),
    (b"\xff\xfe\x00", "application/fhir+json", 400),
    ("not json", "application/fhir+json", 400),
    ("{}", "text/plain", 415),
    ('{"resourceType": "Patient", "x": "' + "a" * 70_000 + '"}', "application/fhir+json",
     413),
])
def test_hostile_bodies_are_refused_never_500(client, db, world, kipu_headers, data,
                                              content_type, status):
    answer = post(client, kipu_headers, data, content_type)
    assert answer.status_code == status
    assert_valid(answer.get_json())
    assert db.query(Client).count() == 3


def test_an_inactive_program_takes_no_referrals(client, db, world, kipu_headers):
    world["program"].is_active = False
    db.commit()
    answer = post(client, kipu_headers, referral(world))
    assert answer.status_code == 422
    assert "no longer takes clients" in answer.get_json()["issue"][0]["diagnostics"]


def test_the_token_expiring_mid_day_ends_reads(client, db, world, kipu_headers):
    consent(db, world, "avery")
    with clock.frozen(clock.now() + timedelta(hours=1)):
        answer = client.get(f"{FHIR}/Patient/{world['avery'].id}", headers=kipu_headers)
    assert answer.status_code == 401


def test_a_referral_from_a_recipient_with_the_longest_name_is_still_audited(client, db, world):
    partner = recipients.create_recipient(db, ACTOR, name="R" * 200, kind="referral")
    db.commit()
    answer = post(client, token(client, *api_client(db, partner)), referral(world))
    assert answer.status_code == 201
    event = db.query(AuditEvent).filter_by(entity_type="client",
                                           entity_id=int(answer.get_json()["id"])).one()
    assert event.actor.startswith("FHIR client fc_") and event.actor.endswith("R" * 200)
