"""Reading FHIR search parameters: dates with prefixes, _count, references and the page cursor.

Every refusal is a BadSearch (an InvalidField answered 400) naming the parameter in plain
words, so errors.py answers with an OperationOutcome whose expression is the parameter; nothing
a caller types reaches a 500 (a NUL byte, a date of 9999-99-99, a _count of five thousand
digits, an id past 2**63).
"""

import base64
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from flask import request
from sqlalchemy import and_, false, or_, select, true, union

from scheduler.extensions import db
from scheduler.fhir import ids
from scheduler.models import Program, SessionSeries
from scheduler.services.errors import InvalidField

DEFAULT_COUNT = 50
# A page of a few hundred is what an EHR's sync loop wants; more only makes one answer slow.
MAX_COUNT = 200
# What every search takes besides its own parameters.
RESULT_PARAMETERS = ("_count", "_cursor")
DATE_PREFIXES = ("eq", "ge", "le", "gt", "lt")
# YYYY, YYYY-MM, YYYY-MM-DD, or a dateTime with an optional offset (FHIR's dateTime grammar).
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?"
                   r"(Z|[+-]\d{2}:\d{2})?)?)?)?$")
_LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


class BadSearch(InvalidField):
    """A search parameter FHIR's way refuses: 400, the OperationOutcome naming it."""

    status = 400

    def __init__(self, parameter: str, message: str):
        super().__init__(parameter, message, location="query")


def values(name: str) -> list[str]:
    """Every value given for `name`, refusing control characters (a NUL byte) by name."""
    found = request.args.getlist(name)
    for value in found:
        if any(ord(ch) < 32 for ch in value):
            raise BadSearch(name, "contains a control character; send plain text.")
    return found


def one(name: str) -> str | None:
    found = values(name)
    if len(found) > 1:
        raise BadSearch(name, "may be given once.")
    return found[0] if found else None


def refuse_unknown(known: tuple[str, ...]) -> None:
    """Name a parameter this search does not support rather than silently ignore it: a
    filter the server dropped would hand the caller more than they asked for."""
    allowed = set(known) | set(RESULT_PARAMETERS)
    for name in request.args:
        if name not in allowed:
            shown = name if name.isprintable() and len(name) <= 40 else "a parameter"
            raise BadSearch(shown, "is not a search parameter here; the CapabilityStatement "
                                   "at /fhir/R4/metadata lists them.")


def count() -> int:
    """_count: 1 or more; anything above MAX_COUNT is served as MAX_COUNT, as FHIR allows."""
    raw = one("_count")
    if raw is None:
        return DEFAULT_COUNT
    if not raw.isdigit():
        raise BadSearch("_count", "must be a whole number of results per page, such as 50.")
    # More digits than any page could need: cap without turning thousands of digits into int.
    if len(raw) > 6:
        return MAX_COUNT
    number = int(raw)
    if number < 1:
        raise BadSearch("_count", f"must be between 1 and {MAX_COUNT}.")
    return min(number, MAX_COUNT)


@dataclass(frozen=True)
class DateBound:
    """One `date=ge2027-03-01`: the prefix and the range of instants the value means.

    Without an offset a value is wall-clock time, read in each session's own time zone (so
    date=2027-03-01 is that day where the session meets); with one it is an exact instant.
    """

    prefix: str
    parts: tuple
    offset: str | None

    def _range(self, zone) -> tuple[datetime, datetime]:
        year, month, day, hour, minute, second, fraction = self.parts
        tz = zone if self.offset is None else _offset(self.offset)
        if month is None:
            start, end = datetime(year, 1, 1), _add_years(year)
        elif day is None:
            start = datetime(year, month, 1)
            end = datetime(year + 1, 1, 1) if month == 12 else datetime(year, month + 1, 1)
        elif hour is None:
            start = datetime(year, month, day)
            end = start + timedelta(days=1)
        else:
            start = datetime(year, month, day, hour, minute, second or 0,
                             int(float(fraction) * 1_000_000) if fraction else 0)
            end = start + (timedelta(microseconds=1) if fraction else
                           timedelta(seconds=1) if second is not None else timedelta(minutes=1))
        return start.replace(tzinfo=tz), end.replace(tzinfo=tz)

    def condition(self, column, zone_column, zones: list[str]):
        """SQL for `column` (an instant) against this bound, in each of the zones."""
        if self.offset is not None:
            return self._compare(column, *self._range(UTC))
        if not zones:
            return false()
        ranges = {name: self._range(ZoneInfo(name)) for name in zones}
        # Around the per-zone OR, the widest of its ranges as a plain condition: the planner
        # starts the index range there instead of filtering every row before it.
        starts = [start for start, _ in ranges.values()]
        ends = [end for _, end in ranges.values()]
        envelope = {"eq": and_(column >= min(starts), column < max(ends)),
                    "ge": column >= min(starts), "gt": column >= min(ends),
                    "lt": column < max(starts), "le": column < max(ends)}[self.prefix]
        return and_(envelope, or_(*[and_(zone_column == name, self._compare(column, *span))
                                    for name, span in ranges.items()]))

    def lower_instant(self) -> datetime | None:
        """The earliest instant this bound lets through, read as UTC without an offset (for
        instants of change, which have no "where the session meets"); None for lt and le."""
        start, end = self._range(UTC)
        return {"eq": start, "ge": start, "gt": end}.get(self.prefix)

    def _compare(self, column, start: datetime, end: datetime):
        if self.prefix == "eq":
            return and_(column >= start, column < end)
        if self.prefix == "ge":
            return column >= start
        if self.prefix == "gt":
            return column >= end
        if self.prefix == "lt":
            return column < start
        return column < end  # le


