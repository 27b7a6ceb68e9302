"""The audit trail every write goes through."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.sql.elements import ColumnElement

from scheduler.clock import now
from scheduler.i18n import lazy_gettext as _l
from scheduler.i18n import lazy_pgettext
from scheduler.models import AuditEvent

# Every action the trail files, and what it is called on the audit page: the one list, so the
# page's filter offers each one and a new action is named where it is added (a test checks
# every audit.record call in the code against it).
ACTIONS: dict[str, object] = {
    # Reads, downloads and refused looks (services/access_log.py).
    "read": _l("Read"),
    "export": _l("Exported"),
    "denied": _l("Refused a look"),
    # A clinician's hour of access outside their caseload, with a reason (services/caseload.py).
    "break_glass": _l("Broke the glass"),
    # Records.
    "create": _l("Created"),
    "update": _l("Changed"),
    "delete": _l("Deleted"),
    "import": _l("Imported"),
    # Sessions, series, bookings and attendance.
    # Its own context: as an action it is said of anything ("Cancelado"); "Cancelled" alone
    # is said of a session ("Cancelada", agreeing with "sesión").
    "cancel": lazy_pgettext("audit action", "Cancelled"),
    "restore": _l("Restored"),
    "override": _l("Moved or re-staffed"),
    "end": _l("Ended"),
    "book": _l("Booked"),
    "enroll": _l("Enrolled"),
    "promote": _l("Moved up from the waitlist"),
    "walk_in": _l("Walk-in booked"),
    "attendance": _l("Attendance marked"),
    "discharge": _l("Discharged"),
    "readmit": _l("Re-admitted"),
    "close": _l("Program closed"),
    "lift": _l("Closure lifted"),
    # Plans.
    "revise": _l("Plan revised"),
    "supersede": _l("Plan superseded"),
    "certify": _l("Certification recorded"),
    "review": _l("Review recorded"),
    # Schedule proposals (services/proposals.py).
    "accept": _l("Proposal accepted"),
    # Clients' own settings.
    "set_availability": _l("Availability set"),
    "set_working_hours": _l("Working hours set"),
    "set_preferences": _l("Notification choices set"),
    "set_language": _l("Language chosen"),
    "set_kiosk_pin": _l("Kiosk PIN set"),
    "clear_kiosk_pin": _l("Kiosk PIN cleared"),
    "acknowledge": _l("Alert acknowledged"),
    # Webhook endpoints (services/webhooks.py).
    "rotate_secret": _l("Webhook secret rotated"),
    "retry": _l("Webhook delivery sent again"),
    # Logins.
    "invite": _l("Invited"),
    "accept_invitation": _l("Invitation accepted"),
    "request_password_reset": _l("Password reset asked for"),
    "reset_password": _l("Password reset"),
    "change_password": _l("Password changed"),
    "sign_in": _l("Signed in"),
    "sign_out": _l("Signed out"),
    "end_session": _l("Sign-in ended"),
    "end_idle": _l("Idle sign-in ended"),
    "end_sign_ins": _l("All sign-ins ended"),
    "issue": _l("Calendar link issued"),
    "revoke": _l("Revoked"),
    "lock": _l("Locked after failed sign-ins"),
    "unlock": _l("Unlocked"),
    "refuse_locked": _l("Sign-in refused (locked)"),
    "mfa_enrol": _l("Two-step sign-in started"),
    "mfa_confirm": _l("Two-step sign-in turned on"),
    "mfa_confirm_failed": _l("Two-step code wrong (setting up)"),
    "mfa_code_failed": _l("Two-step code wrong"),
    "mfa_recovery_code_used": _l("Recovery code used"),
    "mfa_reset": _l("Two-step sign-in reset"),
    "mfa_off": _l("Two-step sign-in turned off"),
}


def action_label(action: str) -> str:
    """The action in words; one filed before it had a label shows as it was filed."""
    return str(ACTIONS.get(action, action.replace("_", " ").capitalize()))


@dataclass(frozen=True)
class Actor:
    """Who is acting: a user, or the system itself (CLI, jobs), and from which network address
    when the act came in over HTTP."""

    user_id: int | None
    label: str
    address: str | None = None

    @classmethod
    def system(cls, label: str = "system") -> "Actor":
        return cls(None, label)


def to_json(value):
    """Turn a column value into something a JSON column keeps without loss."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        # One spelling per instant: a value fresh from a request keeps the caller's offset,
        # the same value read back from the database is UTC, and the two must compare equal.
        return value.astimezone(UTC).isoformat()
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    return value


