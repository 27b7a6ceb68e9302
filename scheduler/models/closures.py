"""Closures: days a program does not run (a holiday, snow), and the sessions each one cancelled."""

from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from scheduler.clock import now
from scheduler.extensions import Model
from scheduler.models.programs import Program
from scheduler.models.types import UTCDateTime


class Closure(Model):
    __tablename__ = "closures"
    __table_args__ = (
        CheckConstraint("ends_on >= starts_on", name="dates"),
        Index("ix_closures_program_dates", "program_id", "starts_on", "ends_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id", ondelete="RESTRICT"))
    # Days on the program's own calendar, both included.
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    reason: Mapped[str] = mapped_column(String(500))
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    # A lifted closure is kept, with the sessions it once cancelled named in the audit trail.
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lifted_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )

    program: Mapped[Program] = relationship()
