"""Consents and the accounting of disclosures through the API (issue 20 §1).

The clinic's clock stands at Tue 16 February 2027 12:00 UTC (07:00 in New York).
"""

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from scheduler import clock
from scheduler.models import AuditEvent, Consent
from scheduler.services import consents, disclosures, plans, recipients, sites
from tests.helpers import ACTOR

API = "/api/v1"
BODY = {"purpose": "Coordination of care", "scope": ["appointments", "attendance"],
        "signed_on": "2027-02-10", "expires_on": "2027-08-10",
        "document_ref": "Scanned forms/2027/avery-kipu.pdf"}


@pytest.fixture
def clinic(db, make):
    program = make.program(name="Evening IOP")
    therapist = make.staff(name="Dana Whitfield")
    avery = make.client(program, name="Avery Stone")
    blake = make.client(program, name="Blake Moss")
    kipu = recipients.create_recipient(db, ACTOR, name="Kipu EHR", kind="ehr",
                                       contact="Kipu support, 555-0100")
    old = recipients.create_recipient(db, ACTOR, name="Old Billing", kind="billing",
                                      is_active=False)
    # Dana is Avery's primary therapist: Avery is on her caseload, Blake is not.
    plans.create_plan(db, ACTOR, avery.id, start_date=date(2027, 2, 1),
                      primary_therapist_id=therapist.id)
    db.commit()
    return {"program": program, "therapist": therapist, "avery": avery, "blake": blake,
            "kipu": kipu, "old": old}


@pytest.fixture
def coordinator(auth):
    return auth("coordinator")


def record(client, headers, clinic, who="avery", **changes):
    body = {**BODY, "recipient_id": clinic["kipu"].id, **changes}
    return client.post(f"{API}/clients/{clinic[who].id}/consents", json=body, headers=headers)


def test_a_coordinator_records_a_consent_and_reads_it_back(client, coordinator, clinic, db):
    made = record(client, coordinator, clinic)
    assert made.status_code == 201, made.json
    body = made.json
    assert body["recipient"] == {"id": clinic["kipu"].id, "name": "Kipu EHR", "kind": "ehr"}
    assert (body["purpose"], body["scope"], body["signed_on"], body["expires_on"],
            body["document_ref"], body["state"], body["revoked_at"]) == (
        "Coordination of care", ["appointments", "attendance"], "2027-02-10", "2027-08-10",
        "Scanned forms/2027/avery-kipu.pdf", "live", None)
    assert body["created_at"].startswith("2027-02-16T12:00:00")

    listed = client.get(f"{API}/clients/{clinic['avery'].id}/consents", headers=coordinator)
    assert listed.status_code == 200
    assert [c["id"] for c in listed.json["items"]] == [body["id"]]
    one = client.get(f"{API}/clients/{clinic['avery'].id}/consents/{body['id']}",
                     headers=coordinator)
    assert one.status_code == 200 and one.json == body
    # The rule every outbound path asks agrees.
    assert consents.live(db, clinic["avery"].id, clinic["kipu"].id, "attendance", clock.now())
    assert db.scalar(select(AuditEvent.action).where(
        AuditEvent.entity_type == "consent", AuditEvent.entity_id == body["id"])) == "create"


