"""A dry run of a new series: how many sessions it would make, and what they would clash with."""

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DbSession

from scheduler.models import Session, SessionSeries
from scheduler.services import series as series_service
from scheduler.services.audit import Actor
from scheduler.services.conflicts import Clash, ConflictDetected


@dataclass
class SeriesPreview:
    occurrences: int
    clashes: list[Clash] = field(default_factory=list)
    # Allowed but unusual: public holidays, closures, a group above Medicare's limit.
    warnings: list[str] = field(default_factory=list)


def preview_series(
    db: DbSession, actor: Actor, *, now: datetime, horizon_days: int, **fields
) -> SeriesPreview:
    """Run create_series and roll it back, so the preview is exactly what saving would do.

    Rolls back the caller's whole transaction: call it in a request that writes nothing else.
    Invalid fields raise InvalidField as create_series does.
    """
    try:
        try:
            created, change = series_service.create_series(
                db, actor, now=now, horizon_days=horizon_days, **fields
            )
            return SeriesPreview(change.created, warnings=series_service.warnings(created))
        except ConflictDetected as conflict:
            # The occurrences are made before the clash check, so they can be counted still.
            made = next((c.slot.session_id for c in conflict.clashes if c.slot.session_id), None)
            series_id = made and db.scalar(select(Session.series_id).where(Session.id == made))
            count = series_id and db.scalar(
                select(func.count(Session.id)).where(Session.series_id == series_id))
            series = db.get(SessionSeries, series_id) if series_id else None
            notes = series_service.warnings(series) if series is not None else []
            return SeriesPreview(count or 0, conflict.clashes, notes)
    finally:
        db.rollback()
