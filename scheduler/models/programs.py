"""Programs: a level of care for a population, in one time zone."""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.clock import now
from scheduler.extensions import Model
from scheduler.models.checks import one_of
from scheduler.models.feeds import PRIVACY_LEVELS
from scheduler.models.types import UTCDateTime

LEVELS_OF_CARE = ("1", "2.1", "2.5")
POPULATIONS = ("adult", "adolescent")


def default_min_weekly_hours(level_of_care: str, population: str) -> Decimal | None:
    """ASAM minimum structured hours a week for a level and population."""
    if level_of_care == "2.1":
        return Decimal(6) if population == "adolescent" else Decimal(9)
    if level_of_care == "2.5":
        return Decimal(20)
    return None


class Program(Model):
    __tablename__ = "programs"
    __table_args__ = (
        CheckConstraint(one_of("level_of_care", LEVELS_OF_CARE), name="level_of_care"),
        CheckConstraint(one_of("population", POPULATIONS), name="population"),
        CheckConstraint(
            "min_weekly_hours_override IS NULL OR min_weekly_hours_override >= 0",
            name="min_weekly_hours",
        ),
        CheckConstraint("absence_streak_alert >= 1", name="absence_streak_alert"),
        CheckConstraint("min_group_size IS NULL OR min_group_size >= 1", name="min_group_size"),
        CheckConstraint(one_of("feed_privacy", PRIVACY_LEVELS), name="feed_privacy"),
        CheckConstraint(
            "discharge_review_streak >= 1 AND discharge_review_absences >= 1 "
            "AND discharge_review_weeks >= 1",
            name="discharge_review",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # services/sites.site_for_new chooses it when only one site exists.
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    level_of_care: Mapped[str] = mapped_column(String(8))
    population: Mapped[str] = mapped_column(String(16), default="adult")
    timezone: Mapped[str] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(300))
    # NULL means "follow the ASAM default for the level", so a level change re-derives it.
    min_weekly_hours_override: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    # Follow-up: this many unexcused absences in a row puts a client on the list.
    absence_streak_alert: Mapped[int] = mapped_column(default=2, server_default="2")
    # Discharge review: this many unexcused absences in a row, or more than
    # `discharge_review_absences` of them within `discharge_review_weeks` weeks.
    discharge_review_streak: Mapped[int] = mapped_column(default=3, server_default="3")
    discharge_review_absences: Mapped[int] = mapped_column(default=6, server_default="6")
    discharge_review_weeks: Mapped[int] = mapped_column(default=12, server_default="12")
    # What a calendar feed may say: 'private' shows "Appointment" and the street address only.
    feed_privacy: Mapped[str] = mapped_column(String(8), default="private",
                                              server_default="private")
    # ISO 3166-1 alpha-2: whose public holidays a new series is warned about.
    # The fewest clients a group should run with; the planner never leaves a group it fills
    # below it. None: no minimum.
    min_group_size: Mapped[int | None]
    country: Mapped[str] = mapped_column(String(2), default="US", server_default="US")
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)

    @property
    def min_weekly_hours(self) -> Decimal | None:
        if self.min_weekly_hours_override is not None:
            return self.min_weekly_hours_override
        return default_min_weekly_hours(self.level_of_care, self.population)
