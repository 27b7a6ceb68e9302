"""Staff members who facilitate sessions."""

from flask.views import MethodView
from marshmallow import Schema, fields, validate
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from scheduler.api.access import STAFF_READ, WRITE, current_actor, roles_required
from scheduler.api.common import (
    ApiSchema,
    BoundedList,
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
from scheduler.models import Staff
from scheduler.models.staff import STAFF_ROLES
from scheduler.services import scope
from scheduler.services import staff as staff_service
from scheduler.services.lookup import get_or_404
from scheduler.services.search import filtered

URL_PREFIX = "/staff"
blp = Blueprint("staff", __name__, description="Staff")


class StaffIn(ApiSchema):
    name = RequiredText(required=True)
    role = fields.String(required=True, validate=validate.OneOf(STAFF_ROLES))
    email = fields.Email(required=True, allow_none=True, validate=validate.Length(max=254))
    credentials = fields.String(allow_none=True, validate=validate.Length(max=120))
    is_active = fields.Boolean()
    site_ids = BoundedList(Id(), 1000, validate=validate.Length(
        min=1, error="Choose at least one site."), metadata={
        "description": "The sites they work at, one or more. Without it a new staff member "
                       "works at the only site; required once there are two."})


class StaffOut(Schema):
    id = fields.Integer()
    name = fields.String()
    role = fields.String()
    email = fields.String(allow_none=True)
    credentials = fields.String(allow_none=True)
    is_active = fields.Boolean()
    site_ids = fields.Function(lambda member: [site.id for site in member.sites],
                               metadata={"type": "array", "items": {"type": "integer"}})


StaffPatch = patch_schema(StaffIn, "StaffPatch")
StaffList = list_schema(StaffOut, "StaffList")


@blp.route("")
class StaffMembers(MethodView):
    @roles_required(*STAFF_READ)
    @blp.arguments(SearchPageArgs, location="query")
    @blp.response(200, StaffList)
    def get(self, args):
        """List staff, optionally those whose name matches `q`."""
        query = filtered(select(Staff), Staff.name, args.get("q")).where(
            scope.staff_of_sites(Staff.id, None))
        offset, limit = offset_limit(args)
        total = db.session.scalar(select(func.count()).select_from(query.subquery()))
        items = db.session.scalars(
            query.order_by(Staff.name, Staff.id).offset(offset).limit(limit)
            .options(selectinload(Staff.sites))
        )
        return page_of(list(items), total, args)

    @roles_required(*WRITE)
    @blp.arguments(StaffIn)
    @blp.response(201, StaffOut)
    def post(self, data):
        """Add a staff member."""
        member = staff_service.create_staff(db.session, current_actor(), **data)
        db.session.commit()
        return member


@blp.route("/<int:staff_id>")
class StaffById(MethodView):
    @roles_required(*STAFF_READ)
    @blp.response(200, StaffOut)
    def get(self, staff_id):
        """Read one staff member."""
        return get_or_404(db.session, Staff, staff_id, "staff member")

    @roles_required(*WRITE)
    @blp.arguments(StaffPatch)
    @blp.response(200, StaffOut)
    def patch(self, changes, staff_id):
        """Edit a staff member."""
        member = get_or_404(db.session, Staff, staff_id, "staff member")
        staff_service.update_staff(db.session, current_actor(), member, changes)
        db.session.commit()
        return member
