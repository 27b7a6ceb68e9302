"""Attendance: the roster, self check-in and the kiosk, each record audited and locked with age."""

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session as DbSession

from scheduler.i18n import gettext as _
from scheduler.models import Booking, Client, Session
from scheduler.models.attendance import ATTENDANCE_STATUSES, REASON_CODES, Attendance
from scheduler.models.users import COORDINATORS
from scheduler.services import audit, booking, webhooks
from scheduler.services.audit import Actor
from scheduler.services.errors import (
    DomainError,
    InvalidField,
    PermissionDenied,
    StateConflict,
    TooManyAttempts,
    no_such,
)
from scheduler.services.locks import lock_rows
from scheduler.services.lookup import find as lookup_find
from scheduler.services.lookup import get_or_404
from scheduler.services.wording import session_words

ATTENDED = ("present", "late", "left_early")
NO_TIME = ("absent_excused", "absent_unexcused", "cancelled_by_clinic", "leave_of_absence")
NEEDS_REASON = ("late", "absent_excused", "absent_unexcused")
AUDITED = ("status", "reason_code", "arrived_at", "left_at", "minutes_attended", "method",
           "note", "recorded_by_user_id")
CHECKIN_OPENS = timedelta(minutes=30)


FREE_GUESSES = 5
FIRST_LOCKOUT = timedelta(minutes=1)
MAX_LOCKOUT = timedelta(hours=1)


@dataclass
class CheckinOutcome:
    """A check-in, or why not; refusals are returned so a wrong guess is still counted."""

    attendance: Attendance | None = None
    error: Exception | None = None


def lockout_for(failures: int) -> timedelta:
    """Back-off after the free guesses: 1, 2, 4 … minutes, at most an hour."""
    return min(FIRST_LOCKOUT * (2 ** max(failures - FREE_GUESSES, 0)), MAX_LOCKOUT)


def locked_out(client: Client, now: datetime) -> TooManyAttempts | None:
    """Refusal while the client's check-in is paused after wrong codes or PINs."""
    if client.checkin_locked_until is not None and client.checkin_locked_until > now:
        wait = int((client.checkin_locked_until - now).total_seconds()) + 1
        return TooManyAttempts(
            _("Too many wrong codes or PINs; try again in %(wait)s seconds or ask the front "
              "desk.", wait=wait),
            wait,
        )
    return None


def wrong_guess(client: Client, now: datetime, field: str, message: str) -> DomainError:
    """Count a wrong code or PIN; past the free guesses the client's check-in pauses."""
    client.checkin_failed_attempts += 1
    if client.checkin_failed_attempts >= FREE_GUESSES:
        pause = lockout_for(client.checkin_failed_attempts)
        client.checkin_locked_until = now + pause
        return TooManyAttempts(
            _("Too many wrong codes or PINs; try again later or ask the front desk."),
            int(pause.total_seconds()),
        )
    return InvalidField(field, message)


def right_guess(client: Client) -> None:
    client.checkin_failed_attempts = 0
    client.checkin_locked_until = None


@dataclass(frozen=True)
class Policy:
    """The clinic's attendance rules, from configuration."""

    lock_days: int = 7
    grace_minutes: int = 10
    no_show_grace_minutes: int = 30

    @classmethod
    def from_config(cls, config: Mapping) -> "Policy":
        """The rules as configured; the API, the pages and the no-show job all read them here."""
        return cls(
            lock_days=config["ATTENDANCE_LOCK_DAYS"],
            grace_minutes=config["CHECKIN_GRACE_MINUTES"],
            no_show_grace_minutes=config["NO_SHOW_GRACE_MINUTES"],
        )


