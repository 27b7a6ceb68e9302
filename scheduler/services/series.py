"""Recurring series: creation, materialisation, edits that never rewrite history."""

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import exists, insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import object_session, selectinload

from scheduler.clock import now as clock_now
from scheduler.feeds import versions as feed_versions
from scheduler.i18n import gettext as _
from scheduler.models import (
    Attendance,
    Booking,
    Client,
    Program,
    Room,
    Session,
    SessionSeries,
    Staff,
)
from scheduler.models.series import MAX_DURATION_MINUTES, SESSION_KINDS, series_facilitators
from scheduler.models.sessions import session_facilitators
from scheduler.services import audit, booking, closed_days, webhooks
from scheduler.services import staff as staff_service
from scheduler.services.audit import Actor
from scheduler.services.conflicts import (
    Calendar,
    ConflictDetected,
    Slot,
    room_clashes,
    staff_clashes,
)
from scheduler.services.errors import InvalidField
from scheduler.services.lookup import get_referenced

# The seat rule and the one-to-one kinds live in services/one_to_one.py; re-exported because
# callers have long asked this module for them.
from scheduler.services.one_to_one import ONE_TO_ONE_KINDS as ONE_TO_ONE_KINDS
from scheduler.services.one_to_one import default_capacity as default_capacity
from scheduler.services.overrides import Override, reason_of
from scheduler.services.recurrence import Schedule, local_date, parse_rrule, rule_to_text, zone
from scheduler.services.wording import day_words

AUDITED = (
    "program_id",
    "kind",
    "title",
    "description",
    "timezone",
    "start_date",
    "start_time",
    "duration_minutes",
    "rrule",
    "end_date",
    "capacity",
    "room_id",
    "video_url",
    "status",
    "facilitator_ids",
)
REQUIRED = (
    "program_id",
    "kind",
    "title",
    "timezone",
    "start_date",
    "start_time",
    "duration_minutes",
    "rrule",
    "capacity",
)
# Fields whose change moves occurrences in time; the rest are copied onto them.
SCHEDULE_FIELDS = {"timezone", "start_date", "start_time", "duration_minutes", "rrule", "end_date"}
COPIED_FIELDS = ("program_id", "kind", "title", "capacity", "room_id", "video_url")
# Edits to these can put a room or a facilitator in two places at once.
CHECKED_FIELDS = SCHEDULE_FIELDS | {"room_id"}


@dataclass
class SeriesChange:
    """What an edit did to the occurrences, for the response and the audit."""

    updated: int = 0
    cancelled: int = 0
    created: int = 0
    # Which sessions it cancelled or moved (another time or room): what webhooks announce.
    cancelled_ids: list[int] = dataclasses.field(default_factory=list)
    moved_ids: list[int] = dataclasses.field(default_factory=list)


MEDICARE_GROUP_LIMIT = 12


def warnings(series: SessionSeries) -> list[str]:
    """What a coordinator should know about a series that is allowed but unusual."""
    notes = []
    if series.kind == "group" and series.capacity > MEDICARE_GROUP_LIMIT:
        notes.append(
            _("Medicare allows at most %(most)s participants in group psychotherapy; this "
              "series has %(places)s places.", most=MEDICARE_GROUP_LIMIT, places=series.capacity)
        )
    db = object_session(series)  # the session it was saved in; the callers pass no other
    if db is not None:
        notes += _day_notes(db, series)
    return notes


def _day_notes(db: DbSession, series: SessionSeries) -> list[str]:
    """Occurrences of the coming year on a closure or a public holiday, named by day."""
    program = db.get(Program, series.program_id)
    if program is None:
        return []
    tz = zone(series.timezone)
    # The first year of what is still to come: from today, or from a later first day.
    after = max(clock_now(), datetime.combine(series.start_date, time.min, tzinfo=tz))
    until = after + timedelta(days=closed_days.WARNING_HORIZON_DAYS)
    days = [local_date(start, tz) for start in schedule_of(series).starts_between(after, until)
            if start >= after]
    found = closed_days.day_notes(db, program, days)
    if not found:
        return []
    return [_("Some sessions fall on a public holiday or a closure (a closed day's session "
              "starts cancelled): %(days)s.", days="; ".join(found))]


