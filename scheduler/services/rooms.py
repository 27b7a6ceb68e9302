"""Rooms: create and edit."""

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from scheduler.models import Room
from scheduler.services import audit
from scheduler.services.audit import Actor
from scheduler.services.errors import InvalidField

AUDITED = ("name", "capacity", "location", "is_active")


def _check_name_free(db: DbSession, name: str, room_id: int | None = None) -> None:
    clash = db.scalar(select(Room.id).where(Room.name == name))
    if clash is not None and clash != room_id:
        raise InvalidField("name", f"A room named {name!r} already exists.")


def create_room(db: DbSession, actor: Actor, **fields) -> Room:
    """Add a room."""
    _check_name_free(db, fields["name"])
    room = Room(**fields)
    db.add(room)
    db.flush()
    audit.record(db, actor, "create", "room", room.id, after=audit.snapshot(room, AUDITED))
    return room


def update_room(db: DbSession, actor: Actor, room: Room, changes: dict) -> Room:
    """Edit a room."""
    if "name" in changes:
        _check_name_free(db, changes["name"], room.id)
    before = audit.snapshot(room, AUDITED)
    for key, value in changes.items():
        setattr(room, key, value)
    db.flush()
    audit.record(db, actor, "update", "room", room.id, before, audit.snapshot(room, AUDITED))
    return room
