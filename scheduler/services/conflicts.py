"""Double-booking rules: a client, a staff member and a room are each in one place at a time.

The rules are Calendar's methods, judged in memory against what it read once; the functions
below read a calendar for one client, team or room. A cohort's proposal (planner/gather) reads
one calendar for everyone instead of the same queries again per client.
"""

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from scheduler.i18n import gettext as _
from scheduler.i18n import ngettext, weekday_short
from scheduler.models import Client, Room, Session, Staff
from scheduler.models.availability import ClientUnavailability, StaffTimeOff, StaffWorkingHours
from scheduler.models.bookings import Booking
from scheduler.models.sessions import session_facilitators
from scheduler.services.availability import hours_text
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
            ngettext("%(num)d scheduling conflict", "%(num)d scheduling conflicts", n) + "; "
            + _('send {"override": true, "reason": "…"} to book anyway.')
        )
        self.clashes = clashes

    @property
    def body(self) -> dict:
        return {"conflicts": [c.as_dict() for c in self.clashes]}


def _span(slots: list[Slot]) -> tuple[datetime, datetime]:
    return min(s.starts_at for s in slots), max(s.ends_at for s in slots)


class _Timeline:
    """Things sorted by start with their spans read once, so each slot finds what overlaps it
    by bisection: a calendar asks the same timeline about every client of a cohort."""

    __slots__ = ("items", "starts", "ends", "longest")

    def __init__(self, items: list, start_of, end_of):
        self.items = items
        self.starts = [start_of(i) for i in items]
        self.ends = [end_of(i) for i in items]
        self.longest = max((e - s for s, e in zip(self.starts, self.ends, strict=True)),
                           default=timedelta(0))

    def overlapping(self, slots: list[Slot], spans: list[tuple[datetime, datetime]]):
        """Yield (slot, item) pairs whose spans overlap, slot by slot, items by start;
        `spans` are the slots' in UTC, as rows are read (aware datetimes in different zones
        compare correctly, but each comparison then asks the zone for its offset)."""
        items, starts, ends, longest = self.items, self.starts, self.ends, self.longest
        if not items:
            return
        for slot, (slot_start, slot_end) in zip(slots, spans, strict=True):
            i = bisect_left(starts, slot_start - longest)
            while i < len(items) and starts[i] < slot_end:
                if ends[i] > slot_start:
                    yield slot, items[i]
                i += 1


def _at(row):
    return row.starts_at


def _until(row):
    return row.ends_at


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


# A Monday, to name a weekday's window by its wall times: "Tue 08:00–17:00".
_A_MONDAY = date(2024, 1, 1)


def _unavailable_words(window: ClientUnavailability) -> str:
    """"is unavailable Tue 08:00–17:00 (work).", after the client's name."""
    day = _A_MONDAY + timedelta(days=window.weekday)
    start = datetime.combine(day, window.start_time)
    end = datetime.combine(day, window.end_time)
    label = f" ({window.label})" if window.label else ""
    return _("is unavailable %(day)s %(start)s–%(end)s%(label)s.", day=f"{start:%a}",
             start=f"{start:%H:%M}", end=f"{end:%H:%M}", label=label)


def _discharged_words(client: Client) -> str:
    if client.discharged_on is None:
        return _("%(name)s was discharged.", name=client.name)
    return _("%(name)s was discharged on %(day)s.", name=client.name,
             day=day_words(client.discharged_on))