def seats_for(db: DbSession, kind: str | None, room_id: int | None) -> int:
    """The seats a series saved with none gets: from its kind, with its room as the ceiling."""
    room = None
    if room_id is not None:
        room = get_referenced(db, Room, room_id, "room_id", "room")
    return default_capacity(kind, room.capacity if room is not None else None)


def schedule_of(series: SessionSeries) -> Schedule:
    """The recurrence of a stored series."""
    return Schedule(
        rule=parse_rrule(series.rrule),
        start_date=series.start_date,
        start_time=series.start_time,
        tz=zone(series.timezone),
        end_date=series.end_date,
    )


def horizon(now: datetime, horizon_days: int) -> datetime:
    return now + timedelta(days=horizon_days)


def _snapshot(series: SessionSeries) -> dict:
    data = audit.snapshot(series, AUDITED[:-1])
    data["facilitator_ids"] = [s.id for s in series.facilitators]
    return data


def _validate(db: DbSession, values: dict) -> None:
    """Check a series' merged values; raises InvalidField naming the first bad field."""
    # Services are called by jobs and the CLI too, not only through the API's schemas.
    for name in REQUIRED:
        if values.get(name) is None or values.get(name) == "":
            raise InvalidField(name, _("is required."))
    if values["kind"] not in SESSION_KINDS:
        raise InvalidField("kind", _("must be one of %(choices)s.",
                                     choices=', '.join(SESSION_KINDS)))
    get_referenced(db, Program, values["program_id"], "program_id", "program")
    zone(values["timezone"])
    parse_rrule(values["rrule"])
    duration = values["duration_minutes"]
    if not 0 < duration <= MAX_DURATION_MINUTES:
        raise InvalidField(
            "duration_minutes", _("must be more than 0 and at most %(MAX_DURATION_MINUTES)s (12 "
                                  "h).",
                                  MAX_DURATION_MINUTES=MAX_DURATION_MINUTES)
        )
    if values.get("end_date") is not None and values["end_date"] < values["start_date"]:
        raise InvalidField("end_date", _("must not be before the first day."))
    if values["capacity"] < 1:
        raise InvalidField("capacity", _("must be at least 1."))
    if values.get("room_id") is not None:
        room = get_referenced(db, Room, values["room_id"], "room_id", "room")
        if not room.is_active:
            raise InvalidField("room_id", _("Room %(room)s is not in use.", room=repr(room.name)))
        if values["capacity"] > room.capacity:
            raise InvalidField(
                "capacity",
                _("%(seats)s seats do not fit room %(room)s (capacity %(capacity)s).",
                  seats=values["capacity"], room=repr(room.name), capacity=room.capacity),
            )


def _check_names(values: dict) -> None:
    for name in values:
        if name not in AUDITED:
            raise InvalidField(name, _("is not a field of a series."))


def _facilitators(db: DbSession, ids, field: str = "facilitator_ids") -> list[Staff]:
    staff = []
    for staff_id in dict.fromkeys(ids or ()):
        staff.append(staff_service.active_member(db, staff_id, field))
    return staff


def create_series(
    db: DbSession,
    actor: Actor,
    *,
    now: datetime,
    horizon_days: int,
    override: Override | None = None,
    **fields,
) -> tuple[SessionSeries, SeriesChange]:
    """Add a series and make its occurrences up to the horizon, refusing double bookings."""
    override_reason = reason_of(override)
    _check_names(fields)
    facilitator_ids = fields.pop("facilitator_ids", None) or []
    if fields.get("capacity") is None:
        fields["capacity"] = seats_for(db, fields.get("kind"), fields.get("room_id"))
    if not fields.get("timezone") and fields.get("program_id") is not None:
        program = get_referenced(db, Program, fields["program_id"], "program_id", "program")
        fields["timezone"] = program.timezone
    _validate(db, fields)
    fields["rrule"] = rule_to_text(parse_rrule(fields["rrule"]))
    staff = _facilitators(db, facilitator_ids)
    series = SessionSeries(**fields)
    series.facilitators = staff
    db.add(series)
    db.flush()
    created = materialize(db, series, horizon(now, horizon_days))
    after = _snapshot(series)
    overridden = _check_clashes(db, series, now, override_reason)
    if overridden:
        after["overridden_conflicts"] = overridden
    audit.record(db, actor, "create", "series", series.id, after=after, reason=override_reason)
    return series, SeriesChange(created=created)


