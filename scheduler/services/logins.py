"""How an account is signed in (page sign-in sessions and bearer tokens), and ending it.

Every flow that must end an account's sign-ins (password reset and change, deactivation, role
change, MFA reset) calls `end_all`, so there is one place that knows what "signed in" means.

A page sign-in is a `LoginSession` row: the cookie carries a random key, the row only its hash.
Every request checks it is live (not ended, not idle too long, its user active); `last_seen_at`
and a token's `last_used_at` move at most once a minute, so a read stays a read.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import joinedload

from scheduler.models import ApiToken, LoginSession, User
from scheduler.models.users import STAFF
from scheduler.services import audit
from scheduler.services.audit import Actor
from scheduler.services.errors import DomainError

# How often last_seen_at / last_used_at move: often enough for the idle timeout, rare enough
# that a page of reads writes nothing.
TOUCH_EVERY = timedelta(minutes=1)
# The cookie session's entry holding the sign-in's key.
COOKIE_KEY = "_login_key"
# Idle and other endings decided by the app itself are filed under it.
SIGN_IN = Actor.system("sign-in")
ADDRESS_LENGTH = 45
AGENT_LENGTH = 255


class NoSuchSignIn(DomainError):
    """Unknown, ended, or another person's: all answer the same 404."""

    status = 404


@dataclass(frozen=True)
class Where:
    """The address and browser a request came from, as the audit trail records them."""

    address: str | None = None
    user_agent: str | None = None

    def clipped(self) -> "Where":
        return Where((self.address or "")[:ADDRESS_LENGTH] or None,
                     (self.user_agent or "")[:AGENT_LENGTH] or None)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def start_session(db: DbSession, user: User, now: datetime,
                  where: Where = Where()) -> tuple[str, LoginSession]:
    """A new page sign-in for the user (audited); returns the key for the cookie and the row."""
    where = where.clipped()
    key = secrets.token_urlsafe(32)
    row = LoginSession(user_id=user.id, key_hash=_hash(key), created_at=now, last_seen_at=now,
                       ip_address=where.address, user_agent=where.user_agent)
    db.add(row)
    db.flush()
    audit.record(db, Actor(user.id, user.email), "sign_in", "login_session", row.id,
                 after={"user_id": user.id, "address": where.address,
                        "user_agent": where.user_agent})
    return key, row


def record_token_sign_in(db: DbSession, user: User, row: ApiToken,
                         where: Where = Where()) -> None:
    """Audit a bearer token handed out for a password, and where it was asked for from."""
    where = where.clipped()
    row.ip_address, row.user_agent = where.address, where.user_agent
    audit.record(db, Actor(user.id, user.email), "sign_in", "api_token", row.id,
                 after={"user_id": user.id, "address": where.address,
                        "user_agent": where.user_agent})


