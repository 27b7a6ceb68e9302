"""Reports computed with SQL aggregates: hours against target, attendance, census, follow-up
and billing days.

Each report is a constant number of queries whatever the number of clients; Python only
assembles the aggregated rows. Days and weeks are the program's wall clock: their UTC bounds
come from a small derived table, so SQLite (which has no time zones) and PostgreSQL agree.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnExpressionArgument,
    Date,
    Integer,
    Select,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    text,
    union_all,
    values,
)
from sqlalchemy import column as sql_column
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.sql.elements import ColumnElement

from scheduler.i18n import gettext as _
from scheduler.models import (
    Attendance,
    Booking,
    Client,
    Episode,
    PlanPhase,
    Program,
    Session,
    SessionSeries,
    TreatmentPlan,
)
from scheduler.models.attendance import ATTENDANCE_STATUSES
from scheduler.models.types import UTCDateTime
from scheduler.services import episodes, plans
from scheduler.services.attendance import ATTENDED
from scheduler.services.errors import InvalidField
from scheduler.services.lookup import get_referenced

MAX_WEEKS = 106
MAX_DAYS = 93
REPORT_WORK_MEM = "32MB"
# Medicare IOP services: psychotherapy (individual, group, family), patient education,
# diagnostic assessment and medication management. Peer support and case management are not.
QUALIFYING_KINDS = ("group", "individual", "behavioral", "family", "education", "medical",
                    "assessment")
# Contact with the program, which ends a run of unexcused absences; a clinic cancellation is not.
STREAK_NEUTRAL = ("absent_unexcused", "cancelled_by_clinic")


class WeekHours(NamedTuple):
    """A tuple, not a dataclass: reports build tens of thousands of these."""

    client_id: int
    week_start: date
    scheduled_hours: Decimal
    attended_hours: Decimal
    target_hours: Decimal | None
    met: bool | None


def weeks_between(tz: ZoneInfo, first: date, last: date) -> list[tuple[date, datetime, datetime]]:
    """Monday-to-Monday weeks on the program's wall clock, as UTC bounds (DST-aware)."""
    monday = first - timedelta(days=first.weekday())
    weeks = []
    while monday <= last:
        lo = datetime.combine(monday, time.min, tzinfo=tz)
        hi = datetime.combine(monday + timedelta(days=7), time.min, tzinfo=tz)
        weeks.append((monday, lo, hi))
        monday += timedelta(days=7)
    return weeks


def _period_table(periods: list[tuple[date, datetime, datetime]], name: str):
    """A derived table (n, start, lo, hi) of wall-clock periods; UNION ALL is what both SQLs
    share. Grouping by the integer `n` spares decoding a date on every result row."""
    return union_all(
        *(
            select(
                literal(n, Integer).label("n"),
                literal(start, Date).label("start"),
                literal(lo, UTCDateTime).label("lo"),
                literal(hi, UTCDateTime).label("hi"),
            )
            for n, (start, lo, hi) in enumerate(periods)
        )
    ).subquery(name)


def _days_between(tz: ZoneInfo, first: date, last: date) -> list[tuple[date, datetime, datetime]]:
    days = []
    day = first
    while day <= last:
        lo = datetime.combine(day, time.min, tzinfo=tz)
        days.append((day, lo, datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)))
        day += timedelta(days=1)
    return days


def _bounds(tz: ZoneInfo, first: date, last: date) -> tuple[datetime, datetime]:
    """UTC bounds of the wall-clock dates first..last, both included."""
    return (datetime.combine(first, time.min, tzinfo=tz),
            datetime.combine(last + timedelta(days=1), time.min, tzinfo=tz))


def _program(db: DbSession, program_id: int) -> tuple[Program, ZoneInfo]:
    try:
        program = get_referenced(db, Program, program_id, "program_id", "program")
    except InvalidField as error:
        # Every report takes program_id from the query string, not a JSON body.
        error.location = "query"
        raise
    return program, ZoneInfo(program.timezone)


