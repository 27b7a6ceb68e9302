"""How messages name sessions: by title and local time, as the people reading them know them.

A coordinator looking at "Session 149 has attendance recorded" has to go and find session 149;
"Relapse prevention (Tue 2027-02-16 18:00–21:00) has attendance recorded" says it.
"""

from datetime import date
from zoneinfo import ZoneInfo

from scheduler.i18n import weekday_short
from scheduler.models import Session


def _weekday(day: date) -> str:
    # Abbreviated in the reader's language ("Wed", "mié"); the numeric date reads in any.
    return weekday_short(day.weekday())


def when(session: Session) -> str:
    """The session's day and hours in its own time zone: "Wed 2027-02-17 18:00–21:00"."""
    tz = ZoneInfo(session.timezone)
    start = session.starts_at.astimezone(tz)
    end = session.ends_at.astimezone(tz)
    return f"{_weekday(start)} {start:%Y-%m-%d %H:%M}–{end:%H:%M}"


def day_words(day: date) -> str:
    """A calendar day as the rest of the messages write it: "Tue 2027-06-01"."""
    return f"{_weekday(day)} {day:%Y-%m-%d}"


def session_words(session: Session) -> str:
    """"Relapse prevention (Wed 2027-02-17 18:00–21:00)"."""
    return f"{session.title} ({when(session)})"


def field_words(field: str) -> str:
    """A column name in words, for where no label was written for it: starts_at is
    "starts at", room_id "room", facilitator_ids "facilitator"."""
    return field.removesuffix("_ids").removesuffix("_id").replace("_", " ").strip() or field
