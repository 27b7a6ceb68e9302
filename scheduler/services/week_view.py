"""The coordinator's week: a Monday-to-Sunday grid of sessions with seats and waitlists."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from scheduler.models import Program, Room, Session, SessionSeries, Staff
from scheduler.models.series import series_facilitators
from scheduler.services import booking
from scheduler.services.sessions import SessionFilter, list_sessions

# A week of a busy clinic holds a few hundred sessions; this only guards against a runaway page.
MAX_SESSIONS = 2000


@dataclass
class Block:
    """One session as the week grid shows it."""

    session: Session
    starts: datetime
    ends: datetime
    room_name: str | None
    booked: int
    waitlisted: int


@dataclass
class WeekDay:
    day: date
    blocks: list[Block]


def rooms_and_staff_of(db: DbSession, program_id: int) -> tuple[list[Room], list[Staff]]:
    """The active rooms and staff the program's series meet in and are run by, by name."""
    series = select(SessionSeries.id).where(SessionSeries.program_id == program_id)
    rooms = db.scalars(select(Room).where(
        Room.is_active.is_(True),
        Room.id.in_(select(SessionSeries.room_id).where(SessionSeries.program_id == program_id)))
        .order_by(Room.name)).all()
    staff = db.scalars(select(Staff).where(
        Staff.is_active.is_(True),
        Staff.id.in_(select(series_facilitators.c.staff_id)
                     .where(series_facilitators.c.series_id.in_(series))))
        .order_by(Staff.name)).all()
    return rooms, staff


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def week_zone(db: DbSession, program_id: int | None) -> ZoneInfo:
    """The zone the week is laid out in: the chosen program's, else the first program's."""
    query = select(Program.timezone)
    if program_id is not None:
        query = query.where(Program.id == program_id)
    name = db.scalar(query.order_by(Program.id).limit(1))
    return ZoneInfo(name or "UTC")


def week(
    db: DbSession,
    monday: date,
    tz: ZoneInfo,
    *,
    program_id: int | None = None,
    room_id: int | None = None,
    staff_id: int | None = None,
) -> list[WeekDay]:
    """Seven days from `monday` in `tz`, each with its sessions in start order."""
    lo = datetime.combine(monday, time.min, tzinfo=tz)
    hi = datetime.combine(monday + timedelta(days=7), time.min, tzinfo=tz)
    filters = SessionFilter(program_id=program_id, room_id=room_id, staff_id=staff_id,
                            starts_from=lo, starts_to=hi)
    sessions, _ = list_sessions(db, filters, limit=MAX_SESSIONS)
    # Batch lookups: one query for every room name and one for all seat counts, never per block.
    room_ids = {s.room_id for s in sessions if s.room_id is not None}
    rooms = {}
    if room_ids:
        rooms = {room_id: name for room_id, name
                 in db.execute(select(Room.id, Room.name).where(Room.id.in_(room_ids)))}
    tally = booking.counts(db, [s.id for s in sessions])
    days = [WeekDay(monday + timedelta(days=i), []) for i in range(7)]
    for session in sessions:
        starts = session.starts_at.astimezone(tz)
        # A session that began the Sunday before but runs past midnight still shows on Monday.
        index = min(max((starts.date() - monday).days, 0), 6)
        booked, waitlisted = tally[session.id]
        days[index].blocks.append(
            Block(session, starts, session.ends_at.astimezone(tz),
                  rooms.get(session.room_id), booked, waitlisted)
        )
    return days
