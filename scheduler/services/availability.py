"""A client's weekly unavailable windows, staff time off and staff working hours."""

from datetime import datetime, time

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from scheduler.i18n import gettext, weekday_short
from scheduler.models import (
    Client,
    ClientPreferredTime,
    ClientUnavailability,
    Staff,
    StaffTimeOff,
    StaffWorkingHours,
)
from scheduler.services import audit
from scheduler.services.audit import Actor
from scheduler.services.errors import InvalidField
from scheduler.services.lookup import get_or_404


def _window_dict(w) -> dict:
    return {
        "weekday": w.weekday,
        "start": w.start_time.strftime("%H:%M"),
        "end": w.end_time.strftime("%H:%M"),
        "label": w.label,
    }


def client_windows(db: DbSession, client_id: int) -> list[ClientUnavailability]:
    get_or_404(db, Client, client_id, "client")
    return list(
        db.scalars(
            select(ClientUnavailability)
            .where(ClientUnavailability.client_id == client_id)
            .order_by(ClientUnavailability.weekday, ClientUnavailability.start_time)
        )
    )


def client_preferred(db: DbSession, client_id: int) -> list[ClientPreferredTime]:
    """The weekly windows the client would rather come in; the planner prefers them."""
    get_or_404(db, Client, client_id, "client")
    return list(
        db.scalars(
            select(ClientPreferredTime)
            .where(ClientPreferredTime.client_id == client_id)
            .order_by(ClientPreferredTime.weekday, ClientPreferredTime.start_time)
        )
    )


def _check_windows(windows: list[dict], field: str) -> None:
    for index, window in enumerate(windows):
        if window["start"] >= window["end"]:
            raise InvalidField(
                f"{field}.{index}.end", gettext("must be after start (split a window that "
                                                "crosses midnight into two days).")
            )


def _replace(db: DbSession, model, current: list, client_id: int, windows: list[dict]) -> list:
    for row in current:
        db.delete(row)
    db.flush()
    rows = [
        model(client_id=client_id, weekday=w["weekday"], start_time=w["start"],
              end_time=w["end"], label=w.get("label"))
        for w in windows
    ]
    db.add_all(rows)
    db.flush()
    return sorted(rows, key=lambda w: (w.weekday, w.start_time))


def set_client_windows(
    db: DbSession, actor: Actor, client_id: int, windows: list[dict],
    preferred: list[dict] | None = None,
) -> list[ClientUnavailability]:
    """Replace the client's weekly routine (job, school, childcare) in one step, and their
    preferred times when `preferred` is given (None leaves them as they are)."""
    current = client_windows(db, client_id)
    _check_windows(windows, "unavailable")
    current_preferred = client_preferred(db, client_id)
    if preferred is not None:
        _check_windows(preferred, "preferred")
    before = {"unavailable": [_window_dict(w) for w in current],
              "preferred": [_window_dict(w) for w in current_preferred]}
    rows = _replace(db, ClientUnavailability, current, client_id, windows)
    liked = current_preferred
    if preferred is not None:
        liked = _replace(db, ClientPreferredTime, current_preferred, client_id, preferred)
    after = {"unavailable": [_window_dict(w) for w in rows],
             "preferred": [_window_dict(w) for w in liked]}
    if before != after:
        # audit.record keeps only what changed: a routine alone stays {"unavailable": …}.
        audit.record(db, actor, "set_availability", "client", client_id, before, after)
    return rows


def staff_time_off(db: DbSession, staff_id: int) -> list[StaffTimeOff]:
    get_or_404(db, Staff, staff_id, "staff member")
    return list(
        db.scalars(
            select(StaffTimeOff)
            .where(StaffTimeOff.staff_id == staff_id)
            .order_by(StaffTimeOff.starts_at)
        )
    )


def add_time_off(
    db: DbSession, actor: Actor, staff_id: int, starts_at: datetime, ends_at: datetime,
    reason: str | None = None,
) -> StaffTimeOff:
    """Record a span when a staff member cannot facilitate."""
    get_or_404(db, Staff, staff_id, "staff member")
    if ends_at <= starts_at:
        raise InvalidField("ends_at", gettext("must be after the start."))
    row = StaffTimeOff(staff_id=staff_id, starts_at=starts_at, ends_at=ends_at, reason=reason)
    db.add(row)
    db.flush()
    audit.record(db, actor, "create", "staff_time_off", row.id,
                 after=audit.snapshot(row, ("staff_id", "starts_at", "ends_at", "reason")))
    return row