def test_revoking_stops_it_at_once_keeps_it_listed_and_a_second_revoke_is_409(
        client, coordinator, clinic, db):
    made = record(client, coordinator, clinic).json
    url = f"{API}/clients/{clinic['avery'].id}/consents/{made['id']}"
    revoked = client.delete(url, json={"reason": "Client asked by phone"}, headers=coordinator)
    assert revoked.status_code == 200, revoked.json
    assert (revoked.json["state"], revoked.json["revoke_reason"]) == (
        "revoked", "Client asked by phone")
    assert revoked.json["revoked_at"].startswith("2027-02-16T12:00:00")
    assert consents.live(db, clinic["avery"].id, clinic["kipu"].id, "appointments",
                         clock.now()) is None

    again = client.delete(url, headers=coordinator)
    assert again.status_code == 409
    assert "already revoked" in again.json["message"]
    listed = client.get(f"{API}/clients/{clinic['avery'].id}/consents", headers=coordinator)
    assert [c["state"] for c in listed.json["items"]] == ["revoked"]
    events = db.scalars(select(AuditEvent).where(
        AuditEvent.entity_type == "consent").order_by(AuditEvent.id)).all()
    assert [e.action for e in events] == ["create", "revoke"]
    coordinator_id = db.scalar(select(AuditEvent.actor_user_id).where(
        AuditEvent.entity_type == "consent"))
    assert all((e.entity_id, e.actor_user_id, e.occurred_at) == (made["id"], coordinator_id,
                                                                   clock.now())
               for e in events)
    created, revoke = events
    assert created.before is None
    assert {k: created.after[k] for k in ("client_id", "recipient_id", "purpose", "scope",
                                          "signed_on", "expires_on")} == {
        "client_id": clinic["avery"].id, "recipient_id": clinic["kipu"].id,
        "purpose": "Coordination of care", "scope": ["appointments", "attendance"],
        "signed_on": "2027-02-10", "expires_on": "2027-08-10"}
    assert (revoke.before["revoked_at"], revoke.after["revoke_reason"], revoke.reason) == (
        None, "Client asked by phone", "Client asked by phone")
    assert revoke.after["revoked_at"].startswith("2027-02-16T12:00:00")


def test_revoking_without_a_body_works_too(client, coordinator, clinic):
    made = record(client, coordinator, clinic).json
    revoked = client.delete(f"{API}/clients/{clinic['avery'].id}/consents/{made['id']}",
                            headers=coordinator)
    assert revoked.status_code == 200, revoked.json
    assert revoked.json["revoke_reason"] is None


def test_an_expired_consent_reads_as_expired(client, auth, coordinator, clinic, now):
    made = record(client, coordinator, clinic, expires_on="2027-02-20").json
    url = f"{API}/clients/{clinic['avery'].id}/consents/{made['id']}"
    # 20 February ends at midnight in New York: 05:00 UTC on the 21st.
    with clock.frozen(datetime.fromisoformat("2027-02-21T04:59:00+00:00")):
        assert client.get(url, headers=auth("coordinator")).json["state"] == "live"
    with clock.frozen(datetime.fromisoformat("2027-02-21T05:00:00+00:00")):
        assert client.get(url, headers=auth("coordinator")).json["state"] == "expired"


def test_a_consent_of_another_client_is_404_through_this_clients_path(client, coordinator,
                                                                      clinic):
    blakes = record(client, coordinator, clinic, who="blake").json
    for method in ("GET", "DELETE"):
        answer = client.open(f"{API}/clients/{clinic['avery'].id}/consents/{blakes['id']}",
                             method=method, headers=coordinator)
        assert answer.status_code == 404, (method, answer.json)
    huge = client.get(f"{API}/clients/{clinic['avery'].id}/consents/{2**63}",
                      headers=coordinator)
    assert huge.status_code == 404


@pytest.mark.parametrize("changes, field", [
    ({"purpose": "x" * 5000}, "purpose"),
    ({"purpose": "   "}, "purpose"),
    ({"purpose": "care\x00"}, "purpose"),
    ({"document_ref": "forms/\x00"}, "document_ref"),
    ({"document_ref": "f" * 501}, "document_ref"),
    ({"scope": ["appointments", "everything"]}, "scope"),
    ({"scope": []}, "scope"),
    ({"scope": "appointments"}, "scope"),
    ({"scope": ["appointments"] * 50}, "scope"),
    ({"signed_on": "9999-01-01"}, "signed_on"),
    ({"expires_on": "9999-12-31"}, "expires_on"),
    ({"expires_on": "2027-02-30"}, "expires_on"),
    ({"signed_on": "2027-02-17"}, "signed_on"),
    ({"expires_on": "2027-02-09"}, "expires_on"),
    ({"recipient_id": 2**63}, "recipient_id"),
    ({"recipient_id": 999999}, "recipient_id"),
    ({"recipient_id": "1"}, "recipient_id"),
])
def test_hostile_input_is_refused_naming_the_field(client, coordinator, clinic, changes, field,
                                                   db):
    answer = record(client, coordinator, clinic, **changes)
    assert answer.status_code == 422, answer.json
    assert field in answer.json["errors"]["json"], answer.json
    assert db.scalar(select(Consent.id)) is None


