"""The iCalendar bytes of one feed: deterministic, one VEVENT per session, times in UTC.

Nothing here reads the clock except through the window's first day, so the same schedule
renders the same bytes in any process. Times are UTC ("Z"), which every client converts to
the phone's own zone and which needs no VTIMEZONE (Outlook mishandles icalendar's RDATE ones).
Cancelled sessions are left out rather than sent as STATUS:CANCELLED: Google hides those and
Outlook shows them as ordinary events.
"""

import hashlib
import hmac
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import NamedTuple

from icalendar import Alarm, Calendar, Event, vDuration
from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from scheduler import i18n
from scheduler.feeds import content_lines
from scheduler.i18n import gettext as _
from scheduler.i18n import lazy_gettext as _l
from scheduler.languages import DEFAULT
from scheduler.models import (
    Booking,
    Client,
    FeedVersion,
    Program,
    Room,
    Session,
    Staff,
    User,
    session_facilitators,
)

WINDOW_BACK = timedelta(days=30)
END_CALENDAR = b"END:VCALENDAR\r\n"
REFRESH = timedelta(hours=1)
# Neither names the kind of program: a calendar app may show them, an export carries them,
# and "IOP" alone reveals addiction treatment.
PRODID = "-//Clinic Scheduler//Calendar feed//EN"
UID_DOMAIN = "clinic-scheduler"
UID_HEX_DIGITS = 32  # 128 bits: no two events of a feed will ever share one
# Kinds a program's public timetable lists: groups people join, never one person's appointment.
TIMETABLE_KINDS = ("group", "behavioral", "education", "peer_support")
KIND_LABELS = {
    "group": _l("Group session"),
    "individual": _l("Individual session"),
    "behavioral": _l("Skills session"),
    "family": _l("Family session"),
    "education": _l("Education session"),
    "medical": _l("Medical appointment"),
    "peer_support": _l("Peer session"),
    "assessment": _l("Assessment"),
    "case_management": _l("Case management"),
}
# A client's calendar takes the clinic's neutral PUBLIC_NAME instead (render's public_name).
CALENDAR_NAMES = {"staff": _l("Work schedule"), "room": _l("Room schedule"),
                  "program": _l("Timetable")}


class Words(NamedTuple):
    """An event's fixed words in one language, looked up once per render, not per event."""

    appointment: str
    session: str
    online: str
    with_names: str  # "With %(names)s"
    kinds: dict[str, str]


def words() -> Words:
    """The feed's words in the language being spoken (see i18n.speaking)."""
    return Words(appointment=_("Appointment"), session=_("Session"), online=_("Online"),
                 with_names=_("With %(names)s"),
                 kinds={kind: str(label) for kind, label in KIND_LABELS.items()})


def language_of(db: DbSession, kind: str, owner_id: int) -> str:
    """The language a feed speaks: a client's theirs, a staff member's their login's profile
    language; English for a room's or a program's, which no one person owns.

    The view reads the same in its token lookup (tokens.resolve) to key its cache."""
    found: str | None = None
    if kind == "client":
        found = db.scalar(select(Client.language).where(Client.id == owner_id))
    elif kind == "staff":
        found = db.scalar(select(User.language).where(User.staff_id == owner_id))
    return i18n.usable(found) or DEFAULT


def window_start(now: datetime) -> date:
    """The first day a feed shows: 30 days back, a UTC day at a time so bytes hold all day."""
    return now.astimezone(UTC).date() - WINDOW_BACK


def _since(first_day: date) -> datetime:
    return datetime.combine(first_day, time.min, tzinfo=UTC)


class FeedSession(NamedTuple):
    """What one event needs of a session, read as plain columns: a client's year is ~250 of
    them, and ORM objects (with their program, room and facilitators) cost half a first poll."""

    id: int
    updated_at: datetime
    sequence: int
    starts_at: datetime
    ends_at: datetime
    title: str
    kind: str
    video_url: str | None
    feed_privacy: str
    address: str | None
    room_name: str | None
    # Read only for programs at 'full' level, the one level whose events name them.
    facilitator_names: tuple[str, ...] = ()


