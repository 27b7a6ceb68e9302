"""Read-only lists for the pages: a clinician's day, a session's roster sheet, a client's
schedule and who may check in at the kiosk now. Each is a constant number of queries."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import selectinload

from scheduler.i18n import gettext as _
from scheduler.i18n import local
from scheduler.models import (
    Attendance,
    Booking,
    Client,
    FeedToken,
    Room,
    Session,
    Staff,
)
from scheduler.services import booking, one_to_one, scope
from scheduler.services.attendance import CHECKIN_OPENS
from scheduler.services.program_calendar import program_today, program_zone  # noqa: F401
from scheduler.services.sessions import SessionFilter, list_sessions

# A clinic day holds tens of sessions; this only guards against a runaway page.
MAX_DAY_SESSIONS = 500


@dataclass
class DayEntry:
    """One session as the Today page and the week grid show it, in the clinic's zone."""

    session: Session
    starts: datetime
    ends: datetime
    room_name: str | None
    booked: int
    waitlisted: int
    # Whose appointment a one-to-one session is (services/one_to_one.py); None for groups.
    # Staff pages only: feeds and client pages never build a DayEntry.
    client_name: str | None = None


@dataclass
class RosterLine:
    """A booked client on the roster, with what has been recorded so far."""

    client: Client
    attendance: Attendance | None


@dataclass
class UpcomingSession:
    session: Session
    starts: datetime
    ends: datetime
    room_name: str | None
    # What was recorded so far (e.g. "present" after checking in), or None.
    attendance_status: str | None = None


@dataclass
class ChangedSession:
    """A booked session the client should hear changed: where it was, and what became of it."""

    session: Session
    starts: datetime  # where the client last knew it, on the clinic's clock
    ends: datetime
    change: str  # "Cancelled", "Closed" or "Moved to Tue 9 Mar, 19:00"
    reason: str | None = None  # a closure's reason, written for clients to read


# A change stays on the client's page this long, so one who never reads email still learns it.
CHANGE_SHOWN_FOR = timedelta(days=14)


@dataclass
class WaitlistPlace:
    session: Session
    starts: datetime
    position: int


def _room_names(db: DbSession, sessions) -> dict[int | None, str]:
    """Room names for the sessions in one query (an ORM Result would be taken for a mapping).

    Keyed as sessions hold room ids, so a virtual session's None finds no name."""
    room_ids = {s.room_id for s in sessions if s.room_id is not None}
    if not room_ids:
        return {}
    return dict(
        db.execute(select(Room.id, Room.name).where(Room.id.in_(room_ids))).tuples().all()
    )


def clinic_day(db: DbSession, day: date, tz: ZoneInfo, *, staff_id: int | None = None,
               site_ids: frozenset[int] | None = None) -> list[DayEntry]:
    """Sessions overlapping the local day, optionally only one facilitator's or those of some
    sites, with seat counts."""
    lo = datetime.combine(day, time.min, tzinfo=tz)
    hi = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
    sessions, _ = list_sessions(db, SessionFilter(staff_id=staff_id, starts_from=lo,
                                                  starts_to=hi, site_ids=site_ids),
                                limit=MAX_DAY_SESSIONS)
    return entries_for(db, sessions, tz)


def entries_for(db: DbSession, sessions: list[Session], tz: ZoneInfo) -> list[DayEntry]:
    """The sessions as a day or week shows them: one query for room names, one for seats and
    one for the clients of one-to-one sessions, however many sessions there are."""
    rooms = _room_names(db, sessions)
    tally = booking.counts(db, [s.id for s in sessions])
    clients = one_to_one.clients_of_sessions(db, sessions)
    return [
        DayEntry(s, s.starts_at.astimezone(tz), s.ends_at.astimezone(tz), rooms.get(s.room_id),
                 *tally[s.id], client_name=clients.get(s.id))
        for s in sessions
    ]


def active_staff(db: DbSession, site_ids: frozenset[int] | None = None) -> list[Staff]:
    """Staff who may facilitate, by name, for the Today page's filter: those who work at the
    sites `site_ids`, else at a site of the caller's scope (services/scope.py)."""
    return list(db.scalars(select(Staff).where(Staff.is_active.is_(True),
                                               scope.staff_of_sites(Staff.id, site_ids))
                           .order_by(Staff.name, Staff.id)))


def session_with_room(db: DbSession, session_id: int) -> Session | None:
    """The session with its room and facilitators loaded, or None (for another site's too:
    services/scope.py)."""
    return db.scalar(
        select(Session).where(Session.id == session_id,
                              scope.programs_filter(Session.program_id))
        .options(selectinload(Session.facilitators), selectinload(Session.room))
    )