def _check_range(first: date, last: date, most_days: int) -> None:
    if last < first:
        raise InvalidField("to", _("must not be before from."), location="query")
    if (last - first).days + 1 > most_days:
        raise InvalidField("to", _("a report covers at most %(most_days)s days.",
                                   most_days=most_days), location="query")


def _count(condition):
    return func.sum(case((condition, 1), else_=0))


def _minutes(db: DbSession, start, end):
    """Minutes between two timestamp columns, in the database's own arithmetic."""
    if db.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", end - start) / 60
    return (func.julianday(end) - func.julianday(start)) * 1440


_HOURS: dict = {}


def _hours(minutes) -> Decimal:
    """Minutes as hours to the hundredth; reports repeat a few hundred values, so memoised."""
    minutes = minutes or 0
    found = _HOURS.get(minutes)
    if found is None:
        found = (Decimal(str(minutes)) / 60).quantize(Decimal("0.01"))
        if len(_HOURS) < 10_000:
            _HOURS[minutes] = found
    return found


def _room_to_aggregate(conn) -> None:
    """Let PostgreSQL group a program's bookings in memory, not in an on-disk sort; the
    default 4 MB work_mem halves its speed at a thousand clients. Ends with the transaction."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'"))


def _whole_minutes(expression):
    """Round in SQL and hand back integers: SQLite's julianday arithmetic is a float."""
    return cast(func.round(expression), Integer)


def weekly_hours(db: DbSession, program_id: int, first: date, last: date,
                 client_id: int | None = None, within: Select | None = None) -> list[WeekHours]:
    """Scheduled and attended hours per client per week against the target; four queries.

    With `client_id`, only that client's rows: a client page reads one person, not the program.
    With `within` (a SELECT of client ids, services/caseload.within), only those clients.
    """
    program, tz = _program(db, program_id)
    whose = Client.program_id == program.id
    if client_id is not None:
        whose = and_(whose, Client.id == client_id)
    if within is not None:
        whose = and_(whose, Client.id.in_(within))
    _check_range(first, last, MAX_WEEKS * 7)
    weeks = weeks_between(tz, first, last)
    week_table = _period_table(weeks, "weeks")
    # Each session of the period is put in its week once; MATERIALIZED keeps SQLite from
    # folding this back into a per-booking range scan of the weeks (ten times slower).
    session_weeks = (
        select(Session.id.label("session_id"), Session.status.label("status"),
               week_table.c.n.label("week"),
               _whole_minutes(_minutes(db, Session.starts_at, Session.ends_at)).label("minutes"))
        .join(week_table, and_(Session.starts_at >= week_table.c.lo,
                               Session.starts_at < week_table.c.hi))
        .where(Session.starts_at >= weeks[0][1], Session.starts_at < weeks[-1][2],
               # Only sessions the program's clients are booked into (some may be another
               # program's): on a deployment of many clinics the period holds everyone's.
               Session.id.in_(select(Booking.session_id)
                              .join(Client, Client.id == Booking.client_id).where(whose)))
        .cte("session_weeks")
        .prefix_with("MATERIALIZED")
    )
    live_seat = and_(Booking.status == "booked", session_weeks.c.status == "scheduled")
    # A booking has at most one attendance row, so one pass over bookings gives both sums.
    # Core execution: ORM row loading would double the time of this 25,000-row answer.
    conn = db.connection()
    _room_to_aggregate(conn)
    totals = conn.execute(
        select(Booking.client_id, session_weeks.c.week,
               func.sum(case((live_seat, session_weeks.c.minutes), else_=0)),
               func.sum(Attendance.minutes_attended))
        .select_from(Booking)
        .join(session_weeks, session_weeks.c.session_id == Booking.session_id)
        .join(Client, Client.id == Booking.client_id)
        .outerjoin(Attendance, Attendance.booking_id == Booking.id)
        .where(whose)
        .group_by(Booking.client_id, session_weeks.c.week)
        .order_by(Booking.client_id, session_weeks.c.week)
    ).all()
    period_start, period_end = weeks[0][0], weeks[-1][0] + timedelta(days=6)
    # Weeks count per episode: a re-admitted client's weeks away are no weeks in treatment,
    # and the weeks of an earlier stay here keep their rows.
    episode_in_period = and_(Episode.program_id == program.id, Episode.admitted_on <= period_end,
                             or_(Episode.discharged_on.is_(None),
                                 Episode.discharged_on >= period_start))
    in_period = and_(whose, Client.id.in_(select(Episode.client_id).where(episode_in_period)))
    stays: dict[int, list[tuple[date, date | None]]] = {}
    for stay_client, admitted, discharged in conn.execute(
        select(Episode.client_id, Episode.admitted_on, Episode.discharged_on)
        .join(Client, Client.id == Episode.client_id)
        .where(whose, episode_in_period).order_by(Episode.client_id, Episode.admitted_on)
    ):
        stays.setdefault(stay_client, []).append((admitted, discharged))
    mondays = [monday for monday, _, _ in weeks]
    sundays = [monday + timedelta(days=6) for monday in mondays]
    default = _quantized(program.min_weekly_hours)
    own_targets = {
        client_id: _weekly_targets(client_plans, mondays, default)
        for client_id, client_plans in _plan_targets(db, in_period).items()
    }
    defaults = [default] * len(mondays)
    # Both lists are sorted by client (and the totals by week), so one merge walk pairs them
    # without building a lookup table of 25,000 keys: allocation, hence GC, is the cost here.
    rows = []
    i, found = 0, len(totals)
    for client_id, client_stays in stays.items():
        while i < found and totals[i][0] < client_id:
            i += 1
        targets = own_targets.get(client_id, defaults)
        for n, monday in enumerate(mondays):
            scheduled = attended = 0
            if i < found:
                row = totals[i]
                if row[0] == client_id and row[1] == n:
                    scheduled, attended = row[2], row[3]
                    i += 1
            if not any(admitted_on <= sundays[n] and (discharged_on is None
                                                      or discharged_on >= monday)
                       for admitted_on, discharged_on in client_stays):
                continue
            target = targets[n]
            attended_h = _hours(attended)
            rows.append(WeekHours(client_id, monday, _hours(scheduled), attended_h, target,
                                  None if target is None else attended_h >= target))
    return rows


