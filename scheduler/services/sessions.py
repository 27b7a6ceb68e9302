"""Single occurrences: listing, and the overrides a coordinator makes on one."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import selectinload

from scheduler.i18n import gettext as _
from scheduler.models import Attendance, AuditEvent, Booking, Client, Program, Room, Session
from scheduler.models.series import MAX_DURATION_MINUTES
from scheduler.models.sessions import session_facilitators
from scheduler.services import audit, booking, one_to_one, scope, webhooks
from scheduler.services import staff as staff_service
from scheduler.services.audit import Actor
from scheduler.services.conflicts import (
    ConflictDetected,
    Slot,
    client_clashes,
    room_clashes,
    staff_clashes,
)
from scheduler.services.errors import InvalidField, StateConflict
from scheduler.services.lookup import get_referenced
from scheduler.services.overrides import Override, reason_of
from scheduler.services.wording import session_words

AUDITED = (
    "starts_at",
    "ends_at",
    "room_id",
    "video_url",
    "status",
    "cancelled_by",
    "cancel_reason",
    "is_overridden",
    "sequence",
    "facilitator_ids",
)


@dataclass
class SessionFilter:
    series_id: int | None = None
    program_id: int | None = None
    staff_id: int | None = None
    room_id: int | None = None
    client_id: int | None = None
    status: str | None = None
    starts_from: datetime | None = None
    starts_to: datetime | None = None
    # The sites a page shows (None: every site); never wider than the caller's scope.
    site_ids: frozenset[int] | None = None


def _snapshot(session: Session) -> dict:
    data = audit.snapshot(session, AUDITED[:-1])
    data["facilitator_ids"] = [s.id for s in session.facilitators]
    return data


def list_sessions(
    db: DbSession, filters: SessionFilter, *, offset: int = 0, limit: int = 50
) -> tuple[list[Session], int]:
    """Sessions matching the filters in start order, with the total count."""
    query = select(Session).where(scope.programs_filter(Session.program_id))
    if filters.series_id is not None:
        query = query.where(Session.series_id == filters.series_id)
    if filters.program_id is not None:
        query = query.where(Session.program_id == filters.program_id)
    if filters.room_id is not None:
        query = query.where(Session.room_id == filters.room_id)
    if filters.staff_id is not None:
        query = query.where(
            Session.id.in_(
                select(session_facilitators.c.session_id).where(
                    session_facilitators.c.staff_id == filters.staff_id
                )
            )
        )
    if filters.client_id is not None:
        # The client's own schedule: sessions they hold a seat in, not ones they queue for.
        query = query.where(
            Session.id.in_(
                select(Booking.session_id).where(
                    Booking.client_id == filters.client_id, Booking.status == "booked"
                )
            )
        )
    if filters.site_ids is not None:
        query = query.where(scope.of_sites(Session.program_id, filters.site_ids))
    if filters.status is not None:
        query = query.where(Session.status == filters.status)
    # A session overlapping the window counts, so a 17:00–20:00 group shows in a 18:00 query.
    if filters.starts_from is not None:
        query = query.where(Session.ends_at > filters.starts_from)
    if filters.starts_to is not None:
        query = query.where(Session.starts_at < filters.starts_to)
    total = db.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = db.scalars(
        query.options(selectinload(Session.facilitators))
        .order_by(Session.starts_at, Session.id)
        .offset(offset)
        .limit(limit)
    ).all()
    return list(rows), total


def change_session(
    db: DbSession,
    actor: Actor,
    session: Session,
    changes: dict,
    *,
    reason: str | None = None,
    override: Override | None = None,
) -> Session:
    """Apply one coordinator override (cancel, restore, move, room, substitute) to an occurrence."""
    override_reason = reason_of(override)
    if db.scalar(select(Attendance.id).where(Attendance.session_id == session.id).limit(1)):
        raise StateConflict(
            _("%(session)s has attendance recorded; its time, place and staff "
              "are history now.",
              session=session_words(session))
        )
    _refuse_changing_a_cancelled(db, session, changes)
    before = _snapshot(session)
    # Each step validates its part before it writes, in the order the fields were always
    # checked, so the first invalid field is still the one reported.
    moved = _change_times(session, changes)
    room_changed = _change_room(db, session, changes)
    link_changed = _change_video_url(session, changes)
    _change_facilitators(db, session, changes)
    status_changed = _change_status(session, changes, reason)
    if moved or room_changed or link_changed or status_changed:
        # The time, place or status changed: a new sequence makes feeds resend the event and
        # clients get a change notice (notifications key on it).
        session.is_overridden = True
        session.sequence += 1
    after = _snapshot(session)
    reason = _clash_check(db, session, before, after, reason, override_reason)
    if after != before:
        db.flush()
        audit.record(db, actor, session_action(before, after), "session", session.id, before,
                     after, reason=reason)
        if status_changed and session.status == "cancelled":
            webhooks.emit_sessions(db, "session.cancelled", [session.id])
        elif moved and session.status == "scheduled":
            webhooks.emit_sessions(db, "session.moved", [session.id])
    return session


def _refuse_changing_a_cancelled(db: DbSession, session: Session, changes: dict) -> None:
    """A cancelled session can only be restored. Moving, re-rooming or re-staffing it would say
    "Session moved." while it stayed cancelled on the new date, so nobody would come."""
    if session.status != "cancelled":
        return
    asked = {field for field in ("starts_at", "ends_at", "room_id", "video_url")
             if field in changes and changes[field] != getattr(session, field)}
    if "facilitator_ids" in changes and list(dict.fromkeys(changes["facilitator_ids"])) != [
            s.id for s in session.facilitators]:
        asked.add("facilitator_ids")
    if asked:
        day = f"{cancelled_on(db, session).astimezone(ZoneInfo(session.timezone)):%a %Y-%m-%d}"
        raise StateConflict(_("%(session)s was cancelled on %(day)s; restore it first.",
                              session=session_words(session), day=day))


def cancelled_on(db: DbSession, session: Session) -> datetime:
    """When the session was last cancelled: its audited cancellation, whatever the action is
    called, else (a cancellation by a series edit is audited on the series) its last change."""
    events = db.scalars(
        select(AuditEvent)
        .where(AuditEvent.entity_type == "session", AuditEvent.entity_id == session.id)
        .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
    )
    for event in events:
        if (event.after or {}).get("status") == "cancelled":
            return event.occurred_at
    return session.updated_at


def session_action(before: dict, after: dict) -> str:
    """How a change to one session is filed: a cancellation and a restoration are their own
    actions; a move, a new room or a substitute is an override."""
    if before.get("status") != after.get("status"):
        return "cancel" if after.get("status") == "cancelled" else "restore"
    return "override"


def _change_times(session: Session, changes: dict) -> bool:
    """Move the session; a new start alone keeps its length. True when the times changed."""
    if "starts_at" not in changes and "ends_at" not in changes:
        return False
    starts_at = changes.get("starts_at", session.starts_at)
    ends_at = changes.get("ends_at", session.ends_at)
    if "ends_at" not in changes:
        ends_at = starts_at + (session.ends_at - session.starts_at)
    if ends_at <= starts_at:
        raise InvalidField("ends_at", _("must be after the start."))
    if ends_at - starts_at > timedelta(minutes=MAX_DURATION_MINUTES):
        raise InvalidField("ends_at", _("a session may last at most 12 h."))
    if (starts_at, ends_at) == (session.starts_at, session.ends_at):
        return False
    session.moved_from = session.starts_at  # the portal says "Moved to …" for a while
    session.starts_at, session.ends_at = starts_at, ends_at
    return True


def _change_room(db: DbSession, session: Session, changes: dict) -> bool:
    """Put the session in another room (or none), one in use that seats everyone booked."""
    if "room_id" not in changes or changes["room_id"] == session.room_id:
        return False
    if changes["room_id"] is not None:
        room = get_referenced(db, Room, changes["room_id"], "room_id", "room")
        if not room.is_active:
            raise InvalidField("room_id", _("Room %(room)s is not in use.", room=repr(room.name)))
        if room.capacity < session.capacity:
            raise InvalidField(
                "room_id",
                _("Room %(room)s seats %(seats)s; this session has %(places)s places.",
                  room=repr(room.name), seats=room.capacity, places=session.capacity),
            )
    session.room_id = changes["room_id"]
    return True


def _change_video_url(session: Session, changes: dict) -> bool:
    if "video_url" not in changes or changes["video_url"] == session.video_url:
        return False
    session.video_url = changes["video_url"]
    return True


def _change_facilitators(db: DbSession, session: Session, changes: dict) -> None:
    """Substitute the staff, active ones only. The session counts as overridden, but its
    sequence stays: a substitute is not a change booked clients are told about."""
    if "facilitator_ids" not in changes:
        return
    staff = []
    for staff_id in dict.fromkeys(changes["facilitator_ids"]):
        staff.append(staff_service.active_member(db, staff_id, "facilitator_ids"))
    if [s.id for s in staff] != [s.id for s in session.facilitators]:
        session.facilitators = staff
        session.is_overridden = True


def _change_status(session: Session, changes: dict, reason: str | None) -> bool:
    """Cancel (a reason is required) or restore a cancelled session. True when it did either."""
    status = changes.get("status")
    if status == "cancelled" and session.status != "cancelled":
        if not reason:
            raise InvalidField("reason", _("A reason is required to cancel a session."))
        session.status = "cancelled"
        session.cancelled_by = "override"
        session.cancel_reason = reason
        return True
    if status == "scheduled" and session.status == "cancelled":
        session.status = "scheduled"
        session.cancelled_by = None
        session.cancel_reason = None
        session.closure_id = None  # restored by hand: lifting its closure has nothing to do
        return True
    return False


def _clash_check(
    db: DbSession,
    session: Session,
    before: dict,
    after: dict,
    reason: str | None,
    override_reason: str | None,
) -> str | None:
    """Refuse a scheduled session's new time, place or staff if it double-books anyone, unless
    overridden. An override lists the clashes in `after`, and its reason stands in for a
    missing one. Returns the reason to audit."""
    placed = any(after[k] != before[k] for k in ("starts_at", "ends_at", "room_id",
                                                  "facilitator_ids", "status"))
    if not placed or session.status != "scheduled":
        return reason
    db.flush()
    clashes = _clashes_of(db, session)
    if clashes and override_reason is None:
        raise ConflictDetected(clashes)
    if clashes:
        after["overridden_conflicts"] = [c.as_dict() for c in clashes]
        reason = reason or override_reason
    return reason


def _clashes_of(db: DbSession, session: Session) -> list:
    """Where this session, as it now stands, double-books its room, staff or clients."""
    slot = Slot(session.starts_at, session.ends_at, session.id)
    clashes = room_clashes(db, session.room_id, [slot])
    clashes += staff_clashes(db, [s.id for s in session.facilitators], [slot])
    booked = db.scalars(
        select(Client)
        .join(Booking, Booking.client_id == Client.id)
        .where(Booking.session_id == session.id, Booking.status == "booked")
        .order_by(Client.id)
    )
    for client in booked:
        clashes += client_clashes(db, client, [slot])
    return clashes


ONE_OFF_TITLES = {
    "individual": "Individual session",
    "medical": "Medication review",
    "assessment": "Assessment",
    "case_management": "Case management",
    "family": "Family session",
    "behavioral": "Skills session",
    "group": "Group session",
    "education": "Education session",
    "peer_support": "Peer support",
}


def create_one_off(
    db: DbSession,
    actor: Actor,
    *,
    now: datetime,
    program_id: int,
    kind: str,
    starts_at: datetime,
    ends_at: datetime,
    title: str | None = None,
    capacity: int | None = None,
    room_id: int | None = None,
    video_url: str | None = None,
    facilitator_ids=(),
    client_id: int | None = None,
    override: Override | None = None,
) -> Session:
    """A session outside any series (individual therapy, a medication review), optionally booked."""
    override_reason = reason_of(override)
    program = get_referenced(db, Program, program_id, "program_id", "program")
    if ends_at <= starts_at:
        raise InvalidField("ends_at", _("must be after the start."))
    if ends_at - starts_at > timedelta(minutes=MAX_DURATION_MINUTES):
        raise InvalidField("ends_at", _("a session may last at most 12 h."))
    if starts_at <= now:
        raise InvalidField("starts_at", _("must be in the future."))
    room = get_referenced(db, Room, room_id, "room_id", "room") if room_id is not None else None
    if capacity is None:
        # As for a series: the kind's seats, never more than the room holds.
        capacity = one_to_one.default_capacity(kind, room.capacity if room else None)
    if room is not None:
        if not room.is_active:
            raise InvalidField("room_id", _("Room %(room)s is not in use.", room=repr(room.name)))
        if room.capacity < capacity:
            raise InvalidField("capacity", _("%(places)s places do not fit room %(room)s.",
                                             places=capacity, room=repr(room.name)))
    staff = []
    for staff_id in dict.fromkeys(facilitator_ids or ()):
        staff.append(staff_service.active_member(db, staff_id, "facilitator_ids"))
    if client_id is not None:
        get_referenced(db, Client, client_id, "client_id", "client")
    session = Session(
        program_id=program.id, kind=kind, title=title or ONE_OFF_TITLES[kind],
        timezone=program.timezone, starts_at=starts_at, ends_at=ends_at, capacity=capacity,
        room_id=room_id, video_url=video_url, status="scheduled",
    )
    session.facilitators = staff
    db.add(session)
    db.flush()
    slot = Slot(starts_at, ends_at, session.id)
    clashes = room_clashes(db, room_id, [slot]) + staff_clashes(db, [s.id for s in staff], [slot])
    if clashes and override_reason is None:
        raise ConflictDetected(clashes)
    after = _snapshot(session)
    if clashes:
        after["overridden_conflicts"] = [c.as_dict() for c in clashes]
    audit.record(db, actor, "create", "session", session.id, after=after, reason=override_reason)
    if client_id is not None:
        booking.book_client(db, actor, session.id, client_id, now=now, override=override)
    return session
