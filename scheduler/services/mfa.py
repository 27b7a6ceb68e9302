"""Two-step sign-in: after the password, a time-based code (TOTP, RFC 6238) from a phone app.

The rules, in one place:
- Enrolling makes a pending secret; the first right code confirms it and hands out ten recovery
  codes, each good once. Until then the password alone still signs in.
- The secret is never stored: the account keeps a random seed, and the secret is an HMAC of it
  under a key derived from MFA_SECRET_KEY (or SECRET_KEY). Recovery codes are kept as HMACs under
  the same key. A copy of the database alone therefore yields neither.
- A code is taken for its own 30-second step or the one either side (phones drift), and only
  for a step later than the last one accepted: the same code twice is a replay and is refused.
- A wrong code counts towards the account's lock exactly as a wrong password does; a right
  password alone clears nothing (accounts.check_password), or it would buy endless guesses.
- Roles in MFA_REQUIRED_ROLES must enrol before anything else works; such an account can turn
  it off only by an admin's reset, which also ends every sign-in of the account.
"""

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

import pyotp
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session as DbSession

from scheduler.i18n import lazy_gettext as _l
from scheduler.models import User
from scheduler.models.mfa import MfaEnrolment, MfaRecoveryCode
from scheduler.models.users import USER_ROLES
from scheduler.services import accounts, audit, logins
from scheduler.services.accounts import SIGN_IN, LockoutPolicy
from scheduler.services.audit import Actor
from scheduler.services.errors import InvalidField, PermissionDenied, StateConflict
from scheduler.services.lookup import get_or_404

STEP_SECONDS = 30
DIGITS = 6
# Steps either side of now that a code is still taken for (clock drift of a phone).
DRIFT_STEPS = 1
RECOVERY_CODE_COUNT = 10
# No 0/o, 1/l/i: a code read off paper is typed right. 12 of 31 symbols: about 59 bits.
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
RECOVERY_LENGTH = 12
_TOTP_SHAPE = re.compile(rf"^[0-9]{{{DIGITS}}}$")
_RECOVERY_SHAPE = re.compile(rf"^[{RECOVERY_ALPHABET}]{{{RECOVERY_LENGTH}}}$")
CODE_FIELD = "otp"
CODE_SHAPE_MESSAGE = _l("must be the %(digits)s-digit code from your authenticator app, "
                        "or one of your recovery codes.", digits=DIGITS)


def parse_required_roles(value: str | None) -> frozenset[str]:
    """The roles of MFA_REQUIRED_ROLES ("admin,coordinator"); an unknown role is refused."""
    roles = frozenset(part.strip().lower() for part in (value or "").split(",") if part.strip())
    unknown = sorted(roles - set(USER_ROLES))
    if unknown:
        raise ValueError(f"MFA_REQUIRED_ROLES names {', '.join(unknown)}, which is no role; "
                         f"the roles are {', '.join(USER_ROLES)}.")
    return roles


def check_required_roles(config) -> None:
    """Refuse to start on a typo in MFA_REQUIRED_ROLES, which would silently require nothing."""
    try:
        parse_required_roles(config.get("MFA_REQUIRED_ROLES"))
    except ValueError as problem:
        raise RuntimeError(str(problem)) from None


@dataclass(frozen=True)
class MfaSettings:
    """What the rules need from configuration: the key, the issuer shown in the app, the roles."""

    key: bytes
    issuer: str
    required_roles: frozenset[str] = frozenset()

    @classmethod
    def from_config(cls, config) -> "MfaSettings":
        secret = config.get("MFA_SECRET_KEY") or config["SECRET_KEY"]
        key = hmac.new(str(secret).encode(), b"iop-scheduler two-step sign-in v1",
                       hashlib.sha256).digest()
        return cls(key=key, issuer=config["PUBLIC_NAME"],
                   required_roles=parse_required_roles(config.get("MFA_REQUIRED_ROLES")))


@dataclass(frozen=True)
class PendingEnrolment:
    secret: str
    otpauth_uri: str


class Outcome(Enum):
    SIGNED_IN = "signed_in"
    REFUSED = "refused"            # wrong password or code, unknown email, locked, inactive
    CODE_NEEDED = "code_needed"    # right password; the account is enrolled and gave no code
    MUST_ENROL = "must_enrol"      # right password; the role requires enrolment, not done yet


@dataclass(frozen=True)
class SignIn:
    outcome: Outcome
    user: User | None = None


# --- secrets and codes ----------------------------------------------------------------------


def _secret(settings: MfaSettings, seed: str) -> str:
    digest = hmac.new(settings.key, b"totp:" + seed.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:20]).decode()


def _recovery_hash(settings: MfaSettings, code: str) -> str:
    return hmac.new(settings.key, b"recovery:" + code.encode(), hashlib.sha256).hexdigest()


def _new_recovery_code() -> str:
    return "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))


