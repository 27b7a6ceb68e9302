"""The choices the calendar pages' pickers offer: programs, rooms, staff and clients."""

from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from scheduler.extensions import db
from scheduler.models import Room, Staff
from scheduler.services import programs, rosters


def program_choices():
    return [SelectChoice(p.id, p.name) for p in programs.active_programs(db.session)]


def room_choices(rows=None):
    rows = rows if rows is not None else db.session.scalars(
        select(Room).where(Room.is_active.is_(True)).order_by(Room.name))
    return [SelectChoice(r.id, f"{r.name} ({r.capacity} seats)") for r in rows]


def staff_choices(rows=None):
    rows = rows if rows is not None else db.session.scalars(
        select(Staff).where(Staff.is_active.is_(True)).order_by(Staff.name))
    return [SelectChoice(s.id, s.name) for s in rows]


def client_choices(program_id: int):
    return with_none("Choose a client", [
        SelectChoice(c.id, c.name) for c in rosters.enrollable_clients(db.session, program_id)])


def with_none(label: str, choices):
    return [SelectChoice("", label)] + list(choices)

