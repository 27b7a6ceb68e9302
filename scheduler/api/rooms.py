"""Rooms where in-person sessions happen."""

from flask.views import MethodView
from marshmallow import Schema, fields, validate
from sqlalchemy import func, select

from scheduler.api.access import STAFF_READ, WRITE, current_actor, roles_required
from scheduler.api.common import (
    ApiSchema,
    Count,
    Id,
    RequiredText,
    SearchPageArgs,
    list_schema,
    offset_limit,
    page_of,
    patch_schema,
)
from scheduler.api.parsing import Blueprint
from scheduler.extensions import db
from scheduler.models import Room
from scheduler.services import rooms, scope
from scheduler.services.lookup import get_or_404
from scheduler.services.search import filtered

URL_PREFIX = "/rooms"
blp = Blueprint("rooms", __name__, description="Rooms")


class RoomFields(ApiSchema):
    name = RequiredText(required=True, max_length=120, metadata={
        "description": "Unique within its site."})
    capacity = Count(required=True, validate=validate.Range(min=1, max=500))
    location = fields.String(allow_none=True, validate=validate.Length(max=300))
    is_active = fields.Boolean()


class RoomIn(RoomFields):
    site_id = Id(metadata={"description": "The site it is at; required once the network "
                           "has more than one site."})


class RoomOut(Schema):
    id = fields.Integer()
    site_id = fields.Integer()
    name = fields.String()
    capacity = fields.Integer()
    location = fields.String(allow_none=True)
    is_active = fields.Boolean()


# A room stays at its site.
RoomPatch = patch_schema(RoomFields, "RoomPatch")
RoomList = list_schema(RoomOut, "RoomList")


@blp.route("")
class Rooms(MethodView):
    @roles_required(*STAFF_READ)
    @blp.arguments(SearchPageArgs, location="query")
    @blp.response(200, RoomList)
    def get(self, args):
        """List rooms, optionally those whose name matches `q`."""
        query = filtered(select(Room), Room.name, args.get("q")).where(
            scope.sites_filter(Room.site_id))
        offset, limit = offset_limit(args)
        total = db.session.scalar(select(func.count()).select_from(query.subquery()))
        items = db.session.scalars(query.order_by(Room.name, Room.id).offset(offset).limit(limit))
        return page_of(list(items), total, args)

    @roles_required(*WRITE)
    @blp.arguments(RoomIn)
    @blp.response(201, RoomOut)
    def post(self, data):
        """Add a room."""
        room = rooms.create_room(db.session, current_actor(), **data)
        db.session.commit()
        return room


@blp.route("/<int:room_id>")
class RoomById(MethodView):
    @roles_required(*STAFF_READ)
    @blp.response(200, RoomOut)
    def get(self, room_id):
        """Read one room."""
        return get_or_404(db.session, Room, room_id, "room")

    @roles_required(*WRITE)
    @blp.arguments(RoomPatch)
    @blp.response(200, RoomOut)
    def patch(self, changes, room_id):
        """Edit a room."""
        room = get_or_404(db.session, Room, room_id, "room")
        rooms.update_room(db.session, current_actor(), room, changes)
        db.session.commit()
        return room
