"""Free times for a one-to-one appointment: the client, the clinician and a room all free.

The rules of who is busy belong to services/conflicts (bookings, weekly routine, admission,
sessions facilitated, time off, working hours, rooms); this module only proposes candidate
times on a grid in the client's program zone and keeps those no rule refuses. What they judge
against is read once into Facts, for one client (Find a time) or a whole cohort (the planner).
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from scheduler.i18n import gettext as _
from scheduler.models import Client, Closure, Program, Room, Session, TreatmentPlan
from scheduler.services import booking, closed_days, plans, scope, series, sessions
from scheduler.services import staff as staff_service
from scheduler.services.audit import Actor
from scheduler.services.conflicts import Calendar, Slot
from scheduler.services.errors import InvalidField
from scheduler.services.lookup import get_or_404, get_referenced
from scheduler.services.series import ONE_TO_ONE_KINDS

MIN_DURATION = 15
MAX_DURATION = 480
MAX_RANGE_DAYS = 31
MAX_ITEMS = 200
# Where a clinician has no working hours set, candidates stay inside these: an IOP runs
# evening groups, so the day is long, but nobody is offered 03:00 or a Sunday.
CLINIC_DAYS = range(0, 6)
CLINIC_OPENS = time(8, 0)
CLINIC_CLOSES = time(21, 0)


@dataclass(frozen=True)
class FreeSlot:
    starts_at: datetime
    ends_at: datetime
    room_id: int


def grid_minutes(duration_minutes: int) -> int:
    """Half-hour starts, which keep a week's list short enough to read; quarter-hour ones for
    sessions shorter than half an hour."""
    return 30 if duration_minutes >= 30 else 15


@dataclass
class Facts:
    """What candidate times are judged against, read once for some clients and clinicians over
    a range: who is busy (conflicts.Calendar, which owns those rules, holding the active
    rooms too), the days each client's active plan covers, each program's closures."""

    calendar: Calendar
    rooms: list[Room]  # active, smallest first
    plan_days: dict[int, tuple[date | None, date | None]]
    closures: dict[int, list[Closure]]  # by program id
    # Each clinician's grid of starts over the range, with the local day of each: the same
    # for every client of a program, so a cohort builds it once (see candidates).
    grids: dict[tuple, list[tuple[date, Slot]]] = field(default_factory=dict)


def _active_rooms(db: DbSession) -> list[Room]:
    """Active rooms, smallest first, of the caller's sites (services/scope.py)."""
    return list(db.scalars(select(Room).where(Room.is_active.is_(True),
                                              scope.sites_filter(Room.site_id))
                           .order_by(Room.capacity, Room.name, Room.id)))


def read_facts(db: DbSession, clients: Iterable[Client], staff_ids: Iterable[int],
               starts_from: datetime, ends_to: datetime, *,
               plan_of: dict[int, TreatmentPlan] | None = None) -> Facts:
    """Facts for these clients and clinicians from `starts_from` to `ends_to`: about ten
    queries however many of each. `plan_of` (client id to active plan) saves reading the
    plans again when the caller has them."""
    clients = list(clients)
    rooms = _active_rooms(db)
    calendar = Calendar(db, starts_from, ends_to, clients=clients, staff_ids=staff_ids,
                        room_ids=[r.id for r in rooms])
    if plan_of is None:
        plan_of = plans.active_plans(db, [c.id for c in clients])
    plan_days: dict[int, tuple[date | None, date | None]] = {}
    for client in clients:
        plan = plan_of.get(client.id)
        # The days the client's active plan covers (open at either end when it does not say).
        plan_days[client.id] = (plan.start_date, plan.end_date) if plan else (None, None)
    closures = {}
    for program in {c.program for c in clients}:
        tz = ZoneInfo(program.timezone)
        closures[program.id] = closed_days.open_closures(
            db, program.id, starts_from.astimezone(tz).date(), ends_to.astimezone(tz).date())
    return Facts(calendar, rooms, plan_days, closures)


def _windows(facts: Facts, staff_id: int) -> dict[int, list[tuple[time, time]]]:
    """The local windows to try, by weekday: the clinician's hours, or the clinic's."""
    rows = facts.calendar.working_hours(staff_id)
    if not rows:
        return {day: [(CLINIC_OPENS, CLINIC_CLOSES)] for day in CLINIC_DAYS}
    days: dict[int, list[tuple[time, time]]] = {}
    for row in rows:
        days.setdefault(row.weekday, []).append((row.start_time, row.end_time))
    return days


def _local(day: date, at: time, tz: ZoneInfo) -> datetime | None:
    """The instant a wall time names, or None where a DST change skips it."""
    local = datetime.combine(day, at, tzinfo=tz)
    back = local.astimezone(UTC).astimezone(tz)
    return local if back.replace(tzinfo=None) == local.replace(tzinfo=None) else None


