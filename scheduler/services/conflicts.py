"""Double-booking rules: a client, a staff member and a room are each in one place at a time."""

from bisect import bisect_left
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from scheduler.models import Client, Room, Session, Staff
from scheduler.models.availability import ClientUnavailability, StaffTimeOff, StaffWorkingHours
from scheduler.models.bookings import Booking
from scheduler.models.sessions import session_facilitators
from scheduler.services.availability import DAY_NAMES, hours_text
from scheduler.services.errors import DomainError
from scheduler.services.wording import day_words, session_words


@dataclass(frozen=True)
class Slot:
    """A span someone or something would be committed to; session_id when it already exists."""

    starts_at: datetime
    ends_at: datetime
    session_id: int | None = None
    # The IANA zone whose wall clock staff working hours are read in; when None, that of the
    # session `session_id` names (its program's zone).
    zone: str | None = None


@dataclass(frozen=True)
class Clash:
    kind: str
    session_id: int | None
    starts_at: datetime
    ends_at: datetime
    detail: str
    # Which requested slot the clash is with (several may be checked at once). Every check
    # names it, so callers can tell which of their sessions clashed.
    slot: Slot

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "session_id": self.session_id,
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat(),
            "detail": self.detail,
            "requested_session_id": self.slot.session_id,
            "requested_starts_at": self.slot.starts_at.isoformat(),
        }


class ConflictDetected(DomainError):
    """Refused because of double bookings; `{"conflicts": [...]}` lists every one."""

    status = 409

    def __init__(self, clashes: list[Clash]):
        n = len(clashes)
        super().__init__(
            f"{n} scheduling conflict{'s' if n != 1 else ''}; "
            'send {"override": true, "reason": "…"} to book anyway.'
        )
        self.clashes = clashes

    @property
    def body(self) -> dict:
        return {"conflicts": [c.as_dict() for c in self.clashes]}


def _span(slots: list[Slot]) -> tuple[datetime, datetime]:
    return min(s.starts_at for s in slots), max(s.ends_at for s in slots)


def _overlaps(slots: list[Slot], others: list, start_of, end_of):
    """Yield (slot, other) pairs whose spans overlap; `others` sorted by start."""
    starts = [start_of(o) for o in others]
    longest = max((end_of(o) - start_of(o) for o in others), default=timedelta(0))
    for slot in slots:
        i = bisect_left(starts, slot.starts_at - longest)
        while i < len(others) and starts[i] < slot.ends_at:
            other = others[i]
            if end_of(other) > slot.starts_at:
                yield slot, other
            i += 1


def _staff_names(db: DbSession, staff_ids) -> dict[int, str]:
    """Names for messages, read once per check: db.get per clash re-queried a row the
    identity map had already let go of, once for each of a week's candidate times."""
    return dict(db.execute(select(Staff.id, Staff.name).where(Staff.id.in_(staff_ids)))
                .tuples().all())


def _staff_name(names: dict[int, str], staff_id: int) -> str:
    return names.get(staff_id, "A staff member")


def _room_name(db: DbSession, room_id: int | None) -> str:
    room = db.get(Room, room_id) if room_id is not None else None
    return room.name if room is not None else "The room"


def _discharged_words(client: Client) -> str:
    if client.discharged_on is None:
        return f"{client.name} was discharged."
    return f"{client.name} was discharged on {day_words(client.discharged_on)}."


def client_clashes(db: DbSession, client: Client, slots: list[Slot]) -> list[Clash]:
    """A client's bookings, weekly routine and admission dates against the requested slots."""
    if not slots:
        return []
    clashes: list[Clash] = []
    lo, hi = _span(slots)
    booked = list(
        db.scalars(
            select(Session)
            .join(Booking, Booking.session_id == Session.id)
            .where(
                Booking.client_id == client.id,
                Booking.status == "booked",
                Session.status == "scheduled",
                Session.starts_at < hi,
                Session.ends_at > lo - timedelta(hours=24),
            )
            .order_by(Session.starts_at)
        )
    )
    for slot, other in _overlaps(slots, booked, lambda s: s.starts_at, lambda s: s.ends_at):
        if other.id != slot.session_id:
            clashes.append(
                Clash("client", other.id, other.starts_at, other.ends_at,
                      f"{client.name} is already booked into {session_words(other)}.", slot)
            )

    tz = ZoneInfo(client.program.timezone)
    windows = list(
        db.scalars(select(ClientUnavailability).where(ClientUnavailability.client_id == client.id))
    )
    for slot in slots:
        local_start = slot.starts_at.astimezone(tz).replace(tzinfo=None)
        local_end = slot.ends_at.astimezone(tz).replace(tzinfo=None)
        day = local_start.date()
        while day <= local_end.date():
            for window in windows:
                if window.weekday != day.weekday():
                    continue
                w_start = datetime.combine(day, window.start_time)
                w_end = datetime.combine(day, window.end_time)
                if w_start < local_end and w_end > local_start:
                    label = f" ({window.label})" if window.label else ""
                    clashes.append(
                        Clash("client_unavailable", None,
                              w_start.replace(tzinfo=tz), w_end.replace(tzinfo=tz),
                              f"{client.name} is unavailable "
                              f"{w_start:%a %H:%M}–{w_end:%H:%M}{label}.",
                              slot)
                    )
            day += timedelta(days=1)

        local_day = local_start.date()
        # A discharge date set ahead still allows sessions up to and on that day.
        if (client.discharged_on is not None and local_day > client.discharged_on) or (
            client.status == "discharged" and client.discharged_on is None
        ):
            clashes.append(
                Clash("client_status", None, slot.starts_at, slot.ends_at,
                      _discharged_words(client), slot)
            )
        elif local_day < client.admitted_on:
            clashes.append(
                Clash("client_status", None, slot.starts_at, slot.ends_at,
                      f"{client.name} is not admitted until "
                      f"{day_words(client.admitted_on)}.", slot)
            )
    return clashes


