"""The choices the calendar pages' pickers offer: programs, rooms, staff and clients.

A network has thousands of clients, rooms and staff, so a picker never lists them all: it
lists at most PICKER_LIMIT matches of what was searched for (services/search.py's rule, the
one the API's `?q=` uses) and says "type to search" when there are more. Without JavaScript
the search is a small GET form beside the select; with it, static/js/picker.js turns the
select into a combobox that asks the same API list as one types.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from flask import url_for
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from scheduler.extensions import db
from scheduler.i18n import gettext as _
from scheduler.models import Client, Program, Room, Staff
from scheduler.services import programs, rosters, scope
from scheduler.services.search import MAX_QUERY, filtered
from scheduler.web import query_args

# Enough to pick from by eye; more is what the search is for.
PICKER_LIMIT = 30


@dataclass(frozen=True)
class Search:
    """How a picker searches: the page's query name for what was typed (`term`), the API
    list the combobox asks, with its other filters, and whether more rows match than shown."""

    param: str
    what: str
    api: str
    term: str | None
    more: bool
    api_params: dict = field(default_factory=dict)
    limit: int = PICKER_LIMIT
    # The API's name for what was typed, where its list is not searched by `q` (logins: email).
    api_query: str = "q"


def program_choices(site_ids: frozenset[int] | None = None):
    """The programs in scope, of the sites `site_ids` when a page shows some."""
    return [SelectChoice(p.id, p.name) for p in programs.active_programs(db.session, site_ids)]


def _room_label(room: Room) -> str:
    return _("%(room)s (%(count)s seats)", room=room.name, count=room.capacity)


def room_choices(rows=None):
    rows = rows if rows is not None else db.session.scalars(
        select(Room).where(Room.is_active.is_(True), scope.sites_filter(Room.site_id))
        .order_by(Room.name))
    return [SelectChoice(r.id, _room_label(r)) for r in rows]


def staff_choices(rows=None):
    rows = rows if rows is not None else db.session.scalars(
        select(Staff).where(Staff.is_active.is_(True), scope.staff_of_sites(Staff.id, None))
        .order_by(Staff.name))
    return [SelectChoice(s.id, s.name) for s in rows]


def with_none(label: str, choices):
    return [SelectChoice("", label)] + list(choices)


def _offer(picker, model, name_column, statement, label: Callable, none_label: str,
           search: dict) -> None:
    """Give `picker` the first matches of the term searched for (query `search["param"]`),
    the row it already holds, and the rule for a posted id: a row of `statement`."""
    term = query_args.text_arg(search["param"], MAX_QUERY)
    rows = list(db.session.scalars(filtered(statement, name_column, term)
                                   .order_by(name_column, model.id).limit(PICKER_LIMIT + 1)))
    more = len(rows) > PICKER_LIMIT
    rows = rows[:PICKER_LIMIT]
    chosen = picker.data
    if chosen is not None and chosen not in {row.id for row in rows}:
        held = db.session.scalar(statement.where(model.id == chosen))
        if held is not None:
            rows.insert(0, held)
    picker.choices = with_none(none_label, [SelectChoice(row.id, label(row)) for row in rows])
    picker.allowed = lambda value: db.session.scalar(
        select(statement.where(model.id == value).exists())) or False
    picker.search = Search(term=term, more=more, **search)


def site_rooms(program_id: int):
    """The active rooms of the program's site (a query): where its sessions can meet. Two
    sites may each have a "Room B"; a session's picker offers its own site's."""
    site = select(Program.site_id).where(Program.id == program_id).scalar_subquery()
    return select(Room).where(Room.is_active.is_(True), Room.site_id == site)


def offer_rooms(picker, none_label: str | None = None, rows=None) -> None:
    """Active rooms, or those of the query `rows`."""
    rows = rows if rows is not None else select(Room).where(
        Room.is_active.is_(True), scope.sites_filter(Room.site_id))
    _offer(picker, Room, Room.name, rows, _room_label, none_label or _("Choose a room"),
           dict(param="room_q", what=_("a room"), api=url_for("rooms.Rooms")))


def offer_staff(picker, none_label: str | None = None, rows=None) -> None:
    """Active staff, or those of the query `rows`."""
    rows = rows if rows is not None else select(Staff).where(
        Staff.is_active.is_(True), scope.staff_of_sites(Staff.id, None))
    _offer(picker, Staff, Staff.name, rows, lambda s: s.name,
           none_label or _("Choose a staff member"),
           dict(param="staff_q", what=_("a staff member"), api=url_for("staff.StaffMembers")))


def offer_clients(picker, program_id: int, none_label: str | None = None) -> None:
    """Whom a coordinator may enrol in the program's series."""
    _offer(picker, Client, Client.name, rosters.enrollable(program_id), lambda c: c.name,
           none_label or _("Choose a client"),
           dict(param="client_q", what=_("a client"), api=url_for("clients.Clients"),
                api_params={"program_id": program_id, "status": "active"}))


def offer_client_rows(picker, rows, none_label: str | None = None,
                      api_params: dict | None = None) -> None:
    """Clients of the query `rows` (the logins page: those without a login yet)."""
    _offer(picker, Client, Client.name, rows, lambda c: c.name,
           none_label or _("Choose a client"),
           dict(param="client_q", what=_("a client"), api=url_for("clients.Clients"),
                api_params=api_params or {}))


def offer_staff_many(picker, rows=None) -> None:
    """Several of the active staff (or those of the query `rows`): the ones chosen, then the
    first matches of what was searched for (query `staff_q`), as checkboxes."""
    rows = rows if rows is not None else select(Staff).where(
        Staff.is_active.is_(True), scope.staff_of_sites(Staff.id, None))
    term = query_args.text_arg("staff_q", MAX_QUERY)
    found = list(db.session.scalars(filtered(rows, Staff.name, term)
                                    .order_by(Staff.name, Staff.id).limit(PICKER_LIMIT + 1)))
    chosen = {value for value in picker.data or () if isinstance(value, int)}
    held = list(db.session.scalars(rows.where(Staff.id.in_(chosen)).order_by(
        Staff.name, Staff.id))) if chosen else []
    listed = held + [s for s in found[:PICKER_LIMIT] if s.id not in chosen]
    picker.choices = [SelectChoice(s.id, s.name) for s in listed]

    def allowed(values) -> bool:
        wanted = set(values)
        known = set(db.session.scalars(rows.with_only_columns(Staff.id)
                                       .where(Staff.id.in_(wanted))))
        return wanted <= known

    picker.allowed = allowed
    picker.search = Search(param="staff_q", what=_("a staff member"),
                           api=url_for("staff.StaffMembers"), term=term,
                           more=len(found) > PICKER_LIMIT)
