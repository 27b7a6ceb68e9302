"""The one place that reads the wall clock, so tests can freeze it."""

from contextlib import contextmanager
from datetime import UTC, datetime

_frozen: datetime | None = None


def now() -> datetime:
    """The current instant, aware and in UTC."""
    if _frozen is not None:
        return _frozen
    return datetime.now(UTC)


@contextmanager
def frozen(at: datetime):
    """Pin now() to one instant for the duration of the block."""
    global _frozen
    if at.tzinfo is None:
        raise ValueError("frozen() needs an aware datetime")
    previous, _frozen = _frozen, at.astimezone(UTC)
    try:
        yield
    finally:
        _frozen = previous
