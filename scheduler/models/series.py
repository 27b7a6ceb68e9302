"""Recurring session series: the rule from which sessions are made."""

from datetime import date, datetime, time

from sqlalchemy import CheckConstraint, Column, ForeignKey, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from scheduler.clock import now
from scheduler.extensions import Model, db
from scheduler.models.checks import one_of
from scheduler.models.programs import Program
from scheduler.models.rooms import Room
from scheduler.models.staff import Staff
from scheduler.models.types import UTCDateTime

SESSION_KINDS = (
    "group",
    "individual",
    "behavioral",
    "family",
    "education",
    "medical",
    "peer_support",
    "assessment",
    "case_management",
)
KIND_CHECK = one_of("kind", SESSION_KINDS)
SERIES_STATUSES = ("active", "ended")
MAX_DURATION_MINUTES = 12 * 60

series_facilitators = Table(
    "series_facilitators",
    db.metadata,
    Column("series_id", ForeignKey("session_series.id", ondelete="CASCADE"), primary_key=True),
    Column("staff_id", ForeignKey("staff.id", ondelete="RESTRICT"), primary_key=True, index=True),
)


class SessionSeries(Model):
    __tablename__ = "session_series"
    __table_args__ = (
        CheckConstraint(KIND_CHECK, name="kind"),
        CheckConstraint(one_of("status", SERIES_STATUSES), name="status"),
        CheckConstraint(
            f"duration_minutes > 0 AND duration_minutes <= {MAX_DURATION_MINUTES}",
            name="duration",
        ),
        CheckConstraint("capacity >= 1", name="capacity"),
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="dates"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(
        ForeignKey("programs.id", ondelete="RESTRICT"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    timezone: Mapped[str] = mapped_column(String(64))
    start_date: Mapped[date]
    start_time: Mapped[time]
    duration_minutes: Mapped[int]
    rrule: Mapped[str] = mapped_column(String(255))
    end_date: Mapped[date | None]
    capacity: Mapped[int]
    room_id: Mapped[int | None] = mapped_column(ForeignKey("rooms.id", ondelete="RESTRICT"))
    video_url: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), default="active")
    # Occurrences exist up to here; the horizon job continues from it.
    materialized_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)

    program: Mapped[Program] = relationship()
    room: Mapped[Room | None] = relationship()
    facilitators: Mapped[list[Staff]] = relationship(
        secondary=series_facilitators, order_by=Staff.id
    )
