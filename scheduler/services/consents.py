"""Part 2 consents: the one owner of "may this client's data go to this recipient, now?".

42 CFR §2.31 asks a written consent to name who discloses, the recipient, the purpose, how much
and what kind, the signature date, an expiry and the right to revoke. A consent covers one or
more scopes (appointments, attendance, demographics). Its dates are read on the calendar of the
client's program: it is live from the start of the day it was signed until the end of the day
it expires, unless revoked earlier; revoking stops everything from that instant.

FHIR reads and searches, and webhook fan-out, ask `live` (one client) or `live_client_ids` (a
subquery of the clients a recipient may see), never their own copy of the rule.
"""

from datetime import date, datetime, time, timedelta

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session as DbSession

from scheduler.i18n import gettext
from scheduler.models import Client, Consent, Recipient
from scheduler.models.interop import CONSENT_SCOPES
from scheduler.services import audit
from scheduler.services.audit import Actor
from scheduler.services.errors import InvalidField, NotFound, StateConflict
from scheduler.services.lookup import find, get_referenced
from scheduler.services.program_calendar import program_today, program_zone

AUDITED = ("client_id", "recipient_id", "purpose", "scope", "signed_on", "expires_on",
           "document_ref", "revoked_at", "revoke_reason")
SCOPE_WORDS = {"appointments": "appointments", "attendance": "attendance",
               "demographics": "name, date of birth and identifiers"}
# What a §2.31 form's purpose, its filing reference and a revocation's reason run to; far more
# than any clinic writes, and within what the columns and a page can hold.
PURPOSE_MAX = 1000
DOCUMENT_REF_MAX = 500
REASON_MAX = 500


def covers(scope: str):
    """The column that says a consent covers `scope`."""
    if scope not in CONSENT_SCOPES:
        raise ValueError(f"unknown consent scope {scope!r}")
    return getattr(Consent, f"covers_{scope}")


def _live_conditions(recipient_id: int, scope: str, at: datetime) -> list:
    return [Consent.recipient_id == recipient_id, covers(scope).is_(True),
            Consent.valid_from <= at, Consent.valid_until > at,
            or_(Consent.revoked_at.is_(None), Consent.revoked_at > at),
            Recipient.is_active.is_(True)]


def live(db: DbSession, client_id: int, recipient_id: int, scope: str,
         at: datetime) -> Consent | None:
    """The client's live consent naming this recipient and covering `scope`, or None.

    With several, the one that runs longest: the disclosure log names it.
    """
    return db.scalars(
        select(Consent).join(Recipient, Recipient.id == Consent.recipient_id)
        .where(Consent.client_id == client_id, *_live_conditions(recipient_id, scope, at))
        .order_by(Consent.valid_until.desc(), Consent.id.desc()).limit(1)).first()


def live_client_ids(recipient_id: int, scope: str, at: datetime) -> Select:
    """A subquery of the clients whose live consent lets this recipient see `scope`."""
    return (select(Consent.client_id)
            .join(Recipient, Recipient.id == Consent.recipient_id)
            .where(*_live_conditions(recipient_id, scope, at)))


def window(db: DbSession, client: Client, signed_on: date,
           expires_on: date) -> tuple[datetime, datetime]:
    """The instants a consent's dates mean on the client's program calendar."""
    zone = program_zone(db, client.program_id)
    start = datetime.combine(signed_on, time.min, tzinfo=zone)
    end = datetime.combine(expires_on + timedelta(days=1), time.min, tzinfo=zone)
    return start, end


