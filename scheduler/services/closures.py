"""Closing a program for a day or a range (a holiday, snow), and lifting the closure again.

Closing cancels every session in the range that has not begun and has no attendance, and
remembers on each which closure did it, so lifting restores exactly those: never a session
cancelled earlier for another reason. Booked clients get one message per closure.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select
from sqlalchemy.orm import Session as DbSession

from scheduler import i18n
from scheduler.i18n import gettext as _
from scheduler.models import Attendance, Closure, Program, Session, SessionSeries
from scheduler.services import audit, closed_days, notifications, webhooks
from scheduler.services import series as series_service
from scheduler.services.audit import Actor
from scheduler.services.errors import InvalidField, NotFound
from scheduler.services.lookup import get_or_404
from scheduler.services.overrides import MAX_REASON
from scheduler.services.recurrence import local_date

# A closure is days or weeks (a holiday, a refit); a longer stop is the end of a series.
MAX_SPAN_DAYS = 92
# Far enough for next year's holidays; any further is almost surely a typing slip.
MAX_AHEAD_DAYS = 3 * 366


@dataclass
class Closing:
    """What closing did: the sessions cancelled, and those kept because attendance is in."""

    closure: Closure
    cancelled: list[Session] = field(default_factory=list)
    kept: list[Session] = field(default_factory=list)
    message_keys: list[str] = field(default_factory=list)


@dataclass
class Lifting:
    """What lifting did: sessions back on, and those another closure still keeps closed."""

    closure: Closure
    restored: list[Session] = field(default_factory=list)
    still_closed: list[Session] = field(default_factory=list)
    message_keys: list[str] = field(default_factory=list)


def range_words(closure: Closure) -> str:
    """"on Monday 1 March" or "from Monday 1 March to Thursday 4 March", in the language
    being spoken."""
    if closure.starts_on == closure.ends_on:
        return _("on %(day)s", day=i18n.local(closure.starts_on, "day"))
    return _("from %(first)s to %(last)s", first=i18n.local(closure.starts_on, "day"),
             last=i18n.local(closure.ends_on, "day"))


def _validate(starts_on: date, ends_on: date, reason: str | None, today: date) -> str:
    text = reason.strip() if isinstance(reason, str) else ""
    if not text:
        raise InvalidField("reason", _("Say why the program is closed (for example: snow)."))
    if len(text) > MAX_REASON:
        raise InvalidField("reason", _("Longer than maximum length %(MAX_REASON)s.",
                                       MAX_REASON=MAX_REASON))
    if starts_on < today:
        raise InvalidField("starts_on", _("The first day must not be in the past (today is "
                                          "%(today)s).",
                                          today=i18n.local(today, "short_day_date")))
    if starts_on > today + timedelta(days=MAX_AHEAD_DAYS):
        raise InvalidField("starts_on", _("The first day must be within three years from today."))
    if ends_on < starts_on:
        raise InvalidField("ends_on", _("The last day must not be before the first day."))
    if (ends_on - starts_on).days + 1 > MAX_SPAN_DAYS:
        raise InvalidField("ends_on", _("A closure lasts at most %(count)s days; add a second "
                                        "one for a longer time.", count=MAX_SPAN_DAYS))
    return text


def _snapshot(closure: Closure) -> dict:
    return audit.snapshot(closure, ("program_id", "starts_on", "ends_on", "reason", "lifted_at"))


def create_closure(db: DbSession, actor: Actor, program: Program, *, starts_on: date,
                   ends_on: date, reason: str | None, now: datetime,
                   public_name: str) -> Closing:
    """Close the program on the days starts_on..ends_on (its own calendar, both included)."""
    tz = ZoneInfo(program.timezone)
    text = _validate(starts_on, ends_on, reason, local_date(now, tz))
    closure = Closure(program_id=program.id, starts_on=starts_on, ends_on=ends_on, reason=text,
                      created_by_user_id=actor.user_id, created_at=now)
    db.add(closure)
    db.flush()
    lo, hi = closed_days.bounds(tz, starts_on, ends_on)
    # Sessions already begun are the day's history, as are those with attendance in.
    attended = exists().where(Attendance.session_id == Session.id)
    result = Closing(closure)
    for session, has_attendance in db.execute(
        select(Session, attended)
        .where(Session.program_id == program.id, Session.status == "scheduled",
               Session.starts_at >= lo, Session.starts_at < hi, Session.starts_at > now)
        .order_by(Session.starts_at, Session.id)
        .with_for_update(of=Session)
    ).tuples():
        if has_attendance:
            result.kept.append(session)
            continue
        closed_days.mark_closed(session, closure)
        session.sequence += 1  # feeds drop it and resend nothing stale
        result.cancelled.append(session)
    db.flush()
    after = _snapshot(closure)
    after["cancelled_session_ids"] = [s.id for s in result.cancelled]
    after["kept_session_ids"] = [s.id for s in result.kept]
    audit.record(db, actor, "close", "closure", closure.id, after=after, reason=text)
    webhooks.emit_sessions(db, "session.cancelled", [s.id for s in result.cancelled], at=now)
    result.message_keys = notifications.queue_one_notice(
        db, [s.id for s in result.cancelled], key=f"closure:{closure.id}", kind="closure",
        words=lambda: (_("Appointments cancelled"),
                       _("We are closed %(days)s. These appointments are cancelled:",
                         days=range_words(closure))),
        public_name=public_name)
    return result


def list_closures(db: DbSession, program_id: int, *, since: date | None = None) -> list[Closure]:
    """The program's closures in force, soonest first; with `since`, those ending before it
    are left out."""
    query = select(Closure).where(Closure.program_id == program_id, Closure.lifted_at.is_(None))
    if since is not None:
        query = query.where(Closure.ends_on >= since)
    return list(db.scalars(query.order_by(Closure.starts_on, Closure.id)))


def cancelled_counts(db: DbSession, closure_ids: list[int]) -> dict[int, int]:
    """How many sessions each closure holds cancelled now."""
    counts = dict.fromkeys(closure_ids, 0)
    if closure_ids:
        for closure_id in db.scalars(select(Session.closure_id).where(
                Session.closure_id.in_(closure_ids), Session.status == "cancelled")):
            if closure_id is not None:
                counts[closure_id] += 1
    return counts


def get_closure(db: DbSession, program_id: int, closure_id: int) -> Closure:
    """A closure of this program still in force, or NotFound (lifted ones are gone)."""
    closure = get_or_404(db, Closure, closure_id, "closure")
    if closure.program_id != program_id or closure.lifted_at is not None:
        raise NotFound("closure", closure_id)
    return closure


def lift_closure(db: DbSession, actor: Actor, closure: Closure, *, now: datetime,
                 public_name: str) -> Lifting:
    """Lift a closure: the sessions it cancelled that are still ahead come back, unless
    another closure covers their day (that one keeps them). Past ones stay cancelled: bringing
    them back would mark their clients absent from sessions that never ran."""
    before = _snapshot(closure)
    closure.lifted_at, closure.lifted_by_user_id = now, actor.user_id
    db.flush()
    program = db.get(Program, closure.program_id)
    assert program is not None  # the foreign key keeps it
    tz = ZoneInfo(program.timezone)
    sessions = list(db.scalars(
        select(Session).where(Session.closure_id == closure.id, Session.status == "cancelled",
                              Session.starts_at > now)
        .order_by(Session.starts_at, Session.id).with_for_update()))
    others = closed_days.open_closures(db, closure.program_id, closure.starts_on, closure.ends_on)
    result = Lifting(closure)
    series_ids = set()
    for session in sessions:
        other = closed_days.covering(others, local_date(session.starts_at, tz))
        if other is not None:
            closed_days.mark_closed(session, other)
            result.still_closed.append(session)
            continue
        session.status, session.cancelled_by, session.cancel_reason = "scheduled", None, None
        session.closure_id = None
        session.sequence += 1
        if session.series_id is not None and not session.is_overridden:
            series_ids.add(session.series_id)
    db.flush()
    # A series edited during the closure left these days alone; now they follow it (or are
    # cancelled, when the series no longer meets that day).
    for series in db.scalars(select(SessionSeries).where(SessionSeries.id.in_(series_ids))):
        series_service.regenerate(db, series, now=now)
    db.flush()
    result.restored = [s for s in sessions
                       if s not in result.still_closed and s.status == "scheduled"]
    after = _snapshot(closure)
    after["restored_session_ids"] = [s.id for s in result.restored]
    after["still_closed_session_ids"] = [s.id for s in result.still_closed]
    audit.record(db, actor, "lift", "closure", closure.id, before, after)
    result.message_keys = notifications.queue_one_notice(
        db, [s.id for s in result.restored], key=f"closure-lifted:{closure.id}",
        kind="reopened",
        words=lambda: (_("Appointments back on"),
                       _("We are open again %(days)s after all. These appointments are back on:",
                         days=range_words(closure))),
        public_name=public_name)
    return result