def sessions_for(db: DbSession, kind: str, owner_id: int, first_day: date) -> list[FeedSession]:
    """The scheduled sessions one feed shows, oldest first, with what an event needs."""
    query = (
        select(Session.id, Session.updated_at, Session.sequence, Session.starts_at,
               Session.ends_at, Session.title, Session.kind, Session.video_url,
               Program.feed_privacy, Program.address, Room.name)
        .join(Program, Program.id == Session.program_id)
        .outerjoin(Room, Room.id == Session.room_id)
        .where(Session.status == "scheduled", Session.ends_at >= _since(first_day))
        .order_by(Session.starts_at, Session.id)
    )
    if kind == "client":
        query = query.join(Booking, Booking.session_id == Session.id).where(
            Booking.client_id == owner_id, Booking.status == "booked")
    elif kind == "staff":
        query = query.join(session_facilitators,
                           session_facilitators.c.session_id == Session.id).where(
            session_facilitators.c.staff_id == owner_id)
    elif kind == "room":
        query = query.where(Session.room_id == owner_id)
    elif kind == "program":
        query = query.where(Session.program_id == owner_id, Session.series_id.is_not(None),
                            Session.kind.in_(TIMETABLE_KINDS))
    else:
        raise ValueError(f"unknown feed kind {kind!r}")
    sessions = [FeedSession(*row) for row in db.execute(query)]
    named = [session.id for session in sessions if session.feed_privacy == "full"]
    if not named:
        return sessions
    names: dict[int, list[str]] = {}
    for session_id, name in db.execute(
            select(session_facilitators.c.session_id, Staff.name)
            .join(Staff, Staff.id == session_facilitators.c.staff_id)
            .where(session_facilitators.c.session_id.in_(named))):
        names.setdefault(session_id, []).append(name)
    return [session._replace(facilitator_names=tuple(sorted(names.get(session.id, ()))))
            if session.id in names else session for session in sessions]


@lru_cache(maxsize=1024)
def _uid_mac(uid_key: str):
    return hmac.new(bytes.fromhex(uid_key), digestmod=hashlib.sha256)


def event_uid(uid_key: str, session_id: int) -> str:
    """The session's UID in one feed: an HMAC of the session id under the feed's own key.

    `session-<id>` would let two clients who compare calendars see that they sit in the same
    group, and would count the clinic's sessions. Keyed per feed (FeedVersion.uid_key), the
    same session has unrelated UIDs in different feeds and consecutive sessions show no order,
    while one feed's UIDs stay the same across renders, processes, token rotations, SECRET_KEY
    changes and a move to another database, as calendar apps need to update events in place.
    """
    mac = _uid_mac(uid_key).copy()
    mac.update(b"session:%d" % session_id)
    return f"{mac.hexdigest()[:UID_HEX_DIGITS]}@{UID_DOMAIN}"


def uid_key(db: DbSession, kind: str, owner_id: int) -> str:
    """The feed's UID key; it exists from the moment the feed's first link was made."""
    row = db.get(FeedVersion, (kind, owner_id))
    if row is None:
        raise LookupError(f"no {kind} feed {owner_id} has been handed out")
    return row.uid_key