def candidates(db: DbSession, client: Client, staff_id: int, duration: timedelta,
               starts_from: datetime, ends_to: datetime, now: datetime, *,
               step: timedelta | None = None, facts: Facts | None = None) -> list[Slot]:
    """Grid starts in the program's zone inside the windows, the range and the plan; every
    `step` (grid_minutes when not given). `facts` must cover the client, the clinician and
    the range; read here when not given."""
    if facts is None:
        facts = read_facts(db, [client], [staff_id], starts_from, ends_to)
    if step is None:
        step = timedelta(minutes=grid_minutes(int(duration.total_seconds() // 60)))
    key = (staff_id, client.program_id, duration, step, starts_from, ends_to, now)
    grid = facts.grids.get(key)
    if grid is None:
        grid = facts.grids[key] = _grid(facts, client.program, staff_id, duration, step,
                                        starts_from, ends_to, now)
    plan_start, plan_end = facts.plan_days[client.id]
    return [slot for day, slot in grid
            if (plan_start is None or day >= plan_start) and (plan_end is None or day <= plan_end)]


def _grid(facts: Facts, program: Program, staff_id: int, duration: timedelta, step: timedelta,
          starts_from: datetime, ends_to: datetime, now: datetime) -> list[tuple[date, Slot]]:
    """The clinician's starts in the program's zone inside their windows and the range, on
    days the program is open, earliest first, each with its local day."""
    zone_name = program.timezone
    tz = ZoneInfo(zone_name)
    windows = _windows(facts, staff_id)
    earliest = max(starts_from, now)
    found: dict[Slot, date] = {}
    day = starts_from.astimezone(tz).date()
    last_day = ends_to.astimezone(tz).date()
    # A closed day (holiday, snow) offers nothing: a session booked there would be cancelled.
    closures = facts.closures[program.id]
    while day <= last_day:
        if closed_days.covering(closures, day) is None:
            for opens, closes in sorted(windows.get(day.weekday(), [])):
                at = datetime.combine(day, opens)
                while at + duration <= datetime.combine(day, closes):
                    start = _local(day, at.time(), tz)
                    if start is not None:
                        # Elapsed time: an hour's slot is an hour on a DST day too (aware
                        # arithmetic in one zone would add wall-clock time).
                        end = (start.astimezone(UTC) + duration).astimezone(tz)
                        if start >= earliest and end <= ends_to:
                            found.setdefault(Slot(start, end, None, zone_name), day)
                    at += step
        day += timedelta(days=1)
    return sorted(((day, slot) for slot, day in found.items()), key=lambda d: d[1].starts_at)


def free_slots(db: DbSession, client_id: int, staff_id: int, duration_minutes: int,
               starts_from: datetime, ends_to: datetime, *, now: datetime,
               limit: int = MAX_ITEMS) -> list[FreeSlot]:
    """Times where the client, the clinician and a room are all free, earliest first."""
    client = get_or_404(db, Client, client_id, "client")
    try:
        staff_service.active_member(db, staff_id, "staff_id")
    except InvalidField as error:
        # Asked for in the query string, so the refusal names it there.
        raise InvalidField("staff_id", error.fields["staff_id"][0], "query") from None
    if not MIN_DURATION <= duration_minutes <= MAX_DURATION:
        raise InvalidField("duration_minutes",
                           _("Must be between %(MIN_DURATION)s and %(MAX_DURATION)s minutes.",
                             MIN_DURATION=MIN_DURATION, MAX_DURATION=MAX_DURATION),
                           "query")
    if ends_to <= starts_from:
        raise InvalidField("to", _("Must be after the start of the range."), "query")
    if ends_to - starts_from > timedelta(days=MAX_RANGE_DAYS):
        raise InvalidField("to", _("The range may span at most %(MAX_RANGE_DAYS)s days.",
                                   MAX_RANGE_DAYS=MAX_RANGE_DAYS), "query")
    found = open_times(db, client, [staff_id], timedelta(minutes=duration_minutes),
                       starts_from, ends_to, now=now)[staff_id]
    # The smallest room that is free: a one-to-one should not take the group room.
    return [FreeSlot(s.starts_at, s.ends_at, rooms[0]) for s, rooms in found][:limit]


def open_times(db: DbSession, client: Client, staff_ids: list[int], duration: timedelta,
               starts_from: datetime, ends_to: datetime, *, now: datetime,
               step: timedelta | None = None,
               facts: Facts | None = None) -> dict[int, list[tuple[Slot, list[int]]]]:
    """For each clinician, the candidate times where the client, they and a room are all free,
    earliest first, each with the free rooms, smallest first. Find a time and the planner
    both ask this, so they cannot disagree about who is busy. The client's clashes are read
    once for every clinician's candidates together, with everything else they are judged
    against (`facts`, covering the client, the clinicians and the range: a cohort's planner
    reads them once for everyone; read here when not given)."""
    if facts is None:
        facts = read_facts(db, [client], staff_ids, starts_from, ends_to)
    calendar = facts.calendar
    wanted = {staff_id: candidates(db, client, staff_id, duration, starts_from, ends_to, now,
                                   step=step, facts=facts) for staff_id in staff_ids}
    every = sorted({s for slots in wanted.values() for s in slots}, key=lambda s: s.starts_at)
    client_busy = {c.slot for c in calendar.client_clashes(client, every)}
    open_of: dict[int, list[Slot]] = {}
    for staff_id, slots in wanted.items():
        mine = [s for s in slots if s not in client_busy]
        staff_busy = {c.slot for c in calendar.staff_clashes([staff_id], mine)}
        open_of[staff_id] = [s for s in mine if s not in staff_busy]
    rooms_of = free_rooms(db, sorted({s for slots in open_of.values() for s in slots},
                                     key=lambda s: s.starts_at), facts=facts)
    return {staff_id: [(s, rooms_of[s]) for s in slots if rooms_of.get(s)]
            for staff_id, slots in open_of.items()}


def free_rooms(db: DbSession, slots: list[Slot], *,
               facts: Facts | None = None) -> dict[Slot, list[int]]:
    """The active rooms free at each slot, smallest first: a one-to-one should not take the
    group room. Two queries in all (the rooms, their sessions), or none with `facts`."""
    if not slots:
        return {}
    if facts is not None:
        rooms, calendar = facts.rooms, facts.calendar
    else:
        rooms = _active_rooms(db)
        calendar = Calendar(db, min(s.starts_at for s in slots), max(s.ends_at for s in slots),
                            room_ids=[r.id for r in rooms])
    free: dict[Slot, list[int]] = {s: [] for s in slots}
    lists = [free[s] for s in slots]
    for room in rooms:
        room_id = room.id
        # A clash names the very slot asked about: known by identity, without hashing the
        # slot's times again for every room.
        taken = {id(c.slot) for c in calendar.room_clashes(room_id, slots)}
        for slot, rooms_free in zip(slots, lists, strict=True):
            if id(slot) not in taken:
                rooms_free.append(room_id)
    return free


WEEKDAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


def book_slot(db: DbSession, actor: Actor, *, client_id: int, staff_id: int, room_id: int,
              kind: str, starts_at: datetime, duration_minutes: int, weekly: bool,
              now: datetime, horizon_days: int, title: str) -> Session:
    """Book a found time: a one-off session, or a weekly series of one seat the client is
    enrolled in. Returns the (first) session. The session and series services refuse what
    has been taken since the search, naming the clash."""
    client = get_referenced(db, Client, client_id, "client_id", "client")
    if kind not in ONE_TO_ONE_KINDS:
        raise InvalidField("kind", _("Choose a one-to-one kind of session."))
    if not MIN_DURATION <= duration_minutes <= MAX_DURATION:
        raise InvalidField("duration_minutes",
                           _("Must be between %(MIN_DURATION)s and %(MAX_DURATION)s minutes.",
                             MIN_DURATION=MIN_DURATION, MAX_DURATION=MAX_DURATION))
    ends_at = starts_at + timedelta(minutes=duration_minutes)
    if not weekly:
        return sessions.create_one_off(
            db, actor, now=now, program_id=client.program_id, kind=kind, starts_at=starts_at,
            ends_at=ends_at, capacity=1, room_id=room_id, facilitator_ids=[staff_id],
            client_id=client.id)
    tz = ZoneInfo(client.program.timezone)
    local = starts_at.astimezone(tz)
    if starts_at <= now:
        raise InvalidField("starts_at", _("must be in the future."))
    plan = plans.active_plan(db, client.id)
    made, _change = series.create_series(
        db, actor, now=now, horizon_days=horizon_days, program_id=client.program_id,
        kind=kind, title=title, timezone=client.program.timezone, start_date=local.date(),
        start_time=local.time().replace(tzinfo=None), duration_minutes=duration_minutes,
        rrule=f"FREQ=WEEKLY;BYDAY={WEEKDAY_CODES[local.weekday()]}",
        end_date=plan.end_date if plan is not None else None, capacity=1, room_id=room_id,
        facilitator_ids=[staff_id])
    booking.enroll_client(db, actor, made.id, client.id, now=now, start_date=local.date())
    first = db.scalar(select(Session).where(Session.series_id == made.id)
                      .order_by(Session.starts_at).limit(1))
    if first is None:
        raise InvalidField("starts_at", _("No session of the series falls in the plan."))
    return first