def _check_clashes(
    db: DbSession,
    series: SessionSeries,
    now: datetime,
    override_reason: str | None,
    *,
    booked_clients: bool = False,
) -> list[dict]:
    """Staff and room clashes of the series' future sessions; raises unless overridden.

    With `booked_clients` (the sessions moved in time), their booked clients are checked too.
    """
    db.flush()
    sessions = list(
        db.scalars(
            select(Session)
            .where(
                Session.series_id == series.id,
                Session.status == "scheduled",
                Session.starts_at > now,
            )
            .order_by(Session.starts_at)
        )
    )
    clashes = []
    by_room: dict = {}
    by_staff: dict = {}
    for session in sessions:
        slot = Slot(session.starts_at, session.ends_at, session.id)
        by_room.setdefault(session.room_id, []).append(slot)
        key = tuple(s.id for s in session.facilitators)
        by_staff.setdefault(key, []).append(slot)
    for room_id, slots in by_room.items():
        clashes += room_clashes(db, room_id, slots, ignore_series_id=series.id)
    for staff_ids, slots in by_staff.items():
        clashes += staff_clashes(db, staff_ids, slots, ignore_series_id=series.id)
    if booked_clients and sessions:
        clashes += _booked_client_clashes(db, sessions)
    if clashes and override_reason is None:
        raise ConflictDetected(clashes)
    return [c.as_dict() for c in clashes]


def _booked_client_clashes(db: DbSession, sessions: list[Session]) -> list:
    """Where the clients booked into these sessions are now also booked elsewhere."""
    slots = {s.id: Slot(s.starts_at, s.ends_at, s.id) for s in sessions}
    by_client: dict = {}
    for client, session_id in db.execute(
        select(Client, Booking.session_id)
        .join(Booking, Booking.client_id == Client.id)
        .where(Booking.session_id.in_(list(slots)), Booking.status == "booked")
        .order_by(Client.id)
    ):
        by_client.setdefault(client, []).append(slots[session_id])
    if not by_client:
        return []
    # One read of every booked client's calendar, not two queries per client.
    calendar = Calendar(db, min(s.starts_at for s in slots.values()),
                        max(s.ends_at for s in slots.values()), clients=list(by_client))
    clashes = []
    for client, client_slots in by_client.items():
        clashes += calendar.client_clashes(
            client, sorted(client_slots, key=lambda s: s.starts_at))
    return clashes


def _insert_ignoring_duplicates(db: DbSession):
    dialect = db.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(Session).on_conflict_do_nothing(
            index_elements=["series_id", "original_start"]
        )
    if dialect == "sqlite":
        return sqlite.insert(Session).on_conflict_do_nothing(
            index_elements=["series_id", "original_start"]
        )
    return insert(Session)


def _row_for(series: SessionSeries, start: datetime, stamp: datetime) -> dict:
    return {
        "series_id": series.id,
        "program_id": series.program_id,
        "kind": series.kind,
        "title": series.title,
        "timezone": series.timezone,
        "original_start": start,
        "starts_at": start,
        "ends_at": start + timedelta(minutes=series.duration_minutes),
        "capacity": series.capacity,
        "room_id": series.room_id,
        "video_url": series.video_url,
        "status": "scheduled",
        "is_overridden": False,
        "sequence": 0,
        "created_at": stamp,
        "updated_at": stamp,
    }


def materialize(db: DbSession, series: SessionSeries, until: datetime) -> int:
    """Make the series' missing occurrences up to `until`; running it twice adds nothing."""
    after = series.materialized_until
    if after is not None and after >= until:
        return 0
    starts = schedule_of(series).starts_between(after, until)
    if after is not None and starts:
        # An edit may already have given a day past the old bookmark its session (re-timed
        # there, or held by an override); that day keeps it rather than gaining a second.
        taken = _days_with_sessions(db, series, since=after - timedelta(days=2))
        tz = zone(series.timezone)
        starts = [start for start in starts if local_date(start, tz) not in taken]
    created = _insert_occurrences(db, series, starts)
    series.materialized_until = until
    return created


