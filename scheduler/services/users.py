"""Managing logins: who may see and change which accounts, and what a change ends.

Admins manage every login; coordinators manage client logins only (a client who lost their
phone, a discharged client whose link must stop). Deactivating a login, or changing its role,
ends everything it could still reach the clinic with: its sign-ins (`logins.end_all`), its
calendar links and a client's kiosk PIN. Bringing it back restores none of them: the person
signs in again and is given new links on purpose.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import selectinload

from scheduler.feeds import tokens as feed_tokens
from scheduler.i18n import gettext
from scheduler.languages import LANGUAGES
from scheduler.models import Client, Staff, User
from scheduler.models.users import STAFF, USER_ROLES
from scheduler.services import accounts, audit, logins, mfa, scope
from scheduler.services.audit import Actor
from scheduler.services.errors import InvalidField, PermissionDenied, StateConflict
from scheduler.services.locks import begin_write, lock_rows
from scheduler.services.lookup import get_or_404

# The roles whose logins each managing role sees and changes.
MANAGED_ROLES = {"admin": USER_ROLES, "coordinator": ("client",)}
AUDITED = ("role", "is_active", "client_id", "staff_id")
DEACTIVATED = "Login deactivated"
ROLE_CHANGED = "Login role changed"


@dataclass(frozen=True)
class Viewer:
    """The signed-in person managing logins, and the audit trail's name for them."""

    user_id: int
    role: str
    actor: Actor


@dataclass(frozen=True)
class LoginFilter:
    """What a list of logins narrows to; None means any.

    `email` matches any part of the address, ignoring case ("smith" finds jo.smith@…).
    """

    email: str | None = None
    role: str | None = None
    is_active: bool | None = None


def mfa_enabled(user: User) -> bool:
    """Whether the login has confirmed two-step sign-in (services/mfa owns the rule)."""
    return mfa.confirmed(user.mfa_enrolment)


def managed_roles(viewer_role: str) -> tuple[str, ...]:
    return MANAGED_ROLES.get(viewer_role, ())


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_logins(db: DbSession, viewer_role: str, where: LoginFilter, *, offset: int,
                limit: int) -> tuple[list[User], int]:
    """One page of the logins this role may manage, by email, and how many match in all."""
    roles = managed_roles(viewer_role)
    if not roles:
        raise PermissionDenied(gettext("Only admins and coordinators manage logins."))
    query = select(User).where(User.role.in_(roles), scope.logins_filter(User.client_id))
    if where.email:
        query = query.where(func.lower(User.email).like(_like_pattern(where.email.lower()),
                                                        escape="\\"))
    if where.role is not None:
        query = query.where(User.role == where.role)
    if where.is_active is not None:
        query = query.where(User.is_active.is_(where.is_active))
    total = db.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    # Each row shows its two-step sign-in: loaded for the whole page at once.
    users = db.scalars(query.options(selectinload(User.mfa_enrolment), selectinload(User.sites))
                       .order_by(User.email, User.id).offset(offset).limit(limit)).all()
    return list(users), total


def managed_login(db: DbSession, viewer: Viewer, user_id: int) -> User:
    """The login at this id if the viewer may manage it: 404 when none, 403 when not theirs."""
    user = get_or_404(db, User, user_id, "user")
    if user.role not in managed_roles(viewer.role):
        raise PermissionDenied(gettext("Coordinators manage client logins only."))
    return user


def _lock_active_admins(db: DbSession) -> int:
    """How many admins are active, their rows held until commit (in id order), so that two
    admins demoting each other at once cannot leave none. SQLite's write lock already holds
    the whole database (begin_write)."""
    query = (select(User.id).where(User.role == "admin", User.is_active.is_(True))
             .order_by(User.id))
    if db.get_bind().dialect.name != "sqlite":
        query = query.with_for_update()
    return len(list(db.scalars(query)))