def test_an_inactive_recipient_is_refused(client, coordinator, clinic):
    answer = record(client, coordinator, clinic, recipient_id=clinic["old"].id)
    assert answer.status_code == 422
    assert "no longer an active recipient" in answer.json["errors"]["json"]["recipient_id"][0]


def test_a_revocation_reason_is_bounded_and_plain_text(client, coordinator, clinic):
    made = record(client, coordinator, clinic).json
    url = f"{API}/clients/{clinic['avery'].id}/consents/{made['id']}"
    for reason in ("r" * 501, "asked\x00"):
        answer = client.delete(url, json={"reason": reason}, headers=coordinator)
        assert answer.status_code == 422, answer.json
        assert "reason" in answer.json["errors"]["json"]
    assert client.get(url, headers=coordinator).json["state"] == "live"


# --- who may ----------------------------------------------------------------------------------


def test_a_client_reads_their_own_consents_and_disclosures_and_no_one_elses(
        client, auth, make, coordinator, clinic):
    record(client, coordinator, clinic)
    blakes = record(client, coordinator, clinic, who="blake").json
    avery = auth.for_user(make.user("client", client_id=clinic["avery"].id))
    own = client.get(f"{API}/clients/{clinic['avery'].id}/consents", headers=avery)
    assert own.status_code == 200 and len(own.json["items"]) == 1
    assert client.get(f"{API}/clients/{clinic['avery'].id}/disclosures",
                      headers=avery).status_code == 200
    for path in ("consents", f"consents/{blakes['id']}", "disclosures"):
        answer = client.get(f"{API}/clients/{clinic['blake'].id}/{path}", headers=avery)
        assert answer.status_code == 403, path
    # Nor may a client record or revoke, even their own.
    assert record(client, avery, clinic).status_code == 403
    mine = own.json["items"][0]["id"]
    assert client.delete(f"{API}/clients/{clinic['avery'].id}/consents/{mine}",
                         headers=avery).status_code == 403


def test_a_clinician_reads_within_the_caseload_only_and_never_writes(client, auth, make,
                                                                     coordinator, clinic):
    record(client, coordinator, clinic)
    record(client, coordinator, clinic, who="blake")
    dana = auth.for_user(make.user("clinician", staff_id=clinic["therapist"].id))
    assert client.get(f"{API}/clients/{clinic['avery'].id}/consents",
                      headers=dana).status_code == 200
    outside = client.get(f"{API}/clients/{clinic['blake'].id}/consents", headers=dana)
    assert outside.status_code == 403
    assert "break the glass" in outside.json["message"].lower()
    assert client.get(f"{API}/clients/{clinic['blake'].id}/disclosures",
                      headers=dana).status_code == 403
    assert record(client, dana, clinic).status_code == 403


