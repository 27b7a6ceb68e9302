"""An account's life cycle by email: invitations, password resets and password changes.

An invitation and a reset are one-time links (AccountToken rows, only their SHA-256 kept): an
invitation works for 72 hours, a reset for 30 minutes; following one through uses it, and a
newer one of the same purpose supersedes the older. The emails say only that there is an
account at the clinic's neutral public name, never what the clinic treats (42 CFR Part 2).
"""

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session as DbSession

from scheduler import i18n
from scheduler.i18n import gettext as _
from scheduler.models import AccountToken, Client, Staff, User
from scheduler.services import accounts, audit, logins, notifications, passwords
from scheduler.services.audit import Actor
from scheduler.services.errors import DomainError, InvalidField, PermissionDenied
from scheduler.services.lookup import get_referenced

INVITATION_TTL = timedelta(hours=72)
RESET_TTL = timedelta(minutes=30)
INVITATION_KIND = "invitation"
RESET_KIND = "password-reset"
RESET_DESK = Actor.system("password reset")


class LinkGone(DomainError):
    """An unknown, used, superseded or expired link; answered 410."""

    status = 410

    def __init__(self, purpose: str):
        what = "invitation" if purpose == "invite" else "password-reset link"
        super().__init__(f"This {what} has been used, replaced by a newer one or has expired. "
                         "Ask for a new one.")


class EmailHasLogin(DomainError):
    status = 409

    def __init__(self, email: str):
        super().__init__(f"{email} already has a login; they can sign in, or ask for a "
                         "password reset if they forgot their password.")
        self.fields = {"email": [f"{email} already has a login."]}

    def errors(self) -> dict:
        return {"json": self.fields}


class LinkedElsewhere(DomainError):
    status = 409

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.fields = {field: [message]}

    def errors(self) -> dict:
        return {"json": self.fields}


class WrongCurrentPassword(InvalidField):
    def __init__(self):
        super().__init__("current_password", "is not your current password.")


@dataclass(frozen=True)
class Sent:
    """A link issued and its message queued: the token row and the message's key."""

    token: AccountToken
    message_key: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _find_user(db: DbSession, email: str) -> User | None:
    return db.scalar(select(User).where(func.lower(User.email) == accounts.normalize_email(email)))


def _supersede(db: DbSession, user_id: int, purpose: str, now: datetime) -> None:
    db.execute(update(AccountToken)
               .where(AccountToken.user_id == user_id, AccountToken.purpose == purpose,
                      AccountToken.used_at.is_(None), AccountToken.superseded_at.is_(None))
               .values(superseded_at=now).execution_options(synchronize_session=False))


TTL = {"invite": INVITATION_TTL, "reset": RESET_TTL}


def issue_link(db: DbSession, user: User, purpose: str, now: datetime,
               created_by: int | None = None) -> tuple[str, AccountToken]:
    """A new one-time link token of this purpose for the account (older ones stop working);
    the token itself is returned once and only its hash stored."""
    ttl = TTL[purpose]
    _supersede(db, user.id, purpose, now)
    token = secrets.token_urlsafe(32)
    row = AccountToken(user_id=user.id, purpose=purpose, token_hash=_digest(token),
                       created_at=now, expires_at=now + ttl, created_by_user_id=created_by)
    db.add(row)
    db.flush()
    return token, row


