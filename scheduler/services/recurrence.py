"""Recurrence rules, expanded on the wall clock of the series' IANA zone."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, TypeAlias
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from dateutil import rrule as du

from scheduler.services.errors import InvalidField

# dateutil's frequencies, YEARLY (0) to SECONDLY (6); we offer two of them.
Frequency: TypeAlias = Literal[0, 1, 2, 3, 4, 5, 6]
_FREQS: dict[str, Frequency] = {"DAILY": du.DAILY, "WEEKLY": du.WEEKLY}
_DAYS = {"MO": du.MO, "TU": du.TU, "WE": du.WE, "TH": du.TH, "FR": du.FR, "SA": du.SA, "SU": du.SU}
_ALLOWED = {"FREQ", "INTERVAL", "BYDAY", "COUNT", "UNTIL", "WKST"}
MAX_COUNT = 2000


@dataclass(frozen=True)
class Rule:
    """A parsed RRULE limited to what a program's timetable needs."""

    freq: Frequency
    interval: int = 1
    byweekday: tuple[int, ...] | None = None
    count: int | None = None
    # UNTIL as written: a date (inclusive, local) or a UTC or floating datetime.
    until: date | datetime | None = None
    wkst: int | None = None


def zone(name: str, field: str = "timezone") -> ZoneInfo:
    """The IANA zone by name, or InvalidField naming the field."""
    problem = f"Unknown time zone {name!r}; use an IANA name such as America/New_York."
    # Checked against the list before opening: ZoneInfo also opens files such as "posixrules"
    # and "localtime" (whatever the host is set to), and an overlong name raises OSError.
    if not isinstance(name, str) or name not in _known_zones():
        raise InvalidField(field, problem)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidField(field, problem) from None


_zone_names: frozenset[str] | None = None


def _known_zones() -> frozenset[str]:
    global _zone_names
    if _zone_names is None:
        _zone_names = (frozenset(available_timezones()) | {"UTC"}) - {"localtime"}
    return _zone_names


def parse_rrule(text: str, field: str = "rrule") -> Rule:
    """Parse and check an RRULE such as FREQ=WEEKLY;BYDAY=MO,WE,TH."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidField(field, "An RRULE is required, e.g. FREQ=WEEKLY;BYDAY=MO,WE,TH.")
    parts = _rrule_parts(text.strip(), field)
    freq_name = parts.get("FREQ")
    if freq_name not in _FREQS:
        raise InvalidField(field, "RRULE needs FREQ=DAILY or FREQ=WEEKLY.")
    interval = 1
    if "INTERVAL" in parts:
        interval = _positive_int(parts["INTERVAL"], field, "INTERVAL", 52)
    byweekday = _byday(parts["BYDAY"], field) if "BYDAY" in parts else None
    if "COUNT" in parts and "UNTIL" in parts:
        raise InvalidField(field, "RRULE may have COUNT or UNTIL, not both.")
    count = None
    if "COUNT" in parts:
        count = _positive_int(parts["COUNT"], field, "COUNT", MAX_COUNT)
    until = _parse_until(parts["UNTIL"], field) if "UNTIL" in parts else None
    wkst = _DAYS[parts["WKST"]].weekday if parts.get("WKST") in _DAYS else None
    if "WKST" in parts and wkst is None:
        raise InvalidField(field, f"WKST value {parts['WKST']!r} is not a weekday code.")
    return Rule(
        freq=_FREQS[freq_name],
        interval=interval,
        byweekday=byweekday,
        count=count,
        until=until,
        wkst=wkst,
    )


def _rrule_parts(body: str, field: str) -> dict[str, str]:
    """NAME=VALUE parts by upper-case name, each allowed and given once; values upper-cased."""
    if body.upper().startswith("RRULE:"):
        body = body[6:]
    parts: dict[str, str] = {}
    for chunk in body.split(";"):
        if not chunk:
            continue
        key, sep, value = chunk.partition("=")
        key = key.strip().upper()
        if not sep or not value.strip():
            raise InvalidField(field, f"RRULE part {chunk!r} is not NAME=VALUE.")
        if key not in _ALLOWED:
            raise InvalidField(
                field,
                f"RRULE part {key} is not supported; use FREQ, INTERVAL, BYDAY, COUNT or UNTIL.",
            )
        if key in parts:
            raise InvalidField(field, f"RRULE part {key} appears twice.")
        parts[key] = value.strip().upper()
    return parts


def _byday(value: str, field: str) -> tuple[int, ...]:
    """BYDAY's weekday codes as sorted weekday numbers (Monday 0), repeats dropped."""
    days: list[int] = []
    for day in value.split(","):
        if day not in _DAYS:
            raise InvalidField(
                field, f"BYDAY value {day!r} is not one of MO, TU, WE, TH, FR, SA, SU."
            )
        if _DAYS[day].weekday not in days:
            days.append(_DAYS[day].weekday)
    return tuple(sorted(days))


