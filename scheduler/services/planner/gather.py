"""Reading the planner's Problem from the database, for a client or a cohort of one program.

Every "is this person free?" answer comes from its one owner: services/conflicts for the
clients' bookings, routines and admission dates, and services/free_slots for one-to-one times
(the same rules as Find a time). Their facts (everyone's busy time, plans, closures, rooms)
are read once for the whole cohort and judged in memory per client, so a cohort of 240 costs
about as many queries as one client. What this module adds is the proposal's shape: weeks,
options, targets and the reasons an option was left out, in words a coordinator reads in the
explanation of a shortfall.
"""

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import selectinload

from scheduler.i18n import gettext, local
from scheduler.models import (
    Booking,
    Client,
    ClientPreferredTime,
    ClientUnavailability,
    Enrollment,
    Program,
    Room,
    Session,
    Staff,
    StaffTimeOff,
    StaffWorkingHours,
    TreatmentPlan,
    session_facilitators,
)
from scheduler.services import booking, closed_days, one_to_one, plans
from scheduler.services.conflicts import Calendar, Slot
from scheduler.services.errors import InvalidField
from scheduler.services.free_slots import Facts, open_times, read_facts
from scheduler.services.lookup import get_or_404
from scheduler.services.planner.problem import (
    MAX_WEEKS,
    MIN_WEEKS,
    AppointmentOption,
    ClientProblem,
    GroupOption,
    Occurrence,
    Problem,
    Requirement,
    RoomFacts,
    Span,
    StaffFacts,
    Window,
)

# An individual session is an hour; nothing in the code gives the other one-to-one kinds a
# length of their own (series and sessions take whatever the coordinator saves), so the
# planner proposes an hour for them too.
APPOINTMENT_MINUTES = 60
# Hourly starts, not Find a time's half-hours: a week of a clinician's day on half hours is
# about 150 options per client per kind, and neighbouring half-hours add nothing a solver
# needs (the coordinator can still move an accepted time with Find a time).
APPOINTMENT_STEP = timedelta(hours=1)
# At most this many appointment options per client, week and kind, spread evenly over the
# free times in order (so over the days and the hours, not the first 40 of Monday): enough
# for the solver to dodge groups and keep days few, small enough to keep a cohort's model lean.
MAX_APPOINTMENT_OPTIONS = 40
# Without a primary therapist, this many active clinicians of a fitting role (by id, oldest
# first) are tried: a handful keeps options sane while still offering a choice.
MAX_CANDIDATE_STAFF = 4
# Who may hold a one-to-one of each kind when the plan names nobody for it. Only "individual"
# takes the plan's primary therapist: a medical review is the prescriber's, case management
# is often a counsellor's, and an assessment may be anyone's on the clinical staff.
ROLES_FOR_KIND = {
    "individual": ("therapist", "counselor"),
    "assessment": ("therapist", "counselor"),
    "case_management": ("counselor", "therapist", "other"),
    "medical": ("medical",),
}
CLINICAL_ROLES = ("therapist", "counselor")


def minute(at: datetime) -> int:
    """Whole minutes since the epoch, UTC: what Span compares."""
    return int(at.timestamp()) // 60


def _day_words(day: date) -> str:
    return local(day, "short_day")


def _hours_minutes(hours: Decimal | None) -> int | None:
    return None if hours is None else int((hours * 60).to_integral_value())


class _Clock:
    """The proposal's weeks in the program's zone: spans and their local day and week."""

    def __init__(self, tz: ZoneInfo, first_monday: date, weeks: int):
        self.tz = tz
        self.first_monday = first_monday
        self.weeks = weeks
        self.lo, self.hi = closed_days.bounds(tz, first_monday,
                                              first_monday + timedelta(days=7 * weeks - 1))

    def span(self, starts_at: datetime, ends_at: datetime) -> Span:
        """The span, clipped to the proposal's weeks (busy time reaching outside them only
        matters inside them), with the local day and week it starts in."""
        start, end = max(starts_at, self.lo), min(ends_at, self.hi)
        day = start.astimezone(self.tz).date()
        return Span(minute(start), minute(end), day, self.week_of(day))

    def week_of(self, day: date) -> int:
        return (day - self.first_monday).days // 7

    def monday(self, week: int) -> date:
        return self.first_monday + timedelta(days=7 * week)