def roster_sheet(db: DbSession, session_id: int) -> list[RosterLine]:
    """Booked clients by name with their attendance row (or None); one query."""
    rows = db.execute(
        select(Client, Attendance)
        .join(Booking, Booking.client_id == Client.id)
        .outerjoin(Attendance, Attendance.booking_id == Booking.id)
        .where(Booking.session_id == session_id, Booking.status == "booked")
        .order_by(Client.name, Client.id)
    ).tuples()
    return [RosterLine(client, row) for client, row in rows]


def upcoming_for_client(db: DbSession, client_id: int, now: datetime, tz: ZoneInfo,
                        *, limit: int = 20) -> list[UpcomingSession]:
    """The client's booked, scheduled sessions that have not ended, soonest first."""
    rows = db.execute(
        select(Session, Attendance.status).join(Booking, Booking.session_id == Session.id)
        .outerjoin(Attendance, Attendance.booking_id == Booking.id)
        .where(Booking.client_id == client_id, Booking.status == "booked",
               Session.status == "scheduled", Session.ends_at > now)
        .order_by(Session.starts_at, Session.id).limit(limit)
    ).tuples().all()
    rooms = _room_names(db, [s for s, _ in rows])
    return [UpcomingSession(s, s.starts_at.astimezone(tz), s.ends_at.astimezone(tz),
                            rooms.get(s.room_id), status) for s, status in rows]


def recent_changes_for_client(db: DbSession, client_id: int, now: datetime,
                              tz: ZoneInfo, *, limit: int = 20) -> list[ChangedSession]:
    """The client's booked sessions cancelled or moved in the last 14 days, whose old time is
    not older than that either, by the time the client knew them at; one query. A series
    edit can move dozens at once: the soonest `limit` are news enough."""
    since = now - CHANGE_SHOWN_FOR
    rows = db.scalars(
        select(Session).join(Booking, Booking.session_id == Session.id)
        .where(Booking.client_id == client_id, Booking.status == "booked",
               Session.updated_at >= since,
               or_(and_(Session.status == "cancelled", Session.starts_at >= since),
                   and_(Session.status == "scheduled", Session.moved_from >= since)))
        .order_by(Session.starts_at, Session.id).limit(limit)
    ).all()
    changes = []
    for s in rows:
        if s.status == "cancelled":
            closed = s.cancelled_by == "closure"
            changes.append(ChangedSession(
                s, s.starts_at.astimezone(tz), s.ends_at.astimezone(tz),
                _("Closed") if closed else _("Cancelled"), s.cancel_reason if closed else None))
        elif s.moved_from is not None and s.moved_from != s.starts_at:
            old_start = s.moved_from.astimezone(tz)
            new_start = s.starts_at.astimezone(tz)
            changes.append(ChangedSession(
                s, old_start, old_start + (s.ends_at - s.starts_at),
                _("Moved to %(when)s", when=local(new_start, "short_day_time"))))
    return sorted(changes, key=lambda c: (c.starts, c.session.id))


def waitlist_for_client(db: DbSession, client_id: int, now: datetime,
                        tz: ZoneInfo) -> list[WaitlistPlace]:
    """The client's places in queues of future sessions, with positions; two queries."""
    mine = db.execute(
        select(Booking.id, Session)
        .join(Session, Session.id == Booking.session_id)
        .where(Booking.client_id == client_id, Booking.status == "waitlisted",
               Session.status == "scheduled", Session.ends_at > now)
        .order_by(Session.starts_at, Session.id)
    ).tuples().all()
    if not mine:
        return []
    # Every queue the client is in, in first-come order, so positions need no query each.
    queue = db.execute(
        select(Booking.id, Booking.session_id)
        .where(Booking.session_id.in_([s.id for _, s in mine]), Booking.status == "waitlisted")
        .order_by(Booking.session_id, Booking.waitlisted_at, Booking.id)
    ).all()
    positions: dict[int, int] = {}
    seen: dict[int, int] = {}
    for booking_id, session_id in queue:
        seen[session_id] = seen.get(session_id, 0) + 1
        positions[booking_id] = seen[session_id]
    return [WaitlistPlace(s, s.starts_at.astimezone(tz), positions[b]) for b, s in mine]


def kiosk_arrivals(db: DbSession, now: datetime) -> list[Client]:
    """Clients with a kiosk PIN and a booked session open for check-in now, by name."""
    return list(db.scalars(
        select(Client).where(
            Client.kiosk_pin_hash.is_not(None),
            Client.id.in_(
                select(Booking.client_id).join(Session, Session.id == Booking.session_id)
                .where(Booking.status == "booked", Session.status == "scheduled",
                       Session.starts_at <= now + CHECKIN_OPENS, Session.ends_at >= now)
            ),
        ).order_by(Client.name, Client.id)
    ))


def has_live_feed(db: DbSession, kind: str, owner_id: int) -> bool:
    """Whether the owner already has a working feed link (its token is never shown again)."""
    return db.scalar(
        select(FeedToken.id).where(FeedToken.owner_kind == kind, FeedToken.owner_id == owner_id,
                                   FeedToken.revoked_at.is_(None)).limit(1)
    ) is not None
