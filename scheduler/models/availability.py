"""When people cannot be booked: a client's weekly routine and staff time off."""

from datetime import datetime, time

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.clock import now
from scheduler.extensions import Model
from scheduler.models.types import UTCDateTime


class ClientUnavailability(Model):
    """A weekly window (job, school, childcare) in the client's program time zone."""

    __tablename__ = "client_unavailability"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday"),
        CheckConstraint("start_time < end_time", name="times"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), index=True
    )
    # 0 is Monday, as in Python's date.weekday().
    weekday: Mapped[int]
    start_time: Mapped[time]
    end_time: Mapped[time]
    label: Mapped[str | None] = mapped_column(String(120))


class ClientPreferredTime(Model):
    """A weekly window the client would rather come in (after the school run, on their day off),
    in the program's time zone. The planner prefers it; nothing else is refused outside it."""

    __tablename__ = "client_preferred_times"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday"),
        CheckConstraint("start_time < end_time", name="times"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), index=True
    )
    # 0 is Monday, as in ClientUnavailability.
    weekday: Mapped[int]
    start_time: Mapped[time]
    end_time: Mapped[time]
    label: Mapped[str | None] = mapped_column(String(120))


class StaffTimeOff(Model):
    """A span when a staff member cannot facilitate."""

    __tablename__ = "staff_time_off"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="times"),
        Index("ix_staff_time_off_staff_starts", "staff_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class StaffWorkingHours(Model):
    """A weekly window a staff member works, in the zone of the program whose session it is.

    A staff member with no windows has no limit; with some, facilitating outside them conflicts.
    """

    __tablename__ = "staff_working_hours"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday"),
        CheckConstraint("start_time < end_time", name="times"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    # 0 is Monday, as in Python's date.weekday() and ClientUnavailability.
    weekday: Mapped[int]
    start_time: Mapped[time]
    end_time: Mapped[time]
