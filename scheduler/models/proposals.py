"""Schedule proposals: what the planner offered, kept until a coordinator accepts it or it
expires, so accepting writes exactly what was shown."""

from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.clock import now
from scheduler.extensions import Model
from scheduler.models.checks import one_of
from scheduler.models.types import JSONDocument, UTCDateTime

# schedule: one client's weeks; cohort: a program's new admissions at once; make_up: sessions
# that close one week's shortfall.
PROPOSAL_KINDS = ("schedule", "cohort", "make_up")
# Expiry is read from expires_at, not stored: a proposal no one accepted simply lapses.
PROPOSAL_STATUSES = ("proposed", "accepted")


class ScheduleProposal(Model):
    __tablename__ = "schedule_proposals"
    __table_args__ = (
        CheckConstraint(one_of("kind", PROPOSAL_KINDS), name="kind"),
        CheckConstraint(one_of("status", PROPOSAL_STATUSES), name="status"),
        CheckConstraint("weeks >= 1", name="weeks"),
        Index("ix_schedule_proposals_client_created", "client_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id", ondelete="RESTRICT"),
                                            index=True)
    # The one client of a schedule or make-up proposal; None for a cohort (see client_ids).
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    client_ids: Mapped[list] = mapped_column(JSONDocument)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="proposed")
    from_date: Mapped[date]
    weeks: Mapped[int]
    # The answer as the API gave it, and what accepting writes (enrolments with their date
    # ranges, session bookings, appointments with staff and room), each as plain JSON.
    body: Mapped[dict] = mapped_column(JSONDocument)
    actions: Mapped[dict] = mapped_column(JSONDocument)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))
    # What accepting made, for the audit trail and a repeated accept's answer.
    result: Mapped[dict | None] = mapped_column(JSONDocument)
