"""Rooms where in-person sessions happen."""

from datetime import datetime

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.clock import now
from scheduler.extensions import Model
from scheduler.models.types import UTCDateTime


class Room(Model):
    __tablename__ = "rooms"
    __table_args__ = (CheckConstraint("capacity >= 1", name="capacity"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    capacity: Mapped[int]
    location: Mapped[str | None] = mapped_column(String(300))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)
