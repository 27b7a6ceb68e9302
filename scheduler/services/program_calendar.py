"""The one answer to "what day is it" and "in which zone", for a program.

Kept apart from day_sheet.py (which re-exports both) so that the low-level services that need
a program's today (consents, and through them webhooks) do not pull in the day's sheet, its
bookings and sessions.
"""

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from scheduler.models import Program
from scheduler.services.recurrence import local_date


def program_zone(db: DbSession, program_id: int | None = None) -> ZoneInfo:
    """The program's IANA zone; without a program, the first program's (one clinic, one zone)."""
    query = select(Program.timezone)
    if program_id is not None:
        query = query.where(Program.id == program_id)
    name = db.scalar(query.order_by(Program.id).limit(1))
    return ZoneInfo(name or "UTC")


def program_today(db: DbSession, now: datetime, program_id: int | None = None) -> date:
    """Today on the program's own calendar (the clinic's, without a program).

    Near midnight the UTC date is already tomorrow (or still yesterday) for the clinic, so due
    dates, default dates and week starts use this.
    """
    return local_date(now, program_zone(db, program_id))