def for_clients(db: DbSession, program_id: int, client_ids: list[int], *, first_day: date,
                weeks: int, now: datetime, make_up: bool = False) -> Problem:
    """The Problem for these clients of the program over `weeks` weeks from `first_day`'s
    Monday, offering only what starts after `now` and on or after `first_day`."""
    if not MIN_WEEKS <= weeks <= MAX_WEEKS:
        raise InvalidField("weeks", gettext("Must be between %(min)d and %(max)d.",
                                            min=MIN_WEEKS, max=MAX_WEEKS))
    program = get_or_404(db, Program, program_id, "program")
    tz = ZoneInfo(program.timezone)
    first_monday = first_day - timedelta(days=first_day.weekday())
    clock = _Clock(tz, first_monday, weeks)
    last_day = first_monday + timedelta(days=7 * weeks - 1)
    earliest = max(closed_days.bounds(tz, first_day, first_day)[0], now)
    closures = closed_days.open_closures(db, program.id, first_day, last_day)
    program_closed = {}
    for offset in range((last_day - first_day).days + 1):
        day = first_day + timedelta(days=offset)
        closure = closed_days.covering(closures, day)
        if closure is not None:
            program_closed[day] = f"closed: {closure.reason}"

    clients = _clients(db, program, client_ids)
    groups, slots = _group_options(db, program, clock, earliest, now, make_up)
    problem = Problem(
        program_id=program.id, timezone=program.timezone, first_day=first_day,
        last_day=last_day, weeks=[clock.monday(w) for w in range(weeks)], groups=groups,
        clients=[], staff={}, rooms={}, min_group_size=program.min_group_size,
        closed_days=program_closed)
    ids = [c.id for c in clients]
    booked = _booked(db, ids, clock)
    holds = _held_sessions(db, ids, [o.session_id for g in groups for o in g.occurrences])
    enrolled = _enrolments(db, ids, {g.series_id for g in groups})
    unavailable = _windows(db, ClientUnavailability, ids)
    preferred = _windows(db, ClientPreferredTime, ids)
    plan_of = plans.active_plans(db, ids, with_phases=True)
    requirements_of = {c.id: _requirements(plan_of.get(c.id), clock) for c in clients}
    staff_for = _candidate_staff(db, requirements_of.values())
    # One read of everyone's busy time, from the earliest offer to the end of the last
    # group session on offer, for every client and clinician the proposal may involve.
    facts = read_facts(db, clients, sorted({s for team in staff_for.values() for s in team}),
                       min([earliest, *(s.starts_at for s in slots)]),
                       max([clock.hi, *(s.ends_at for s in slots)]), plan_of=plan_of)
    for client in clients:
        plan = plan_of.get(client.id)
        days_closed = _client_closed_days(client, plan, program_closed, first_day, last_day)
        requirements = requirements_of[client.id]
        keys, refused = _group_keys(facts.calendar, client, groups, slots, days_closed,
                                    holds.get(client.id, {}), enrolled.get(client.id, []))
        appointments, why = _appointments(db, client, requirements, clock, earliest, now,
                                          facts, staff_for)
        refused.update(why)
        problem.clients.append(ClientProblem(
            client_id=client.id, name=client.name,
            targets=_targets(program, client, plan, clock),
            booked=booked.get(client.id, []),
            unavailable=unavailable.get(client.id, []), preferred=preferred.get(client.id, []),
            requirements=requirements, group_keys=keys, appointments=appointments,
            refused=refused, closed_days=days_closed,
            primary_therapist_id=plan.primary_therapist_id if plan is not None else None))
    staff_ids = {s for g in groups for s in g.staff_ids}
    staff_ids |= {a.staff_id for c in problem.clients for a in c.appointments}
    room_ids = {g.room_id for g in groups if g.room_id is not None}
    room_ids |= {r for c in problem.clients for a in c.appointments for r in a.room_ids}
    problem.staff = _staff_facts(db, sorted(staff_ids), clock)
    problem.rooms = _room_facts(db, sorted(room_ids), clock)
    return problem


