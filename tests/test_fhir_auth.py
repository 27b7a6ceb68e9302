"""POST /fhir/R4/auth/token (issue 20): client credentials by HTTP Basic and SMART Backend
Services assertions, each refusal in OAuth's words, and the scopes a token carries.

The clinic's clock stands at Tue 16 February 2027 12:00 UTC.
"""

from datetime import timedelta

import jwt
import pytest

from scheduler import clock
from scheduler.models import FhirToken
from scheduler.services import recipients
from tests.fhir_check import assert_valid
from tests.fhir_clients import (
    TOKEN_URL,
    Signer,
    api_client,
    assertion_form,
    basic,
    token,
)
from tests.helpers import ACTOR

FHIR = "/fhir/R4"
GRANT = {"grant_type": "client_credentials"}


@pytest.fixture
def kipu(db):
    recipient = recipients.create_recipient(db, ACTOR, name="Kipu EHR", kind="ehr")
    db.commit()
    return recipient


def ask(http, data=None, headers=None, **kw):
    return http.post(f"{FHIR}/auth/token", data=data, headers=headers or {}, **kw)


def refused(answer, status: int, error: str) -> dict:
    body = answer.get_json()
    assert (answer.status_code, body["error"]) == (status, error), body
    assert body["error_description"]
    assert answer.headers["Cache-Control"] == "no-store"
    return body


def test_client_credentials_by_basic_get_a_bearer_token_with_the_clients_scopes(client, db,
                                                                               kipu):
    row, secret = api_client(db, kipu, scopes=["system/Patient.read", "system/Slot.read"])
    answer = ask(client, GRANT, basic(row.client_id, secret))
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert body["scope"] == "system/Patient.read system/Slot.read"
    assert answer.headers["Cache-Control"] == "no-store"
    # Only the token's hash is kept.
    assert db.query(FhirToken).one().token_hash != body["access_token"]

    practitioners = client.get(f"{FHIR}/Practitioner",
                               headers={"Authorization": f"Bearer {body['access_token']}"})
    assert practitioners.status_code == 200
    assert_valid(practitioners.get_json())


def test_asking_for_fewer_scopes_grants_only_those_and_none_held_is_invalid_scope(client, db,
                                                                                  kipu):
    row, secret = api_client(db, kipu, scopes=["system/Patient.read", "system/Slot.read"])
    answer = ask(client, {**GRANT, "scope": "system/Slot.read system/Patient.write"},
                 basic(row.client_id, secret))
    assert answer.get_json()["scope"] == "system/Slot.read"
    refused(ask(client, {**GRANT, "scope": "system/Patient.write"},
                basic(row.client_id, secret)), 400, "invalid_scope")


def test_a_token_without_the_scope_a_resource_needs_is_refused_403(client, db, kipu):
    row, secret = api_client(db, kipu, scopes=["system/Slot.read"])
    answer = client.get(f"{FHIR}/Patient", headers=token(client, row, secret))
    assert answer.status_code == 403
    assert "system/Patient.read" in answer.get_json()["issue"][0]["diagnostics"]
    assert_valid(answer.get_json())


@pytest.mark.parametrize("case", ["wrong secret", "unknown client", "revoked client",
                                  "inactive recipient", "garbage basic", "no credentials"])
def test_a_client_that_cannot_prove_itself_is_invalid_client_401(client, db, kipu, case):
    row, secret = api_client(db, kipu)
    headers = basic(row.client_id, secret)
    if case == "wrong secret":
        headers = basic(row.client_id, secret + "x")
    elif case == "unknown client":
        headers = basic("fc_nobody", secret)
    elif case == "revoked client":
        recipients.revoke_fhir_client(db, ACTOR, row, clock.now())
    elif case == "inactive recipient":
        recipients.update_recipient(db, ACTOR, kipu, {"is_active": False})
    elif case == "garbage basic":
        headers = {"Authorization": "Basic %%%not-base64"}
    elif case == "no credentials":
        headers = {}
    db.commit()
    answer = ask(client, GRANT, headers)
    refused(answer, 401, "invalid_client")
    assert answer.headers["WWW-Authenticate"].startswith("Basic")
    assert db.query(FhirToken).count() == 0


@pytest.mark.parametrize("data, error", [
    ({}, "invalid_request"),
    ({"grant_type": "authorization_code"}, "unsupported_grant_type"),
    ({"grant_type": "password"}, "unsupported_grant_type"),
    ({"grant_type": "client_credentials\x00"}, "invalid_request"),
    ({"grant_type": ["client_credentials", "client_credentials"]}, "invalid_request"),
    ({"grant_type": "client_credentials", "client_assertion_type": "urn:other"},
     "invalid_request"),
])
def test_malformed_requests_are_oauth_errors_400(client, db, kipu, data, error):
    row, secret = api_client(db, kipu)
    refused(ask(client, data, basic(row.client_id, secret)), 400, error)


@pytest.mark.parametrize("body, content_type", [
    (b'{"grant_type": "client_credentials"}', "application/json"),
    (b"\x00\xff\xfe" * 100, "application/x-www-form-urlencoded"),
    (b"grant_type=client_credentials&" + b"x=" + b"a" * 2_000_000,
     "application/x-www-form-urlencoded"),
    (b"[" * 1000, "application/json"),
    (b"grant_type=%00", "application/x-www-form-urlencoded"),
])
def test_hostile_bodies_get_400_never_500(client, db, kipu, body, content_type):
    row, secret = api_client(db, kipu)
    answer = client.post(f"{FHIR}/auth/token", data=body, content_type=content_type,
                         headers=basic(row.client_id, secret))
    assert answer.status_code == 400, answer.get_data()
    assert answer.get_json()["error"] == "invalid_request"