class Calendar:
    """Who is busy from `lo` to `hi`, read once: the bookings and weekly routines of some
    clients, the sessions, time off and working hours of some staff, and the sessions held in
    some rooms. Its methods are the double-booking rules. client_clashes, staff_clashes and
    room_clashes read a calendar for their one client, team or room and ask it; a cohort's
    proposal reads one calendar for everyone and asks it per client, in memory, so both judge
    alike at a handful of queries however many people are asked about.

    Slots asked about must lie within lo..hi, and only about the clients, staff and rooms
    read: anything else would be judged against a calendar that does not hold it."""

    def __init__(self, db: DbSession, lo: datetime, hi: datetime, *,
                 clients: Iterable[Client] = (), staff_ids: Iterable[int] = (),
                 room_ids: Iterable[int | None] = (), ignore_series_id: int | None = None):
        self.db = db
        self.lo, self.hi = lo, hi
        self._checked: list[Slot] | None = None
        self._walls: dict[tuple[int, tzinfo],
                          tuple[list[Slot], list[tuple[datetime, datetime]]]] = {}
        # The margins these checks have always read with (a day of sessions, 60 days of time
        # off, before lo); harmless, as the overlap test itself is exact.
        session_after, time_off_after = lo - timedelta(hours=24), lo - timedelta(days=60)
        self._clients = {c.id for c in clients}
        booked: dict[int, list[Session]] = {c: [] for c in self._clients}
        # Each client's weekly windows by weekday, in the order saved, as (start, end, the
        # words after the client's name), the words written once for every slot they refuse.
        self._unavailable: dict[int, dict[int, list[tuple[time, time, str]]]] = {
            c: {} for c in self._clients}
        # session_words, once per session however many clients or slots it is named to.
        self._words: dict[int, str] = {}
        if self._clients:
            for client_id, session in db.execute(
                select(Booking.client_id, Session)
                .join(Session, Booking.session_id == Session.id)
                .where(Booking.client_id.in_(self._clients), Booking.status == "booked",
                       Session.status == "scheduled", Session.starts_at < hi,
                       Session.ends_at > session_after)
                .order_by(Session.starts_at, Session.id)
            ).tuples():
                booked[client_id].append(session)
            for window in db.scalars(
                select(ClientUnavailability)
                .where(ClientUnavailability.client_id.in_(self._clients))
                .order_by(ClientUnavailability.id)
            ):
                self._unavailable[window.client_id].setdefault(window.weekday, []).append(
                    (window.start_time, window.end_time, _unavailable_words(window)))
        self._booked = {c: _Timeline(rows, _at, _until) for c, rows in booked.items()}

        self._staff = set(staff_ids)
        self._facilitated: list[tuple[Session, int]] = []
        self._time_off: list[StaffTimeOff] = []
        self._hours: dict[int, list[StaffWorkingHours]] = {}
        self._names: dict[int, str] = {}
        if self._staff:
            query = (
                select(Session, session_facilitators.c.staff_id)
                .join(session_facilitators, session_facilitators.c.session_id == Session.id)
                .where(session_facilitators.c.staff_id.in_(self._staff),
                       Session.status == "scheduled", Session.starts_at < hi,
                       Session.ends_at > session_after)
                .order_by(Session.starts_at)
            )
            if ignore_series_id is not None:
                query = query.where(
                    (Session.series_id.is_(None)) | (Session.series_id != ignore_series_id))
            self._facilitated = list(db.execute(query).tuples())
            self._names = _staff_names(db, self._staff)
            self._time_off = list(db.scalars(
                select(StaffTimeOff)
                .where(StaffTimeOff.staff_id.in_(self._staff), StaffTimeOff.starts_at < hi,
                       StaffTimeOff.ends_at > time_off_after)
                .order_by(StaffTimeOff.starts_at)
            ))
            for row in db.scalars(select(StaffWorkingHours)
                                  .where(StaffWorkingHours.staff_id.in_(self._staff))
                                  .order_by(StaffWorkingHours.id)):
                self._hours.setdefault(row.staff_id, []).append(row)
        self._merged_hours = {staff_id: _merged(rows) for staff_id, rows in self._hours.items()}
        # The timelines of sessions facilitated and time off, per set of staff asked about.
        self._team_lines: dict[frozenset[int], tuple[_Timeline, _Timeline]] = {}

        self._rooms = {r for r in room_ids if r is not None}
        in_room: dict[int, list[Session]] = {r: [] for r in self._rooms}
        if self._rooms:
            query = (
                select(Session)
                .where(Session.room_id.in_(self._rooms), Session.status == "scheduled",
                       Session.starts_at < hi, Session.ends_at > session_after)
                .order_by(Session.starts_at)
            )
            if ignore_series_id is not None:
                query = query.where(
                    (Session.series_id.is_(None)) | (Session.series_id != ignore_series_id))
            for session in db.scalars(query):
                assert session.room_id is not None  # selected by room
                in_room[session.room_id].append(session)
        self._in_room = {r: _Timeline(rows, _at, _until) for r, rows in in_room.items()}

    def _named(self, session: Session) -> str:
        words = self._words.get(session.id)
        if words is None:
            words = self._words[session.id] = session_words(session)
        return words

    def _within(self, slots: list[Slot]) -> None:
        # A cohort asks about the same list for every client (and free_rooms for every
        # room): checked once, as long as it is that very list again.
        if slots is self._checked:
            return
        lo, hi = _span(slots)
        if lo < self.lo or hi > self.hi:
            raise ValueError(f"slots {lo}..{hi} reach outside the calendar read "
                             f"({self.lo}..{self.hi})")
        self._checked = slots

    def _overlapping(self, timeline: _Timeline, slots: list[Slot]):
        if not timeline.items:
            return iter(())
        return timeline.overlapping(slots, self._wall_times(slots, UTC))

    def _wall_times(self, slots: list[Slot], tz: tzinfo) -> list[tuple[datetime, datetime]]:
        """Each slot's start and end in the zone (aware, so that they print and compare as
        wall time), once per list and zone however many clients are asked about it."""
        kept = self._walls.get((id(slots), tz))
        if kept is None or kept[0] is not slots:
            kept = (slots, [(s.starts_at.astimezone(tz), s.ends_at.astimezone(tz))
                            for s in slots])
            # Keyed by identity, holding the list so that its id stays its own.
            self._walls[(id(slots), tz)] = kept
        return kept[1]

    def working_hours(self, staff_id: int) -> list[StaffWorkingHours]:
        """The staff member's weekly working hours; none set means no limit."""
        if staff_id not in self._staff:
            raise ValueError(f"staff {staff_id} was not read into this calendar")
        return self._hours.get(staff_id, [])

    def staff_name(self, staff_id: int) -> str | None:
        return self._names.get(staff_id)

    def client_clashes(self, client: Client, slots: list[Slot]) -> list[Clash]:
        """A client's bookings, weekly routine and admission dates against the slots."""
        if not slots:
            return []
        if client.id not in self._clients:
            raise ValueError(f"client {client.id} was not read into this calendar")
        self._within(slots)
        clashes: list[Clash] = []
        name = client.name
        for slot, other in self._overlapping(self._booked[client.id], slots):
            if other.id != slot.session_id:
                clashes.append(
                    Clash("client", other.id, other.starts_at, other.ends_at,
                          _("%(name)s is already booked into %(session)s.", name=name,
                            session=self._named(other)), slot)
                )

        tz = ZoneInfo(client.program.timezone)
        by_weekday = self._unavailable[client.id]
        admitted_on, discharged_on = client.admitted_on, client.discharged_on
        # A discharge date set ahead still allows sessions up to and on that day.
        gone = client.status == "discharged" and discharged_on is None
        one_day = timedelta(days=1)
        not_yet = None
        # Wall times in the client's zone: datetimes sharing a tzinfo compare as wall clock,
        # as the routine is written.
        for slot, (local_start, local_end) in zip(slots, self._wall_times(slots, tz),
                                                  strict=True):
            local_day = local_start.date()
            if by_weekday:
                day, last_day = local_day, local_end.date()
                while day <= last_day:
                    for start, end, words in by_weekday.get(day.weekday(), ()):
                        w_start = datetime.combine(day, start, tzinfo=tz)
                        w_end = datetime.combine(day, end, tzinfo=tz)
                        if w_start < local_end and w_end > local_start:
                            clashes.append(
                                Clash("client_unavailable", None, w_start, w_end,
                                      f"{name} {words}", slot)
                            )
                    day += one_day

            if (discharged_on is not None and local_day > discharged_on) or gone:
                clashes.append(
                    Clash("client_status", None, slot.starts_at, slot.ends_at,
                          _discharged_words(client), slot)
                )
            elif local_day < admitted_on:
                if not_yet is None:
                    not_yet = _("%(name)s is not admitted until %(day)s.", name=name,
                                day=day_words(admitted_on))
                clashes.append(
                    Clash("client_status", None, slot.starts_at, slot.ends_at, not_yet, slot))
        return clashes

    def _team(self, wanted: frozenset[int]) -> tuple[_Timeline, _Timeline]:
        lines = self._team_lines.get(wanted)
        if lines is None:
            lines = self._team_lines[wanted] = (
                _Timeline([row for row in self._facilitated if row[1] in wanted],
                          lambda r: r[0].starts_at, lambda r: r[0].ends_at),
                _Timeline([off for off in self._time_off if off.staff_id in wanted],
                          _at, _until))
        return lines

    def staff_clashes(self, staff_ids: Iterable[int], slots: list[Slot]) -> list[Clash]:
        """Sessions the staff already facilitate, their time off and working hours, against
        the slots."""
        wanted = frozenset(staff_ids)
        if not slots or not wanted:
            return []
        if not wanted <= self._staff:
            raise ValueError(f"staff {sorted(wanted - self._staff)} were not read into this "
                             "calendar")
        self._within(slots)
        facilitated, time_off = self._team(wanted)
        clashes = []
        for slot, (other, staff_id) in self._overlapping(facilitated, slots):
            if other.id != slot.session_id:
                clashes.append(
                    Clash("staff", other.id, other.starts_at, other.ends_at,
                          _("%(name)s facilitates %(session)s.",
                            name=_staff_name(self._names, staff_id),
                            session=self._named(other)), slot)
                )
        for slot, off in self._overlapping(time_off, slots):
            clashes.append(
                Clash("staff_time_off", None, off.starts_at, off.ends_at,
                      _("%(name)s is off (%(reason)s).",
                        name=_staff_name(self._names, off.staff_id), reason=off.reason)
                      if off.reason else
                      _("%(name)s is off.", name=_staff_name(self._names, off.staff_id)), slot)
            )
        clashes += self._outside_hours(wanted, slots)
        return clashes

    def _outside_hours(self, wanted: frozenset[int], slots: list[Slot]) -> list[Clash]:
        """Slots outside a staff member's weekly working hours (no hours set means no limit)."""
        limited = sorted(wanted & self._hours.keys())
        if not limited:
            return []
        # Wall times in each slot's zone (aware, so that they print and compare as wall time).
        zones = [_slot_zone(self.db, slot) for slot in slots]
        if zones[0] is not None and all(z is zones[0] for z in zones):
            local = [(slot, start, end) for slot, (start, end)
                     in zip(slots, self._wall_times(slots, zones[0]), strict=True)]
        else:
            local = [(slot, slot.starts_at.astimezone(tz), slot.ends_at.astimezone(tz))
                     for slot, tz in zip(slots, zones, strict=True) if tz is not None]
        clashes = []
        for staff_id in limited:
            days = self._merged_hours[staff_id]
            hours = None
            for slot, local_start, local_end in local:
                if within_hours(days, local_start, local_end):
                    continue
                if hours is None:
                    hours = hours_text(self._hours[staff_id])
                day = weekday_short(local_start.weekday())
                clashes.append(
                    Clash("staff_hours", None, slot.starts_at, slot.ends_at,
                          _("%(name)s works %(hours)s, not %(day)s %(start)s–%(end)s.",
                            name=_staff_name(self._names, staff_id), hours=hours, day=day,
                            start=f"{local_start:%H:%M}", end=f"{local_end:%H:%M}"), slot)
                )
        return clashes

    def room_clashes(self, room_id: int | None, slots: list[Slot]) -> list[Clash]:
        """Other sessions in the same room; virtual sessions (no room) never clash."""
        if room_id is None or not slots:
            return []
        if room_id not in self._rooms:
            raise ValueError(f"room {room_id} was not read into this calendar")
        self._within(slots)
        pairs = [(slot, other) for slot, other in self._overlapping(self._in_room[room_id], slots)
                 if other.id != slot.session_id]
        if not pairs:
            return []
        name = _room_name(self.db, room_id)
        return [Clash("room", other.id, other.starts_at, other.ends_at,
                      _("%(name)s is used by %(session)s.", name=name,
                        session=self._named(other)), slot)
                for slot, other in pairs]