# --- the program's groups ----------------------------------------------------------------------


def _clients(db: DbSession, program: Program, client_ids: list[int]) -> list[Client]:
    wanted = list(dict.fromkeys(client_ids))
    found = {c.id: c for c in db.scalars(select(Client).where(Client.id.in_(wanted)))}
    for client_id in wanted:
        client = found.get(client_id)
        if client is None:
            raise InvalidField("client_ids", "No such client.")
        if client.program_id != program.id:
            raise InvalidField("client_ids", gettext("%(name)s is not in %(program)s.",
                                                    name=client.name, program=program.name))
    return [found[c] for c in wanted]


def _group_options(db: DbSession, program: Program, clock: _Clock, earliest: datetime,
                   now: datetime, make_up: bool) -> tuple[list[GroupOption], list[Slot]]:
    """Each group series' scheduled sessions ahead, a week at a time (or one at a time for a
    make-up), with their seats, and the sessions as slots to check clients against; four
    queries however many series."""
    series_of = {s.id: s for s in one_to_one.group_series(db, program.id)}
    if not series_of:
        return [], []
    sessions = list(db.scalars(
        select(Session).options(selectinload(Session.facilitators))
        .where(Session.series_id.in_(series_of), Session.status == "scheduled",
               Session.starts_at > now, Session.starts_at >= earliest,
               Session.starts_at < clock.hi)
        .order_by(Session.starts_at, Session.id)))
    tally = booking.counts(db, [s.id for s in sessions])
    bundles: dict[tuple, list[Session]] = defaultdict(list)
    for session in sessions:
        span = clock.span(session.starts_at, session.ends_at)
        bundles[(session.series_id, span.week, session.id if make_up else None)].append(session)
    options = []
    for (series_id, week, single_id), members in bundles.items():
        series = series_of[series_id]
        rooms = {s.room_id for s in members}
        options.append(GroupOption(
            key=f"s:{single_id}" if make_up else f"g:{series_id}:{week}",
            series_id=series_id, title=series.title, kind=series.kind, week=week,
            occurrences=tuple(
                Occurrence(s.id, clock.span(s.starts_at, s.ends_at), s.capacity,
                           tally[s.id][0]) for s in members),
            staff_ids=tuple(sorted({f.id for s in members for f in s.facilitators})),
            room_id=rooms.pop() if len(rooms) == 1 else series.room_id,
            single=make_up))
    options.sort(key=lambda g: (g.week, g.occurrences[0].span.start, g.key))
    return options, [Slot(s.starts_at, s.ends_at, s.id) for s in sessions]


# --- each client -------------------------------------------------------------------------------


def _booked(db: DbSession, client_ids: list[int], clock: _Clock) -> dict[int, list]:
    """Each client's booked sessions in the proposal's weeks, from the first Monday: earlier
    days of the first week count towards its target too."""
    rows = db.execute(
        select(Booking.client_id, Session)
        .join(Session, Session.id == Booking.session_id)
        .where(Booking.client_id.in_(client_ids), Booking.status == "booked",
               Session.status == "scheduled", Session.starts_at >= clock.lo,
               Session.starts_at < clock.hi)
        .order_by(Session.starts_at, Session.id)).tuples()
    out: dict[int, list] = defaultdict(list)
    for client_id, session in rows:
        out[client_id].append((clock.span(session.starts_at, session.ends_at), session.kind))
    return out


