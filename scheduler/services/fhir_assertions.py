"""SMART Backend Services client assertions (RFC 7523 private_key_jwt): the one owner of the rule.

A backend client proves itself with a short-lived JWT it signs with its private key; we hold
only its public keys (FhirClient.jwks, a JWKS document the admin registered). The assertion
must be RS384 or ES384 (SMART's two), name the client as both issuer and subject, name our
token endpoint as its audience, expire within five minutes, and carry a jti never seen before:
the jti is kept on the token it bought (FhirToken.assertion_jti is unique), so a captured
assertion cannot be replayed. Times are read from scheduler.clock, not PyJWT's wall clock.

Keys at a jwks_url are not fetched: that would make the token endpoint call out to any address
an admin typed, on every request. Register the keys themselves.
"""

from datetime import datetime, timedelta

import jwt
from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from scheduler.models import FhirClient, FhirToken
from scheduler.services.errors import InvalidField
from scheduler.services.text import text_problem

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SIGNING_ALGORITHMS = ("RS384", "ES384")
# SMART: "exp … no more than five minutes in the future".
LONGEST = timedelta(minutes=5)
# A little give for clocks that differ by a few seconds.
LEEWAY = timedelta(seconds=30)
MAX_ASSERTION = 8 * 1024
MAX_KEYS = 20
# The jti is kept as "<client_id> <jti>" in a 255-character column.
MAX_JTI = 180


class AssertionRefused(Exception):
    """Why an assertion does not prove its client, in words for the error_description."""


def check_jwks(jwks: dict | None) -> dict | None:
    """A JWKS document of public keys we can verify SMART assertions with, or InvalidField."""
    if jwks is None:
        return None
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys:
        raise InvalidField("jwks", 'Give a JWKS document: {"keys": [ … public keys … ]}.')
    if len(keys) > MAX_KEYS:
        raise InvalidField("jwks", f"Give at most {MAX_KEYS} keys.")
    for index, key in enumerate(keys):
        if not isinstance(key, dict) or key.get("kty") not in ("RSA", "EC"):
            raise InvalidField("jwks", f"Key {index + 1} must be an RSA or EC key (kty).")
        if "d" in key:
            raise InvalidField("jwks", f"Key {index + 1} is a private key: register only the "
                                       "public key, and keep the private one with the client.")
        try:
            jwt.PyJWK(key)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            raise InvalidField("jwks", f"Key {index + 1} is not a key we can read.") from None
    return jwks


def _keys(client: FhirClient, kid: str | None) -> list:
    if not client.jwks:
        raise AssertionRefused("This client has no public keys registered; ask the clinic "
                               "to add its JWKS, or use its client secret.")
    try:
        keys = jwt.PyJWKSet.from_dict(client.jwks).keys
    except jwt.PyJWKSetError:
        raise AssertionRefused("This client's registered keys cannot be read.") from None
    if kid is not None:
        keys = [key for key in keys if key.key_id == kid]
    if not keys:
        raise AssertionRefused(f"No registered key has the kid {kid!r}.")
    return keys


def _unverified(assertion: str) -> tuple[dict, dict]:
    if len(assertion) > MAX_ASSERTION:
        raise AssertionRefused(f"The client assertion may be at most {MAX_ASSERTION} "
                               "characters.")
    try:
        header = jwt.get_unverified_header(assertion)
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise AssertionRefused("The client assertion is not a JWT.") from None
    return header, claims


def verify(db: DbSession, assertion: str, *, audience: str, now: datetime,
           client_id: str | None = None) -> tuple[FhirClient, str]:
    """The live client that signed this assertion, and the key its jti is kept under."""
    header, claims = _unverified(assertion)
    algorithm = header.get("alg")
    if algorithm not in SIGNING_ALGORITHMS:
        raise AssertionRefused(f"Sign the assertion with {' or '.join(SIGNING_ALGORITHMS)}.")
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or not issuer or text_problem(issuer, multiline=False):
        raise AssertionRefused("The assertion must name the client_id as iss.")
    if claims.get("sub") != issuer:
        raise AssertionRefused("The assertion's sub must be its iss, the client_id.")
    if client_id is not None and client_id != issuer:
        raise AssertionRefused("client_id does not match the assertion's iss.")
    client = db.scalar(select(FhirClient).where(FhirClient.client_id == issuer[:64]))
    if client is None or client.revoked_at is not None or not client.recipient.is_active:
        raise AssertionRefused("Unknown client, or a client that was revoked.")
    kid = header.get("kid")
    verified = None
    for key in _keys(client, kid if isinstance(kid, str) else None):
        try:
            # Times are checked below against the clinic's clock; PyJWT would use the wall's.
            verified = jwt.decode(assertion, key.key, algorithms=[algorithm], audience=audience,
                                  options={"verify_exp": False, "verify_iat": False,
                                           "verify_nbf": False, "require": ["exp", "jti"]})
            break
        except jwt.InvalidAudienceError:
            raise AssertionRefused(f"The assertion's aud must be {audience}.") from None
        except jwt.MissingRequiredClaimError as missing:
            raise AssertionRefused(f"The assertion must carry {missing.claim}.") from None
        except jwt.PyJWTError:
            continue  # the next key may be the one (keys are rotated by adding one)
    if verified is None:
        raise AssertionRefused("The assertion's signature does not match any registered key.")
    _check_times(verified, now)
    jti = verified["jti"]
    if (not isinstance(jti, str) or not jti or len(jti) > MAX_JTI
            or text_problem(jti, multiline=False)):
        raise AssertionRefused(f"The assertion's jti must be text of 1 to {MAX_JTI} "
                               "characters.")
    kept = f"{client.client_id} {jti}"
    if db.scalar(select(FhirToken.id).where(FhirToken.assertion_jti == kept)) is not None:
        raise AssertionRefused("This client assertion was already used; sign a new one with a "
                               "fresh jti.")
    return client, kept


def _check_times(claims: dict, now: datetime) -> None:
    exp = claims["exp"]
    if isinstance(exp, bool) or not isinstance(exp, int | float) or not (
            0 < exp < 2**40):
        raise AssertionRefused("The assertion's exp must be a time in seconds since 1970.")
    at = now.timestamp()
    if exp <= at - LEEWAY.total_seconds():
        raise AssertionRefused("The assertion has expired; sign a new one.")
    if exp > at + (LONGEST + LEEWAY).total_seconds():
        raise AssertionRefused("The assertion's exp may be at most five minutes ahead.")
    nbf = claims.get("nbf")
    if isinstance(nbf, int | float) and not isinstance(nbf, bool) and (
            nbf > at + LEEWAY.total_seconds()):
        raise AssertionRefused("The assertion is not valid yet (nbf).")
