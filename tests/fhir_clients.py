"""A recipient's system in the tests: its API client, its tokens, its signed assertions."""

import base64
import uuid
from datetime import timedelta

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from scheduler import clock
from scheduler.services import recipients
from tests.helpers import ACTOR

TOKEN_URL = "http://localhost/fhir/R4/auth/token"
ALL_SCOPES = ["system/Appointment.read", "system/Slot.read", "system/Patient.read",
              "system/Patient.write"]


def basic(client_id: str, secret: str) -> dict:
    pair = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


def api_client(db, recipient, scopes=None, jwks=None):
    row, secret = recipients.create_fhir_client(db, ACTOR, recipient,
                                                scopes=scopes or ALL_SCOPES, jwks=jwks)
    db.commit()
    return row, secret


def token(http, row, secret, scope: str | None = None) -> dict:
    """Bearer headers from a real POST /fhir/R4/auth/token."""
    form = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    answer = http.post("/fhir/R4/auth/token", data=form, headers=basic(row.client_id, secret))
    assert answer.status_code == 200, answer.get_json()
    return {"Authorization": f"Bearer {answer.get_json()['access_token']}"}


class Signer:
    """A backend client's key pair: the public half as a JWKS, the private half signs."""

    def __init__(self, algorithm: str = "RS384", kid: str = "key-1"):
        self.algorithm, self.kid = algorithm, kid
        if algorithm == "RS384":
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            public = jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        else:
            self.private = ec.generate_private_key(ec.SECP384R1())
            public = jwt.algorithms.ECAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        self.jwks = {"keys": [{**public, "kid": kid, "alg": algorithm}]}

    def assertion(self, client_id: str, **overrides) -> str:
        claims = {"iss": client_id, "sub": client_id, "aud": TOKEN_URL,
                  "exp": int((clock.now() + timedelta(minutes=4)).timestamp()),
                  "jti": uuid.uuid4().hex}
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, self.private, algorithm=self.algorithm,
                          headers={"kid": self.kid})


def assertion_form(assertion: str, **extra) -> dict:
    return {"grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion, **extra}