def _held_sessions(db: DbSession, client_ids: list[int],
                   session_ids: list[int]) -> dict[int, dict[int, str]]:
    """The sessions on offer each client already holds a place in, booked or waitlisted."""
    if not session_ids or not client_ids:
        return {}
    rows = db.execute(
        select(Booking.client_id, Booking.session_id, Booking.status)
        .where(Booking.client_id.in_(client_ids), Booking.session_id.in_(session_ids),
               Booking.status.in_(("booked", "waitlisted")))).tuples()
    out: dict[int, dict[int, str]] = defaultdict(dict)
    for client_id, session_id, status in rows:
        out[client_id][session_id] = status
    return out


def _enrolments(db: DbSession, client_ids: list[int],
                series_ids: set[int]) -> dict[int, list[Enrollment]]:
    if not series_ids or not client_ids:
        return {}
    out: dict[int, list[Enrollment]] = defaultdict(list)
    for row in db.scalars(select(Enrollment).where(Enrollment.client_id.in_(client_ids),
                                                   Enrollment.series_id.in_(series_ids),
                                                   Enrollment.status == "active")):
        out[row.client_id].append(row)
    return out


def _windows(db: DbSession, model, client_ids: list[int]) -> dict[int, list[Window]]:
    out: dict[int, list[Window]] = defaultdict(list)
    rows = db.scalars(select(model).where(model.client_id.in_(client_ids))
                      .order_by(model.weekday, model.start_time, model.id))
    for row in rows:
        out[row.client_id].append(Window(row.weekday, row.start_time, row.end_time, row.label))
    return out


def _client_closed_days(client: Client, plan: TreatmentPlan | None,
                        program_closed: dict[date, str], first_day: date,
                        last_day: date) -> dict[date, str]:
    """The days the client may not attend, with why: the program's closures, and the days
    outside their admission or their plan."""
    out: dict[date, str] = {}
    for offset in range((last_day - first_day).days + 1):
        day = first_day + timedelta(days=offset)
        if day < client.admitted_on:
            out[day] = gettext("%(name)s is not admitted until %(day)s", name=client.name,
                               day=_day_words(client.admitted_on))
        elif client.discharged_on is not None and day > client.discharged_on:
            out[day] = gettext("%(name)s is discharged on %(day)s", name=client.name,
                               day=_day_words(client.discharged_on))
        elif plan is not None and day < plan.start_date:
            out[day] = gettext("the plan starts %(day)s", day=_day_words(plan.start_date))
        elif plan is not None and plan.end_date is not None and day > plan.end_date:
            out[day] = gettext("the plan ends %(day)s", day=_day_words(plan.end_date))
        elif day in program_closed:
            out[day] = program_closed[day]
    return out


def _targets(program: Program, client: Client, plan: TreatmentPlan | None,
             clock: _Clock) -> list[int | None]:
    """Minutes a week: the phase's target, else the plan's, else the program's; None for a
    week wholly outside the plan or the client's admission."""
    mondays = [clock.monday(w) for w in range(clock.weeks)]
    from_plan = (plans.targets_for_weeks(plan, mondays) if plan is not None
                 else [None] * len(mondays))
    out: list[int | None] = []
    for monday, target in zip(mondays, from_plan, strict=True):
        sunday = monday + timedelta(days=6)
        outside = (sunday < client.admitted_on
                   or (client.discharged_on is not None and monday > client.discharged_on)
                   or (client.status == "discharged" and client.discharged_on is None)
                   or (plan is not None and (sunday < plan.start_date or (
                       plan.end_date is not None and monday > plan.end_date))))
        out.append(None if outside else _hours_minutes(
            target if target is not None else program.min_weekly_hours))
    return out


def _requirements(plan: TreatmentPlan | None, clock: _Clock) -> list[Requirement]:
    """Each proposal week's phase requirements; none for weeks outside the plan."""
    if plan is None:
        return []
    out = []
    for week in range(clock.weeks):
        monday = clock.monday(week)
        on_date = max(monday, plan.start_date)
        if on_date > monday + timedelta(days=6) or (
                plan.end_date is not None and on_date > plan.end_date):
            continue
        phase = plans.phase_for_week(plan, plans.week_number(plan, on_date))
        if phase is None:
            continue
        for req in sorted(phase.requirements, key=lambda r: r.kind):
            one = req.kind in one_to_one.ONE_TO_ONE_KINDS
            out.append(Requirement(
                week=week, kind=req.kind, sessions=req.sessions_per_week, one_to_one=one,
                staff_id=plan.primary_therapist_id if req.kind == "individual" else None))
    return out