def test_a_coordinator_of_another_site_finds_no_such_client(client, auth, make, db,
                                                            coordinator, clinic):
    made = record(client, coordinator, clinic).json
    north = sites.create_site(db, ACTOR, name="Northside", timezone="America/New_York")
    db.commit()
    user = make.user("coordinator")
    sites.set_user_sites(db, ACTOR, user, [north.id])
    db.commit()
    elsewhere = auth.for_user(user)
    avery = clinic["avery"].id
    for method, path in (("GET", "consents"), ("GET", f"consents/{made['id']}"),
                         ("DELETE", f"consents/{made['id']}"), ("GET", "disclosures")):
        answer = client.open(f"{API}/clients/{avery}/{path}", method=method, headers=elsewhere)
        assert answer.status_code == 404, (method, path)
    assert record(client, elsewhere, clinic).status_code == 404
    assert client.get(f"{API}/clients/{avery}/consents/{made['id']}",
                      headers=coordinator).json["state"] == "live"


# --- the accounting of disclosures --------------------------------------------------------------


def test_the_disclosures_name_when_whom_what_and_the_consent_newest_first(client, coordinator,
                                                                          clinic, db, now):
    made = record(client, coordinator, clinic).json
    consent = db.get(Consent, made["id"])
    disclosures.log(db, consent, channel="fhir", scope="appointments", what="Appointment/12",
                    at=now - timedelta(hours=2))
    disclosures.log(db, consent, channel="webhook", scope="attendance",
                    what="attendance.recorded Appointment/12", at=now - timedelta(hours=1))
    db.commit()
    answer = client.get(f"{API}/clients/{clinic['avery'].id}/disclosures?per_page=1",
                        headers=coordinator)
    assert answer.status_code == 200, answer.json
    assert (answer.json["total"], answer.json["page"], answer.json["per_page"]) == (2, 1, 1)
    [item] = answer.json["items"]
    assert item["disclosed_at"].startswith("2027-02-16T11:00:00")
    assert (item["recipient"]["name"], item["channel"], item["scope"], item["what"]) == (
        "Kipu EHR", "webhook", "attendance", "attendance.recorded Appointment/12")
    assert item["consent"] == {"id": made["id"], "purpose": "Coordination of care",
                               "signed_on": "2027-02-10", "expires_on": "2027-08-10"}
    second = client.get(f"{API}/clients/{clinic['avery'].id}/disclosures?per_page=1&page=2",
                        headers=coordinator).json["items"]
    assert second[0]["channel"] == "fhir"
    assert client.get(f"{API}/clients/{clinic['blake'].id}/disclosures",
                      headers=coordinator).json["total"] == 0


@pytest.mark.parametrize("query", ["page=0", "per_page=501", f"page={2**63}", "page=x"])
def test_a_bad_page_is_refused_naming_it(client, coordinator, clinic, query):
    answer = client.get(f"{API}/clients/{clinic['avery'].id}/disclosures?{query}",
                        headers=coordinator)
    assert answer.status_code == 422
    assert set(answer.json["errors"]["query"]) <= {"page", "per_page"}


# --- the access log ---------------------------------------------------------------------------


def reads(db, client_id, resource=None):
    db.expire_all()
    rows = db.scalars(select(AuditEvent).where(
        AuditEvent.entity_type == "client", AuditEvent.entity_id == client_id,
        AuditEvent.action.in_(("read", "denied"))).order_by(AuditEvent.id)).all()
    return [(r.action, r.after["resource"]) for r in rows
            if resource is None or r.after["resource"] == resource]


def test_every_read_is_in_the_access_log_and_a_refused_look_too(client, auth, make, db,
                                                                coordinator, clinic):
    made = record(client, coordinator, clinic).json
    avery = clinic["avery"].id
    for path in ("consents", f"consents/{made['id']}", "disclosures"):
        assert client.get(f"{API}/clients/{avery}/{path}", headers=coordinator).status_code == 200
    assert reads(db, avery) == [("read", "consents"), ("read", "consent"),
                                ("read", "disclosures")]
    blake_login = auth.for_user(make.user("client", client_id=clinic["blake"].id))
    assert client.get(f"{API}/clients/{avery}/disclosures",
                      headers=blake_login).status_code == 403
    assert reads(db, avery)[-1] == ("denied", "disclosures")
