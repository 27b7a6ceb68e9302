"""Login accounts and API tokens."""

from datetime import datetime
from typing import TYPE_CHECKING

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from scheduler.clock import now
from scheduler.extensions import Model
from scheduler.languages import LANGUAGES
from scheduler.models.checks import one_of
from scheduler.models.clients import Client
from scheduler.models.staff import Staff
from scheduler.models.types import UTCDateTime

if TYPE_CHECKING:
    from scheduler.models.mfa import MfaEnrolment
    from scheduler.models.sites import Site

USER_ROLES = ("admin", "coordinator", "clinician", "client", "kiosk")
# The role groups every page, route and rule checks against: the clinic's staff (read clinical
# records, take attendance) and those who run it (write schedules, bookings and accounts).
STAFF = ("admin", "coordinator", "clinician")
COORDINATORS = ("admin", "coordinator")
# A front-desk tablet's own login: it opens the kiosk and nothing else (web/kiosk_lock.py),
# and is no one's person, so it is linked to no staff or client record.
KIOSK = "kiosk"
# Who may run the kiosk's check-in: staff, and the tablets signed in as a kiosk.
KIOSK_RUNNERS = (*STAFF, KIOSK)


class User(UserMixin, Model):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(one_of("role", USER_ROLES), name="role"),
        CheckConstraint("role <> 'client' OR client_id IS NOT NULL", name="client_link"),
        CheckConstraint("role <> 'kiosk' OR (staff_id IS NULL AND client_id IS NULL)",
                        name="kiosk_link"),
        CheckConstraint("language IS NULL OR " + one_of("language", LANGUAGES),
                        name="language"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    # NULL until an invited person sets their own password.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff.id", ondelete="RESTRICT"), unique=True
    )
    client_id: Mapped[int | None] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), unique=True
    )
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Wrong passwords since the last right one; past the free ones the account locks.
    failed_logins: Mapped[int] = mapped_column(default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The pages' language for this person; NULL follows the browser (Accept-Language). A
    # client's language is the client record's (Client.language), which their emails use too.
    language: Mapped[str | None] = mapped_column(String(8))

    staff: Mapped[Staff | None] = relationship()
    client: Mapped[Client | None] = relationship()
    # Read-only here: services/mfa writes enrolments; lists load them in one query.
    mfa_enrolment: Mapped["MfaEnrolment | None"] = relationship(viewonly=True)
    # Read-only here: services/sites writes user_sites; lists load these in one query.
    sites: Mapped[list["Site"]] = relationship(
        secondary="user_sites", viewonly=True, order_by="Site.id")

    def has_role(self, *roles: str) -> bool:
        return self.role in roles


class ApiToken(Model):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # Only the SHA-256 of the token is kept; a database leak yields no usable tokens.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Where it was last used from, recorded with last_used_at (at most once a minute).
    ip_address: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(255))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class LoginSession(Model):
    """One page sign-in: the cookie carries a random key, only its hash is kept here."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    # Moved forward at most once a minute, so reads stay reads; the idle timeout counts from it.
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ip_address: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(255))

    user: Mapped[User] = relationship()


ACCOUNT_TOKEN_PURPOSES = ("invite", "reset")


class AccountToken(Model):
    """A one-time link sent by email: an invitation to set a first password, or a reset."""

    __tablename__ = "account_tokens"
    __table_args__ = (CheckConstraint(one_of("purpose", ACCOUNT_TOKEN_PURPOSES), name="purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(8))
    # Only the SHA-256 of the token is kept, as for API tokens.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set when the link was followed through; a used link never works again.
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when a newer link of the same purpose replaced this one.
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))

    user: Mapped[User] = relationship(foreign_keys=[user_id])