def _group_keys(calendar: Calendar, client: Client, groups: list[GroupOption],
                slots: list[Slot], days_closed: dict[date, str], holds: dict[int, str],
                enrolments: list[Enrollment]) -> tuple[list[str], dict[str, str]]:
    """The group options the client can attend at every occurrence, and why each other one
    is left out. The client's clashes are judged once for every occurrence on offer."""
    clash_of: dict[int, str] = {}
    for clash in calendar.client_clashes(client, slots):
        assert clash.slot.session_id is not None  # every slot here is a session's
        clash_of.setdefault(clash.slot.session_id, clash.detail.rstrip("."))
    keys, refused = [], {}
    for option in groups:
        why = None
        for occurrence in option.occurrences:
            day = occurrence.span.day
            enrolment = next((e for e in enrolments if e.series_id == option.series_id
                              and e.start_date <= day
                              and (e.end_date is None or day <= e.end_date)),
                             None) if enrolments else None
            if day in days_closed:
                why = days_closed[day]
            elif enrolment is not None:
                why = gettext("%(name)s is already enrolled in %(group)s", name=client.name,
                              group=option.title)
            elif occurrence.session_id in holds:
                why = (gettext("%(name)s is already booked into %(group)s, %(day)s",
                               name=client.name, group=option.title, day=_day_words(day))
                       if holds[occurrence.session_id] == "booked" else
                       gettext("%(name)s is already on the waitlist for %(group)s, %(day)s",
                               name=client.name, group=option.title, day=_day_words(day)))
            else:
                why = clash_of.get(occurrence.session_id)
            if why is not None:
                break
        if why is None:
            keys.append(option.key)
        else:
            refused[option.key] = why
    return keys, refused


def _candidate_staff(db: DbSession, requirements_of: Iterable[list[Requirement]],
                     ) -> dict[tuple[str, int | None], list[int]]:
    """Who may hold each one-to-one kind the clients need: the plan's clinician where it
    names one, else the first active clinicians of a fitting role (one query per kind)."""
    out: dict[tuple[str, int | None], list[int]] = {}
    for requirements in requirements_of:
        for req in requirements:
            if not req.one_to_one or (req.kind, req.staff_id) in out:
                continue
            if req.staff_id is not None:
                out[(req.kind, req.staff_id)] = [req.staff_id]
                continue
            roles = ROLES_FOR_KIND.get(req.kind, CLINICAL_ROLES)
            out[(req.kind, None)] = list(db.scalars(
                select(Staff.id).where(Staff.is_active.is_(True), Staff.role.in_(roles))
                .order_by(Staff.id).limit(MAX_CANDIDATE_STAFF)))
    return out


def _appointments(db: DbSession, client: Client, requirements: list[Requirement],
                  clock: _Clock, earliest: datetime, now: datetime, facts: Facts,
                  staff_for: dict[tuple[str, int | None], list[int]],
                  ) -> tuple[list[AppointmentOption], dict[str, str]]:
    """Free one-to-one times for the weeks whose phase requires one, with Find a time's rules
    (services/free_slots.open_times, on the cohort's facts), at most MAX_APPOINTMENT_OPTIONS
    per week and kind."""
    needs: dict[tuple[str, int | None], set[int]] = defaultdict(set)
    for req in requirements:
        if req.one_to_one:
            needs[(req.kind, req.staff_id)].add(req.week)
    options: list[AppointmentOption] = []
    why: dict[str, str] = {}
    for (kind, staff_id), weeks in sorted(needs.items(), key=lambda n: (n[0][0], n[0][1] or 0)):
        staff_ids = staff_for[(kind, staff_id)]
        if not staff_ids:
            continue
        found = open_times(db, client, staff_ids, timedelta(minutes=APPOINTMENT_MINUTES),
                           earliest, clock.hi, now=now, step=APPOINTMENT_STEP, facts=facts)
        by_week: dict[int, list[AppointmentOption]] = defaultdict(list)
        for sid, times in found.items():
            for slot, rooms in times:
                span = clock.span(slot.starts_at, slot.ends_at)
                if span.week in weeks:
                    by_week[span.week].append(AppointmentOption(
                        key=f"a:{kind}:{sid}:{span.start}", kind=kind, staff_id=sid,
                        span=span, room_ids=tuple(rooms)))
        for week in sorted(weeks):
            offered = sorted(by_week.get(week, []), key=lambda a: (a.span.start, a.staff_id))
            if not offered:
                # Not an option's key: the week's one-to-one had no option at all.
                why[f"a:{kind}:week:{week}"] = _no_hour_words(facts.calendar, staff_id)
            options += _spread(offered, MAX_APPOINTMENT_OPTIONS)
    return options, why


