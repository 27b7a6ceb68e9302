"""The coordinator's week: a Monday-to-Sunday grid of sessions with seats and waitlists."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from scheduler.models import Room, SessionSeries, Staff
from scheduler.models.series import series_facilitators
from scheduler.services import scope
from scheduler.services.day_sheet import DayEntry, entries_for
from scheduler.services.sessions import SessionFilter, list_sessions

# A week of a busy clinic holds a few hundred sessions; this only guards against a runaway page.
MAX_SESSIONS = 2000


@dataclass
class WeekDay:
    day: date
    blocks: list[DayEntry]


def rooms_and_staff_queries(program_id: int | None, site_ids: frozenset[int] | None = None):
    """The active rooms and staff the program's series meet in and are run by (queries);
    without a program, those of the sites shown (`site_ids`, None: every site in scope)."""
    if program_id is None:
        return (select(Room).where(Room.is_active.is_(True),
                                   scope.sites_in(Room.site_id, site_ids)),
                select(Staff).where(Staff.is_active.is_(True),
                                    scope.staff_of_sites(Staff.id, site_ids)))
    series = select(SessionSeries.id).where(SessionSeries.program_id == program_id)
    rooms = select(Room).where(
        Room.is_active.is_(True),
        Room.id.in_(select(SessionSeries.room_id).where(SessionSeries.program_id == program_id)))
    staff = select(Staff).where(
        Staff.is_active.is_(True),
        Staff.id.in_(select(series_facilitators.c.staff_id)
                     .where(series_facilitators.c.series_id.in_(series))))
    return rooms, staff


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def week(
    db: DbSession,
    monday: date,
    tz: ZoneInfo,
    *,
    program_id: int | None = None,
    room_id: int | None = None,
    staff_id: int | None = None,
    site_ids: frozenset[int] | None = None,
) -> list[WeekDay]:
    """Seven days from `monday` in `tz`, each with its sessions in start order; of the sites
    `site_ids` when given (a network's week is tens of thousands of blocks)."""
    lo = datetime.combine(monday, time.min, tzinfo=tz)
    hi = datetime.combine(monday + timedelta(days=7), time.min, tzinfo=tz)
    filters = SessionFilter(program_id=program_id, room_id=room_id, staff_id=staff_id,
                            starts_from=lo, starts_to=hi, site_ids=site_ids)
    sessions, _ = list_sessions(db, filters, limit=MAX_SESSIONS)
    days = [WeekDay(monday + timedelta(days=i), []) for i in range(7)]
    for entry in entries_for(db, sessions, tz):
        # A session that began the Sunday before but runs past midnight still shows on Monday.
        index = min(max((entry.starts.date() - monday).days, 0), 6)
        days[index].blocks.append(entry)
    return days