def test_expired_tokens_stop_working(client, db, kipu):
    row, secret = api_client(db, kipu)
    headers = token(client, row, secret)
    assert client.get(f"{FHIR}/Location", headers=headers).status_code == 200
    with clock.frozen(clock.now() + timedelta(minutes=15)):
        answer = client.get(f"{FHIR}/Location", headers=headers)
    assert answer.status_code == 401
    assert_valid(answer.get_json())


def test_revoking_the_client_ends_its_tokens_at_once(client, db, kipu):
    row, secret = api_client(db, kipu)
    headers = token(client, row, secret)
    recipients.revoke_fhir_client(db, ACTOR, row, clock.now())
    db.commit()
    assert client.get(f"{FHIR}/Location", headers=headers).status_code == 401


@pytest.mark.parametrize("algorithm", ["RS384", "ES384"])
def test_a_signed_assertion_gets_a_token_once(client, db, kipu, algorithm):
    signer = Signer(algorithm)
    row, _ = api_client(db, kipu, jwks=signer.jwks)
    assertion = signer.assertion(row.client_id)
    answer = ask(client, assertion_form(assertion, scope="system/Slot.read"))
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["scope"] == "system/Slot.read"
    # The same assertion again: a replay.
    body = refused(ask(client, assertion_form(assertion)), 401, "invalid_client")
    assert "already used" in body["error_description"]


@pytest.mark.parametrize("case, words", [
    ("other key", "signature"),
    ("wrong aud", "aud"),
    ("far exp", "five minutes"),
    ("expired", "expired"),
    ("sub differs", "sub"),
    ("no jti", "jti"),
    ("HS256", "RS384"),
    ("not a jwt", "not a JWT"),
    ("unknown client", "Unknown client"),
])
def test_a_bad_assertion_is_invalid_client(client, db, kipu, case, words):
    signer = Signer()
    row, _ = api_client(db, kipu, jwks=signer.jwks)
    claims: dict = {}
    if case == "wrong aud":
        claims["aud"] = "https://evil.example/token"
    elif case == "far exp":
        claims["exp"] = int((clock.now() + timedelta(minutes=30)).timestamp())
    elif case == "expired":
        claims["exp"] = int((clock.now() - timedelta(minutes=5)).timestamp())
    elif case == "sub differs":
        claims["sub"] = "someone-else"
    elif case == "no jti":
        claims["jti"] = None
    assertion = signer.assertion(row.client_id, **claims)
    if case == "other key":
        assertion = Signer(kid="key-1").assertion(row.client_id)
    elif case == "HS256":
        assertion = jwt.encode({"iss": row.client_id, "sub": row.client_id, "aud": TOKEN_URL},
                               "a shared secret of more than thirty-two bytes",
                               algorithm="HS256")
    elif case == "not a jwt":
        assertion = "not.a.jwt\x01"[:9]
    elif case == "unknown client":
        assertion = signer.assertion("fc_nobody")
    body = refused(ask(client, assertion_form(assertion)), 401, "invalid_client")
    assert words in body["error_description"]
    assert db.query(FhirToken).count() == 0


def test_registered_keys_must_be_public(db, kipu):
    signer = Signer()
    private = jwt_private_jwk(signer)
    with pytest.raises(Exception, match="private key"):
        recipients.create_fhir_client(db, ACTOR, kipu, scopes=["system/Slot.read"],
                                      jwks={"keys": [private]})


def jwt_private_jwk(signer: Signer) -> dict:
    return jwt.algorithms.RSAAlgorithm.to_jwk(signer.private, as_dict=True)


def test_refused_credentials_from_one_address_are_limited(client, app, db, kipu):
    app.config["FHIR_TOKEN_MISS_LIMIT"] = "3 per minute"
    row, secret = api_client(db, kipu)
    for _ in range(3):
        refused(ask(client, GRANT, basic(row.client_id, "wrong")), 401, "invalid_client")
    answer = ask(client, GRANT, basic(row.client_id, "wrong"))
    assert answer.status_code == 429
    assert int(answer.headers["Retry-After"]) >= 1
    # A client that proves itself is still served: only misses are refused.
    assert ask(client, GRANT, basic(row.client_id, secret)).status_code == 200


def test_the_smart_configuration_names_the_token_endpoint_and_methods(client):
    answer = client.get(f"{FHIR}/.well-known/smart-configuration")
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["token_endpoint"] == TOKEN_URL
    assert body["token_endpoint_auth_methods_supported"] == ["client_secret_basic",
                                                             "private_key_jwt"]
    assert body["token_endpoint_auth_signing_alg_values_supported"] == ["RS384", "ES384"]
    assert "system/Patient.read" in body["scopes_supported"]


def test_the_capability_statement_names_the_token_endpoint_and_each_resource(client):
    body = client.get(f"{FHIR}/metadata").get_json()
    assert_valid(body)
    rest = body["rest"][0]
    oauth = rest["security"]["extension"][0]["extension"]
    assert oauth == [{"url": "token", "valueUri": TOKEN_URL}]
    kinds = {item["type"]: item for item in rest["resource"]}
    assert {"Patient", "Practitioner", "Location", "HealthcareService"} <= set(kinds)
    assert [i["code"] for i in kinds["Patient"]["interaction"]] == ["read", "search-type",
                                                                     "create"]
    assert "no consent" in kinds["Location"]["documentation"]