def client_clashes(db: DbSession, client: Client, slots: list[Slot]) -> list[Clash]:
    """A client's bookings, weekly routine and admission dates against the requested slots."""
    if not slots:
        return []
    lo, hi = _span(slots)
    return Calendar(db, lo, hi, clients=[client]).client_clashes(client, slots)


def staff_clashes(
    db: DbSession, staff_ids, slots: list[Slot], *, ignore_series_id: int | None = None
) -> list[Clash]:
    """Sessions the staff already facilitate, their time off and working hours, against the
    slots."""
    staff_ids = list(staff_ids)
    if not slots or not staff_ids:
        return []
    lo, hi = _span(slots)
    calendar = Calendar(db, lo, hi, staff_ids=staff_ids, ignore_series_id=ignore_series_id)
    return calendar.staff_clashes(staff_ids, slots)


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


def room_clashes(
    db: DbSession, room_id: int | None, slots: list[Slot], *, ignore_series_id: int | None = None
) -> list[Clash]:
    """Other sessions in the same room; virtual sessions (no room) never clash."""
    if room_id is None or not slots:
        return []
    lo, hi = _span(slots)
    calendar = Calendar(db, lo, hi, room_ids=[room_id], ignore_series_id=ignore_series_id)
    return calendar.room_clashes(room_id, slots)
