"""Sessions: the occurrences of a series, or one-off appointments."""

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from scheduler.api.access import STAFF_READ, WRITE, current_actor, roles_required
from scheduler.api.common import (
    ApiSchema,
    Id,
    Instant,
    LocalDateTime,
    PageArgs,
    QueryId,
    list_schema,
    offset_limit,
    page_of,
)
from scheduler.extensions import db
from scheduler.models import Session
from scheduler.models.sessions import SESSION_STATUSES
from scheduler.services import sessions
from scheduler.services.lookup import get_or_404

URL_PREFIX = "/sessions"
blp = Blueprint("sessions", __name__, description="Sessions (occurrences)")


class SessionListArgs(PageArgs):
    series_id = QueryId()
    program_id = QueryId()
    staff_id = QueryId()
    room_id = QueryId()
    status = fields.String(validate=validate.OneOf(SESSION_STATUSES))
    from_ = Instant(
        data_key="from", metadata={"description": "Sessions ending after this instant."}
    )
    to = Instant(metadata={"description": "Sessions starting before this instant."})
    per_page = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))

    @validates_schema
    def window(self, data, **kwargs):
        if data.get("from_") and data.get("to") and data["to"] <= data["from_"]:
            raise ValidationError("Must be after from.", "to")


class SessionOut(Schema):
    id = fields.Integer()
    series_id = fields.Integer(allow_none=True)
    program_id = fields.Integer()
    kind = fields.String()
    title = fields.String()
    timezone = fields.String()
    starts_at = LocalDateTime(metadata={"description": "ISO 8601 with the zone's UTC offset."})
    ends_at = LocalDateTime()
    original_start = LocalDateTime(allow_none=True)
    status = fields.String()
    cancel_reason = fields.String(allow_none=True)
    capacity = fields.Integer()
    room_id = fields.Integer(allow_none=True)
    video_url = fields.String(allow_none=True)
    facilitator_ids = fields.Function(lambda s: [f.id for f in s.facilitators])
    is_overridden = fields.Boolean()
    sequence = fields.Integer()


class SessionPatch(ApiSchema):
    status = fields.String(validate=validate.OneOf(SESSION_STATUSES))
    reason = fields.String(validate=validate.Length(min=1, max=500))
    starts_at = Instant()
    ends_at = Instant()
    room_id = Id(allow_none=True)
    video_url = fields.URL(allow_none=True, schemes={"https"}, validate=validate.Length(max=500))
    facilitator_ids = fields.List(Id())

    @validates_schema
    def coherent(self, data, **kwargs):
        if data.get("status") == "cancelled" and not data.get("reason"):
            raise ValidationError("A reason is required to cancel a session.", "reason")
        if "ends_at" in data and "starts_at" in data and data["ends_at"] <= data["starts_at"]:
            raise ValidationError("Must be after starts_at.", "ends_at")


SessionList = list_schema(SessionOut, "SessionList")


@blp.route("")
class Sessions(MethodView):
    @roles_required(*STAFF_READ)
    @blp.arguments(SessionListArgs, location="query")
    @blp.response(200, SessionList)
    def get(self, args):
        """List sessions by series, program, staff member, room and time window."""
        filters = sessions.SessionFilter(
            series_id=args.get("series_id"),
            program_id=args.get("program_id"),
            staff_id=args.get("staff_id"),
            room_id=args.get("room_id"),
            status=args.get("status"),
            starts_from=args.get("from_"),
            starts_to=args.get("to"),
        )
        offset, limit = offset_limit(args)
        items, total = sessions.list_sessions(db.session, filters, offset=offset, limit=limit)
        return page_of(items, total, args)


@blp.route("/<int:session_id>")
class SessionById(MethodView):
    @roles_required(*STAFF_READ)
    @blp.response(200, SessionOut)
    def get(self, session_id):
        """Read one session."""
        return get_or_404(db.session, Session, session_id, "session")

    @roles_required(*WRITE)
    @blp.arguments(SessionPatch)
    @blp.response(200, SessionOut)
    def patch(self, changes, session_id):
        """Override one occurrence: cancel or restore, move, change room, substitute staff."""
        session = get_or_404(db.session, Session, session_id, "session")
        reason = changes.pop("reason", None)
        sessions.change_session(db.session, current_actor(), session, changes, reason=reason)
        db.session.commit()
        return session