def update_login(db: DbSession, viewer: Viewer, user_id: int, changes: dict,
                 now: datetime) -> User:
    """Change a login's `is_active`, `role` (admins only) and, with a client role, `client_id`.

    Deactivating ends its sign-ins, calendar links and kiosk PIN; a role change ends its
    sign-ins. The last active admin cannot be deactivated or demoted (409).
    """
    begin_write(db)
    user = managed_login(db, viewer, user_id)
    # An admin's row is locked with the other admins', in one order; anyone else's alone.
    admins = _lock_active_admins(db) if user.role == "admin" else None
    if admins is None:
        lock_rows(db, User, [user.id])
    db.refresh(user)  # as it stands now that it is held
    if ("role" in changes or "client_id" in changes) and viewer.role != "admin":
        raise PermissionDenied(gettext("Only an admin may change a login's role."))
    role = changes.get("role", user.role)
    is_active = changes.get("is_active", user.is_active)
    if role not in USER_ROLES:
        raise InvalidField("role", gettext("must be one of %(roles)s.",
                                           roles=", ".join(USER_ROLES)))
    if "client_id" in changes and role != "client":
        raise InvalidField("client_id", gettext("Only a client login is linked to a client."))
    client_id = changes.get("client_id", user.client_id) if role == "client" else None
    staff_id = user.staff_id if role in STAFF else None
    accounts.check_links(db, role, staff_id=staff_id, client_id=client_id, user_id=user.id)
    leaves_admins = user.role == "admin" and user.is_active and (role != "admin" or not is_active)
    if leaves_admins and (admins or 0) <= 1:
        raise StateConflict(gettext("%(email)s is the last active admin; make another login an "
                                    "admin before deactivating or demoting this one.",
                                    email=user.email))
    before = audit.snapshot(user, AUDITED)
    deactivating = user.is_active and not is_active
    role_changed = role != user.role
    user.role, user.is_active, user.client_id, user.staff_id = (role, is_active, client_id,
                                                                staff_id)
    db.flush()
    after = audit.snapshot(user, AUDITED)
    if deactivating or role_changed:
        after["sign_ins_ended"] = logins.end_all(db, user, now)
    if deactivating:
        _end_links(db, viewer.actor, before, now)
    reason = DEACTIVATED if deactivating else ROLE_CHANGED if role_changed else None
    audit.record(db, viewer.actor, "update", "user", user.id, before=before, after=after,
                 reason=reason)
    return user


def set_own_language(db: DbSession, actor: Actor, user: User, language: str | None) -> User:
    """A staff member's page language; None follows their browser. A client's language is on
    their client record (clients.set_language): their emails speak it too."""
    if language is not None and language not in LANGUAGES:
        raise InvalidField("language", gettext("Choose one of the languages offered."))
    before = {"language": user.language}
    user.language = language
    db.flush()
    audit.record(db, actor, "set_language", "user", user.id, before, {"language": language})
    return user


def _end_links(db: DbSession, actor: Actor, links: dict, now: datetime) -> None:
    """Stop the calendar links and kiosk PIN of the client and staff member the login had."""
    if links["client_id"] is not None:
        feed_tokens.revoke(db, actor, "client", links["client_id"], now, reason=DEACTIVATED)
        client = db.get(Client, links["client_id"])
        if client is not None and client.kiosk_pin_hash is not None:
            client.kiosk_pin_hash = None
            audit.record(db, actor, "clear_kiosk_pin", "client", client.id,
                         before={"kiosk_pin": "set"}, after={"kiosk_pin": None},
                         reason=DEACTIVATED)
    if links["staff_id"] is not None:
        feed_tokens.revoke(db, actor, "staff", links["staff_id"], now, reason=DEACTIVATED)


def end_sign_ins(db: DbSession, viewer: Viewer, user_id: int, now: datetime) -> tuple[User, int]:
    """Sign a login out everywhere (a lost phone, a shared computer left signed in): every page
    sign-in and token ends; the password stays. Returns the login and how many ended."""
    user = managed_login(db, viewer, user_id)
    ended = logins.end_all(db, user, now)
    audit.record(db, viewer.actor, "end_sign_ins", "user", user.id,
                 after={"sign_ins_ended": ended})
    return user, ended


def uninvited_clients() -> Select:
    """The clients in treatment who have no login yet: whom a client invitation may be for."""
    return select(Client).where(Client.discharged_on.is_(None),
                                ~Client.id.in_(select(User.client_id).where(
                                    User.client_id.is_not(None))))


def uninvited_staff(viewer_role: str) -> Select | None:
    """The active staff members who have no login yet, or None when this viewer invites no
    staff (coordinators invite clients only)."""
    if "clinician" not in managed_roles(viewer_role):
        return None
    return select(Staff).where(Staff.is_active.is_(True),
                               ~Staff.id.in_(select(User.staff_id).where(
                                   User.staff_id.is_not(None))))