def _quantized(hours) -> Decimal | None:
    return None if hours is None else Decimal(hours).quantize(Decimal("0.01"))


def _weekly_targets(client_plans: list["_Plan"], mondays: list[date],
                    default: Decimal | None) -> list[Decimal | None]:
    """Per week: the first active plan's target (a phase's own first), else the program's."""
    per_plan = [plans.targets_for_weeks(plan, mondays) for plan in client_plans]
    out = []
    for n in range(len(mondays)):
        found = next((targets[n] for targets in per_plan if targets[n] is not None), None)
        out.append(default if found is None else _quantized(found))
    return out


TARGET_PLANS = ("active", "ended")


class _Phase(NamedTuple):
    first_week: int
    last_week: int | None
    weekly_hours_target: Decimal | None


class _Plan(NamedTuple):
    """What a target needs of a plan, read as plain rows: ORM loading cost more than the rest."""

    start_date: date
    end_date: date | None
    weekly_hours_target: Decimal | None
    phases: list


def _plan_targets(db: DbSession, which_clients) -> dict[int, list[_Plan]]:
    """Active plans of the clients `which_clients` selects, with their phases; two queries."""
    conn = db.connection()
    found = conn.execute(
        select(TreatmentPlan.id, TreatmentPlan.client_id, TreatmentPlan.start_date,
               TreatmentPlan.end_date, TreatmentPlan.weekly_hours_target)
        .join(Client, Client.id == TreatmentPlan.client_id)
        # An ended plan is an earlier episode's: it still sets the targets of that stay's
        # weeks. The newest plan comes first, so it rules the weeks it covers.
        .where(which_clients, TreatmentPlan.status.in_(TARGET_PLANS))
        .order_by(TreatmentPlan.client_id, TreatmentPlan.id.desc())
    ).all()
    phases: dict[int, list[_Phase]] = {}
    if found:
        for plan_id, first, last, target in conn.execute(
            select(PlanPhase.plan_id, PlanPhase.first_week, PlanPhase.last_week,
                   PlanPhase.weekly_hours_target)
            .join(TreatmentPlan, TreatmentPlan.id == PlanPhase.plan_id)
            .join(Client, Client.id == TreatmentPlan.client_id)
            .where(which_clients, TreatmentPlan.status.in_(TARGET_PLANS))
            .order_by(PlanPhase.plan_id, PlanPhase.position)
        ):
            phases.setdefault(plan_id, []).append(_Phase(first, last, target))
    plans: dict[int, list[_Plan]] = {}
    for plan_id, client_id, start, end, target in found:
        plans.setdefault(client_id, []).append(_Plan(start, end, target, phases.get(plan_id, [])))
    return plans


