"""A clinician's caseload: whose clinical records they may read, and breaking the glass.

Need to know (invariant 10): a clinician reads assessments, plans, attendance history and notes
only of the clients they look after, which is

- the clients whose active plan names them primary therapist;
- the clients booked (not cancelled, in a session that was not cancelled) into a session they
  facilitate, starting within `window_days` either side of now (a series' facilitators are
  copied onto each session it makes, and a substitute replaces them there);
- the clients they broke the glass for in the last hour: an audited grant with a reason,
  which alerts the admins.

Admins and coordinators are not held to a caseload (a coordinator's sites are another rule);
clients read only their own record, as before. This module is the one owner of the rule:
the API, the pages and any list that filters by caseload call it.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, exists, or_, select, union
from sqlalchemy.orm import Session as DbSession

from scheduler import i18n
from scheduler.i18n import gettext as _
from scheduler.models import Alert, Booking, BreakGlassGrant, Client, Session, Staff, TreatmentPlan
from scheduler.models.sessions import session_facilitators
from scheduler.models.users import User
from scheduler.services import audit, notifications
from scheduler.services.audit import Actor
from scheduler.services.errors import DomainError, InvalidField
from scheduler.services.lookup import get_or_404
from scheduler.services.text import text_problem

# The one role held to a caseload.
HELD_TO_CASELOAD = ("clinician",)
REASON_MAX = 500


@dataclass(frozen=True)
class Policy:
    """How far either side of now a facilitated session counts, and how long a grant lasts."""

    window_days: int = 30
    break_glass_minutes: int = 60

    @classmethod
    def from_config(cls, config) -> "Policy":
        return cls(int(config.get("CASELOAD_WINDOW_DAYS", cls.window_days)),
                   int(config.get("BREAK_GLASS_MINUTES", cls.break_glass_minutes)))


class OutsideCaseload(DomainError):
    """A clinician reached for the clinical record of a client they do not look after."""

    status = 403

    def __init__(self, client_id: int, client_name: str | None = None,
                 minutes: int = Policy.break_glass_minutes):
        whose = f"{client_name} is" if client_name else "This client is"
        opening = (f"{whose} not on your caseload, so their clinical record (assessments, "
                   "plans, attendance history and notes) is not shown.")
        after = f" You then have access for {duration_words(minutes)}, and the admins are told."
        super().__init__(
            f"{opening} If you need it now, break the glass: POST your reason to "
            f"/api/v1/clients/{client_id}/break-glass, as {{\"reason\": \"…\"}}.{after}")
        self.page_message = (f"{opening} If you need it now, break the glass on the client's "
                             f"page with your reason.{after}")


def duration_words(minutes: int) -> str:
    """A grant's length as a person says it: "an hour", "30 minutes", "2 hours and 15 minutes"."""
    hours, rest = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append("an hour" if hours == 1 else f"{hours} hours")
    if rest or not hours:
        parts.append("a minute" if rest == 1 else f"{rest} minutes")
    return " and ".join(parts)


def held_to_caseload(user) -> bool:
    return getattr(user, "role", None) in HELD_TO_CASELOAD


def _facilitated(staff_id: int, now: datetime, policy: Policy):
    """Bookings the staff member facilitates (or will), within the window either side of now."""
    window = timedelta(days=policy.window_days)
    return (select(Booking.client_id)
            .join(Session, Session.id == Booking.session_id)
            .join(session_facilitators, session_facilitators.c.session_id == Session.id)
            .where(session_facilitators.c.staff_id == staff_id,
                   Booking.status == "booked", Session.status == "scheduled",
                   Session.starts_at >= now - window, Session.starts_at <= now + window))


def in_caseload(db: DbSession, user, client_id: int, now: datetime, policy: Policy) -> bool:
    """Whether the clinician `user` looks after the client now: one query, each branch indexed
    by the client (plans by client and version, bookings by client and status, grants by user,
    client and expiry)."""
    checks = [exists(select(BreakGlassGrant.id).where(
        BreakGlassGrant.user_id == user.id, BreakGlassGrant.client_id == client_id,
        BreakGlassGrant.expires_at > now))]
    if user.staff_id is not None:
        checks += [
            exists(select(TreatmentPlan.id).where(
                TreatmentPlan.client_id == client_id, TreatmentPlan.status == "active",
                TreatmentPlan.primary_therapist_id == user.staff_id)),
            exists(_facilitated(user.staff_id, now, policy).where(Booking.client_id == client_id)),
        ]
    return bool(db.scalar(select(or_(*checks))))


def caseload_client_ids(user, now: datetime, policy: Policy) -> Select:
    """The client ids of the clinician's caseload, as a SELECT to filter a list with
    (`Client.id.in_(caseload_client_ids(...))`)."""
    parts = [select(BreakGlassGrant.client_id).where(BreakGlassGrant.user_id == user.id,
                                                     BreakGlassGrant.expires_at > now)]
    if user.staff_id is not None:
        parts += [select(TreatmentPlan.client_id).where(
                      TreatmentPlan.status == "active",
                      TreatmentPlan.primary_therapist_id == user.staff_id),
                  _facilitated(user.staff_id, now, policy)]
    return select(union(*parts).subquery().c[0])


def within(user, now: datetime, policy: Policy) -> Select | None:
    """What a list of clients' attendance, reports or alerts is held to for this user: the
    caseload's client ids as a SELECT for a clinician (one subquery in the list's own query,
    no per-row checks), None for roles not held to a caseload."""
    return caseload_client_ids(user, now, policy) if held_to_caseload(user) else None


