"""Rooms where in-person sessions happen."""

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.clock import now
from scheduler.extensions import Model
from scheduler.models.types import UTCDateTime


class Room(Model):
    __tablename__ = "rooms"
    __table_args__ = (
        CheckConstraint("capacity >= 1", name="capacity"),
        # Each site may have its own "Room B".
        UniqueConstraint("site_id", "name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    capacity: Mapped[int]
    location: Mapped[str | None] = mapped_column(String(300))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)
