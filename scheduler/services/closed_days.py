"""Which days a program is closed or on a public holiday, and what that does to new sessions.

The low-level half of closures: series materialisation calls it to keep sessions made later
inside a closed range cancelled, and series warnings call it to name the days. Closing and
lifting (services/closures.py) build on it.
"""

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from sqlalchemy import func, select
from sqlalchemy.orm import Session as DbSession

from scheduler.i18n import gettext as _
from scheduler.i18n import local, ngettext
from scheduler.models import Closure, Program, Session
from scheduler.services.recurrence import local_date

DEFAULT_COUNTRY = "US"
# A series warns about the occurrences of its first year; later ones are far off and many.
WARNING_HORIZON_DAYS = 366
# More than this and the list stops helping; the rest is counted.
MAX_DAY_WARNINGS = 8


@lru_cache(maxsize=1)
def supported_countries() -> frozenset[str]:
    # The package also knows three-letter aliases; a program stores the two-letter code.
    return frozenset(c for c in holidays.list_supported_countries() if len(c) == 2)


def is_supported_country(code: str) -> bool:
    return code in supported_countries()


@lru_cache(maxsize=64)
def _calendar(country: str, year: int) -> dict[date, str]:
    if not is_supported_country(country):
        return {}
    return dict(holidays.country_holidays(country, years=year, language="en_US").items())


def holiday_name(country: str, day: date) -> str | None:
    """The public holiday on the day in the country ("Christmas Day"), or None."""
    return _calendar(country, day.year).get(day)


def bounds(tz: ZoneInfo, starts_on: date, ends_on: date) -> tuple[datetime, datetime]:
    """The instants from the first day's midnight to the midnight after the last, locally."""
    return (datetime.combine(starts_on, time.min, tzinfo=tz),
            datetime.combine(ends_on + timedelta(days=1), time.min, tzinfo=tz))


def open_closures(db: DbSession, program_id: int, first: date, last: date) -> list[Closure]:
    """The program's closures in force that touch the days first..last, oldest first."""
    return list(db.scalars(
        select(Closure).where(Closure.program_id == program_id, Closure.lifted_at.is_(None),
                              Closure.starts_on <= last, Closure.ends_on >= first)
        .order_by(Closure.id)
    ))


def covering(closures: Iterable[Closure], day: date) -> Closure | None:
    """The first of the closures that closes the day."""
    return next((c for c in closures if c.starts_on <= day <= c.ends_on), None)


def mark_closed(session: Session, closure: Closure) -> None:
    """Cancel the session for the closure, remembering which closure did it."""
    session.status = "cancelled"
    session.cancelled_by = "closure"
    session.cancel_reason = closure.reason
    session.closure_id = closure.id


def close_new_sessions(db: DbSession, program_id: int, session_ids: list[int]) -> int:
    """Sessions just made (by the horizon job or a series edit) on closed days start cancelled.

    They were never shown to anyone, so their sequence stays 0: no feed resend and no
    "cancelled" message for a session nobody heard of. Returns how many were closed.
    """
    if not session_ids:
        return 0
    program = db.get(Program, program_id)
    if program is None:
        return 0
    tz = ZoneInfo(program.timezone)
    # The span first, in SQL: most programs have no closure in it, and a new series can bring
    # over a thousand sessions, which need not be loaded just to learn that.
    first, last = db.execute(select(func.min(Session.starts_at), func.max(Session.starts_at))
                             .where(Session.id.in_(session_ids))).one()
    if first is None:
        return 0
    closures = open_closures(db, program_id, local_date(first, tz), local_date(last, tz))
    if not closures:
        return 0
    sessions = list(db.scalars(select(Session).where(Session.id.in_(session_ids))))
    days = [local_date(s.starts_at, tz) for s in sessions]
    closed = 0
    for session, day in zip(sessions, days, strict=True):
        closure = covering(closures, day)
        if closure is not None and session.status == "scheduled":
            mark_closed(session, closure)
            closed += 1
    if closed:
        db.flush()  # a regeneration expires every row next; these changes must be in by then
    return closed


def day_notes(db: DbSession, program: Program, days: Iterable[date]) -> list[str]:
    """Warnings for the days that fall on a closure or a public holiday of the program's
    country: "Fri 25 Dec 2026 is Christmas Day", "Mon 4 Jan 2027 is closed: Snow"."""
    wanted = sorted(set(days))
    if not wanted:
        return []
    closures = open_closures(db, program.id, wanted[0], wanted[-1])
    notes = []
    for day in wanted:
        closure = covering(closures, day)
        if closure is not None:
            notes.append(_("%(day)s is closed: %(reason)s", day=local(day, "short_day_date"),
                           reason=closure.reason))
            continue
        name = holiday_name(program.country or DEFAULT_COUNTRY, day)
        if name is not None:
            notes.append(_("%(day)s is %(holiday)s", day=local(day, "short_day_date"),
                           holiday=name))
    if len(notes) > MAX_DAY_WARNINGS:
        rest = len(notes) - MAX_DAY_WARNINGS
        notes = notes[:MAX_DAY_WARNINGS] + [ngettext("and %(num)d more such day",
                                                     "and %(num)d more such days", rest)]
    return notes