def occurrence_day(session: Session) -> date:
    """The day the series rule made an occurrence for, on the wall clock of its own zone."""
    return local_date(session.original_start or session.starts_at, zone(session.timezone))


def _days_with_sessions(db: DbSession, series: SessionSeries, since: datetime) -> set[date]:
    return {
        local_date(original, zone(tz_name))
        for original, tz_name in db.execute(
            select(Session.original_start, Session.timezone).where(
                Session.series_id == series.id, Session.original_start > since
            )
        )
    }


def _insert_occurrences(db: DbSession, series: SessionSeries, starts: list[datetime]) -> int:
    if not starts:
        return 0
    starts = sorted(starts)
    stamp = clock_now()
    window = (
        Session.series_id == series.id,
        Session.original_start >= starts[0],
        Session.original_start <= starts[-1],
    )
    existing = set(db.scalars(select(Session.id).where(*window)))
    # No RETURNING: drivers then batch the rows as one prepared executemany, which is
    # several times faster on PostgreSQL than multi-row VALUES with RETURNING.
    db.execute(_insert_ignoring_duplicates(db), [_row_for(series, s, stamp) for s in starts])
    new_ids = [sid for sid in db.scalars(select(Session.id).where(*window)) if sid not in existing]
    staff_ids = db.scalars(
        select(series_facilitators.c.staff_id).where(series_facilitators.c.series_id == series.id)
    ).all()
    if new_ids and staff_ids:
        db.execute(
            insert(session_facilitators),
            [{"session_id": sid, "staff_id": staff} for sid in new_ids for staff in staff_ids],
        )
    if new_ids:
        # Core inserts skip the ORM hooks that move feed versions, so say it here.
        feed_versions.sessions_added(db, series.program_id, series.room_id, staff_ids, stamp)
    booking.book_enrolled(db, series, new_ids, now=stamp)
    # After booking, so lifting the closure gives the enrolled clients their seats back.
    closed_days.close_new_sessions(db, series.program_id, new_ids)
    return len(new_ids)


def extend_horizon(db: DbSession, now: datetime, horizon_days: int) -> int:
    """Materialise every active series up to the rolling horizon."""
    until = horizon(now, horizon_days)
    created = 0
    for series in db.scalars(
        select(SessionSeries).where(
            # End dates are on each series' own calendar, which may still be a day behind UTC's;
            # the exact test, in the series' zone, follows.
            or_(SessionSeries.end_date.is_(None),
                SessionSeries.end_date >= now.date() - timedelta(days=1)),
            or_(
                SessionSeries.materialized_until.is_(None),
                SessionSeries.materialized_until < until,
            ),
        )
    ):
        if series.end_date is not None and series.end_date < local_date(now, zone(series.timezone)):
            continue
        created += materialize(db, series, until)
    return created


def _regenerable(db: DbSession, series: SessionSeries, now: datetime) -> list[Session]:
    """Future occurrences a series edit may rewrite: untouched by overrides or attendance."""
    return list(
        db.scalars(
            select(Session)
            .where(
                Session.series_id == series.id,
                Session.starts_at > now,
                Session.is_overridden.is_(False),
                or_(
                    Session.status == "scheduled",
                    Session.cancelled_by.in_(("series_edit", "series_end")),
                ),
                # Attendance makes an occurrence history, even if it is still to end.
                ~exists().where(Attendance.session_id == Session.id),
            )
            # _follow compares every row's facilitators: one query for all, not one per row.
            .options(selectinload(Session.facilitators))
            .order_by(Session.starts_at)
        )
    )


