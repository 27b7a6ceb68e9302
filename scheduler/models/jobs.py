"""Background work: each job run's history, the messages it sends, and the alerts it raises."""

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.clock import now
from scheduler.extensions import Model
from scheduler.models.checks import one_of
from scheduler.models.types import JSONDocument, UTCDateTime

RUN_OUTCOMES = ("running", "ok", "failed")
NOTIFICATION_STATUSES = ("pending", "sent", "failed", "skipped")
ALERT_KINDS = ("absence_streak", "below_target", "break_glass", "webhook_disabled")


class JobRun(Model):
    """One run of one job: when, how it ended, and what it did (counts)."""

    __tablename__ = "job_runs"
    __table_args__ = (
        CheckConstraint(one_of("outcome", RUN_OUTCOMES), name="outcome"),
        Index("ix_job_runs_job_started", "job", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(8), default="running")
    counts: Mapped[dict | None] = mapped_column(JSONDocument)
    error: Mapped[str | None] = mapped_column(Text)
    # 'worker', 'cli' or 'embedded': who ran it.
    trigger: Mapped[str] = mapped_column(String(16), default="worker")


class Notification(Model):
    """A message, written before it is sent; its key makes every message happen once."""

    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint(one_of("status", NOTIFICATION_STATUSES), name="status"),
        Index("ix_notifications_status", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # e.g. "reminder-24h:client=7:session=120:seq=0"; unique, so a second run adds nothing.
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    client_id: Mapped[int | None] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    session_id: Mapped[int | None] = mapped_column(ForeignKey("sessions.id", ondelete="RESTRICT"))
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(8), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Alert(Model):
    """Something a coordinator and the primary therapist should act on today."""

    __tablename__ = "alerts"
    __table_args__ = (
        CheckConstraint(one_of("kind", ALERT_KINDS), name="kind"),
        Index("ix_alerts_open", "acknowledged_at", "raised_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # e.g. "absence_streak:client=7:since=2027-03-08T23:00" — one alert per run of absences.
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    # None for an alert about no client (a webhook endpoint disabled: webhook_disabled).
    client_id: Mapped[int | None] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), index=True)
    program_id: Mapped[int | None] = mapped_column(
        ForeignKey("programs.id", ondelete="RESTRICT"))
    detail: Mapped[dict | None] = mapped_column(JSONDocument)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))
