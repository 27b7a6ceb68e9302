"""Calendar feed tokens, and the version each feed's HTTP validators come from."""

import secrets
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.clock import now
from scheduler.extensions import Model
from scheduler.models.checks import one_of
from scheduler.models.types import UTCDateTime

FEED_OWNERS = ("client", "staff", "room", "program")
OWNER_CHECK = one_of("owner_kind", FEED_OWNERS)
PRIVACY_LEVELS = ("private", "standard", "full")
UID_KEY_BYTES = 32


def new_uid_key() -> str:
    return secrets.token_hex(UID_KEY_BYTES)


class FeedToken(Model):
    """A secret feed URL; only its SHA-256 is kept, and rotating revokes the one before."""

    __tablename__ = "feed_tokens"
    __table_args__ = (
        CheckConstraint(OWNER_CHECK, name="owner_kind"),
        Index("ix_feed_tokens_owner", "owner_kind", "owner_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_kind: Mapped[str] = mapped_column(String(8))
    owner_id: Mapped[int]
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class FeedVersion(Model):
    """Bumped by every change that could alter a feed, removals included.

    Last-Modified comes from `changed_at`, whole seconds that strictly rise, so a change
    never hides behind an If-Modified-Since from the same second.
    """

    __tablename__ = "feed_versions"
    __table_args__ = (CheckConstraint(OWNER_CHECK, name="owner_kind"),)

    owner_kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    owner_id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(default=1)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The feed's own HMAC key for its event UIDs (feeds.render.event_uid), 256 random bits as
    # hex. Kept with the feed rather than derived from SECRET_KEY so that rotating that secret,
    # moving the clinic to another database, or serving from many processes never changes a
    # UID (a changed UID is a deleted and a new event in every subscribed calendar).
    uid_key: Mapped[str] = mapped_column(String(64), default=new_uid_key)
