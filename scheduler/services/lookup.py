"""Fetching rows by id with the errors a request needs."""

from sqlalchemy.orm import Session as DbSession

from scheduler.services import scope
from scheduler.services.errors import InvalidField, NotFound, no_such

# Keys are PostgreSQL INTEGER columns. A larger id names no row, and handing it to the
# database fails ("integer out of range", or an OverflowError from SQLite) instead of missing.
MAX_ID = 2**31 - 1


def _could_exist(entity_id) -> bool:
    if isinstance(entity_id, bool) or not isinstance(entity_id, int):
        return False
    return 0 < entity_id <= MAX_ID


def find(db: DbSession, model, entity_id):
    """The row, if it exists for the caller: another site's record is as good as missing to a
    coordinator scoped to other sites (services/scope.py)."""
    row = db.get(model, entity_id) if _could_exist(entity_id) else None
    return row if row is not None and scope.allows(db, row) else None


def get_or_404(db: DbSession, model, entity_id, entity: str):
    """The row at a path id, or NotFound (404)."""
    row = find(db, model, entity_id)
    if row is None:
        raise NotFound(entity, entity_id)
    return row


def get_referenced(db: DbSession, model, entity_id, field: str, entity: str):
    """The row a request field points at, or InvalidField (422) naming that field."""
    row = find(db, model, entity_id)
    if row is None:
        raise InvalidField(field, no_such(entity, entity_id))
    return row