def _link(base_url: str, path: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/{path}/{token}"


def may_invite(inviter: User, role: str) -> bool:
    """Admins invite anyone; coordinators invite clients only."""
    return inviter.role == "admin" or (inviter.role == "coordinator" and role == "client")


def invite(db: DbSession, inviter: User, *, email: str, role: str, client_id: int | None = None,
           staff_id: int | None = None, now: datetime, base_url: str, public_name: str,
           address: str | None = None) -> Sent:
    """Create (or refresh) a login without a password and email its set-password link.

    An email that already has a password is refused (409); one invited before and not yet
    accepted gets a new link that supersedes the old one.
    """
    if not may_invite(inviter, role):
        raise PermissionDenied("Coordinators may invite clients only; an admin invites staff.")
    email = accounts.normalize_email(email)
    actor = Actor(inviter.id, inviter.email, address)
    user = _find_user(db, email)
    if user is not None and user.password_hash:
        raise EmailHasLogin(email)
    accounts.check_role_links(role, staff_id=staff_id, client_id=client_id)
    _refuse_linked_elsewhere(db, email, client_id, staff_id)
    if user is None:
        user = accounts.create_user(db, actor, email=email, role=role, client_id=client_id,
                                    staff_id=staff_id)
    elif (user.role, user.client_id, user.staff_id) != (role, client_id, staff_id):
        if not may_invite(inviter, user.role):
            raise PermissionDenied("Only an admin may change a staff member's invitation.")
        before = audit.snapshot(user, ("role", "client_id", "staff_id"))
        user.role, user.client_id, user.staff_id = role, client_id, staff_id
        db.flush()
        audit.record(db, actor, "update", "user", user.id, before=before,
                     after=audit.snapshot(user, ("role", "client_id", "staff_id")))
    token, row = issue_link(db, user, "invite", now, inviter.id)
    key = f"{INVITATION_KIND}:token={row.id}"
    with i18n.speaking(notifications.language_of(db, user)):
        body = (_("You have been invited to an account at %(name)s.", name=public_name)
                + "\n\n"
                + _("Choose your password here (the link works once, for 72 hours):") + "\n"
                f"{_link(base_url, 'invite', token)}\n\n"
                + _("If you did not expect this message, you can ignore it.") + "\n")
        subject = _("Your %(name)s account", name=public_name)
    notifications.queue(db, key, INVITATION_KIND, email, subject,
                        f"{body}\n{public_name}\n", user_id=user.id, client_id=user.client_id)
    audit.record(db, actor, "invite", "user", user.id,
                 after={"email": email, "role": role, "expires_at": audit.to_json(row.expires_at)})
    return Sent(row, key)


def _refuse_linked_elsewhere(db: DbSession, email: str, client_id: int | None,
                             staff_id: int | None) -> None:
    """A client or staff record has one login: another email's is named, not overwritten."""
    for field, column, value, model, what in (
            ("client_id", User.client_id, client_id, Client, "client"),
            ("staff_id", User.staff_id, staff_id, Staff, "staff member")):
        if value is None:
            continue
        record = get_referenced(db, model, value, field, what)
        other = db.scalar(select(User.email).where(column == value,
                                                   func.lower(User.email) != email))
        if other is not None:
            raise LinkedElsewhere(field, f"{record.name} already has a login ({other}).")


def _live(db: DbSession, token: str, purpose: str, now: datetime) -> AccountToken:
    digest = _digest(token)
    row = db.scalar(select(AccountToken).where(AccountToken.token_hash == digest)
                    .with_for_update())
    if (row is None or not hmac.compare_digest(row.token_hash, digest) or row.purpose != purpose
            or row.used_at is not None or row.superseded_at is not None
            or row.expires_at <= now or not row.user.is_active):
        raise LinkGone(purpose)
    return row


def check_link(db: DbSession, token: str, purpose: str, now: datetime) -> User:
    """The account a live link is for; LinkGone otherwise (the pages ask before the form)."""
    return _live(db, token, purpose, now).user


def _set_password(db: DbSession, row: AccountToken, password: str, now: datetime) -> User:
    user = row.user
    accounts.check_password_rules(password, user.email)
    user.password_hash = passwords.hash_secret(password)
    row.used_at = now
    _supersede(db, user.id, row.purpose, now)
    return user


def accept_invitation(db: DbSession, token: str, password: str, now: datetime,
                      address: str | None = None) -> User:
    """Set the invited person's first password; the link is used up."""
    row = _live(db, token, "invite", now)
    user = _set_password(db, row, password, now)
    db.flush()
    audit.record(db, Actor(user.id, user.email, address), "accept_invitation", "user", user.id)
    return user


def request_reset(db: DbSession, email: str, now: datetime, *, base_url: str, public_name: str,
                  address: str | None = None) -> str | None:
    """Email a reset link to a known, active account; the message's key, or None.

    The caller answers the same either way, and should run this after its answer has gone
    (reset_request gives it as such work), so the time to the answer tells nothing either.
    """
    user = _find_user(db, email)
    if user is None or not user.is_active:
        return None
    token, row = issue_link(db, user, "reset", now)
    key = f"{RESET_KIND}:token={row.id}"
    with i18n.speaking(notifications.language_of(db, user)):
        body = (_("Someone asked to reset the password of your account.") + "\n\n"
                + _("Choose a new password here (the link works once, for 30 minutes):") + "\n"
                f"{_link(base_url, 'reset', token)}\n\n"
                + _("If it was not you, ignore this message: your password stays as it is.")
                + "\n")
        subject = _("Reset your %(name)s password", name=public_name)
    notifications.queue(db, key, RESET_KIND, user.email, subject,
                        f"{body}\n{public_name}\n", user_id=user.id, client_id=user.client_id)
    audit.record(db, Actor(None, RESET_DESK.label, address), "request_password_reset", "user",
                 user.id, after={"expires_at": audit.to_json(row.expires_at)})
    return key


def reset_request(email: str, now: datetime, *, base_url: str, public_name: str,
                  address: str | None = None) -> Callable[[DbSession], str | None]:
    """request_reset as work for later, over whatever session it is then given."""
    return lambda db: request_reset(db, email, now, base_url=base_url, public_name=public_name,
                                    address=address)


def reset_password(db: DbSession, token: str, password: str, now: datetime,
                   address: str | None = None) -> User:
    """Set a new password from a reset link: every sign-in ends and a sign-in lock lifts."""
    row = _live(db, token, "reset", now)
    user = _set_password(db, row, password, now)
    user.failed_logins = 0
    user.locked_until = None
    ended = logins.end_all(db, user, now)
    db.flush()
    audit.record(db, Actor(user.id, user.email, address), "reset_password", "user", user.id,
                 after={"sign_ins_ended": ended})
    return user


def change_password(db: DbSession, user: User, current_password: str, new_password: str,
                    now: datetime, *, policy: accounts.LockoutPolicy,
                    keep_token_id: int | None = None, keep_session_id: int | None = None,
                    address: str | None = None) -> None:
    """Change one's own password; every other sign-in of the account ends (the caller's own,
    `keep_token_id` or `keep_session_id`, goes on).

    A wrong current password counts towards the sign-in lock as a wrong sign-in does, and
    raises WrongCurrentPassword after counting: the caller commits, then answers 422. While
    the account is locked every attempt is refused uncounted.
    """
    right = bool(user.password_hash) and passwords.matches(user.password_hash or "",
                                                           current_password)
    # The sign-in's own lock rule, checked after the hash so a locked account answers as slowly.
    if accounts.is_locked(db, user, now):
        raise WrongCurrentPassword()
    if not right:
        accounts.count_failure(db, user, now, policy)
        raise WrongCurrentPassword()
    accounts.check_password_rules(new_password, user.email, field="new_password")
    if passwords.matches(user.password_hash or "", new_password):
        raise InvalidField("new_password", _("must differ from the current password."))
    user.password_hash = passwords.hash_secret(new_password)
    user.failed_logins = 0
    ended = logins.end_all(db, user, now, keep_token_id=keep_token_id,
                           keep_session_id=keep_session_id)
    db.flush()
    audit.record(db, Actor(user.id, user.email, address), "change_password", "user", user.id,
                 after={"sign_ins_ended": ended})