def session_for_key(db: DbSession, key: str, now: datetime,
                    idle: timedelta) -> tuple[LoginSession | None, bool]:
    """The live sign-in this cookie key belongs to, or None; and whether a row was changed.

    A staff sign-in idle for longer than `idle` ends here (HIPAA automatic logoff); the caller
    commits when told something changed. A kiosk login is no staff sign-in: a front-desk tablet
    stands signed in all day, opening nothing but the kiosk (web/kiosk_lock.py).
    """
    digest = _hash(key)
    row = db.scalar(select(LoginSession).options(joinedload(LoginSession.user))
                    .where(LoginSession.key_hash == digest))
    if row is None or not hmac.compare_digest(row.key_hash, digest) or row.ended_at is not None:
        return None, False
    if not row.user.is_active:
        return None, False
    if row.user.role in STAFF and now - row.last_seen_at > idle:
        row.ended_at = now
        audit.record(db, SIGN_IN, "end_idle", "login_session", row.id,
                     after={"user_id": row.user_id,
                            "last_seen_at": audit.to_json(row.last_seen_at),
                            "idle_minutes": int(idle.total_seconds() // 60)})
        return None, True
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
        return row, True
    return row, False


def token_for_secret(db: DbSession, token: str, now: datetime,
                     where: Where = Where()) -> tuple[ApiToken | None, bool]:
    """The live bearer token with this secret, or None; and whether its use was recorded.

    Its last use (time, address, user agent) is written at most once a minute, or at once when
    it comes from another address or browser.
    """
    digest = _hash(token)
    row = db.scalar(select(ApiToken).options(joinedload(ApiToken.user))
                    .where(ApiToken.token_hash == digest))
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None, False
    if row.revoked_at is not None or row.expires_at <= now or not row.user.is_active:
        return None, False
    where = where.clipped()
    if (row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY
            or (row.ip_address, row.user_agent) != (where.address, where.user_agent)):
        row.last_used_at = now
        row.ip_address, row.user_agent = where.address, where.user_agent
        return row, True
    return row, False


def sign_out(db: DbSession, row: LoginSession, now: datetime, where: Where = Where()) -> None:
    """End the caller's own page sign-in at once (audited)."""
    if row.ended_at is not None:
        return
    row.ended_at = now
    audit.record(db, Actor(row.user.id, row.user.email), "sign_out", "login_session", row.id,
                 after={"user_id": row.user_id, "address": where.clipped().address})


def sign_out_key(db: DbSession, key: object, now: datetime, where: Where = Where()) -> None:
    """End the sign-in a cookie still names, if live: a new sign-in in the same browser
    replaces it, and the old key must not outlive the cookie that held it."""
    if not isinstance(key, str) or not key:
        return
    row = db.scalar(select(LoginSession).where(LoginSession.key_hash == _hash(key)))
    if row is not None:
        sign_out(db, row, now, where)


def revoke_token(db: DbSession, actor: Actor, row: ApiToken, now: datetime,
                 where: Where = Where()) -> None:
    """Revoke one bearer token at once (audited with who, whose and from where)."""
    if row.revoked_at is not None:
        return
    row.revoked_at = now
    audit.record(db, actor, "revoke", "api_token", row.id,
                 after={"user_id": row.user_id, "address": where.clipped().address})


@dataclass(frozen=True)
class SignIn:
    """One live sign-in as GET /auth/sessions lists it; ids count apart for each kind."""

    id: int
    kind: str
    user_id: int
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    ip_address: str | None
    user_agent: str | None
    current: bool


def live_sign_ins(db: DbSession, user_id: int, now: datetime, idle: timedelta, *,
                  current_session_id: int | None = None,
                  current_token_id: int | None = None) -> list[SignIn]:
    """The account's live page sign-ins and bearer tokens, newest first."""
    user = db.get(User, user_id)
    if user is None:
        raise NoSuchSignIn("There is no such account.")
    found: list[SignIn] = []
    for s in db.scalars(select(LoginSession).where(LoginSession.user_id == user_id,
                                                   LoginSession.ended_at.is_(None))):
        if user.role in STAFF and now - s.last_seen_at > idle:
            continue
        found.append(SignIn(s.id, "session", user_id, s.created_at, s.last_seen_at,
                            None, s.ip_address, s.user_agent, s.id == current_session_id))
    for t in db.scalars(select(ApiToken).where(ApiToken.user_id == user_id,
                                               ApiToken.revoked_at.is_(None),
                                               ApiToken.expires_at > now)):
        found.append(SignIn(t.id, "token", user_id, t.created_at, t.last_used_at,
                            t.expires_at, t.ip_address, t.user_agent, t.id == current_token_id))
    return sorted(found, key=lambda s: s.created_at, reverse=True)


def end_one(db: DbSession, actor: Actor, kind: str, sign_in_id: int, now: datetime, *,
            user_id: int | None, where: Where = Where()) -> None:
    """End one live sign-in, a page session (`kind` "session") or a bearer token ("token"),
    audited with who ended whose and from where.

    `user_id` limits it to one account's sign-ins (None: any account, for an admin); anything
    else, ended or unknown, is NoSuchSignIn (404), so nobody learns another's sign-ins exist.
    """
    missing = NoSuchSignIn("That sign-in does not exist or has already ended.")
    row: LoginSession | ApiToken | None = (
        db.get(LoginSession, sign_in_id) if kind == "session" else db.get(ApiToken, sign_in_id))
    if row is None or (user_id is not None and row.user_id != user_id):
        raise missing
    if isinstance(row, LoginSession):
        if row.ended_at is not None:
            raise missing
        row.ended_at = now
        audit.record(db, actor, "end_session", "login_session", row.id,
                     after={"user_id": row.user_id, "address": where.clipped().address})
    else:
        if row.revoked_at is not None or row.expires_at <= now:
            raise missing
        revoke_token(db, actor, row, now, where)


def end_all(db: DbSession, user: User, now: datetime, *,
            keep_token_id: int | None = None, keep_session_id: int | None = None) -> int:
    """End every live sign-in of the account (page sessions and bearer tokens) except the ones
    kept; returns how many ended. The caller audits why (reset, deactivation …) and commits."""
    ended = 0
    queries = [
        (update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
         .values(revoked_at=now), ApiToken.id, keep_token_id),
        (update(LoginSession).where(LoginSession.user_id == user.id,
                                    LoginSession.ended_at.is_(None))
         .values(ended_at=now), LoginSession.id, keep_session_id),
    ]
    for query, id_column, keep in queries:
        if keep is not None:
            query = query.where(id_column != keep)
        result = db.execute(query.execution_options(synchronize_session=False))
        assert isinstance(result, CursorResult)  # an UPDATE without RETURNING
        ended += result.rowcount or 0
    return ended