def _offset(text: str):
    if text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    hours, minutes = int(text[1:3]), int(text[4:6])
    if hours > 14 or minutes > 59:
        raise ValueError("offset")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _add_years(year: int) -> datetime:
    return datetime(year + 1, 1, 1) if year < 9999 else _LATEST.replace(tzinfo=None)


def date_bounds(name: str, *, prefixes: tuple[str, ...] = DATE_PREFIXES) -> list[DateBound]:
    """Each `name=` value as a DateBound; a bad prefix or date is refused naming `name`."""
    bounds = []
    example = f"{name}=ge2027-03-01 or {name}=lt2027-03-08T18:00:00-05:00"
    for raw in values(name):
        prefix, text = (raw[:2], raw[2:]) if raw[:2].isalpha() else ("eq", raw)
        if prefix not in prefixes:
            raise BadSearch(name, f"the prefix {prefix!r} is not supported; use one of "
                                     f"{', '.join(prefixes)}.")
        match = _DATE.match(text)
        if not match:
            raise BadSearch(name, f"{text[:40]!r} is not a date; write it as {example}.")
        year, month, day, hour, minute, second, fraction, offset = match.groups()
        parts = (int(year), _int(month), _int(day), _int(hour), _int(minute), _int(second),
                 fraction)
        bound = DateBound(prefix, parts, offset)
        try:
            bound._range(UTC)  # a real calendar date, a real offset, inside the calendar
            if parts[0] < 1:
                raise ValueError("year")
        except (ValueError, OverflowError):
            raise BadSearch(name, f"{text[:40]!r} is not a real date or time; write it as "
                                     f"{example}.") from None
        bounds.append(bound)
    return bounds


def _int(text: str | None) -> int | None:
    return int(text) if text is not None else None


def reference_id(name: str, raw: str, kind: str) -> int:
    """The id in "Patient/12" (or "12"), refusing anything else by the parameter's name."""
    text = raw.removeprefix(f"{kind}/")
    number = ids.number(text)
    if number is None:
        raise BadSearch(name, f"must name a {kind} such as {kind}/12.")
    return number


def codes(name: str, allowed: tuple[str, ...]) -> list[str]:
    """The comma-separated codes of every `name=` value (each value narrows: AND)."""
    chosen: set[str] | None = None
    for raw in values(name):
        these = {part.strip() for part in raw.split(",")}
        unknown = sorted(these - set(allowed))
        if unknown:
            raise BadSearch(name, f"{unknown[0][:40]!r} is not one of "
                                     f"{', '.join(allowed)}.")
        chosen = these if chosen is None else chosen & these
    return sorted(chosen) if chosen is not None else []


# --- the page cursor: where the previous page stopped, so the next starts just after it ---------


def encode_cursor(*parts) -> str:
    text = "|".join(str(part) for part in parts)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def cursor(kinds: tuple[type, ...]) -> tuple | None:
    """The decoded _cursor of a next link, each part as `kinds` says; a forged one is a 400."""
    raw = one("_cursor")
    if raw is None:
        return None
    try:
        if len(raw) > 200:
            raise ValueError("long")
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        parts = text.split("|")
        if len(parts) != len(kinds):
            raise ValueError("parts")
        decoded = tuple(_part(kind, part) for kind, part in zip(kinds, parts, strict=True))
    except (ValueError, UnicodeDecodeError):
        raise BadSearch("_cursor", "is not a page of this search; follow the next link "
                                      "as given.") from None
    return decoded


def _part(kind: type, text: str):
    if kind is int:
        number = ids.number(text)
        if number is None:
            raise ValueError("id")
        return number
    if kind is datetime:
        value = datetime.fromisoformat(text)
        if value.tzinfo is None:
            raise ValueError("naive")
        return value.astimezone(UTC)
    return text


def next_link(url_for_page, cursor_text: str) -> str:
    """The next link: the same search, the same parameters, starting after this page."""
    args = [(name, value) for name, value in request.args.items(multi=True)
            if name != "_cursor"]
    return url_for_page(args + [("_cursor", cursor_text)])


def keyset_after(order_columns: tuple, after: tuple | None):
    """Rows strictly after `after` in the order of `order_columns` (row-value comparison
    written out, as SQLite and PostgreSQL both plan it on the index)."""
    if after is None:
        return true()
    first, second = order_columns
    # The plain `first >= …` lets the planner start the index range there; the OR alone
    # would be a filter over everything before it.
    return and_(first >= after[0],
                or_(first > after[0], and_(first == after[0], second > after[1])))



def zones() -> list[str]:
    """The time zones sessions meet in (their series' or, for one-offs, their program's): a
    handful of rows however many sessions, so a wall-clock date becomes one range per zone."""
    query = union(select(SessionSeries.timezone), select(Program.timezone))
    return sorted(db.session.scalars(select(query.subquery().c[0])).all())