def facilitates(db: DbSession, user, session_id: int) -> bool:
    """Whether the user's staff record facilitates the session (a substitute replaces the
    series' facilitators on the session, so covering one counts)."""
    if user.staff_id is None:
        return False
    return db.scalar(select(exists().where(
        session_facilitators.c.session_id == session_id,
        session_facilitators.c.staff_id == user.staff_id))) or False


def reads_whole_roster(db: DbSession, user, session_id: int) -> bool:
    """Whether the user reads every mark and note of the session's roster: roles not held to
    a caseload, and a clinician who facilitates it (its clients are their caseload). Another
    clinician reads the marks of their own caseload's clients only."""
    return not held_to_caseload(user) or facilitates(db, user, session_id)


def roster_within(db: DbSession, user, session_id: int, now: datetime,
                  policy: Policy) -> Select | None:
    """What the user's read of a session's marks and notes is held to: None (everyone booked)
    for a facilitator or a role not held to a caseload, else the caseload's client ids."""
    if reads_whole_roster(db, user, session_id):
        return None
    return caseload_client_ids(user, now, policy)


def roster_marks_readable(db: DbSession, user, session_id: int, now: datetime,
                          policy: Policy) -> set[int] | None:
    """Whose marks and notes on the session's roster the user reads: None for all of them
    (a facilitator, or a role not held to a caseload), else the booked clients of their
    caseload, in one query."""
    within = roster_within(db, user, session_id, now, policy)
    if within is None:
        return None
    return set(db.scalars(select(Booking.client_id).where(Booking.session_id == session_id,
                                                          Booking.client_id.in_(within))))


def visible_client_ids(db: DbSession, user, now: datetime, policy: Policy) -> set[int] | None:
    """The clients whose clinical rows a list may show the user: a clinician's caseload, or
    None for every client (roles not held to a caseload)."""
    if not held_to_caseload(user):
        return None
    return set(db.scalars(caseload_client_ids(user, now, policy)))


def may_read_clinical(db: DbSession, user, client_id: int, now: datetime,
                      policy: Policy) -> bool:
    """Whether the staff member `user` may read the client's clinical record. Only clinicians
    are held to a caseload here; who else is let in at all is the door's business."""
    return not held_to_caseload(user) or in_caseload(db, user, client_id, now, policy)


def require_clinical_read(db: DbSession, user, client_id: int, now: datetime,
                          policy: Policy) -> None:
    """Refuse with OutsideCaseload unless the user may read the client's clinical record."""
    if not may_read_clinical(db, user, client_id, now, policy):
        raise OutsideCaseload(client_id,
                              db.scalar(select(Client.name).where(Client.id == client_id)),
                              policy.break_glass_minutes)


def clean_reason(reason) -> str:
    """The reason trimmed, or InvalidField naming `reason`: required, one line, 1–500 chars."""
    if not isinstance(reason, str):
        raise InvalidField("reason", "Say why you need this client's record.")
    problem = text_problem(reason, multiline=False)
    if problem:
        raise InvalidField("reason", problem)
    reason = reason.strip()
    if not reason:
        raise InvalidField("reason", "Say why you need this client's record.")
    if len(reason) > REASON_MAX:
        raise InvalidField("reason", f"Must be at most {REASON_MAX} characters.")
    return reason


def _admin_addresses(db: DbSession) -> list[tuple[int, str, str | None]]:
    return [(user_id, email, language) for user_id, email, language in db.execute(
        select(User.id, User.email, User.language)
        .where(User.role == "admin", User.is_active.is_(True)).order_by(User.id))]


def break_glass(db: DbSession, actor: Actor, user, client_id: int, reason, now: datetime,
                policy: Policy) -> tuple[BreakGlassGrant, list[str]]:
    """Grant the clinician access to the client for the policy's minutes, with the reason:
    audited, raised as a "break_glass" alert, and an email to each admin queued. Returns the
    grant and the keys of the messages queued (for a request to send at once).

    The email names the clinician and the client's number, as the other staff alerts do, and
    neither the reason nor anything clinical (42 CFR Part 2, minimum necessary): the alerts
    list, behind a login, has the reason.
    """
    reason = clean_reason(reason)
    client = get_or_404(db, Client, client_id, "client")
    if not held_to_caseload(user):
        raise DomainError("Only clinicians break the glass; your role reads this record "
                          "already.")
    grant = BreakGlassGrant(user_id=user.id, client_id=client.id, reason=reason,
                            granted_at=now,
                            expires_at=now + timedelta(minutes=policy.break_glass_minutes))
    db.add(grant)
    db.flush()
    audit.record(db, actor, "break_glass", "client", client.id, None,
                 {"expires_at": audit.to_json(grant.expires_at), "grant_id": grant.id},
                 reason=reason)
    clinician = db.get(Staff, user.staff_id) if user.staff_id is not None else None
    by = clinician.name if clinician is not None else user.email
    alert = Alert(key=f"break_glass:grant={grant.id}", kind="break_glass", client_id=client.id,
                  program_id=client.program_id, raised_at=now,
                  detail={"user_id": user.id, "by": by, "reason": reason,
                          "expires_at": grant.expires_at.isoformat()})
    db.add(alert)
    db.flush()
    keys = []
    for admin_id, address, language in _admin_addresses(db):
        with i18n.speaking(language):
            body = (_("%(by)s broke the glass to read a client's record outside their caseload "
                      "(client #%(client)s), for %(minutes)s minutes.", by=by, client=client.id,
                      minutes=policy.break_glass_minutes) + "\n\n"
                    + _("The alerts list has their reason; please review it.") + "\n")
            subject = _("Break-the-glass access")
        key = f"alert:{alert.key}:to={address}"
        if notifications.queue(db, key, "alert", address, subject, body,
                               client_id=client.id, user_id=admin_id):
            keys.append(key)
    return grant, keys