def _stamp(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


def _location(session: FeedSession, level: str, feed_kind: str, said: Words) -> str | None:
    address = session.address
    if session.room_name is None:
        place = said.online if session.video_url else None
    elif level == "private" and feed_kind in ("client", "program"):
        # Staff work by the room, and a room's feed is named after it anyway.
        place = None
    else:
        place = session.room_name
    # A clinic's name can reveal the kind of treatment, so only the street address goes out.
    return ", ".join(part for part in (place, address) if part) or None


def _summary(session: FeedSession, level: str, said: Words) -> str:
    if level == "full":
        return session.title
    if level == "standard":
        return said.kinds.get(session.kind, said.session)
    return said.appointment


class EventParts(NamedTuple):
    """What one VEVENT says: (name, value) pairs as icalendar types take them, and the alarm's."""

    properties: list[tuple[str, object]]
    alarm: list[tuple[str, object]] | None


def event_parts(session: FeedSession, feed_kind: str, feed_uid_key: str,
                alarm_minutes: int | None, said: Words | None = None) -> EventParts:
    """The one place that decides what a session's event shows in a feed of this kind;
    `said` is the feed's words (words()), else those of the language being spoken."""
    level = session.feed_privacy
    said = said or words()
    properties = [
        ("uid", event_uid(feed_uid_key, session.id)),
        ("dtstamp", _stamp(session.updated_at)),
        ("last-modified", _stamp(session.updated_at)),
        ("sequence", session.sequence),
        ("dtstart", _stamp(session.starts_at)),
        ("dtend", _stamp(session.ends_at)),
        ("summary", _summary(session, level, said)),
    ]
    location = _location(session, level, feed_kind, said)
    if location:
        properties.append(("location", location))
    if level == "full" and session.facilitator_names:
        properties.append(("description",
                           said.with_names % {"names": ", ".join(session.facilitator_names)}))
    # A video link lets anyone holding it into the group: never on the public timetable, and
    # at 'private' level the portal, not a possibly shared calendar, hands it out.
    private_client = level == "private" and feed_kind == "client"
    if session.video_url and feed_kind != "program" and not private_client:
        properties.append(("url", session.video_url))
    properties += [("status", "CONFIRMED"), ("transp", "OPAQUE")]
    if level == "private":
        properties.append(("class", "PRIVATE"))
    alarm = None
    if alarm_minutes:
        alarm = [("action", "DISPLAY"), ("description", _summary(session, level, said)),
                 ("trigger", timedelta(minutes=-alarm_minutes))]
    return EventParts(properties, alarm)


def event_for(session: FeedSession, feed_kind: str, feed_uid_key: str,
              alarm_minutes: int | None, said: Words | None = None) -> Event:
    """The event as an icalendar component: the reference the direct writer must match."""
    parts = event_parts(session, feed_kind, feed_uid_key, alarm_minutes, said)
    event = Event()
    for name, value in parts.properties:
        event.add(name, value)
    if parts.alarm:
        alarm = Alarm()
        for name, value in parts.alarm:
            alarm.add(name, value)
        event.add_component(alarm)
    return event


def calendar_name(db: DbSession, kind: str, owner_id: int, public_name: str) -> str:
    if kind == "client":
        return public_name
    if kind == "program":
        program = db.get(Program, owner_id)
        if program is not None and program.feed_privacy == "full":
            return program.name
    if kind == "room":
        room = db.get(Room, owner_id)
        if room is not None:
            return _("%(room)s schedule", room=room.name)
    if kind == "staff":
        person = db.get(Staff, owner_id)
        if person is not None:
            return _("%(name)s: work schedule", name=person.name)
    return str(CALENDAR_NAMES[kind])


def render(db: DbSession, kind: str, owner_id: int, first_day: date, *,
           public_name: str, language: str | None = None) -> bytes:
    """The feed's bytes; the same rows, public name and language give the same bytes.

    `public_name` is the PUBLIC_NAME setting, the name a client's phone shows for their
    calendar; the caller passes it so that this stays free of the Flask app, and keys its
    render cache on it. `language` is the feed's (language_of; read here when not given):
    the view passes the one it keys its cache on, so a body is never filed under another.
    """
    with i18n.speaking(language or language_of(db, kind, owner_id)):
        return _render(db, kind, owner_id, first_day, public_name)


def _render(db: DbSession, kind: str, owner_id: int, first_day: date, public_name: str) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    # No METHOD: with one, the file is an iTIP message (RFC 5546), and METHOD:PUBLISH wants an
    # ORGANIZER in every event (libical, and so Evolution, flags each one without). A feed is
    # a plain calendar to subscribe to, which RFC 5545 allows without METHOD and which Google,
    # Outlook (desktop 2007 on, web) and Apple read alike; only Outlook XP/2003 importing a
    # file wanted it. An ORGANIZER would turn sessions into meetings whose organiser the apps
    # show and offer to email, and any address put there would be fake or name the clinic.
    name = calendar_name(db, kind, owner_id, public_name)
    calendar.add("name", name)
    calendar.add("x-wr-calname", name)
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", vDuration(REFRESH))
    alarm_minutes = None
    if kind == "client":
        client = db.get(Client, owner_id)
        alarm_minutes = client.feed_alarm_minutes if client is not None else None
    key = uid_key(db, kind, owner_id)
    said = words()
    head = calendar.to_ical()
    # icalendar writes the calendar's few header lines; the events, nearly all of the bytes,
    # come from the direct writer (ten times faster, byte-for-byte the same: tests/test_feeds).
    events = b"".join(content_lines.event_bytes(event_parts(session, kind, key, alarm_minutes,
                                                            said))
                      for session in sessions_for(db, kind, owner_id, first_day))
    return head[:-len(END_CALENDAR)] + events + END_CALENDAR
