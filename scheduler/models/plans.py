"""Assessments and the versioned treatment plans they lead to."""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from scheduler.clock import now
from scheduler.extensions import Model
from scheduler.models.checks import one_of
from scheduler.models.series import KIND_CHECK
from scheduler.models.types import JSONDocument, UTCDateTime

PLAN_STATUSES = ("active", "superseded", "ended")
RECOMMENDED_LEVELS = ("0.5", "1", "2.1", "2.5", "3.1", "3.5", "3.7", "4")


class Assessment(Model):
    """An intake or ongoing assessment; clinical text, so every write is audited."""

    __tablename__ = "assessments"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), index=True
    )
    assessed_on: Mapped[date]
    clinician_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="RESTRICT"))
    kind: Mapped[str] = mapped_column(String(16), default="intake")
    physical_health: Mapped[str | None] = mapped_column(Text)
    mental_health: Mapped[str | None] = mapped_column(Text)
    substance_use_history: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(Text)
    recommended_level: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class TreatmentPlan(Model):
    """One version of a client's plan; a revision adds a row and never rewrites this one."""

    __tablename__ = "treatment_plans"
    __table_args__ = (
        UniqueConstraint("client_id", "version", name="uq_treatment_plans_client_version"),
        CheckConstraint(one_of("status", PLAN_STATUSES), name="status"),
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="dates"),
        # A clinician's caseload starts from the active plans naming them (services/caseload).
        Index("ix_treatment_plans_therapist_status", "primary_therapist_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="RESTRICT"))
    version: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default="active")
    assessment_id: Mapped[int | None] = mapped_column(
        ForeignKey("assessments.id", ondelete="RESTRICT")
    )
    primary_therapist_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff.id", ondelete="RESTRICT")
    )
    start_date: Mapped[date]
    end_date: Mapped[date | None]
    goals: Mapped[list | None] = mapped_column(JSONDocument)
    weekly_hours_target: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    # Medicare IOP: physician certification of need and plan review, each at most two months apart.
    certified_on: Mapped[date | None]
    certification_due: Mapped[date | None]
    reviewed_on: Mapped[date | None]
    review_due: Mapped[date | None]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )

    phases: Mapped[list["PlanPhase"]] = relationship(
        order_by="PlanPhase.position", cascade="all, delete-orphan"
    )


class PlanPhase(Model):
    """A stretch of the plan with its own weekly requirements, e.g. weeks 1–4 at 3 groups a week."""

    __tablename__ = "plan_phases"
    __table_args__ = (
        UniqueConstraint("plan_id", "position", name="uq_plan_phases_plan_position"),
        CheckConstraint("first_week >= 1", name="first_week"),
        CheckConstraint("last_week IS NULL OR last_week >= first_week", name="weeks"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("treatment_plans.id", ondelete="CASCADE"))
    position: Mapped[int]
    name: Mapped[str | None] = mapped_column(String(120))
    first_week: Mapped[int]
    last_week: Mapped[int | None]
    weekly_hours_target: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))

    requirements: Mapped[list["PlanRequirement"]] = relationship(
        order_by="PlanRequirement.kind", cascade="all, delete-orphan"
    )


class PlanRequirement(Model):
    """How many sessions of one kind a week the phase asks for."""

    __tablename__ = "plan_requirements"
    __table_args__ = (
        UniqueConstraint("phase_id", "kind", name="uq_plan_requirements_phase_kind"),
        CheckConstraint(KIND_CHECK, name="kind"),
        CheckConstraint("sessions_per_week >= 1", name="per_week"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    phase_id: Mapped[int] = mapped_column(ForeignKey("plan_phases.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    sessions_per_week: Mapped[int]