# --- attendance rates --------------------------------------------------------------------------


@dataclass(frozen=True)
class AttendanceRate:
    client_id: int | None
    series_id: int | None
    series_title: str | None
    counts: dict
    unmarked: int
    attended: int
    attended_hours: Decimal
    rate: Decimal | None
    # By client, one row per stay (episode): a returning client's two stays are two rows.
    episode_id: int | None = None
    admitted_on: date | None = None
    discharged_on: date | None = None


def _status_counts(status_column):
    return [_count(status_column == status).label(status) for status in ATTENDANCE_STATUSES]


def _rate(attended: int, excused: int, unexcused: int) -> Decimal | None:
    """Attended over expected; clinic cancellations and leaves of absence expect nothing."""
    expected = attended + excused + unexcused
    if expected == 0:
        return None
    return (Decimal(attended) / expected).quantize(Decimal("0.001"))


class _Stay(NamedTuple):
    id: int
    client_id: int
    program_id: int
    admitted_on: date
    discharged_on: date | None


def _stays_in_period(db: DbSession, program: Program, first: date, last: date):
    """Every stay in the period of the clients who had one in this program, by client, and
    the query of those clients."""
    overlaps = and_(Episode.admitted_on <= last,
                    or_(Episode.discharged_on.is_(None), Episode.discharged_on >= first))
    here = select(Episode.client_id).where(overlaps, Episode.program_id == program.id)
    stays: dict[int, list[_Stay]] = {}
    for row in db.connection().execute(
            select(Episode.id, Episode.client_id, Episode.program_id, Episode.admitted_on,
                   Episode.discharged_on).where(overlaps, Episode.client_id.in_(here))
            .order_by(Episode.client_id, Episode.admitted_on, Episode.id)):
        stays.setdefault(row.client_id, []).append(_Stay(*row))
    return stays, here


def _stay_bounds(tz: ZoneInfo, stays: dict[int, list[_Stay]]):
    """A derived table (episode_id, client_id, lo, hi) of the UTC bounds of each stay of the
    clients with more than one in the period (few: the rest need no cutting); None if none."""
    rows = [(episode.id, client_id, datetime.combine(episode.admitted_on, time.min, tzinfo=tz),
             datetime.combine((episode.discharged_on or date.max - timedelta(days=1))
                              + timedelta(days=1), time.min, tzinfo=tz))
            for client_id, client_stays in stays.items() if len(client_stays) > 1
            for episode in client_stays]
    if not rows:
        return None
    return values(sql_column("episode_id", Integer), sql_column("client_id", Integer),
                  sql_column("lo", UTCDateTime), sql_column("hi", UTCDateTime),
                  name="stays").data(rows).cte("stays")


