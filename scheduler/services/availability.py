"""A client's weekly unavailable windows and staff time off."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from scheduler.models import Client, ClientUnavailability, Staff, StaffTimeOff
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


def set_client_windows(
    db: DbSession, actor: Actor, client_id: int, windows: list[dict]
) -> list[ClientUnavailability]:
    """Replace the client's weekly routine (job, school, childcare) in one step."""
    current = client_windows(db, client_id)
    for index, window in enumerate(windows):
        if window["start"] >= window["end"]:
            raise InvalidField(
                f"unavailable.{index}.end", "must be after start (split a window that "
                "crosses midnight into two days)."
            )
    before = [_window_dict(w) for w in current]
    for row in current:
        db.delete(row)
    db.flush()
    rows = [
        ClientUnavailability(
            client_id=client_id, weekday=w["weekday"], start_time=w["start"],
            end_time=w["end"], label=w.get("label"),
        )
        for w in windows
    ]
    db.add_all(rows)
    db.flush()
    after = [_window_dict(w) for w in rows]
    if before != after:
        audit.record(db, actor, "set_availability", "client", client_id,
                     {"unavailable": before}, {"unavailable": after})
    return sorted(rows, key=lambda w: (w.weekday, w.start_time))


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
        raise InvalidField("ends_at", "must be after the start.")
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
