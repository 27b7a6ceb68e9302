"""The calendar the clinic speaks of: the dates and instants a request or a form may carry.

Far-off years overflow datetime arithmetic (next day, week bounds: a 500), and a series
starting in year 1 would materialise every week since. The API's fields, the page forms and
the query strings all check against these bounds.
"""

from datetime import UTC, date, datetime, time, timedelta

EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2100, 12, 31)
# Instants run from the first moment of the first day to the end of the last (exclusive).
EARLIEST_INSTANT = datetime.combine(EARLIEST_DATE, time(), UTC)
LATEST_INSTANT = datetime.combine(LATEST_DATE + timedelta(days=1), time(), UTC)
# Every refusal names the same range; callers add their own capital letter and full stop.
BETWEEN = f"between {EARLIEST_DATE} and {LATEST_DATE}"
# A date of birth is the one date before the clinic's calendar: people were born last century.
EARLIEST_BIRTH = date(1900, 1, 1)


def in_calendar(day: date) -> bool:
    """Whether a date lies within the bounds (both ends included)."""
    return EARLIEST_DATE <= day <= LATEST_DATE


def instant_in_calendar(at: datetime) -> bool:
    """Whether an aware instant lies within the bounds' days (the end day included)."""
    return EARLIEST_INSTANT <= at < LATEST_INSTANT