def attendance_rates(db: DbSession, program_id: int, first: date, last: date, by: str,
                     now: datetime, within: Select | None = None) -> list[AttendanceRate]:
    """Attendance per client stay or per series over sessions that have ended; two queries.

    By client the rows are per episode: a re-admitted client's earlier stay keeps its own
    rate, and a stay in another program counts there, not here. With `within` (client ids),
    only those clients' bookings count, by client and by series alike.
    """
    program, tz = _program(db, program_id)
    _check_range(first, last, MAX_WEEKS * 7)
    lo, hi = _bounds(tz, first, last)
    keys: tuple[ColumnExpressionArgument[Any], ColumnExpressionArgument[Any]]
    stays: dict[int, list[_Stay]] = {}
    bounds = None
    whose: ColumnElement[bool]
    if by == "client":
        stays, here = _stays_in_period(db, program, first, last)
        bounds = _stay_bounds(tz, stays)
        episode_key = bounds.c.episode_id if bounds is not None else literal(None)
        keys = (Booking.client_id, episode_key.label("episode_id"))
        whose = Client.id.in_(here)
    elif by == "series":
        keys = (Session.series_id, SessionSeries.title)
        whose = Client.program_id == program.id
    else:
        raise InvalidField("by", _("must be client or series."), location="query")
    if within is not None:
        whose = and_(whose, Booking.client_id.in_(within))
    query = (
        select(*keys, *_status_counts(Attendance.status),
               _count(Attendance.id.is_(None)).label("unmarked"),
               func.sum(Attendance.minutes_attended).label("minutes"))
        .select_from(Booking)
        .join(Session, Session.id == Booking.session_id)
        .join(Client, Client.id == Booking.client_id)
        .outerjoin(Attendance, Attendance.booking_id == Booking.id)
        .outerjoin(SessionSeries, SessionSeries.id == Session.series_id)
        .where(
            whose,
            Session.starts_at >= lo, Session.starts_at < hi, Session.ends_at <= now,
            # A marked record counts whatever became of the booking; else only live seats.
            or_(Attendance.id.is_not(None),
                and_(Booking.status == "booked", Session.status == "scheduled")),
        )
        .group_by(*keys)
        # SQLite sorts NULL first and PostgreSQL last; one-off sessions go last in both.
        .order_by(keys[0].nulls_last(), keys[1])
    )
    if bounds is not None:
        query = query.outerjoin(bounds, and_(bounds.c.client_id == Booking.client_id,
                                             Session.starts_at >= bounds.c.lo,
                                             Session.starts_at < bounds.c.hi))
    episode_of = {episode.id: episode for client_stays in stays.values()
                  for episode in client_stays}
    rows = []
    for row in db.execute(query):
        counts = {status: int(getattr(row, status) or 0) for status in ATTENDANCE_STATUSES}
        attended = sum(counts[status] for status in ATTENDED)
        stay = None
        if by == "client":
            client_stays = stays[row[0]]
            stay = episode_of.get(row[1]) if len(client_stays) > 1 else client_stays[0]
            # A session outside every stay of a returning client (booked before an admission
            # date was moved) belongs to no stay; one of another program's stay counts there.
            if stay is not None and stay.program_id != program.id:
                continue
        rows.append(AttendanceRate(
            client_id=row[0] if by == "client" else None,
            series_id=row[0] if by == "series" else None,
            series_title=row[1] if by == "series" else None,
            counts=counts,
            unmarked=int(row.unmarked or 0),
            attended=attended,
            attended_hours=_hours(row.minutes),
            rate=_rate(attended, counts["absent_excused"], counts["absent_unexcused"]),
            episode_id=stay.id if stay is not None else None,
            admitted_on=stay.admitted_on if stay is not None else None,
            discharged_on=stay.discharged_on if stay is not None else None,
        ))
    return rows


# --- census ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Census:
    session: Session
    booked: int
    waitlisted: int
    counts: dict
    attended: int
    unmarked: int