def staff_clashes(
    db: DbSession, staff_ids, slots: list[Slot], *, ignore_series_id: int | None = None
) -> list[Clash]:
    """Sessions the staff already facilitate, their time off and working hours, against the
    slots."""
    staff_ids = list(staff_ids)
    if not slots or not staff_ids:
        return []
    lo, hi = _span(slots)
    query = (
        select(Session, session_facilitators.c.staff_id)
        .join(session_facilitators, session_facilitators.c.session_id == Session.id)
        .where(
            session_facilitators.c.staff_id.in_(staff_ids),
            Session.status == "scheduled",
            Session.starts_at < hi,
            Session.ends_at > lo - timedelta(hours=24),
        )
        .order_by(Session.starts_at)
    )
    if ignore_series_id is not None:
        query = query.where(
            (Session.series_id.is_(None)) | (Session.series_id != ignore_series_id)
        )
    rows = list(db.execute(query))
    names = _staff_names(db, staff_ids)
    clashes = []
    for slot, (other, staff_id) in _overlaps(
        slots, rows, lambda r: r[0].starts_at, lambda r: r[0].ends_at
    ):
        if other.id != slot.session_id:
            clashes.append(
                Clash("staff", other.id, other.starts_at, other.ends_at,
                      f"{_staff_name(names, staff_id)} facilitates {session_words(other)}.", slot)
            )
    time_off = list(
        db.scalars(
            select(StaffTimeOff)
            .where(
                StaffTimeOff.staff_id.in_(staff_ids),
                StaffTimeOff.starts_at < hi,
                StaffTimeOff.ends_at > lo - timedelta(days=60),
            )
            .order_by(StaffTimeOff.starts_at)
        )
    )
    for slot, off in _overlaps(slots, time_off, lambda t: t.starts_at, lambda t: t.ends_at):
        clashes.append(
            Clash("staff_time_off", None, off.starts_at, off.ends_at,
                  f"{_staff_name(names, off.staff_id)} is off"
                  + (f" ({off.reason})." if off.reason else "."), slot)
        )
    clashes += _outside_hours(db, staff_ids, slots, names)
    return clashes


def _slot_zone(db: DbSession, slot: Slot) -> ZoneInfo | None:
    if slot.zone is not None:
        return ZoneInfo(slot.zone)
    session = db.get(Session, slot.session_id) if slot.session_id is not None else None
    return ZoneInfo(session.timezone) if session is not None else None


def _merged(windows: list[StaffWorkingHours]) -> dict[int, list[tuple]]:
    """Each weekday's windows with touching ones joined: 09–12 and 12–17 cover 11–13."""
    days: dict[int, list[tuple]] = {}
    for w in sorted(windows, key=lambda w: (w.weekday, w.start_time)):
        spans = days.setdefault(w.weekday, [])
        if spans and w.start_time <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], w.end_time))
        else:
            spans.append((w.start_time, w.end_time))
    return days


def within_hours(days: dict[int, list[tuple]], local_start: datetime,
                 local_end: datetime) -> bool:
    """Whether a span of local wall time lies inside one (merged) working window."""
    if local_end.date() != local_start.date():
        return False
    return any(start <= local_start.time() and local_end.time() <= end
               for start, end in days.get(local_start.weekday(), []))


def _outside_hours(db: DbSession, staff_ids: list, slots: list[Slot],
                   names: dict[int, str]) -> list[Clash]:
    """Slots outside a staff member's weekly working hours (no hours set means no limit)."""
    rows = list(db.scalars(select(StaffWorkingHours)
                           .where(StaffWorkingHours.staff_id.in_(staff_ids))))
    by_staff: dict[int, list[StaffWorkingHours]] = {}
    for row in rows:
        by_staff.setdefault(row.staff_id, []).append(row)
    clashes = []
    for staff_id, windows in sorted(by_staff.items()):
        days = _merged(windows)
        for slot in slots:
            tz = _slot_zone(db, slot)
            if tz is None:
                continue
            local_start = slot.starts_at.astimezone(tz).replace(tzinfo=None)
            local_end = slot.ends_at.astimezone(tz).replace(tzinfo=None)
            if within_hours(days, local_start, local_end):
                continue
            day = DAY_NAMES[local_start.weekday()]
            clashes.append(
                Clash("staff_hours", None, slot.starts_at, slot.ends_at,
                      f"{_staff_name(names, staff_id)} works {hours_text(windows)}, not "
                      f"{day} {local_start:%H:%M}–{local_end:%H:%M}.", slot)
            )
    return clashes


def room_clashes(
    db: DbSession, room_id: int | None, slots: list[Slot], *, ignore_series_id: int | None = None
) -> list[Clash]:
    """Other sessions in the same room; virtual sessions (no room) never clash."""
    if room_id is None or not slots:
        return []
    lo, hi = _span(slots)
    query = (
        select(Session)
        .where(
            Session.room_id == room_id,
            Session.status == "scheduled",
            Session.starts_at < hi,
            Session.ends_at > lo - timedelta(hours=24),
        )
        .order_by(Session.starts_at)
    )
    if ignore_series_id is not None:
        query = query.where(
            (Session.series_id.is_(None)) | (Session.series_id != ignore_series_id)
        )
    others = list(db.scalars(query))
    if not others:
        return []
    name = _room_name(db, room_id)
    return [
        Clash("room", other.id, other.starts_at, other.ends_at,
              f"{name} is used by {session_words(other)}.", slot)
        for slot, other in _overlaps(slots, others, lambda s: s.starts_at, lambda s: s.ends_at)
        if other.id != slot.session_id
    ]