def minutes_attended(session: Session, status: str, arrived_at, left_at) -> int:
    """Minutes in the room: the session's span, cut by a late arrival or an early leave."""
    if status in NO_TIME:
        return 0
    start = max(session.starts_at, arrived_at) if arrived_at else session.starts_at
    end = min(session.ends_at, left_at) if left_at else session.ends_at
    return max(0, int((end - start).total_seconds() // 60))


def _check_record(index: int, record: dict, session: Session) -> None:
    where = f"records.{index}"
    status = record["status"]
    if status not in ATTENDANCE_STATUSES:
        raise InvalidField(f"{where}.status", _("must be one of %(choices)s.",
                                                choices=', '.join(ATTENDANCE_STATUSES)))
    reason = record.get("reason_code")
    if reason is not None and reason not in REASON_CODES:
        raise InvalidField(f"{where}.reason_code", _("must be one of %(choices)s.",
                                                     choices=', '.join(REASON_CODES)))
    if status in NEEDS_REASON and reason is None:
        raise InvalidField(
            f"{where}.reason_code",
            _("is required for %(status)s (one of %(choices)s).",
              status=status.replace('_', ' '), choices=', '.join(REASON_CODES)),
        )
    arrived, left = record.get("arrived_at"), record.get("left_at")
    if status == "late" and arrived is None:
        raise InvalidField(f"{where}.arrived_at", _("is required when marking late."))
    if status == "left_early" and left is None:
        raise InvalidField(f"{where}.left_at", _("is required when marking left early."))
    if status in NO_TIME and (arrived or left):
        raise InvalidField(f"{where}.status", _("an absence has no arrival or leaving time."))
    if arrived is not None and not (
        session.starts_at - CHECKIN_OPENS <= arrived <= session.ends_at
    ):
        raise InvalidField(f"{where}.arrived_at", _("must fall within the session."))
    if left is not None and not session.starts_at <= left <= session.ends_at + timedelta(hours=1):
        raise InvalidField(f"{where}.left_at", _("must fall within the session."))
    if arrived is not None and left is not None and left < arrived:
        raise InvalidField(f"{where}.left_at", _("must not be before the arrival time."))


def is_locked(session: Session, now: datetime, policy: Policy) -> bool:
    """Records of sessions that ended more than lock_days ago change only with a reason."""
    return now - session.ends_at > timedelta(days=policy.lock_days)


def record_roster(
    db: DbSession,
    actor: Actor,
    actor_role: str,
    session_id: int,
    records: list[dict],
    *,
    now: datetime,
    policy: Policy,
    method: str = "roster",
    reason: str | None = None,
) -> list[Attendance]:
    """Mark a whole group at once: every record is checked first, and all or none are written."""
    lock_rows(db, Session, [session_id])
    session = get_or_404(db, Session, session_id, "session")
    if session.status != "scheduled":
        raise StateConflict(_("%(session)s was cancelled; it has no attendance.",
                              session=session_words(session)))
    if session.starts_at - CHECKIN_OPENS > now:
        raise StateConflict(_("%(session)s has not started yet.",
                              session=session_words(session)))
    locked = is_locked(session, now, policy)
    if locked and actor_role not in COORDINATORS:
        raise PermissionDenied(
            _("Attendance for %(session)s is locked after %(lock_days)s days; "
              "ask a coordinator.",
              session=session_words(session), lock_days=policy.lock_days)
        )
    if locked and not reason:
        raise InvalidField("reason", _("is required to change attendance older than %(lock_days)s "
                                       "days.",
                                       lock_days=policy.lock_days))
    seen = set()
    for index, record in enumerate(records):
        if record["client_id"] in seen:
            raise InvalidField(f"records.{index}.client_id", _("appears twice in this roster."))
        seen.add(record["client_id"])
        _check_record(index, record, session)

    bookings = {
        b.client_id: b
        for b in db.scalars(
            select(Booking).where(
                Booking.session_id == session.id, Booking.client_id.in_(seen)
            )
        )
    }
    free = booking.free_seats(db, session)
    walk_ins = []
    for index, record in enumerate(records):
        held = bookings.get(record["client_id"])
        if held is not None and held.status == "booked":
            continue
        if lookup_find(db, Client, record["client_id"]) is None:
            raise InvalidField(f"records.{index}.client_id",
                               no_such("client", record["client_id"]))
        if record["status"] in NO_TIME:
            raise InvalidField(f"records.{index}.client_id",
                               _("is not booked into this session."))
        if free <= 0:
            raise InvalidField(f"records.{index}.client_id",
                               _("is not booked and the session has no free seat."))
        free -= 1
        walk_ins.append(record["client_id"])

    for client_id in walk_ins:
        # A walk-in takes a free seat now; the booking is audited like any other.
        bookings[client_id] = _seat_walk_in(db, actor, session, client_id, now)

    existing = {
        a.booking_id: a
        for a in db.scalars(
            select(Attendance).where(
                Attendance.booking_id.in_([b.id for b in bookings.values()])
            )
        )
    }
    written = []
    for record in records:
        held = bookings[record["client_id"]]
        written.append(_fill(session, held, existing.get(held.id), record, method, now, actor))
    # One flush for the group: its updates and inserts go in batches, not a round trip each.
    db.add_all(row for row, _ in written)
    db.flush()
    _audit_written(db, actor, written, reason)
    return [row for row, _ in written]


def mark_all_present(
    db: DbSession,
    actor: Actor,
    actor_role: str,
    session_id: int,
    *,
    now: datetime,
    policy: Policy,
    reason: str | None = None,
) -> list[Attendance]:
    """One tap for the usual case: every booked client with no mark yet becomes present.

    Clients already marked keep their mark, whoever or whatever set it (a tap, a check-in, the
    no-show job): overwriting them would undo what someone saw. Each mark is written and audited
    as a single roster tap would be, with the same checks (cancelled, not open yet, locked)."""
    lock_rows(db, Session, [session_id])
    unmarked = db.scalars(
        select(Booking.client_id)
        .outerjoin(Attendance, Attendance.booking_id == Booking.id)
        .where(Booking.session_id == session_id, Booking.status == "booked",
               Attendance.id.is_(None))
        .order_by(Booking.id)
    ).all()
    # With nobody left to mark this still refuses what a tap would (cancelled, not open yet,
    # locked), so the page never says "nothing changed" where nothing could.
    return record_roster(
        db, actor, actor_role, session_id,
        [{"client_id": client_id, "status": "present"} for client_id in unmarked],
        now=now, policy=policy, reason=reason,
    )


def _seat_walk_in(db, actor, session, client_id, now) -> Booking:
    held = db.scalar(
        select(Booking).where(Booking.session_id == session.id, Booking.client_id == client_id)
    )
    before = audit.snapshot(held, booking.AUDITED) if held is not None else None
    held = held or Booking(session_id=session.id, client_id=client_id)
    held.status, held.booked_at, held.waitlisted_at = "booked", now, None
    held.cancelled_at = held.cancel_reason = None
    db.add(held)
    db.flush()
    audit.record(db, actor, "walk_in", "booking", held.id, before,
                 audit.snapshot(held, booking.AUDITED))
    # A walk-in is a booking made at the door: recipients hear of it as of any other.
    webhooks.emit(db, "booking.created", appointments=[(held.id, client_id)], at=now)
    return held


def _fill(session, held, row, record, method, now, actor) -> tuple[Attendance, dict | None]:
    """The attendance row set from the record (a new one if none), and its audit snapshot
    from before."""
    before = audit.snapshot(row, AUDITED) if row is not None else None
    row = row or Attendance(booking_id=held.id, session_id=session.id, client_id=held.client_id)
    row.status = record["status"]
    row.reason_code = record.get("reason_code")
    row.arrived_at = record.get("arrived_at")
    row.left_at = record.get("left_at")
    if row.status in ("present",) and row.arrived_at is None and method in ("self", "kiosk"):
        row.arrived_at = now
    row.minutes_attended = minutes_attended(session, row.status, row.arrived_at, row.left_at)
    row.method = method
    row.note = record.get("note", row.note)
    row.recorded_by_user_id = actor.user_id
    row.recorded_at = now
    return row, before


def _audit_written(db, actor, written: list[tuple[Attendance, dict | None]], reason) -> None:
    """Audit each mark written, and tell the recipients who may hear of it (webhooks)."""
    for row, before in written:
        audit.record(db, actor, "attendance", "attendance", row.id, before,
                     audit.snapshot(row, AUDITED), reason=reason)
    if written:
        webhooks.emit(db, "attendance.recorded",
                      appointments=[(row.booking_id, row.client_id) for row, _ in written],
                      at=written[0][0].recorded_at)


def _write(db, actor, session, held, row, record, method, now, reason) -> Attendance:
    row, before = _fill(session, held, row, record, method, now, actor)
    db.add(row)
    db.flush()
    _audit_written(db, actor, [(row, before)], reason)
    return row


def session_records(db: DbSession, session_id: int,
                    within: Select | None = None) -> tuple[list[Attendance], int]:
    """The session's attendance records by client, and how many were held back: with `within`
    (client ids, services/caseload.roster_within) only those clients' records are given, and
    the count of the others says the list is not the whole roster. Two queries."""
    query = select(Attendance).where(Attendance.session_id == session_id)
    if within is None:
        return list(db.scalars(query.order_by(Attendance.client_id))), 0
    shown = list(db.scalars(query.where(Attendance.client_id.in_(within))
                            .order_by(Attendance.client_id)))
    total = db.scalar(select(func.count(Attendance.id))
                      .where(Attendance.session_id == session_id)) or 0
    return shown, total - len(shown)


def checkin_code(secret: str, session: Session) -> str:
    """The six-digit code the room sees; derived, so nothing extra is stored or leaked."""
    digest = hmac.new(secret.encode(), f"checkin:{session.id}".encode(), hashlib.sha256)
    return f"{int.from_bytes(digest.digest()[:8], 'big') % 1_000_000:06d}"


def checkin_window(session: Session) -> tuple[datetime, datetime]:
    return session.starts_at - CHECKIN_OPENS, session.ends_at


def self_check_in(
    db: DbSession, actor: Actor, client_id: int, code: str, *, now: datetime, secret: str,
    policy: Policy, method: str = "self",
) -> CheckinOutcome:
    """A client checks in with the room's code: present, or late after the grace period."""
    lock_rows(db, Client, [client_id])
    client = get_or_404(db, Client, client_id, "client")
    refusal = locked_out(client, now)
    if refusal is not None:
        return CheckinOutcome(error=refusal)
    open_sessions = open_sessions_of(db, client_id, now)
    if not open_sessions:
        raise StateConflict(
            _("No session of yours is open for check-in now; check-in opens 30 minutes "
              "before the start and closes at the end.")
        )
    match = next(
        (s for s in open_sessions if hmac.compare_digest(checkin_code(secret, s), code)), None
    )
    if match is None:
        return CheckinOutcome(error=wrong_guess(
            client, now, "code", _("does not match the code shown in the room.")))
    right_guess(client)
    return CheckinOutcome(attendance=check_in(db, actor, client_id, match, now=now,
                                              policy=policy, method=method))


def open_sessions_of(db: DbSession, client_id: int, now: datetime) -> list[Session]:
    """The client's booked sessions whose check-in window is open now."""
    return list(
        db.scalars(
            select(Session)
            .join(Booking, Booking.session_id == Session.id)
            .where(
                Booking.client_id == client_id,
                Booking.status == "booked",
                Session.status == "scheduled",
                Session.starts_at <= now + CHECKIN_OPENS,
                Session.ends_at >= now,
            )
            .order_by(Session.starts_at)
        )
    )


def check_in(
    db: DbSession, actor: Actor, client_id: int, session: Session, *, now: datetime,
    policy: Policy, method: str,
) -> Attendance:
    """Mark the client present, or late after the grace period; a repeat changes nothing."""
    lock_rows(db, Session, [session.id])
    late = now > session.starts_at + timedelta(minutes=policy.grace_minutes)
    record = {
        "client_id": client_id,
        "status": "late" if late else "present",
        "arrived_at": now,
        # The client can't say why at the door; staff add the reason on the roster.
        "reason_code": None,
    }
    held = db.scalar(
        select(Booking).where(Booking.session_id == session.id, Booking.client_id == client_id)
    )
    if held is None:  # callers pass a session of open_sessions_of(), which are all booked
        raise StateConflict("The client has no booking for "
                            f"{session_words(session)}.")
    existing = db.scalar(select(Attendance).where(Attendance.booking_id == held.id))
    if existing is not None and existing.status in ("present", "late", "left_early"):
        return existing
    return _write(db, actor, session, held, existing, record, method, now, None)


# --- no-shows ----------------------------------------------------------------------------------

NO_SHOW_NOTE = "No check-in and not on the roster by the end of the session."


def mark_no_shows(db: DbSession, actor: Actor, now: datetime, policy: Policy) -> int:
    """Booked clients with no attendance after a session's end plus the no-show grace become
    absent_unexcused (no-call), method 'auto'; a later roster mark corrects it, audited.

    Only sessions still inside the lock period are looked at."""
    grace = timedelta(minutes=policy.no_show_grace_minutes)
    lookback = timedelta(days=policy.lock_days)
    due = db.execute(
        select(Booking, Session)
        .join(Session, Session.id == Booking.session_id)
        .outerjoin(Attendance, Attendance.booking_id == Booking.id)
        .where(Booking.status == "booked", Session.status == "scheduled",
               Attendance.id.is_(None), Session.ends_at <= now - grace,
               # Older sessions are left to a person: marking them now would be news to nobody.
               Session.ends_at > now - grace - lookback)
        .order_by(Session.ends_at, Booking.id)
    ).all()
    record = {"status": "absent_unexcused", "reason_code": "no_call", "note": NO_SHOW_NOTE}
    for held, session in due:
        _write(db, actor, session, held, None, record, "auto", now, None)
    return len(due)