def census(db: DbSession, program_id: int, first: date, last: date,
           within: Select | None = None) -> list[Census]:
    """Head count per session: seats, queue and what the roster says; one query.

    With `within` (client ids), only those clients' bookings count, and only the sessions
    holding one of them are listed.
    """
    program, tz = _program(db, program_id)
    _check_range(first, last, MAX_DAYS)
    lo, hi = _bounds(tz, first, last)
    totals = (
        select(
            Booking.session_id.label("session_id"),
            _count(Booking.status == "booked").label("booked"),
            _count(Booking.status == "waitlisted").label("waitlisted"),
            *_status_counts(Attendance.status),
            _count(and_(Booking.status == "booked", Attendance.id.is_(None))).label("unmarked"),
        )
        .select_from(Booking)
        .join(Session, Session.id == Booking.session_id)
        .outerjoin(Attendance, Attendance.booking_id == Booking.id)
        .where(Session.program_id == program.id, Session.starts_at >= lo, Session.starts_at < hi,
               *([Booking.client_id.in_(within)] if within is not None else []))
        .group_by(Booking.session_id)
        .subquery("totals")
    )
    query = (
        select(Session, totals)
        .join(totals, totals.c.session_id == Session.id, isouter=within is None)
        .where(Session.program_id == program.id, Session.starts_at >= lo, Session.starts_at < hi)
        .order_by(Session.starts_at, Session.id)
    )
    rows = []
    for row in db.execute(query):
        counts = {status: int(getattr(row, status) or 0) for status in ATTENDANCE_STATUSES}
        rows.append(Census(
            session=row.Session,
            booked=int(row.booked or 0),
            waitlisted=int(row.waitlisted or 0),
            counts=counts,
            attended=sum(counts[status] for status in ATTENDED),
            unmarked=int(row.unmarked or 0),
        ))
    return rows


# --- below target this week --------------------------------------------------------------------


@dataclass(frozen=True)
class BelowTarget:
    client_id: int
    week_start: date
    attended_hours: Decimal
    upcoming_hours: Decimal
    projected_hours: Decimal
    target_hours: Decimal
    shortfall_hours: Decimal
    open_hours: Decimal
    fixable: bool


def below_target(db: DbSession, program_id: int, now: datetime,
                 within: Select | None = None) -> list[BelowTarget]:
    """Clients whose booked hours this week fall short of target, while the week is still open.

    Projected hours are those attended so far, plus the booked sessions not yet marked. Open
    hours are the program's sessions still ahead this week with a free seat the client does not
    already hold: `fixable` says whether booking them could close the gap. With `within`
    (client ids), only those clients.
    """
    program, tz = _program(db, program_id)
    today = now.astimezone(tz).date()
    monday = today - timedelta(days=today.weekday())
    lo, hi = _bounds(tz, monday, monday + timedelta(days=6))
    length = _minutes(db, Session.starts_at, Session.ends_at)
    in_week = and_(Session.starts_at >= lo, Session.starts_at < hi)

    per_client = {
        row.client_id: row
        for row in db.execute(
            select(
                Booking.client_id,
                func.sum(func.coalesce(Attendance.minutes_attended, 0)).label("attended"),
                func.sum(case((Attendance.id.is_(None), length), else_=0)).label("upcoming"),
            )
            .select_from(Booking)
            .join(Session, Session.id == Booking.session_id)
            .join(Client, Client.id == Booking.client_id)
            .outerjoin(Attendance, Attendance.booking_id == Booking.id)
            .where(Client.program_id == program.id, in_week,
                   or_(Attendance.id.is_not(None),
                       and_(Booking.status == "booked", Session.status == "scheduled")))
            .group_by(Booking.client_id)
        )
    }
    seats = (
        select(Booking.session_id, func.count().label("taken"))
        .where(Booking.status == "booked")
        .group_by(Booking.session_id)
        .subquery("seats")
    )
    open_sessions = (
        select(Session.id.label("session_id"), length.label("minutes"))
        .outerjoin(seats, seats.c.session_id == Session.id)
        .where(Session.program_id == program.id, Session.status == "scheduled",
               Session.starts_at >= now, Session.starts_at < hi,
               func.coalesce(seats.c.taken, 0) < Session.capacity)
        .subquery("open_sessions")
    )
    open_total = db.scalar(select(func.sum(open_sessions.c.minutes))) or 0
    already_held = dict(
        db.execute(
            select(Booking.client_id, func.sum(open_sessions.c.minutes))
            .join(open_sessions, open_sessions.c.session_id == Booking.session_id)
            .join(Client, Client.id == Booking.client_id)
            .where(Client.program_id == program.id, Booking.status == "booked")
            .group_by(Booking.client_id)
        ).tuples().all()
    )
    current = and_(Client.program_id == program.id, Client.status == "active",
                   Client.admitted_on <= monday + timedelta(days=6))
    if within is not None:
        current = and_(current, Client.id.in_(within))
    clients = list(db.execute(select(Client.id).where(current).order_by(Client.id)).scalars())
    client_plans = _plan_targets(db, current)
    default = _quantized(program.min_weekly_hours)
    rows = []
    for client_id in clients:
        target = _weekly_targets(client_plans.get(client_id, []), [monday], default)[0]
        if target is None:
            continue
        totals = per_client.get(client_id)
        attended_h = _hours(totals.attended if totals else 0)
        upcoming_h = _hours(totals.upcoming if totals else 0)
        projected = attended_h + upcoming_h
        if projected >= target:
            continue
        open_h = _hours(float(open_total) - float(already_held.get(client_id) or 0))
        rows.append(BelowTarget(
            client_id=client_id, week_start=monday, attended_hours=attended_h,
            upcoming_hours=upcoming_h, projected_hours=projected, target_hours=target,
            shortfall_hours=target - projected, open_hours=open_h,
            fixable=open_h >= target - projected,
        ))
    return rows


