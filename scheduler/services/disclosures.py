"""The accounting of disclosures: every time a client's data leaves through FHIR or a webhook.

Part 2 (§2.24) lets a client ask who received what about them, when, and under which consent.
The FHIR views and the webhook fan-out call `log` in the same transaction as the work, so a
disclosure is logged exactly when it happens.
"""

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DbSession

from scheduler.models import Consent, Disclosure


def log(db: DbSession, consent: Consent, *, channel: str, scope: str, what: str,
        at: datetime, api_client_id: int | None = None,
        webhook_endpoint_id: int | None = None) -> Disclosure:
    """Log one disclosure of the consent's client to its recipient."""
    row = Disclosure(client_id=consent.client_id, recipient_id=consent.recipient_id,
                     consent_id=consent.id, channel=channel, scope=scope, what=what[:200],
                     api_client_id=api_client_id, webhook_endpoint_id=webhook_endpoint_id,
                     disclosed_at=at)
    db.add(row)
    return row


def for_client(db: DbSession, client_id: int, *, offset: int = 0,
               limit: int | None = None) -> tuple[list[Disclosure], int]:
    """The client's disclosures, newest first, and how many in all."""
    where = Disclosure.client_id == client_id
    total = db.scalar(select(func.count(Disclosure.id)).where(where)) or 0
    rows = db.scalars(select(Disclosure).where(where)
                      .order_by(Disclosure.disclosed_at.desc(), Disclosure.id.desc())
                      .offset(offset).limit(limit)).all()
    return list(rows), total


def consents_of(db: DbSession, rows: list[Disclosure]) -> dict[int, Consent]:
    """The consents these disclosures went under, by id, in one query."""
    ids = {row.consent_id for row in rows}
    if not ids:
        return {}
    return {c.id: c for c in db.scalars(select(Consent).where(Consent.id.in_(ids)))}
