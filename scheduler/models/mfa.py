"""Two-step sign-in: an account's authenticator enrolment and its one-time recovery codes."""

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.clock import now
from scheduler.extensions import Model
from scheduler.models.types import UTCDateTime


class MfaEnrolment(Model):
    """One per account: pending until the first code confirms it, then in force."""

    __tablename__ = "mfa_enrolments"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    # A random seed; the TOTP secret is an HMAC of it under a key from the app's secret, so a
    # copy of the database alone yields no codes.
    seed: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    # NULL while pending (scanned, no code entered yet).
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last 30-second step a code was accepted for: an older or equal one is a replay.
    last_step: Mapped[int | None] = mapped_column(BigInteger)


class MfaRecoveryCode(Model):
    """A code that stands in for the app once; only its keyed hash is kept."""

    __tablename__ = "mfa_recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