# --- follow-up ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FollowUp:
    client_id: int
    reasons: list[str]
    unexcused_streak: int
    unexcused_recent: int
    last_attended_at: datetime | None
    last_attended_session_id: int | None
    certification_due: date | None
    review_due: date | None
    # The start of the last session with contact: a run of absences is "since" this.
    last_contact_at: datetime | None = None
    # Intake stopped after its first step: the episode admitted on this day has no plan yet.
    intake_since: date | None = None


def follow_up(db: DbSession, program_id: int, now: datetime,
              within: Select | None = None) -> list[FollowUp]:
    """Who needs a call today: absence runs, the discharge-review rule, paperwork coming due,
    and intakes left after the first step (a client admitted with no plan and nothing booked).

    A run of unexcused absences counts those since the client's last contact: any record
    other than an unexcused absence or a clinic cancellation (an excused absence is a call).
    With `within` (client ids), only those clients.
    """
    program, tz = _program(db, program_id)
    today = now.astimezone(tz).date()
    window_start = now - timedelta(weeks=program.discharge_review_weeks)
    live = and_(Client.program_id == program.id, Client.status == "active")
    if within is not None:
        live = and_(live, Client.id.in_(within))

    last_seen = (
        select(
            Attendance.client_id.label("client_id"),
            func.max(case((Attendance.status.not_in(STREAK_NEUTRAL), Session.starts_at)))
            .label("last_contact"),
            func.max(case((Attendance.status.in_(ATTENDED), Session.starts_at)))
            .label("last_attended"),
        )
        .join(Session, Session.id == Attendance.session_id)
        .join(Client, Client.id == Attendance.client_id)
        .where(live)
        .group_by(Attendance.client_id)
        .subquery("last_seen")
    )
    unexcused = Attendance.status == "absent_unexcused"
    since_contact = or_(last_seen.c.last_contact.is_(None),
                        Session.starts_at > last_seen.c.last_contact)
    absences = {
        row.client_id: row
        for row in db.execute(
            select(
                last_seen.c.client_id,
                _count(and_(unexcused, since_contact)).label("streak"),
                _count(and_(unexcused, Session.starts_at >= window_start)).label("recent"),
                func.max(last_seen.c.last_attended).label("last_attended"),
                func.max(last_seen.c.last_contact).label("last_contact"),
            )
            .select_from(last_seen)
            .join(Attendance, Attendance.client_id == last_seen.c.client_id)
            .join(Session, Session.id == Attendance.session_id)
            .group_by(last_seen.c.client_id)
        )
    }
    last_sessions = dict(
        db.execute(
            select(Attendance.client_id, func.max(Session.id))
            .join(Session, Session.id == Attendance.session_id)
            .join(last_seen, and_(last_seen.c.client_id == Attendance.client_id,
                                  Session.starts_at == last_seen.c.last_attended))
            .where(Attendance.status.in_(ATTENDED))
            .group_by(Attendance.client_id)
        ).tuples().all()
    )
    due: dict[int, dict] = {}
    for client_id, _plan, what, when in plans.due_soon(db, today, program_id=program.id,
                                                       within=within):
        due.setdefault(client_id, {})[what] = when

    unfinished = episodes.without_plan(db, program.id, within=within)

    rows = []
    for client_id in sorted(set(absences) | set(due) | set(unfinished)):
        record = absences.get(client_id)
        streak = int(record.streak) if record else 0
        recent = int(record.recent) if record else 0
        reasons = []
        if streak >= program.absence_streak_alert:
            reasons.append("absence_streak")
        if streak >= program.discharge_review_streak or recent > program.discharge_review_absences:
            reasons.append("discharge_review")
        paperwork = due.get(client_id, {})
        if "certification" in paperwork:
            reasons.append("certification_due")
        if "review" in paperwork:
            reasons.append("review_due")
        intake = unfinished.get(client_id)
        if intake is not None:
            reasons.append("intake_unfinished")
        if not reasons:
            continue
        last_attended = record.last_attended if record else None
        rows.append(FollowUp(
            client_id=client_id,
            reasons=reasons,
            unexcused_streak=streak,
            unexcused_recent=recent,
            last_attended_at=last_attended,
            last_contact_at=record.last_contact if record else None,
            last_attended_session_id=last_sessions.get(client_id),
            certification_due=paperwork.get("certification"),
            review_due=paperwork.get("review"),
            intake_since=intake.admitted_on if intake is not None else None,
        ))
    return rows