def _shown(code: str) -> str:
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def parse_code(otp: str) -> tuple[str, str]:
    """("totp", digits) or ("recovery", code), spaces and dashes ignored; InvalidField if neither.

    A value of neither shape is no guess and is not counted.
    """
    compact = re.sub(r"[\s-]", "", otp or "").lower()
    if _TOTP_SHAPE.match(compact):
        return "totp", compact
    if _RECOVERY_SHAPE.match(compact):
        return "recovery", compact
    raise InvalidField(CODE_FIELD, str(CODE_SHAPE_MESSAGE))


def _step(now: datetime) -> int:
    return int(now.timestamp()) // STEP_SECONDS


# --- state ------------------------------------------------------------------------------------


def enrolment(db: DbSession, user: User) -> MfaEnrolment | None:
    return db.scalar(select(MfaEnrolment).where(MfaEnrolment.user_id == user.id))


def confirmed(row: MfaEnrolment | None) -> bool:
    """An enrolment is in force once its first code confirmed it; pending ones are not."""
    return row is not None and row.confirmed_at is not None


def is_enrolled(db: DbSession, user: User) -> bool:
    return confirmed(enrolment(db, user))


def is_required(user: User, settings: MfaSettings) -> bool:
    return user.role in settings.required_roles


def must_enrol(db: DbSession, user: User, settings: MfaSettings) -> bool:
    """The role requires two-step sign-in and the account has not finished enrolling."""
    return is_required(user, settings) and not is_enrolled(db, user)


def recovery_codes_left(db: DbSession, user: User) -> int:
    return db.scalar(select(func.count()).select_from(MfaRecoveryCode).where(
        MfaRecoveryCode.user_id == user.id, MfaRecoveryCode.used_at.is_(None))) or 0


def _pending(row: MfaEnrolment | None, user: User, settings: MfaSettings
             ) -> PendingEnrolment | None:
    if row is None or row.confirmed_at is not None:
        return None
    secret = _secret(settings, row.seed)
    uri = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=user.email, issuer_name=settings.issuer)
    return PendingEnrolment(secret=secret, otpauth_uri=uri)


def pending(db: DbSession, user: User, settings: MfaSettings) -> PendingEnrolment | None:
    """The secret being set up, to show again (the page reloads); None when there is none."""
    return _pending(enrolment(db, user), user, settings)


# --- enrolling --------------------------------------------------------------------------------


def begin(db: DbSession, actor: Actor, user: User, settings: MfaSettings, now: datetime
          ) -> PendingEnrolment:
    """A new pending secret for the account (replacing one not yet confirmed)."""
    row = enrolment(db, user)
    if row is not None and row.confirmed_at is not None:
        raise StateConflict("Two-step sign-in is already on for this account. Turn it off "
                            "first, or ask an admin to reset it.")
    if row is None:
        row = MfaEnrolment(user_id=user.id, created_at=now)
        db.add(row)
    row.seed = secrets.token_hex(32)
    row.created_at = now
    row.last_step = None
    db.flush()
    audit.record(db, actor, "mfa_enrol", "user", user.id, after={"pending": True})
    result = _pending(row, user, settings)
    assert result is not None
    return result


def confirm(db: DbSession, actor: Actor, user: User, otp: str, settings: MfaSettings,
            now: datetime) -> list[str] | None:
    """Turn the pending secret on with its first code; the ten recovery codes, shown once.

    None when the code is wrong (audited; the caller commits that and answers 422).
    """
    kind, code = parse_code(otp)
    row = enrolment(db, user)
    if row is None or row.confirmed_at is not None:
        raise StateConflict("There is no two-step sign-in being set up for this account; "
                            "start setting it up first.")
    step = _matching_step(_secret(settings, row.seed), code, now) if kind == "totp" else None
    if step is None:
        audit.record(db, actor, "mfa_confirm_failed", "user", user.id)
        return None
    row.confirmed_at = now
    row.last_step = step
    codes = _replace_recovery_codes(db, user, settings, now)
    audit.record(db, actor, "mfa_confirm", "user", user.id,
                 after={"enrolled": True, "recovery_codes": len(codes)})
    return [_shown(c) for c in codes]


def _replace_recovery_codes(db: DbSession, user: User, settings: MfaSettings,
                            now: datetime) -> list[str]:
    db.execute(delete(MfaRecoveryCode).where(MfaRecoveryCode.user_id == user.id))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    db.add_all(MfaRecoveryCode(user_id=user.id, code_hash=_recovery_hash(settings, c),
                               created_at=now) for c in codes)
    db.flush()
    return codes


def _matching_step(secret: str, digits: str, now: datetime) -> int | None:
    """The step within the drift window whose code this is, latest first; None if none."""
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = _step(now)
    for step in range(current + DRIFT_STEPS, current - DRIFT_STEPS - 1, -1):
        if hmac.compare_digest(totp.generate_otp(step), digits):
            return step
    return None


