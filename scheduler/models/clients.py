"""Clients: the people in treatment."""

from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, false, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from scheduler.clock import now
from scheduler.extensions import Model
from scheduler.models.checks import one_of
from scheduler.models.programs import Program
from scheduler.models.types import UTCDateTime

CLIENT_STATUSES = ("active", "discharged")


class Client(Model):
    __tablename__ = "clients"
    __table_args__ = (
        CheckConstraint(one_of("status", CLIENT_STATUSES), name="status"),
        CheckConstraint(
            "discharged_on IS NULL OR discharged_on >= admitted_on", name="discharge_after_admit"
        ),
        CheckConstraint(
            "feed_alarm_minutes IS NULL OR feed_alarm_minutes BETWEEN 0 AND 10080",
            name="feed_alarm_minutes",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    preferred_name: Mapped[str | None] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    program_id: Mapped[int] = mapped_column(
        ForeignKey("programs.id", ondelete="RESTRICT"), index=True
    )
    admitted_on: Mapped[date]
    discharged_on: Mapped[date | None]
    status: Mapped[str] = mapped_column(String(16), default="active")
    # Front-desk kiosk: a personal 4–6 digit PIN, hashed, with a lockout after wrong tries.
    kiosk_pin_hash: Mapped[str | None] = mapped_column(String(255))
    checkin_failed_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    checkin_locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A reminder in the subscribed calendar this many minutes before each session; NULL for none.
    feed_alarm_minutes: Mapped[int | None]
    # Email reminders the day before and/or two hours before; opting out stops every message.
    remind_day_before: Mapped[bool] = mapped_column(default=True, server_default=true())
    remind_two_hours: Mapped[bool] = mapped_column(default=False, server_default=false())
    notifications_opt_out: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)

    program: Mapped[Program] = relationship()
