"""Attendance: what happened to each booking, and the session's check-in code."""

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from scheduler.clock import now
from scheduler.extensions import Model
from scheduler.models.bookings import Booking
from scheduler.models.checks import one_of
from scheduler.models.types import UTCDateTime

ATTENDANCE_STATUSES = (
    "present",
    "late",
    "left_early",
    "absent_excused",
    "absent_unexcused",
    "cancelled_by_clinic",
    "leave_of_absence",
)
REASON_CODES = ("illness", "transport", "work", "family", "no_call", "other")
METHODS = ("roster", "self", "kiosk", "auto")


class Attendance(Model):
    __tablename__ = "attendance"
    __table_args__ = (
        CheckConstraint(one_of("status", ATTENDANCE_STATUSES), name="status"),
        CheckConstraint(f"reason_code IS NULL OR {one_of('reason_code', REASON_CODES)}",
                        name="reason_code"),
        CheckConstraint(one_of("method", METHODS), name="method"),
        CheckConstraint("minutes_attended >= 0", name="minutes"),
        CheckConstraint("left_at IS NULL OR arrived_at IS NULL OR left_at >= arrived_at",
                        name="times"),
        Index("ix_attendance_client_session", "client_id", "session_id"),
        Index("ix_attendance_session", "session_id"),
        # An EHR's "what changed since" poll (fhir/appointments.py) starts from these.
        Index("ix_attendance_updated_at", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(
        ForeignKey("bookings.id", ondelete="RESTRICT"), unique=True
    )
    # Copied from the booking so reports aggregate without a join through bookings.
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="RESTRICT"))
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(24))
    reason_code: Mapped[str | None] = mapped_column(String(16))
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    minutes_attended: Mapped[int] = mapped_column(default=0)
    method: Mapped[str] = mapped_column(String(8))
    recorded_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    note: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)

    booking: Mapped[Booking] = relationship()
