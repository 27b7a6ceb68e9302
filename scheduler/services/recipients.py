"""Recipients (external systems) and their FHIR API clients: the one owner of both.

An API client's secret is shown once, when made; only its SHA-256 is kept, as for API tokens.
Access tokens issued to it (services/fhir_auth.py) carry at most the scopes it was given.
"""

import hashlib
import hmac
import secrets
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DbSession

from scheduler.i18n import gettext
from scheduler.i18n import lazy_gettext as _l
from scheduler.models import FhirClient, Recipient
from scheduler.models.interop import FHIR_SCOPES, RECIPIENT_KINDS
from scheduler.services import audit, fhir_assertions, search
from scheduler.services.audit import Actor
from scheduler.services.errors import InvalidField, StateConflict

AUDITED = ("name", "kind", "contact", "is_active")
CLIENT_AUDITED = ("recipient_id", "client_id", "scopes", "jwks_url", "revoked_at")
KIND_WORDS = {"ehr": _l("Health record (EHR)"), "billing": _l("Billing"),
              "referral": _l("Referral partner")}


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _check_name_free(db: DbSession, name: str, recipient_id: int | None = None) -> None:
    clash = db.scalar(select(Recipient.id).where(func.lower(Recipient.name) == name.lower()))
    if clash is not None and clash != recipient_id:
        raise InvalidField("name", gettext("A recipient named %(name)s already exists.",
                                           name=repr(name)))


def _check_kind(kind: str) -> None:
    if kind not in RECIPIENT_KINDS:
        raise InvalidField("kind", gettext("Choose ehr, billing or referral."))


def create_recipient(db: DbSession, actor: Actor, *, name: str, kind: str,
                     contact: str | None = None, is_active: bool = True) -> Recipient:
    _check_kind(kind)
    _check_name_free(db, name)
    recipient = Recipient(name=name, kind=kind, contact=contact, is_active=is_active)
    db.add(recipient)
    db.flush()
    audit.record(db, actor, "create", "recipient", recipient.id,
                 after=audit.snapshot(recipient, AUDITED))
    return recipient


def update_recipient(db: DbSession, actor: Actor, recipient: Recipient,
                     changes: dict) -> Recipient:
    """Rename or (de)activate; an inactive recipient receives nothing, whatever its consents."""
    if "kind" in changes:
        _check_kind(changes["kind"])
    if "name" in changes:
        _check_name_free(db, changes["name"], recipient.id)
    before = audit.snapshot(recipient, AUDITED)
    for key, value in changes.items():
        setattr(recipient, key, value)
    db.flush()
    audit.record(db, actor, "update", "recipient", recipient.id, before,
                 audit.snapshot(recipient, AUDITED))
    return recipient


def list_recipients(db: DbSession, q: str | None = None, *, offset: int = 0,
                    limit: int | None = None) -> tuple[list[Recipient], int]:
    query = search.filtered(select(Recipient), Recipient.name, q)
    total = db.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = db.scalars(query.order_by(Recipient.name, Recipient.id)
                      .offset(offset).limit(limit)).all()
    return list(rows), total


def _check_scopes(scopes: list[str]) -> list[str]:
    wanted = list(dict.fromkeys(scopes))
    if not wanted:
        raise InvalidField("scopes", gettext("Give at least one scope, e.g. "
                                             "system/Appointment.read."))
    for scope in wanted:
        if scope not in FHIR_SCOPES:
            raise InvalidField("scopes", gettext("%(scope)s is not one of %(scopes)s.",
                                                 scope=repr(scope),
                                                 scopes=", ".join(FHIR_SCOPES)))
    return wanted


def create_fhir_client(db: DbSession, actor: Actor, recipient: Recipient, *,
                       scopes: list[str], jwks: dict | None = None,
                       jwks_url: str | None = None) -> tuple[FhirClient, str]:
    """A new API client for the recipient; returns it and its secret, which is shown once."""
    if not recipient.is_active:
        raise StateConflict(gettext("%(name)s is no longer an active recipient.",
                                    name=recipient.name))
    scopes = _check_scopes(scopes)
    # Only public keys SMART assertions can be checked with (services/fhir_assertions.py).
    jwks = fhir_assertions.check_jwks(jwks)
    secret = secrets.token_urlsafe(32)
    row = FhirClient(recipient_id=recipient.id, client_id="fc_" + secrets.token_urlsafe(16),
                     secret_hash=digest(secret), scopes=scopes, jwks=jwks,
                     jwks_url=jwks_url, created_by_user_id=actor.user_id)
    db.add(row)
    db.flush()
    audit.record(db, actor, "create", "fhir_client", row.id,
                 after=audit.snapshot(row, CLIENT_AUDITED))
    return row, secret


def revoke_fhir_client(db: DbSession, actor: Actor, row: FhirClient, now: datetime) -> None:
    """Revoke the client and, with it, every token it holds (fhir_auth checks revoked_at)."""
    if row.revoked_at is not None:
        return
    before = audit.snapshot(row, CLIENT_AUDITED)
    row.revoked_at = now
    db.flush()
    audit.record(db, actor, "revoke", "fhir_client", row.id, before,
                 audit.snapshot(row, CLIENT_AUDITED))


def fhir_client_for_credentials(db: DbSession, client_id: str,
                                secret: str) -> FhirClient | None:
    """The live API client these credentials name, or None (the same None for every miss)."""
    row = db.scalar(select(FhirClient).where(FhirClient.client_id == client_id))
    expected = row.secret_hash if row is not None else digest("no such client")
    matches = hmac.compare_digest(expected, digest(secret))
    if row is None or not matches or row.revoked_at is not None:
        return None
    if not row.recipient.is_active:
        return None
    return row


def clients_of(db: DbSession, recipient_id: int) -> list[FhirClient]:
    return list(db.scalars(select(FhirClient).where(FhirClient.recipient_id == recipient_id)
                           .order_by(FhirClient.id)))
