"""Sites: the buildings of a clinic network, and who works at or looks after which.

A program and a room belong to one site. Staff work at one or more sites (staff_sites); a
coordinator's logins may be scoped to sites (user_sites: none listed means every site, as for
an admin). A clinician outside a client's caseload may break the glass for an hour
(BreakGlassGrant), which is audited and alerts the admins.
"""

from datetime import datetime

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.clock import now
from scheduler.extensions import Model, db
from scheduler.models.types import UTCDateTime


class Site(Model):
    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    address: Mapped[str | None] = mapped_column(String(300))
    # The default zone of the site's programs; each program keeps its own.
    timezone: Mapped[str] = mapped_column(String(64))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)


staff_sites = Table(
    "staff_sites",
    db.metadata,
    Column("staff_id", ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True),
    Column("site_id", ForeignKey("sites.id", ondelete="RESTRICT"), primary_key=True, index=True),
)

# The sites a login (a coordinator's) is scoped to; a login with no row sees every site.
user_sites = Table(
    "user_sites",
    db.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("site_id", ForeignKey("sites.id", ondelete="RESTRICT"), primary_key=True, index=True),
)


class BreakGlassGrant(Model):
    """A clinician's hour of access to a client outside their caseload, and why."""

    __tablename__ = "break_glass_grants"
    __table_args__ = (
        CheckConstraint("expires_at > granted_at", name="expiry"),
        Index("ix_break_glass_grants_user_client", "user_id", "client_id", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="RESTRICT"),
                                           index=True)
    reason: Mapped[str] = mapped_column(Text)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
