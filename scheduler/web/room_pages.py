"""Setup pages for rooms: where in-person sessions happen, and how many seats each holds.

Coordinators and admins (as POST/PATCH /api/v1/rooms); everything goes through
services/rooms.py, which audits it and keeps names unique within a site.
"""

from flask import Blueprint, render_template, request, url_for
from sqlalchemy import func, select
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from scheduler.extensions import db
from scheduler.i18n import gettext as _
from scheduler.i18n import lazy_gettext as _l
from scheduler.models import Room
from scheduler.models.users import COORDINATORS
from scheduler.services import rooms, scope
from scheduler.services.lookup import get_or_404
from scheduler.services.search import filtered
from scheduler.web import query_args
from scheduler.web.access import page_actor, page_roles
from scheduler.web.form_fields import PageForm, WholeNumber
from scheduler.web.setup_forms import (
    SiteField,
    add_from_form,
    offer_sites,
    save_from_form,
    site_names,
)

bp = Blueprint("room_pages", __name__)

PER_PAGE = 50
# As the API takes them (api/rooms.py RoomFields).
MAX_SEATS = 500


class RoomForm(PageForm):
    name = StringField(_l("Name"), validators=[DataRequired(_l("Give the room a name.")),
                                           Length(max=120)],
                       description=_l("Unique within its site: each site may have its own Room B."))
    capacity = WholeNumber(_l("Seats"), validators=[
        InputRequired(_l("Say how many clients the room seats.")),
        NumberRange(1, MAX_SEATS, _l("Between 1 and %(max)d seats.", max=MAX_SEATS))])
    location = StringField(_l("Where it is"), validators=[Optional(), Length(max=300)],
                           description=_l("Floor or directions, as clients are told."))
    is_active = BooleanField(_l("In use"), default=True)


class NewRoomForm(RoomForm):
    site_id = SiteField()


def _values(form: RoomForm) -> dict:
    return {"name": form.name.data.strip(), "capacity": form.capacity.data,
            "location": (form.location.data or "").strip() or None,
            "is_active": bool(form.is_active.data)}


def _list_page(form: NewRoomForm, status: int = 200):
    show_site = offer_sites(form.site_id)
    q = query_args.text_arg("q", 200)
    page = query_args.number_arg("page", 1_000_000) or 1
    query = filtered(select(Room), Room.name, q).where(scope.sites_filter(Room.site_id))
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(db.session.scalars(query.order_by(Room.name, Room.id)
                                   .offset((page - 1) * PER_PAGE).limit(PER_PAGE)))
    pages = max(1, -(-total // PER_PAGE))

    def page_url(n: int) -> str:
        return url_for(".index", **{**request.args.to_dict(), "page": n})

    return render_template(
        "setup/rooms.html", rooms=rows, total=total, q=q or "", form=form, show_site=show_site,
        sites=site_names(r.site_id for r in rows),
        prev_url=page_url(page - 1) if page > 1 else None,
        next_url=page_url(page + 1) if page < pages else None), status


@bp.get("/rooms")
@page_roles(*COORDINATORS)
def index():
    """Rooms by name (searchable), with their site and seats, and the form to add one."""
    return _list_page(NewRoomForm(formdata=None))


@bp.post("/rooms")
@page_roles(*COORDINATORS)
def add():
    form = NewRoomForm()
    return add_from_form(form, lambda: rooms.create_room(
        db.session, page_actor(), site_id=form.site_id.data, **_values(form)), _list_page)


@bp.route("/rooms/<int:room_id>/edit", methods=["GET", "POST"])
@page_roles(*COORDINATORS)
def edit(room_id: int):
    """Rename a room, change its seats or location, or take it out of use; it stays at its
    site."""
    room = get_or_404(db.session, Room, room_id, "room")
    site = site_names([room.site_id]).get(room.site_id)
    form = RoomForm(obj=room) if request.method == "GET" else RoomForm()

    def page(status: int):
        return render_template("setup/room_edit.html", form=form, room=room, site=site), status

    return save_from_form(
        form, lambda: rooms.update_room(db.session, page_actor(), room, _values(form)),
        page, lambda _result: _("%(name)s saved.", name=room.name))