def update_series(
    db: DbSession,
    actor: Actor,
    series: SessionSeries,
    changes: dict,
    *,
    now: datetime,
    horizon_days: int,
    reason: str | None = None,
    override: Override | None = None,
) -> tuple[SessionSeries, SeriesChange]:
    """Edit a series; only future, untouched occurrences follow the edit."""
    override_reason = reason_of(override)
    changes = dict(changes)  # the caller's dict is left as given
    _check_names(changes)
    before = _snapshot(series)
    merged = {k: getattr(series, k) for k in AUDITED[:-1]}
    merged.update({k: v for k, v in changes.items() if k != "facilitator_ids"})
    _validate(db, merged)
    if "rrule" in changes:
        changes["rrule"] = rule_to_text(parse_rrule(changes["rrule"]))
    staff = None
    if "facilitator_ids" in changes:
        staff = _facilitators(db, changes.pop("facilitator_ids"))
    if "status" in changes and changes["status"] == "ended":
        changes.pop("status")  # ending goes through end_series
    old_end = series.end_date
    for key, value in changes.items():
        setattr(series, key, value)
    if staff is not None:
        series.facilitators = staff
    end_moved = series.end_date != old_end
    if end_moved and series.status == "ended" and (
        series.end_date is None or (old_end is not None and series.end_date > old_end)
    ):
        series.status = "active"  # moving the end out reopens an ended series
    db.flush()
    if "capacity" in changes and changes["capacity"] < before["capacity"]:
        booking.check_capacity(db, series, changes["capacity"], now)
    result = regenerate(db, series, now=now, end_moved=end_moved)
    result.created += materialize(db, series, horizon(now, horizon_days))
    if "capacity" in changes and changes["capacity"] > before["capacity"]:
        booking.fill_freed_seats(db, actor, series, now)
    overridden = []
    if CHECKED_FIELDS & set(changes) or staff is not None:
        overridden = _check_clashes(db, series, now, override_reason,
                                    booked_clients=bool(SCHEDULE_FIELDS & set(changes)))
        reason = reason or override_reason
    after = _snapshot(series)
    if overridden:
        after["overridden_conflicts"] = overridden
    audit.record(db, actor, "update", "series", series.id, before, after, reason=reason)
    return series, result


def end_series(
    db: DbSession,
    actor: Actor,
    series: SessionSeries,
    end_date,
    *,
    now: datetime,
    reason: str | None = None,
) -> tuple[SessionSeries, SeriesChange]:
    """End a series early: its later occurrences are cancelled, none deleted."""
    if end_date < series.start_date:
        raise InvalidField("end_date", _("must not be before the series' first day, %(day)s.",
                                         day=day_words(series.start_date)))
    before = _snapshot(series)
    series.end_date = end_date
    series.status = "ended"
    db.flush()
    result = regenerate(db, series, now=now, end_moved=True, end_reason=reason)
    audit.record(db, actor, "end", "series", series.id, before, _snapshot(series), reason=reason)
    return series, result


def _cancel(session: Session, by: str, reason: str) -> None:
    session.status = "cancelled"
    session.cancelled_by = by
    session.cancel_reason = reason
    session.sequence += 1


def regenerate(
    db: DbSession,
    series: SessionSeries,
    *,
    now: datetime,
    end_moved: bool = False,
    end_reason: str | None = None,
) -> SeriesChange:
    """Bring future, untouched occurrences in line with the series as it now stands.

    Overrides are left alone, except that when the end date moves, those after it are
    cancelled and those it had cancelled come back once the end moves past them again.
    """
    result = SeriesChange()
    schedule = schedule_of(series)
    tz = schedule.tz
    rows = _regenerable(db, series, now)
    regenerable_ids = {r.id for r in rows}
    # A day already held by an override, attendance or the past keeps that occurrence.
    held_days, held_starts = set(), set()
    for sid, original, tz_name in db.execute(
        select(Session.id, Session.original_start, Session.timezone).where(
            Session.series_id == series.id, Session.original_start.is_not(None)
        )
    ):
        if sid not in regenerable_ids:
            held_days.add(local_date(original, zone(tz_name)))
            held_starts.add(original)
    # Rows are matched to the new rule by the day they were made for, in their own zone,
    # so correcting a series' zone keeps Monday's session on Monday.
    by_day: dict[date, list[Session]] = {}
    for row in rows:
        by_day.setdefault(occurrence_day(row), []).append(row)

    # Days without a session wait for the horizon job; a day that has one follows the edit
    # even when its new time lands past the materialised window, so it is never doubled.
    window_end = series.materialized_until or now
    reach = max([window_end, *(r.starts_at for r in rows)]) + timedelta(days=2)
    wanted: dict[date, datetime] = {}
    for start in schedule.starts_between(now, reach) if reach > now else ():
        day = local_date(start, tz)
        if day in held_days or start in held_starts:
            continue
        if start <= window_end or day in by_day:
            wanted[day] = start

    staff = list(series.facilitators)
    for day, day_rows in by_day.items():
        _settle_day(series, day, day_rows, wanted.pop(day, None), staff, end_reason, result)
    if end_moved:
        # Only then: a coordinator may later restore one session past the end on purpose.
        _follow_end(db, series, now, result, end_reason)
    # Updates first: a re-timed row may free the original_start a new row needs.
    db.flush()
    result.created += _insert_occurrences(db, series, sorted(wanted.values()))
    if result.created:
        db.expire_all()
    # Recipients hear of a series edit's cancellations and moves as of one session's.
    webhooks.emit_sessions(db, "session.cancelled", result.cancelled_ids, at=now)
    webhooks.emit_sessions(db, "session.moved", result.moved_ids, at=now)
    return result