def remove_time_off(db: DbSession, actor: Actor, staff_id: int, time_off_id: int) -> None:
    """Withdraw a time-off entry (it is not clinical data)."""
    row = get_or_404(db, StaffTimeOff, time_off_id, "time off")
    if row.staff_id != staff_id:
        get_or_404(db, StaffTimeOff, -1, "time off")
    audit.record(db, actor, "delete", "staff_time_off", row.id,
                 before=audit.snapshot(row, ("staff_id", "starts_at", "ends_at", "reason")))
    db.delete(row)
    db.flush()


# Three windows a day (a split shift and an evening) is plenty; the API allows this many in all.
MAX_WORKING_WINDOWS = 28


def _hours_dict(w: StaffWorkingHours) -> dict:
    return {"weekday": w.weekday, "start": w.start_time.strftime("%H:%M"),
            "end": w.end_time.strftime("%H:%M")}


def working_hours(db: DbSession, staff_id: int) -> list[StaffWorkingHours]:
    """The staff member's weekly windows, by weekday and start; none means no limit."""
    get_or_404(db, Staff, staff_id, "staff member")
    return list(
        db.scalars(
            select(StaffWorkingHours)
            .where(StaffWorkingHours.staff_id == staff_id)
            .order_by(StaffWorkingHours.weekday, StaffWorkingHours.start_time)
        )
    )


def check_working_windows(windows: list[dict], field: str = "windows") -> None:
    """Each window starts before it ends, and no two on one weekday overlap."""
    if len(windows) > MAX_WORKING_WINDOWS:
        raise InvalidField(field, gettext("At most %(num)d windows a week.",
                                          num=MAX_WORKING_WINDOWS))
    seen: dict[int, list[tuple[time, time, int]]] = {}
    for index, window in enumerate(windows):
        start, end = window["start"], window["end"]
        if start >= end:
            raise InvalidField(f"{field}.{index}.end", gettext(
                "Must be after the start (split hours that cross midnight into two days)."))
        for other_start, other_end, other in seen.get(window["weekday"], []):
            if start < other_end and other_start < end:
                raise InvalidField(
                    f"{field}.{index}.start",
                    gettext("Overlaps %(day)s %(hours)s (window %(num)d).",
                            day=weekday_short(window["weekday"]),
                            hours=f"{other_start:%H:%M}–{other_end:%H:%M}", num=other + 1))
        seen.setdefault(window["weekday"], []).append((start, end, index))


def set_working_hours(
    db: DbSession, actor: Actor, staff_id: int, windows: list[dict]
) -> list[StaffWorkingHours]:
    """Replace the staff member's weekly hours in one step; an empty list lifts the limit."""
    current = working_hours(db, staff_id)
    check_working_windows(windows)
    before = [_hours_dict(w) for w in current]
    for row in current:
        db.delete(row)
    db.flush()
    rows = [
        StaffWorkingHours(staff_id=staff_id, weekday=w["weekday"], start_time=w["start"],
                          end_time=w["end"])
        for w in windows
    ]
    db.add_all(rows)
    db.flush()
    rows.sort(key=lambda w: (w.weekday, w.start_time))
    after = [_hours_dict(w) for w in rows]
    if sorted(before, key=str) != sorted(after, key=str):
        audit.record(db, actor, "set_working_hours", "staff", staff_id,
                     {"working_hours": before}, {"working_hours": after})
    return rows


def hours_text(windows) -> str:
    """"Mon 09:00–17:00; Tue 09:00–12:00, 13:00–17:00" for messages and pages."""
    by_day: dict[int, list[str]] = {}
    for w in sorted(windows, key=lambda w: (w.weekday, w.start_time)):
        by_day.setdefault(w.weekday, []).append(f"{w.start_time:%H:%M}–{w.end_time:%H:%M}")
    return "; ".join(f"{weekday_short(day)} {', '.join(spans)}" for day, spans in by_day.items())