# --- billing days ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BillingDay:
    client_id: int
    service_date: date
    services: int
    attended_minutes: int
    individual_minutes: int
    tier: str


def billing_tier(services: int) -> str:
    """Medicare pays IOP per day in two tiers: three services, and four or more."""
    if services >= 4:
        return "4+"
    return "3" if services == 3 else "under_3"


def billing_days(db: DbSession, program_id: int, first: date, last: date,
                 within: Select | None = None) -> list[BillingDay]:
    """Qualifying services attended per client per day (the session's start date); one query.
    With `within` (client ids), only those clients."""
    program, tz = _program(db, program_id)
    _check_range(first, last, MAX_DAYS)
    days = _period_table(_days_between(tz, first, last), "days")
    query = (
        select(
            Attendance.client_id,
            days.c.start,
            func.count().label("services"),
            func.sum(Attendance.minutes_attended).label("minutes"),
            func.sum(case((Session.kind == "individual", Attendance.minutes_attended), else_=0))
            .label("individual"),
        )
        .select_from(Attendance)
        .join(Session, Session.id == Attendance.session_id)
        .join(days, and_(Session.starts_at >= days.c.lo, Session.starts_at < days.c.hi))
        .join(Client, Client.id == Attendance.client_id)
        .where(Client.program_id == program.id, Attendance.status.in_(ATTENDED),
               Attendance.minutes_attended > 0, Session.kind.in_(QUALIFYING_KINDS),
               *([Client.id.in_(within)] if within is not None else []))
        .group_by(Attendance.client_id, days.c.start)
        .order_by(Attendance.client_id, days.c.start)
    )
    return [
        BillingDay(client_id=row[0], service_date=row[1], services=int(row.services),
                   attended_minutes=int(row.minutes or 0),
                   individual_minutes=int(row.individual or 0),
                   tier=billing_tier(int(row.services)))
        for row in db.execute(query)
    ]


def client_names(db: DbSession, client_ids: list[int]) -> dict[int, str]:
    """The clients' names, for a staff export that asks for them (one query)."""
    if not client_ids:
        return {}
    return dict(db.execute(select(Client.id, Client.name).where(Client.id.in_(client_ids)))
                .tuples().all())
