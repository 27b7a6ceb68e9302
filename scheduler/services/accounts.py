"""Login accounts, password checks and API bearer tokens."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import joinedload

from scheduler.i18n import gettext
from scheduler.i18n import gettext as _
from scheduler.models import ApiToken, Client, Staff, User
from scheduler.models.users import KIOSK, USER_ROLES
from scheduler.services import audit, passwords
from scheduler.services.audit import Actor
from scheduler.services.errors import InvalidField
from scheduler.services.lookup import get_or_404, get_referenced

MIN_PASSWORD_LENGTH = 12
# The most used passwords that are long enough to pass the length rule; an attacker's
# first guesses. Compared lower-cased.
COMMON_PASSWORDS = frozenset({
    "123456789012", "1234567890123", "12345678901234", "098765432109", "987654321098",
    "password1234", "password12345", "password123456", "password123!", "passw0rd1234",
    "p@ssw0rd1234", "p@ssword1234", "passwordpassword", "password1password1",
    "qwerty123456", "qwertyuiop12", "qwertyuiop123", "qwertyuiopasdf", "qwertyuiopasdfgh",
    "1q2w3e4r5t6y", "q1w2e3r4t5y6", "1qaz2wsx3edc", "qazwsxedcrfv", "zaq12wsxcde3",
    "asdfghjkl123", "abcdefghijkl", "abc123abc123", "abcd1234abcd",
    "iloveyou1234", "iloveyou123!", "letmein12345", "welcome12345", "welcome123456",
    "changeme1234", "changeme123!", "administrator", "administrator1", "admin1234567",
    "football1234", "baseball1234", "basketball12", "monkey123456", "sunshine1234",
    "princess1234", "superman1234", "dragon123456", "trustno1trustno1", "starwars1234",
    "123123123123", "121212121212", "123qweasdzxc", "1234qwerasdf", "11223344556677",
})
# Refused and locked attempts are filed under the sign-in itself, not a person.
SIGN_IN = Actor.system("sign-in")


@dataclass(frozen=True)
class LockoutPolicy:
    """Free wrong passwords, then a lock that doubles with each further one, up to a cap."""

    free_failures: int = 5
    first_lock: timedelta = timedelta(minutes=15)
    longest_lock: timedelta = timedelta(hours=24)

    @classmethod
    def from_config(cls, config) -> "LockoutPolicy":
        return cls(free_failures=config["LOGIN_FREE_FAILURES"],
                   first_lock=timedelta(minutes=config["LOGIN_LOCK_MINUTES"]),
                   longest_lock=timedelta(minutes=config["LOGIN_LOCK_MAX_MINUTES"]))

    def lock_for(self, failures: int) -> timedelta:
        """15, 30, 60 … minutes (by default) for the Nth failure past the free ones."""
        doublings = min(failures - self.free_failures, 32)
        return min(self.first_lock * (2 ** doublings), self.longest_lock)


def normalize_email(email: str) -> str:
    return email.strip().lower()


def check_password_rules(password: str, email: str | None = None,
                         field: str = "password") -> None:
    """Refuse a password an attacker would guess early: short, repeated, common or the email."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidField(field, _("must be at least %(count)s characters.",
                                   count=MIN_PASSWORD_LENGTH))
    if len(set(password)) == 1:
        raise InvalidField(field, _("must not be one character repeated."))
    lowered = password.strip().lower()
    if email and lowered in {normalize_email(email), normalize_email(email).split("@")[0]}:
        raise InvalidField(field, _("must not be the email address."))
    if lowered in COMMON_PASSWORDS:
        raise InvalidField(field, _("is one of the most common passwords; choose another."))


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
        raise InvalidField("email", gettext("is not an email address."))
    if role not in USER_ROLES:
        raise InvalidField("role", gettext("must be one of %(roles)s.",
                                           roles=", ".join(USER_ROLES)))
    if db.scalar(select(User.id).where(func.lower(User.email) == email)) is not None:
        raise InvalidField("email", gettext("A user with email %(email)s already exists.",
                                            email=repr(email)))
    check_links(db, role, staff_id=staff_id, client_id=client_id)
    if password is not None:
        check_password_rules(password, email)
    user = User(
        email=email,
        role=role,
        staff_id=staff_id,
        client_id=client_id,
        password_hash=passwords.hash_secret(password) if password else None,
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


def check_role_links(role: str, *, staff_id: int | None, client_id: int | None) -> None:
    """What the role asks of the links: a client login names its client; a kiosk login is a
    tablet, no one, and linked to a person it would act as them."""
    if role == "client" and client_id is None:
        raise InvalidField("client_id", gettext("A client login must be linked to a client."))
    if role == KIOSK and (staff_id is not None or client_id is not None):
        raise InvalidField("staff_id" if staff_id is not None else "client_id",
                           gettext("A kiosk login is linked to no staff member or client."))


def check_links(db: DbSession, role: str, *, staff_id: int | None, client_id: int | None,
                user_id: int | None = None) -> None:
    """A login's links: a client login names its client, each record has at most one login.

    `user_id` is the login being changed, which may keep the links it already has.
    """
    check_role_links(role, staff_id=staff_id, client_id=client_id)
    for model, column, value, field, entity in (
            (Client, User.client_id, client_id, "client_id", "client"),
            (Staff, User.staff_id, staff_id, "staff_id", "staff member")):
        if value is None:
            continue
        get_referenced(db, model, value, field, entity)
        owner = db.scalar(select(User.id).where(column == value))
        if owner is not None and owner != user_id:
            raise InvalidField(field, gettext("That client already has a login.")
                               if entity == "client" else
                               gettext("That staff member already has a login."))


def authenticate(
    db: DbSession, email: str, password: str, now: datetime,
    policy: LockoutPolicy = LockoutPolicy(),
) -> User | None:
    """The active user with this email and password, or None; the caller commits either way."""
    user = check_password(db, email, password, now, policy)
    if user is not None:
        record_sign_in(user, now)
    return user


def check_password(
    db: DbSession, email: str, password: str, now: datetime,
    policy: LockoutPolicy = LockoutPolicy(),
) -> User | None:
    """The active, unlocked user with this email and password, or None; a wrong password counts.

    A right one does not yet clear the count: with two-step sign-in that waits for the code
    (record_sign_in), or knowing the password would buy endless guesses at the code.
    """
    # Every refusal (unknown email, wrong password, locked account) costs one hash and looks
    # the same to the caller, so nobody learns which emails have accounts.
    user = db.scalar(
        select(User).where(func.lower(User.email) == normalize_email(email))
        .with_for_update().execution_options(populate_existing=True)
    )
    if user is None or not user.password_hash:
        passwords.spend_one_check(password)
        return None
    right = passwords.matches(user.password_hash, password)
    if is_locked(db, user, now):
        return None
    if not right:
        count_failure(db, user, now, policy)
        return None
    if not user.is_active:
        return None
    return user


def is_locked(db: DbSession, user: User, now: datetime) -> bool:
    """Locked after wrong guesses; each refused attempt is filed, and not counted."""
    if user.locked_until is None or user.locked_until <= now:
        return False
    # Not counted: a lock an attacker could lengthen at will would lock the owner out.
    audit.record(db, SIGN_IN, "refuse_locked", "user", user.id,
                 after={"locked_until": audit.to_json(user.locked_until)})
    return True


def record_sign_in(user: User, now: datetime) -> None:
    """Every step of a sign-in passed: forget the wrong guesses."""
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now


def count_failure(db: DbSession, user: User, now: datetime, policy: LockoutPolicy) -> None:
    """One more wrong password or code; from the Nth on, the account locks for a doubling time."""
    user.failed_logins += 1
    if user.failed_logins >= policy.free_failures:
        user.locked_until = now + policy.lock_for(user.failed_logins)
        audit.record(db, SIGN_IN, "lock", "user", user.id,
                     after={"failed_logins": user.failed_logins,
                            "locked_until": audit.to_json(user.locked_until)})


def unlock(db: DbSession, actor: Actor, user_id: int) -> User:
    """Lift a sign-in lock and forget the wrong passwords, as an admin does for a caller."""
    user = get_or_404(db, User, user_id, "user")
    before = {"failed_logins": user.failed_logins,
              "locked_until": audit.to_json(user.locked_until)}
    user.failed_logins = 0
    user.locked_until = None
    db.flush()
    audit.record(db, actor, "unlock", "user", user.id, before=before,
                 after={"failed_logins": 0, "locked_until": None})
    return user


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_api_token(
    db: DbSession, user: User, now: datetime, ttl_hours: int
) -> tuple[str, ApiToken]:
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


def live_token(db: DbSession, token: str, now: datetime) -> ApiToken | None:
    """The live bearer token row (with its user loaded), or None."""
    digest = _hash_token(token)
    row = db.scalar(
        select(ApiToken).options(joinedload(ApiToken.user)).where(ApiToken.token_hash == digest)
    )
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    if row.revoked_at is not None or row.expires_at <= now or not row.user.is_active:
        return None
    return row


def user_for_token(db: DbSession, token: str, now: datetime) -> User | None:
    """The user a live bearer token belongs to, or None."""
    row = live_token(db, token, now)
    return row.user if row is not None else None
