"""Reports computed with SQL aggregates: hours against target, week by week."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import Date, and_, func, literal, or_, select, union_all
from sqlalchemy.orm import Session as DbSession, selectinload

from scheduler.models import Attendance, Booking, Client, Program, Session, TreatmentPlan
from scheduler.models.types import UTCDateTime
from scheduler.services import plans
from scheduler.services.errors import InvalidField
from scheduler.services.lookup import get_referenced

MAX_WEEKS = 106


@dataclass(frozen=True)
class WeekHours:
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


def _minutes(db: DbSession, start, end):
    """Minutes between two timestamp columns, in the database's own arithmetic."""
    if db.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", end - start) / 60
    return (func.julianday(end) - func.julianday(start)) * 1440


def _hours(minutes) -> Decimal:
    return (Decimal(str(minutes or 0)) / 60).quantize(Decimal("0.01"))


def weekly_hours(db: DbSession, program_id: int, first: date, last: date) -> list[WeekHours]:
    """Scheduled and attended hours per client per week against the target; three queries."""
    program = get_referenced(db, Program, program_id, "program_id", "program")
    if last < first:
        raise InvalidField("to", "must not be before from.", location="query")
    tz = ZoneInfo(program.timezone)
    weeks = weeks_between(tz, first, last)
    if len(weeks) > MAX_WEEKS:
        raise InvalidField("to", f"a report covers at most {MAX_WEEKS} weeks.", location="query")
    # A derived table of the weeks; UNION ALL of SELECTs is what SQLite and PostgreSQL share.
    week_table = union_all(
        *(
            select(
                literal(monday, Date).label("week_start"),
                literal(lo, UTCDateTime).label("lo"),
                literal(hi, UTCDateTime).label("hi"),
            )
            for monday, lo, hi in weeks
        )
    ).subquery("weeks")
    in_week = and_(Session.starts_at >= week_table.c.lo, Session.starts_at < week_table.c.hi)

    scheduled = {
        (client_id, week): minutes
        for client_id, week, minutes in db.execute(
            select(Booking.client_id, week_table.c.week_start,
                   func.sum(_minutes(db, Session.starts_at, Session.ends_at)))
            .select_from(Booking)
            .join(Session, Session.id == Booking.session_id)
            .join(week_table, in_week)
            .join(Client, Client.id == Booking.client_id)
            .where(Client.program_id == program.id, Booking.status == "booked",
                   Session.status == "scheduled")
            .group_by(Booking.client_id, week_table.c.week_start)
        )
    }
    attended = {
        (client_id, week): minutes
        for client_id, week, minutes in db.execute(
            select(Attendance.client_id, week_table.c.week_start,
                   func.sum(Attendance.minutes_attended))
            .select_from(Attendance)
            .join(Session, Session.id == Attendance.session_id)
            .join(week_table, in_week)
            .join(Client, Client.id == Attendance.client_id)
            .where(Client.program_id == program.id)
            .group_by(Attendance.client_id, week_table.c.week_start)
        )
    }
    period_end = weeks[-1][0] + timedelta(days=6) if weeks else last
    period_start = weeks[0][0] if weeks else first
    clients = list(
        db.execute(
            select(Client.id, Client.admitted_on, Client.discharged_on)
            .where(Client.program_id == program.id, Client.admitted_on <= period_end,
                   or_(Client.discharged_on.is_(None), Client.discharged_on >= period_start))
            .order_by(Client.id)
        )
    )
    client_plans = _plan_targets(db, [c.id for c in clients])
    default_target = program.min_weekly_hours
    rows = []
    for client_id, admitted_on, discharged_on in clients:
        for week, _, _ in weeks:
            if admitted_on > week + timedelta(days=6):
                continue
            if discharged_on is not None and discharged_on < week:
                continue
            target = _target_for(client_plans.get(client_id, []), week, default_target)
            attended_h = _hours(attended.get((client_id, week)))
            rows.append(WeekHours(
                client_id=client_id,
                week_start=week,
                scheduled_hours=_hours(scheduled.get((client_id, week))),
                attended_hours=attended_h,
                target_hours=target,
                met=None if target is None else attended_h >= target,
            ))
    return rows


def _plan_targets(db: DbSession, client_ids) -> dict[int, list[TreatmentPlan]]:
    plans: dict[int, list[TreatmentPlan]] = {}
    if not client_ids:
        return plans
    for plan in db.scalars(
        select(TreatmentPlan)
        .options(selectinload(TreatmentPlan.phases))
        .where(
            TreatmentPlan.client_id.in_(client_ids), TreatmentPlan.status == "active"
        )
    ):
        plans.setdefault(plan.client_id, []).append(plan)
    return plans


def _target_for(client_plans: list[TreatmentPlan], week: date, default) -> Decimal | None:
    """The active plan's target for the week (a phase's own first), else the program's."""
    for plan in client_plans:
        week_end = week + timedelta(days=6)
        if plan.start_date <= week_end and (plan.end_date is None or plan.end_date >= week):
            target = plans.target_hours(plan, max(week, plan.start_date))
            if target is not None:
                return Decimal(target).quantize(Decimal("0.01"))
    return None if default is None else Decimal(default).quantize(Decimal("0.01"))
