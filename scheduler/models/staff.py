"""Staff: the clinicians and other people who facilitate sessions."""

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from scheduler.clock import now
from scheduler.extensions import Model
from scheduler.models.checks import one_of
from scheduler.models.types import UTCDateTime

if TYPE_CHECKING:
    from scheduler.models.sites import Site

STAFF_ROLES = ("therapist", "counselor", "medical", "peer_support", "other")


class Staff(Model):
    __tablename__ = "staff"
    __table_args__ = (
        CheckConstraint(one_of("role", STAFF_ROLES), name="role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    credentials: Mapped[str | None] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)

    # Read-only here: services/sites writes staff_sites; lists load these in one query.
    sites: Mapped[list["Site"]] = relationship(
        secondary="staff_sites", viewonly=True, order_by="Site.id")
