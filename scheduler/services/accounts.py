"""Login accounts, password checks and API bearer tokens."""

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DbSession, joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from scheduler.models import ApiToken, Client, Staff, User
from scheduler.models.users import USER_ROLES
from scheduler.services import audit
from scheduler.services.audit import Actor
from scheduler.services.errors import InvalidField
from scheduler.services.lookup import get_referenced

MIN_PASSWORD_LENGTH = 10
# Checked against when the email is unknown, so both paths cost one hash.
_DUMMY_HASH = generate_password_hash("timing-equaliser-not-a-password")


def normalize_email(email: str) -> str:
    return email.strip().lower()


def check_password_rules(password: str, field: str = "password") -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidField(field, f"must be at least {MIN_PASSWORD_LENGTH} characters.")


def create_user(
    db: DbSession,
    actor: Actor,
    *,
    email: str,
    role: str,
    password: str | None = None,
    staff_id: int | None = None,
    client_id: int | None = None,
) -> User:
    """Add a login; a client login must be linked to its client record."""
    email = normalize_email(email)
    if "@" not in email:
        raise InvalidField("email", "is not an email address.")
    if role not in USER_ROLES:
        raise InvalidField("role", f"must be one of {', '.join(USER_ROLES)}.")
    if db.scalar(select(User.id).where(func.lower(User.email) == email)) is not None:
        raise InvalidField("email", f"A user with email {email!r} already exists.")
    if role == "client" and client_id is None:
        raise InvalidField("client_id", "A client login must be linked to a client.")
    if client_id is not None:
        get_referenced(db, Client, client_id, "client_id", "client")
    if staff_id is not None:
        get_referenced(db, Staff, staff_id, "staff_id", "staff member")
    if password is not None:
        check_password_rules(password)
    user = User(
        email=email,
        role=role,
        staff_id=staff_id,
        client_id=client_id,
        password_hash=generate_password_hash(password) if password else None,
    )
    db.add(user)
    db.flush()
    audit.record(
        db,
        actor,
        "create",
        "user",
        user.id,
        after={"email": email, "role": role, "staff_id": staff_id, "client_id": client_id},
    )
    return user


def authenticate(db: DbSession, email: str, password: str, now: datetime) -> User | None:
    """The active user with this email and password, or None."""
    user = db.scalar(select(User).where(func.lower(User.email) == normalize_email(email)))
    if user is None or not user.password_hash:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.is_active:
        return None
    user.last_login_at = now
    return user


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_api_token(db: DbSession, user: User, now: datetime, ttl_hours: int) -> tuple[str, ApiToken]:
    """A new bearer token for the user; only its hash is stored."""
    token = secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id,
        token_hash=_hash_token(token),
        created_at=now,
        expires_at=now + timedelta(hours=ttl_hours),
    )
    db.add(row)
    db.flush()
    return token, row


def user_for_token(db: DbSession, token: str, now: datetime) -> User | None:
    """The user a live bearer token belongs to, or None."""
    digest = _hash_token(token)
    row = db.scalar(
        select(ApiToken).options(joinedload(ApiToken.user)).where(ApiToken.token_hash == digest)
    )
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    if row.revoked_at is not None or row.expires_at <= now or not row.user.is_active:
        return None
    return row.user