def record(db: DbSession, actor: Actor, client: Client, *, recipient_id: int, purpose: str,
           scope: list[str], signed_on: date, expires_on: date, now: datetime,
           document_ref: str | None = None) -> Consent:
    """Record a signed consent (audited). Refuses what a §2.31 form could not say."""
    recipient = get_referenced(db, Recipient, recipient_id, "recipient_id", "recipient")
    if not recipient.is_active:
        raise InvalidField("recipient_id", gettext("%(name)s is no longer an active recipient.",
                                                   name=recipient.name))
    wanted = list(dict.fromkeys(scope))
    if not wanted:
        raise InvalidField("scope", gettext("Choose at least one of appointments, attendance or "
                                            "demographics."))
    unknown = [item for item in wanted if item not in CONSENT_SCOPES]
    if unknown:
        raise InvalidField("scope", gettext("%(scope)s is not one of appointments, attendance "
                                            "or demographics.", scope=repr(unknown[0])))
    if not purpose.strip():
        raise InvalidField("purpose", gettext("Say what the disclosure is for, as the form does."))
    if len(purpose.strip()) > PURPOSE_MAX:
        raise InvalidField("purpose", gettext("At most %(num)d characters.", num=PURPOSE_MAX))
    document_ref = (document_ref or "").strip() or None
    if document_ref is not None and len(document_ref) > DOCUMENT_REF_MAX:
        raise InvalidField("document_ref", gettext("At most %(num)d characters.",
                                                   num=DOCUMENT_REF_MAX))
    today = program_today(db, now, client.program_id)
    if signed_on > today:
        raise InvalidField("signed_on", gettext("The consent cannot be signed after today."))
    if expires_on < signed_on:
        raise InvalidField("expires_on", gettext("The consent must expire on or after the day "
                                                 "it was signed."))
    if expires_on < today:
        raise InvalidField("expires_on", gettext("This consent has already expired; record a "
                                                 "current one."))
    valid_from, valid_until = window(db, client, signed_on, expires_on)
    consent = Consent(client_id=client.id, recipient_id=recipient.id, purpose=purpose.strip(),
                      signed_on=signed_on, expires_on=expires_on, valid_from=valid_from,
                      valid_until=valid_until, document_ref=document_ref,
                      created_by_user_id=actor.user_id, created_at=now,
                      **{f"covers_{name}": name in wanted for name in CONSENT_SCOPES})
    db.add(consent)
    db.flush()
    audit.record(db, actor, "create", "consent", consent.id,
                 after=audit.snapshot(consent, AUDITED))
    return consent


def revoke(db: DbSession, actor: Actor, consent: Consent, now: datetime,
           reason: str | None = None) -> Consent:
    """Revoke from this instant: nothing more flows under it (audited)."""
    if consent.revoked_at is not None:
        raise StateConflict(gettext("This consent was already revoked on %(when)s UTC.",
                                    when=f"{consent.revoked_at:%Y-%m-%d %H:%M}"))
    reason = (reason or "").strip() or None
    if reason is not None and len(reason) > REASON_MAX:
        raise InvalidField("reason", gettext("At most %(num)d characters.", num=REASON_MAX))
    before = audit.snapshot(consent, AUDITED)
    consent.revoked_at = now
    consent.revoked_by_user_id = actor.user_id
    consent.revoke_reason = reason
    db.flush()
    audit.record(db, actor, "revoke", "consent", consent.id, before,
                 audit.snapshot(consent, AUDITED), reason=reason)
    return consent


def for_client(db: DbSession, client_id: int) -> list[Consent]:
    """The client's consents, newest first, revoked and expired ones included."""
    return list(db.scalars(select(Consent).where(Consent.client_id == client_id)
                           .order_by(Consent.signed_on.desc(), Consent.id.desc())))


def of_client(db: DbSession, client_id: int, consent_id: int) -> Consent:
    """The client's consent with this id, or NotFound (another client's is as good as
    missing, so ids cannot be probed through someone else's record)."""
    consent = find(db, Consent, consent_id)
    if consent is None or consent.client_id != client_id:
        raise NotFound("consent", consent_id)
    return consent


def state(consent: Consent, at: datetime) -> str:
    """'live', 'revoked' or 'expired': for lists."""
    if consent.revoked_at is not None and consent.revoked_at <= at:
        return "revoked"
    if at >= consent.valid_until:
        return "expired"
    return "live"


def live_for_clients(db: DbSession, client_ids, recipient_id: int, scope: str,
                     at: datetime) -> dict[int, Consent]:
    """`live` for many clients in one query (a page of FHIR results): each client's live
    consent for the recipient and scope, the longest-running as `live` chooses, by client id.
    Clients without one are absent."""
    wanted = sorted(set(client_ids))
    if not wanted:
        return {}
    rows = db.scalars(
        select(Consent).join(Recipient, Recipient.id == Consent.recipient_id)
        .where(Consent.client_id.in_(wanted), *_live_conditions(recipient_id, scope, at))
        .order_by(Consent.client_id, Consent.valid_until.desc(), Consent.id.desc()))
    found: dict[int, Consent] = {}
    for row in rows:
        found.setdefault(row.client_id, row)
    return found
