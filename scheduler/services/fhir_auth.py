"""Access tokens for FHIR API clients: issued by /fhir/R4/auth/token, checked on every call.

Tokens are random, live TOKEN_MINUTES, and only their SHA-256 is kept. A token is good while
its client is not revoked and its recipient is active, so revoking either ends every token at
once. What a token may read is still bounded per client by consents (services/consents.py).
"""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from scheduler.models import FhirClient, FhirToken
from scheduler.services.recipients import digest

TOKEN_MINUTES = 15


@dataclass(frozen=True)
class Issued:
    access_token: str
    expires_in: int
    scopes: list[str]


def granted_scopes(client: FhirClient, asked: str | None) -> list[str]:
    """What the token gets: the asked scopes the client holds (all of them if none asked).

    Asked scopes the client lacks are left out, as RFC 6749 §3.3 allows; none left is a refusal
    the caller words (invalid_scope).
    """
    held = list(client.scopes)
    if not asked:
        return held
    return [scope for scope in dict.fromkeys(asked.split()) if scope in held]


def issue(db: DbSession, client: FhirClient, scopes: list[str], now: datetime,
          assertion_jti: str | None = None) -> Issued:
    token = secrets.token_urlsafe(32)
    db.add(FhirToken(fhir_client_id=client.id, token_hash=digest(token), scopes=scopes,
                     issued_at=now, expires_at=now + timedelta(minutes=TOKEN_MINUTES),
                     assertion_jti=assertion_jti))
    client.last_used_at = now
    return Issued(token, TOKEN_MINUTES * 60, scopes)


def token_for(db: DbSession, token: str, now: datetime) -> FhirToken | None:
    """The live token with this value, or None."""
    row = db.scalar(select(FhirToken).where(FhirToken.token_hash == digest(token)))
    if row is None or row.expires_at <= now:
        return None
    if row.client.revoked_at is not None or not row.client.recipient.is_active:
        return None
    return row