# --- signing in -------------------------------------------------------------------------------


def check_code(db: DbSession, user: User, otp: str, settings: MfaSettings, now: datetime,
               policy: LockoutPolicy, address: str | None = None) -> bool:
    """Whether this code (or an unused recovery code) is right for the enrolled account.

    A wrong or replayed code counts towards the lock like a wrong password; both it and the
    use of a recovery code are audited. The caller commits either way.
    """
    kind, code = parse_code(otp)
    row = enrolment(db, user)
    if row is None or row.confirmed_at is None:
        return False
    where = {"address": address} if address else {}
    if kind == "totp":
        step = _matching_step(_secret(settings, row.seed), code, now)
        if step is not None and (row.last_step is None or step > row.last_step):
            row.last_step = step
            return True
        why = "replayed" if step is not None else "wrong"
    else:
        used = db.scalar(select(MfaRecoveryCode).where(
            MfaRecoveryCode.user_id == user.id, MfaRecoveryCode.used_at.is_(None),
            MfaRecoveryCode.code_hash == _recovery_hash(settings, code)))
        if used is not None:
            used.used_at = now
            db.flush()
            audit.record(db, SIGN_IN, "mfa_recovery_code_used", "user", user.id,
                         after={"recovery_codes_left": recovery_codes_left(db, user), **where})
            return True
        why = "wrong recovery code"
    audit.record(db, SIGN_IN, "mfa_code_failed", "user", user.id, after={"why": why, **where})
    accounts.count_failure(db, user, now, policy)
    return False


def sign_in(db: DbSession, email: str, password: str, otp: str | None, now: datetime,
            policy: LockoutPolicy, settings: MfaSettings, address: str | None = None) -> SignIn:
    """Password, then the code if the account is enrolled; the caller commits either way."""
    if otp is not None:
        parse_code(otp)  # a malformed code is refused before anything is counted
    user = accounts.check_password(db, email, password, now, policy)
    if user is None:
        return SignIn(Outcome.REFUSED)
    if is_enrolled(db, user):
        if otp is None:
            return SignIn(Outcome.CODE_NEEDED, user)
        if not check_code(db, user, otp, settings, now, policy, address):
            return SignIn(Outcome.REFUSED)
    accounts.record_sign_in(user, now)
    if must_enrol(db, user, settings):
        return SignIn(Outcome.MUST_ENROL, user)
    return SignIn(Outcome.SIGNED_IN, user)


def second_step(db: DbSession, user_id: int, otp: str, now: datetime, policy: LockoutPolicy,
                settings: MfaSettings, address: str | None = None) -> User | None:
    """The page's code step for a user whose password was right a moment ago; None if refused."""
    parse_code(otp)
    user = db.scalar(select(User).where(User.id == user_id).with_for_update()
                     .execution_options(populate_existing=True))
    if user is None or not user.is_active or accounts.is_locked(db, user, now):
        return None
    if not check_code(db, user, otp, settings, now, policy, address):
        return None
    accounts.record_sign_in(user, now)
    return user


# --- turning it off ---------------------------------------------------------------------------


def _remove(db: DbSession, user: User) -> bool:
    """Forget the account's enrolment and recovery codes; whether it was on."""
    was_on = is_enrolled(db, user)
    db.execute(delete(MfaRecoveryCode).where(MfaRecoveryCode.user_id == user.id))
    db.execute(delete(MfaEnrolment).where(MfaEnrolment.user_id == user.id))
    return was_on


def reset(db: DbSession, actor: Actor, user_id: int, now: datetime) -> User:
    """An admin clears an account's two-step sign-in (a lost phone) and ends its sign-ins.

    The account enrols afresh at its next sign-in if its role requires it.
    """
    user = get_or_404(db, User, user_id, "user")
    was_on = _remove(db, user)
    ended = logins.end_all(db, user, now)
    audit.record(db, actor, "mfa_reset", "user", user.id, before={"enrolled": was_on},
                 after={"enrolled": False, "sign_ins_ended": ended})
    return user


def turn_off(db: DbSession, actor: Actor, user: User, otp: str, now: datetime,
             policy: LockoutPolicy, settings: MfaSettings, address: str | None = None) -> bool:
    """The account holder turns it off with a current code; only if the role does not require it.

    False when the code is wrong (counted and audited; the caller commits and answers 422).
    """
    parse_code(otp)
    if is_required(user, settings):
        raise PermissionDenied("Your role must use two-step sign-in, so it cannot be turned "
                               "off. If you lost your phone, an admin can reset it.")
    if not is_enrolled(db, user):
        raise StateConflict("Two-step sign-in is not on for this account.")
    if not check_code(db, user, otp, settings, now, policy, address):
        return False
    _remove(db, user)
    audit.record(db, actor, "mfa_off", "user", user.id, before={"enrolled": True},
                 after={"enrolled": False})
    return True