def _positive_int(value: str, field: str, name: str, maximum: int) -> int:
    # isdigit() alone lets through "²", which int() refuses, and digit strings too long to parse.
    well_formed = value.isascii() and value.isdigit() and len(value) <= 6
    if not well_formed or not 1 <= int(value) <= maximum:
        raise InvalidField(field, f"RRULE {name} must be a whole number from 1 to {maximum}.")
    return int(value)


def _parse_until(value: str, field: str) -> date | datetime:
    try:
        if len(value) == 8:
            return datetime.strptime(value, "%Y%m%d").date()
        if value.endswith("Z"):
            return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        return datetime.strptime(value, "%Y%m%dT%H%M%S")
    except ValueError:
        raise InvalidField(
            field, f"RRULE UNTIL {value!r} is not a date (YYYYMMDD) or UTC time (YYYYMMDDTHHMMSSZ)."
        ) from None


def rule_to_text(rule: Rule) -> str:
    """The canonical RRULE text for a parsed rule."""
    names = {v: k for k, v in _FREQS.items()}
    codes = {d.weekday: k for k, d in _DAYS.items()}
    parts = [f"FREQ={names[rule.freq]}"]
    if rule.interval != 1:
        parts.append(f"INTERVAL={rule.interval}")
    if rule.byweekday:
        parts.append("BYDAY=" + ",".join(codes[d] for d in rule.byweekday))
    if rule.wkst is not None:
        parts.append(f"WKST={codes[rule.wkst]}")
    if rule.count:
        parts.append(f"COUNT={rule.count}")
    if isinstance(rule.until, datetime):
        if rule.until.tzinfo:
            parts.append("UNTIL=" + rule.until.strftime("%Y%m%dT%H%M%SZ"))
        else:
            parts.append("UNTIL=" + rule.until.strftime("%Y%m%dT%H%M%S"))
    elif isinstance(rule.until, date):
        parts.append("UNTIL=" + rule.until.strftime("%Y%m%d"))
    return ";".join(parts)


@dataclass(frozen=True)
class Schedule:
    """Everything that decides when a series' occurrences fall."""

    rule: Rule
    start_date: date
    start_time: time
    tz: ZoneInfo
    end_date: date | None = None

    def _local_until(self) -> datetime | None:
        bounds = []
        if self.end_date is not None:
            bounds.append(datetime.combine(self.end_date, time.max))
        until = self.rule.until
        if isinstance(until, datetime):
            if until.tzinfo is not None:
                until = until.astimezone(self.tz).replace(tzinfo=None)
            bounds.append(until)
        elif isinstance(until, date):
            bounds.append(datetime.combine(until, time.max))
        return min(bounds) if bounds else None

    def _rrule(self) -> du.rrule:
        # dateutil deprecates COUNT together with UNTIL (and will refuse it), so with a COUNT
        # the end date is applied by _local_starts instead.
        return du.rrule(
            self.rule.freq,
            dtstart=datetime.combine(self.start_date, self.start_time),
            interval=self.rule.interval,
            byweekday=self.rule.byweekday,
            count=self.rule.count,
            until=self._local_until() if self.rule.count is None else None,
            wkst=self.rule.wkst,
            cache=False,
        )

    def _local_starts(self, lo_local: datetime, hi_local: datetime) -> list[datetime]:
        local_until = self._local_until()
        return [
            local
            for local in self._rrule().between(lo_local, hi_local, inc=True)
            if local_until is None or local <= local_until
        ]

    def starts_between(self, after: datetime | None, until: datetime) -> list[datetime]:
        """UTC starts with after < start <= until (after None: from the first)."""
        lo_local = (
            (after.astimezone(self.tz).replace(tzinfo=None) - timedelta(days=1))
            if after is not None
            else datetime.combine(self.start_date, time.min)
        )
        hi_local = until.astimezone(self.tz).replace(tzinfo=None) + timedelta(days=1)
        tz = self.tz
        starts = []
        for local in self._local_starts(lo_local, hi_local):
            # fold=0: an ambiguous wall time takes its first instant and a skipped one
            # shifts forward, as RFC 5545 asks.
            instant = local.replace(tzinfo=tz).astimezone(UTC)
            if (after is None or instant > after) and instant <= until:
                starts.append(instant)
        return starts

    def last_possible_start(self) -> datetime | None:
        """The instant after which the rule gives nothing, if it ends."""
        local_until = self._local_until()
        if self.rule.count is not None:
            occurrences = [o for o in self._rrule() if local_until is None or o <= local_until]
            last = occurrences[-1] if occurrences else None
        elif local_until is not None:
            last = self._rrule().before(local_until, inc=True)
        else:
            return None  # neither COUNT nor UNTIL: it never ends
        if last is None:
            return None
        return last.replace(tzinfo=self.tz).astimezone(UTC)


def local_date(instant: datetime, tz: ZoneInfo) -> date:
    """The calendar date of an instant on a zone's wall clock."""
    return instant.astimezone(tz).date()
