"""Admins register recipients and their FHIR API clients (issue 20); a secret is shown once."""

import pytest

from scheduler.models import AuditEvent, FhirClient
from tests.fhir_clients import Signer, basic

API = "/api/v1/recipients"


@pytest.fixture
def admin(auth):
    return auth("admin")


def make_recipient(client, admin, **kw) -> dict:
    body = {"name": "Kipu EHR", "kind": "ehr", "contact": "Kipu support, 555-0100", **kw}
    answer = client.post(API, json=body, headers=admin)
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def test_an_admin_registers_lists_reads_and_renames_a_recipient(client, db, admin):
    made = make_recipient(client, admin)
    assert (made["name"], made["kind"], made["is_active"]) == ("Kipu EHR", "ehr", True)
    make_recipient(client, admin, name="Claims Co", kind="billing", contact=None)

    listed = client.get(f"{API}?q=kip", headers=admin).get_json()
    assert [r["name"] for r in listed["items"]] == ["Kipu EHR"]
    assert listed["total"] == 1
    assert client.get(f"{API}/{made['id']}", headers=admin).get_json()["name"] == "Kipu EHR"

    patched = client.patch(f"{API}/{made['id']}", json={"name": "Kipu (north)",
                                                       "is_active": False}, headers=admin)
    assert patched.status_code == 200
    assert (patched.get_json()["name"], patched.get_json()["is_active"]) == (
        "Kipu (north)", False)
    actions = sorted(e.action for e in db.query(AuditEvent).filter_by(entity_type="recipient"))
    assert actions == ["create", "create", "update"]


@pytest.mark.parametrize("body, field", [
    ({"name": "X", "kind": "lab"}, "kind"),
    ({"kind": "ehr"}, "name"),
    ({"name": "  ", "kind": "ehr"}, "name"),
    ({"name": "A\x00B", "kind": "ehr"}, "name"),
    ({"name": "Kipu EHR", "kind": "ehr"}, "name"),  # taken
    ({"name": "X", "kind": "ehr", "contact": "c" * 301}, "contact"),
])
def test_what_a_recipient_cannot_be_is_refused_naming_the_field(client, admin, body, field):
    make_recipient(client, admin)
    answer = client.post(API, json=body, headers=admin)
    assert answer.status_code == 422
    assert field in answer.get_json()["errors"]["json"]


def test_an_api_clients_secret_is_shown_once_and_works_at_the_token_endpoint(client, db,
                                                                           admin):
    recipient = make_recipient(client, admin)
    answer = client.post(f"{API}/{recipient['id']}/api-clients",
                         json={"scopes": ["system/Patient.read", "system/Slot.read"]},
                         headers=admin)
    assert answer.status_code == 201, answer.get_json()
    made = answer.get_json()
    assert made["client_id"].startswith("fc_") and made["client_secret"]
    assert made["scopes"] == ["system/Patient.read", "system/Slot.read"]
    assert made["has_keys"] is False

    listed = client.get(f"{API}/{recipient['id']}/api-clients", headers=admin)
    text = listed.get_data(as_text=True)
    assert made["client_secret"] not in text and "client_secret" not in text
    assert [c["client_id"] for c in listed.get_json()["items"]] == [made["client_id"]]
    assert made["client_secret"] not in (db.get(FhirClient, made["id"]).secret_hash)

    form = {"grant_type": "client_credentials"}
    ok = client.post("/fhir/R4/auth/token", data=form,
                     headers=basic(made["client_id"], made["client_secret"]))
    assert ok.status_code == 200

    revoked = client.delete(f"{API}/{recipient['id']}/api-clients/{made['id']}", headers=admin)
    assert revoked.status_code == 204
    assert client.get(f"{API}/{recipient['id']}/api-clients",
                      headers=admin).get_json()["items"][0]["revoked_at"]
    again = client.post("/fhir/R4/auth/token", data=form,
                        headers=basic(made["client_id"], made["client_secret"]))
    assert again.status_code == 401
    # Audited, by whom and when, and never with the secret.
    events = db.query(AuditEvent).filter_by(entity_type="fhir_client").order_by(AuditEvent.id)
    assert [e.action for e in events] == ["create", "revoke"]
    assert all(e.actor.startswith("admin") for e in events)
    assert all(made["client_secret"] not in str((e.before, e.after)) for e in events)


def test_an_api_client_may_register_public_keys_for_signed_assertions(client, admin):
    recipient = make_recipient(client, admin)
    answer = client.post(f"{API}/{recipient['id']}/api-clients",
                         json={"scopes": ["system/Slot.read"], "jwks": Signer("ES384").jwks},
                         headers=admin)
    assert answer.status_code == 201
    assert answer.get_json()["has_keys"] is True


@pytest.mark.parametrize("body, field", [
    ({"scopes": []}, "scopes"),
    ({"scopes": ["user/*.*"]}, "scopes"),
    ({}, "scopes"),
    ({"scopes": ["system/Slot.read"], "jwks": {"keys": "none"}}, "jwks"),
    ({"scopes": ["system/Slot.read"], "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}},
     "jwks"),
])
def test_what_an_api_client_cannot_be_is_refused_naming_the_field(client, admin, body, field):
    recipient = make_recipient(client, admin)
    answer = client.post(f"{API}/{recipient['id']}/api-clients", json=body, headers=admin)
    assert answer.status_code == 422, answer.get_json()
    assert field in answer.get_json()["errors"]["json"]


def test_an_inactive_recipient_gets_no_new_api_client(client, admin):
    recipient = make_recipient(client, admin)
    client.patch(f"{API}/{recipient['id']}", json={"is_active": False}, headers=admin)
    answer = client.post(f"{API}/{recipient['id']}/api-clients",
                         json={"scopes": ["system/Slot.read"]}, headers=admin)
    assert answer.status_code == 409


def test_another_recipients_api_client_cannot_be_revoked_through_this_one(client, admin):
    first = make_recipient(client, admin)
    second = make_recipient(client, admin, name="Claims Co", kind="billing")
    made = client.post(f"{API}/{first['id']}/api-clients", json={"scopes": ["system/Slot.read"]},
                       headers=admin).get_json()
    answer = client.delete(f"{API}/{second['id']}/api-clients/{made['id']}", headers=admin)
    assert answer.status_code == 404
    assert client.delete(f"{API}/999999/api-clients/{made['id']}",
                         headers=admin).status_code == 404


@pytest.mark.parametrize("role", ["coordinator", "clinician"])
def test_only_admins_manage_recipients(client, auth, role):
    headers = auth(role)
    assert client.get(API, headers=headers).status_code == 403
    assert client.post(API, json={"name": "X", "kind": "ehr"},
                       headers=headers).status_code == 403