def _settle_day(series: SessionSeries, day: date, day_rows: list[Session],
                kept_start: datetime | None, staff: list, end_reason: str | None,
                result: SeriesChange) -> None:
    """One day's regenerable rows: the one kept follows the series, the rest are cancelled."""
    keep = None
    if kept_start is not None:
        # The row already at this start, else a scheduled one: no unique clash, least churn.
        keep = next((r for r in day_rows if r.original_start == kept_start), None) or next(
            (r for r in day_rows if r.status == "scheduled"), day_rows[0]
        )
    for row in day_rows:
        if row is not keep and row.status == "scheduled":
            if _beyond_end(series, day):
                _cancel(row, "series_end", end_reason or "Series ended")
            else:
                _cancel(row, "series_edit", "No longer in the series schedule")
            result.cancelled += 1
            result.cancelled_ids.append(row.id)
    # (A row is kept only for a start the schedule still wants.)
    if keep is None or kept_start is None:
        return
    was = (keep.status, keep.starts_at, keep.room_id)
    if _follow(keep, series, kept_start, staff, [s.id for s in staff]):
        result.updated += 1
        if was[0] == "scheduled" and (keep.starts_at, keep.room_id) != was[1:]:
            result.moved_ids.append(keep.id)


def _beyond_end(series: SessionSeries, day: date) -> bool:
    return series.end_date is not None and day > series.end_date


def _follow(row: Session, series: SessionSeries, start: datetime, staff, staff_ids) -> bool:
    """Make one regenerable row match the series; True if anything changed."""
    end = start + timedelta(minutes=series.duration_minutes)
    moved = (row.starts_at, row.ends_at) != (start, end)
    relocated = (row.room_id, row.video_url) != (series.room_id, series.video_url)
    revived = row.status != "scheduled"
    changed = moved or relocated or revived
    for field in COPIED_FIELDS:
        if getattr(row, field) != getattr(series, field):
            setattr(row, field, getattr(series, field))
            changed = True
    if row.timezone != series.timezone:
        row.timezone = series.timezone
        changed = True
    if row.original_start != start:
        row.original_start = start
    if moved and row.status == "scheduled":
        row.moved_from = row.starts_at  # the portal says "Moved to …" for a while
    row.starts_at, row.ends_at = start, end
    if revived:
        row.status, row.cancelled_by, row.cancel_reason = "scheduled", None, None
    if [s.id for s in row.facilitators] != staff_ids:
        row.facilitators = list(staff)
        changed = True
    if moved or relocated or revived:
        row.sequence += 1
    return changed


def _follow_end(
    db: DbSession, series: SessionSeries, now: datetime, result: SeriesChange, reason
) -> None:
    """Overridden sessions end with their series, and come back if the end moves past them."""
    for session in db.scalars(
        select(Session).where(
            Session.series_id == series.id,
            Session.is_overridden.is_(True),
            Session.starts_at > now,
            or_(Session.status == "scheduled", Session.cancelled_by == "series_end"),
        )
    ):
        beyond = _beyond_end(series, occurrence_day(session))
        if beyond and session.status == "scheduled":
            _cancel(session, "series_end", reason or "Series ended")
            result.cancelled += 1
            result.cancelled_ids.append(session.id)
        elif not beyond and session.status == "cancelled":
            session.status, session.cancelled_by, session.cancel_reason = "scheduled", None, None
            session.sequence += 1
            result.updated += 1
