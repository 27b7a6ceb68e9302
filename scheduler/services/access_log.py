"""The access log: who read which client's record, kept beside the audit trail of writes."""

from collections.abc import Iterable

from sqlalchemy import Engine, insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session as DbSession

from scheduler.clock import now
from scheduler.models import AuditEvent
from scheduler.services.audit import Actor, to_json
from scheduler.services.errors import DomainError
from scheduler.services.lookup import MAX_ID

# A read of a record, a CSV download of it, and a refused attempt to read it.
ACCESS_ACTIONS = ("read", "export", "denied")


class AccessLogUnavailable(DomainError):
    """The access row could not be written, so the record is not shown (fail closed)."""

    status = 503

    def __init__(self):
        super().__init__("The access log cannot be written just now, so the record is not "
                         "shown; try again in a moment.")


def record_access(
    db: DbSession,
    actor: Actor,
    client_ids: Iterable[int | None],
    resource: str,
    *,
    action: str = "read",
    entity_type: str = "client",
    via: str = "api",
    detail: dict | None = None,
) -> int:
    """Log one read: a row per client shown, in one INSERT committed on its own; returns the count.

    One row per client (not one row holding a list) so that "who saw client 12" is the
    indexed (entity_type, entity_id) lookup the write trail already uses, on any database.
    The row is written on its own connection and committed at once: the caller's session
    keeps its loaded rows (a commit there would expire them and cost a SELECT each), and the
    log survives whatever the request does next. If the write fails the read is refused
    with AccessLogUnavailable rather than served unlogged.
    """
    if action not in ACCESS_ACTIONS:
        raise ValueError(f"not an access action: {action}")
    # Ids that cannot be rows name nothing that was shown, and would overflow the column.
    ids = [i for i in dict.fromkeys(client_ids) if i is None or 0 < i <= MAX_ID]
    if not ids:
        return 0
    # What was read, never what it said: no names or clinical content enter the log.
    after = {"resource": resource, "via": via,
             **{key: to_json(value) for key, value in (detail or {}).items()}}
    at = now()
    rows = [{"occurred_at": at, "actor_user_id": actor.user_id, "actor": actor.label,
             "address": actor.address, "action": action, "entity_type": entity_type,
             "entity_id": entity_id, "after": after} for entity_id in ids]
    bind = db.get_bind()
    # Its own connection from the session's engine, even where the session is bound to one.
    engine = bind if isinstance(bind, Engine) else bind.engine
    try:
        with engine.begin() as conn:
            conn.execute(insert(AuditEvent), rows)
    except SQLAlchemyError as error:
        raise AccessLogUnavailable() from error
    return len(rows)


def client_ids_of(rows) -> list[int]:
    """The clients a report's rows show, each once, in order; rows about no client add none."""
    ids = (getattr(row, "client_id", None) for row in rows)
    return list(dict.fromkeys(i for i in ids if i is not None))
