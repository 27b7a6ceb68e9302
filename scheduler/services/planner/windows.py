"""Local time for the planner: how much of a session falls inside a client's weekly windows.

Spans are UTC minutes; windows are local weekday times. Shared by the model and the baseline
(the bench's checker keeps its own copy on purpose, so it judges them independently).
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from functools import lru_cache
from zoneinfo import ZoneInfo

from scheduler.services.planner.problem import Span, Window

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def local_minutes(span: Span | tuple[int, int], zone: ZoneInfo) -> tuple[datetime, datetime]:
    start, end = (span.start, span.end) if isinstance(span, Span) else span
    return _local(start, zone), _local(end, zone)


@lru_cache(maxsize=65536)
def _local(minute: int, zone: ZoneInfo) -> datetime:
    # Cached: a cohort asks about the same few hundred session times thousands of times.
    return (EPOCH + timedelta(minutes=minute)).astimezone(zone)


def _window_minutes(window: Window) -> tuple[int, int]:
    end = window.end.hour * 60 + window.end.minute
    if window.end == clock_time(0, 0):
        end = 24 * 60  # a window ending at midnight runs to the end of the day
    return window.start.hour * 60 + window.start.minute, end


def minutes_inside(span: Span, windows: Sequence[Window], zone: ZoneInfo) -> int:
    """How many of the span's minutes fall inside the weekly local windows."""
    if not windows:
        return 0
    start, end = local_minutes(span, zone)
    if start.date() == end.date():
        # The usual case, a session inside one local day: compare minutes of the day.
        lo = start.hour * 60 + start.minute
        hi = end.hour * 60 + end.minute
        weekday = start.weekday()
        inside = 0
        reach = lo  # windows may overlap each other: count each minute once
        for w_lo, w_hi in sorted(_window_minutes(w) for w in windows if w.weekday == weekday):
            w_lo = max(w_lo, reach)
            if w_hi > w_lo:
                inside += max(min(hi, w_hi) - max(lo, w_lo), 0)
                reach = max(reach, w_hi)
        return min(inside, span.minutes)
    inside = 0
    day = start.date()
    while datetime.combine(day, clock_time(0, 0), zone) < end:
        for window in windows:
            if window.weekday != day.weekday():
                continue
            w_lo, w_hi = _window_minutes(window)
            w_start = datetime.combine(day, clock_time(0, 0), zone) + timedelta(minutes=w_lo)
            w_end = datetime.combine(day, clock_time(0, 0), zone) + timedelta(minutes=w_hi)
            overlap = (min(end, w_end) - max(start, w_start)).total_seconds() // 60
            inside += max(int(overlap), 0)
        day += timedelta(days=1)
    return min(inside, span.minutes)


def within_windows(span: Span, windows: Sequence[Window], zone: ZoneInfo) -> bool:
    return minutes_inside(span, windows, zone) >= span.minutes