def snapshot(obj, fields: tuple[str, ...]) -> dict:
    """The audited state of a row: the named fields, JSON-ready."""
    return {f: to_json(getattr(obj, f)) for f in fields}


def record(
    db: DbSession,
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: int | None,
    before: dict | None = None,
    after: dict | None = None,
    reason: str | None = None,
) -> AuditEvent | None:
    """Add one audit event to the caller's transaction.

    An update keeps only the fields that changed; one that changed nothing is not recorded.
    """
    if before is not None and after is not None:
        changed = {k for k in after.keys() | before.keys() if before.get(k) != after.get(k)}
        if not changed:
            return None
        before = {k: v for k, v in before.items() if k in changed}
        after = {k: v for k, v in after.items() if k in changed}
    event = AuditEvent(
        occurred_at=now(),
        actor_user_id=actor.user_id,
        actor=actor.label,
        address=actor.address,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        before=before,
        after=after,
        reason=reason,
    )
    db.add(event)
    return event


@dataclass(frozen=True)
class EventFilter:
    """What an audit search narrows to; None means any."""

    entity_type: str | None = None
    entity_id: int | None = None
    actor_user_id: int | None = None
    action: str | None = None
    occurred_from: datetime | None = None
    occurred_before: datetime | None = None
    # The audit page reads actions as they are filed today (filed_action); the API searches
    # rows exactly as they were written.
    as_filed_today: bool = False


def filed_action(event: AuditEvent) -> str:
    """The action as it would be filed today. Until issue 17 a session's cancellation and
    restoration were filed as "override", with the status change in before and after; those
    rows read, and are found (_filed_today_as), as what they were."""
    if event.action == "override" and event.entity_type == "session":
        before, after = event.before or {}, event.after or {}
        if before.get("status") != after.get("status") and "status" in after:
            return "cancel" if after["status"] == "cancelled" else "restore"
    return event.action


def _filed_today_as(action: str) -> ColumnElement[bool]:
    """filed_action(event) == action, in SQL."""
    legacy = and_(AuditEvent.action == "override", AuditEvent.entity_type == "session")
    status_after = AuditEvent.after["status"].as_string()
    status_before = func.coalesce(AuditEvent.before["status"].as_string(), "")
    changed = and_(status_after.is_not(None), status_after != status_before)
    if action in ("cancel", "restore"):
        wanted = (status_after == "cancelled" if action == "cancel"
                  else status_after != "cancelled")
        return or_(AuditEvent.action == action, and_(legacy, changed, wanted))
    if action == "override":
        return and_(AuditEvent.action == action, ~and_(legacy, changed))
    return AuditEvent.action == action


def search(db: DbSession, where: EventFilter, *, offset: int, limit: int
           ) -> tuple[list[AuditEvent], int]:
    """One page of matching events, newest first, and how many match in all."""
    query = select(AuditEvent)
    for column, value in ((AuditEvent.entity_type, where.entity_type),
                          (AuditEvent.entity_id, where.entity_id),
                          (AuditEvent.actor_user_id, where.actor_user_id)):
        if value is not None:
            query = query.where(column == value)
    if where.action is not None:
        query = query.where(_filed_today_as(where.action) if where.as_filed_today
                            else AuditEvent.action == where.action)
    if where.occurred_from is not None:
        query = query.where(AuditEvent.occurred_at >= where.occurred_from)
    if where.occurred_before is not None:
        query = query.where(AuditEvent.occurred_at < where.occurred_before)
    total = db.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    # Rows of one request share an instant; the id keeps their order stable across pages.
    events = db.scalars(query.order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
                        .offset(offset).limit(limit)).all()
    return list(events), total
