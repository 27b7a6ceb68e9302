"""Sessions: the concrete occurrences clients are booked into."""

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from scheduler.clock import now
from scheduler.extensions import Model, db
from scheduler.models.checks import one_of
from scheduler.models.programs import Program
from scheduler.models.rooms import Room
from scheduler.models.series import KIND_CHECK, SessionSeries
from scheduler.models.staff import Staff
from scheduler.models.types import UTCDateTime

SESSION_STATUSES = ("scheduled", "cancelled")
# Why a session was cancelled decides whether a later series edit may bring it back.
CANCELLED_BY = ("override", "series_edit", "series_end", "closure")

session_facilitators = Table(
    "session_facilitators",
    db.metadata,
    Column("session_id", ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True),
    Column("staff_id", ForeignKey("staff.id", ondelete="RESTRICT"), primary_key=True, index=True),
)


class Session(Model):
    __tablename__ = "sessions"
    __table_args__ = (
        UniqueConstraint("series_id", "original_start", name="uq_sessions_series_original_start"),
        CheckConstraint("ends_at > starts_at", name="times"),
        CheckConstraint("capacity >= 1", name="capacity"),
        CheckConstraint(one_of("status", SESSION_STATUSES), name="status"),
        CheckConstraint(KIND_CHECK, name="kind"),
        Index("ix_sessions_starts_at", "starts_at"),
        Index("ix_sessions_room_starts_at", "room_id", "starts_at"),
        Index("ix_sessions_program_starts_at", "program_id", "starts_at"),
        # An EHR's "what changed since" poll (fhir/appointments.py) starts from these: a
        # session that moved, and one that ended (its attended bookings turned fulfilled).
        Index("ix_sessions_updated_at", "updated_at"),
        Index("ix_sessions_ends_at", "ends_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    series_id: Mapped[int | None] = mapped_column(
        ForeignKey("session_series.id", ondelete="RESTRICT")
    )
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id", ondelete="RESTRICT"))
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    # The start the series rule gave this occurrence; it never changes, even when moved.
    original_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    capacity: Mapped[int]
    room_id: Mapped[int | None] = mapped_column(ForeignKey("rooms.id", ondelete="RESTRICT"))
    video_url: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    cancelled_by: Mapped[str | None] = mapped_column(String(16))
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    # The closure that cancelled this session, so lifting it restores exactly these.
    closure_id: Mapped[int | None] = mapped_column(
        ForeignKey("closures.id", ondelete="RESTRICT"), index=True
    )
    # Where the session was before its last move: the portal says "Moved to …" for a while.
    moved_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # An override (cancel, move, room, substitute) shields the occurrence from series edits.
    is_overridden: Mapped[bool] = mapped_column(default=False)
    sequence: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)

    series: Mapped[SessionSeries | None] = relationship()
    program: Mapped[Program] = relationship()
    room: Mapped[Room | None] = relationship()
    facilitators: Mapped[list[Staff]] = relationship(
        secondary=session_facilitators, order_by=Staff.id
    )