def _no_hour_words(calendar: Calendar, staff_id: int | None) -> str:
    name = calendar.staff_name(staff_id) if staff_id is not None else None
    if name is None:
        return gettext("no clinician has a free hour that week")
    return gettext("%(name)s, the primary therapist, has no free hour that week", name=name)


def _spread(items: list, cap: int) -> list:
    """At most `cap` of the items, evenly spaced through them in order."""
    if len(items) <= cap:
        return items
    return [items[i * len(items) // cap] for i in range(cap)]


# --- staff and rooms ---------------------------------------------------------------------------


def _staff_facts(db: DbSession, staff_ids: list[int], clock: _Clock) -> dict[int, StaffFacts]:
    """Sessions facilitated and time off in the proposal's weeks, and working hours; four
    queries for every staff member together."""
    if not staff_ids:
        return {}
    facts = {s.id: StaffFacts(s.id, s.name, [], [])
             for s in db.scalars(select(Staff).where(Staff.id.in_(staff_ids)))}
    rows = db.execute(
        select(session_facilitators.c.staff_id, Session.starts_at, Session.ends_at)
        .join(Session, Session.id == session_facilitators.c.session_id)
        .where(session_facilitators.c.staff_id.in_(staff_ids), Session.status == "scheduled",
               Session.starts_at < clock.hi, Session.ends_at > clock.lo)).tuples()
    for staff_id, starts_at, ends_at in rows:
        facts[staff_id].busy.append(clock.span(starts_at, ends_at))
    for off in db.scalars(select(StaffTimeOff).where(StaffTimeOff.staff_id.in_(staff_ids),
                                                     StaffTimeOff.starts_at < clock.hi,
                                                     StaffTimeOff.ends_at > clock.lo)):
        facts[off.staff_id].busy.append(clock.span(off.starts_at, off.ends_at))
    for hours in db.scalars(select(StaffWorkingHours)
                            .where(StaffWorkingHours.staff_id.in_(staff_ids))
                            .order_by(StaffWorkingHours.weekday, StaffWorkingHours.start_time)):
        facts[hours.staff_id].working_hours.append(
            Window(hours.weekday, hours.start_time, hours.end_time))
    for fact in facts.values():
        fact.busy.sort()
    return facts


def _room_facts(db: DbSession, room_ids: list[int], clock: _Clock) -> dict[int, RoomFacts]:
    if not room_ids:
        return {}
    facts = {r.id: RoomFacts(r.id, r.name, r.capacity, [])
             for r in db.scalars(select(Room).where(Room.id.in_(room_ids)))}
    rows = db.execute(
        select(Session.room_id, Session.starts_at, Session.ends_at)
        .where(Session.room_id.in_(room_ids), Session.status == "scheduled",
               Session.starts_at < clock.hi, Session.ends_at > clock.lo)).tuples()
    for room_id, starts_at, ends_at in rows:
        assert room_id is not None  # selected by room
        facts[room_id].busy.append(clock.span(starts_at, ends_at))
    for fact in facts.values():
        fact.busy.sort()
    return facts
