"""Rooms: create and edit."""

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from scheduler import clock
from scheduler.i18n import gettext
from scheduler.models import Room, Session, SessionSeries
from scheduler.services import audit, sites
from scheduler.services.audit import Actor
from scheduler.services.errors import InvalidField
from scheduler.services.wording import session_words

AUDITED = ("name", "capacity", "location", "is_active")


def _check_name_free(db: DbSession, name: str, site_id: int,
                     room_id: int | None = None) -> None:
    """Room names are unique within a site: each site may have its own "Room B"."""
    clash = db.scalar(select(Room.id).where(Room.site_id == site_id, Room.name == name))
    if clash is not None and clash != room_id:
        raise InvalidField("name", gettext("A room named %(name)s already exists at this site.",
                                           name=repr(name)))


def _check_capacity_fits_bookings(db: DbSession, room: Room, capacity: int) -> None:
    """A room may not shrink below the seats its active series and future sessions promise."""
    if capacity >= room.capacity:
        return
    series = db.scalar(
        select(SessionSeries)
        .where(
            SessionSeries.room_id == room.id,
            SessionSeries.status == "active",
            SessionSeries.capacity > capacity,
        )
        .order_by(SessionSeries.capacity.desc(), SessionSeries.id)
        .limit(1)
    )
    if series is not None:
        raise InvalidField(
            "capacity",
            gettext("The series %(title)s has %(num)s places in this room; lower its capacity "
                    "or move it first.", title=repr(series.title), num=series.capacity),
        )
    session = db.scalar(
        select(Session)
        .where(
            Session.room_id == room.id,
            Session.status == "scheduled",
            Session.starts_at > clock.now(),
            Session.capacity > capacity,
        )
        .order_by(Session.starts_at, Session.id)
        .limit(1)
    )
    if session is not None:
        raise InvalidField(
            "capacity",
            gettext("%(session)s has %(num)s places in this room; move it first.",
                    session=session_words(session), num=session.capacity),
        )


def create_room(db: DbSession, actor: Actor, **fields) -> Room:
    """Add a room."""
    site = sites.site_for_new(db, actor, fields.pop("site_id", None))
    _check_name_free(db, fields["name"], site.id)
    room = Room(**fields, site_id=site.id)
    db.add(room)
    db.flush()
    audit.record(db, actor, "create", "room", room.id, after=audit.snapshot(room, AUDITED))
    return room


def update_room(db: DbSession, actor: Actor, room: Room, changes: dict) -> Room:
    """Edit a room."""
    if "name" in changes:
        _check_name_free(db, changes["name"], room.site_id, room.id)
    if "capacity" in changes:
        _check_capacity_fits_bookings(db, room, changes["capacity"])
    before = audit.snapshot(room, AUDITED)
    for key, value in changes.items():
        setattr(room, key, value)
    db.flush()
    audit.record(db, actor, "update", "room", room.id, before, audit.snapshot(room, AUDITED))
    return room
