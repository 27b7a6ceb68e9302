"""Enrolments in series and bookings into single sessions."""

from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from scheduler.clock import now
from scheduler.extensions import Model
from scheduler.models.checks import one_of
from scheduler.models.clients import Client
from scheduler.models.series import SessionSeries
from scheduler.models.sessions import Session
from scheduler.models.types import UTCDateTime

ENROLLMENT_STATUSES = ("active", "ended")
BOOKING_STATUSES = ("booked", "waitlisted", "cancelled")


class Enrollment(Model):
    """A client's standing place in a series from one date to another."""

    __tablename__ = "enrollments"
    __table_args__ = (
        CheckConstraint(one_of("status", ENROLLMENT_STATUSES), name="status"),
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="dates"),
        Index("ix_enrollments_series_status", "series_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), index=True
    )
    series_id: Mapped[int] = mapped_column(ForeignKey("session_series.id", ondelete="RESTRICT"))
    start_date: Mapped[date]
    end_date: Mapped[date | None]
    status: Mapped[str] = mapped_column(String(16), default="active")
    ended_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)

    client: Mapped[Client] = relationship()
    series: Mapped[SessionSeries] = relationship()


class Booking(Model):
    """One client's seat (or place in the queue) in one session."""

    __tablename__ = "bookings"
    __table_args__ = (
        UniqueConstraint("session_id", "client_id", name="uq_bookings_session_client"),
        CheckConstraint(one_of("status", BOOKING_STATUSES), name="status"),
        CheckConstraint(
            "(status = 'waitlisted') = (waitlisted_at IS NOT NULL)", name="waitlist_time"
        ),
        Index("ix_bookings_session_status", "session_id", "status"),
        Index("ix_bookings_client_status", "client_id", "status"),
        # An EHR's "what changed since" poll (fhir/appointments.py) starts from these.
        Index("ix_bookings_updated_at", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="RESTRICT"))
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="RESTRICT"))
    enrollment_id: Mapped[int | None] = mapped_column(
        ForeignKey("enrollments.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(16))
    # First come, first served: the queue is ordered by this, then id.
    waitlisted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    booked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    override_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)

    session: Mapped[Session] = relationship()
    client: Mapped[Client] = relationship()
    enrollment: Mapped[Enrollment | None] = relationship()
