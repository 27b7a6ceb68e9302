"""Sessions: the occurrences of a series, or one-off appointments."""

from flask.views import MethodView
from flask_login import current_user
from flask_smorest import abort
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import select

from scheduler import clock
from scheduler.api.access import STAFF_READ, WRITE, current_actor, log_read, roles_required
from scheduler.api.common import (
    MAX_CAPACITY,
    MAX_FACILITATORS,
    ApiSchema,
    BoundedList,
    Id,
    Instant,
    LocalDateTime,
    PageArgs,
    QueryId,
    list_schema,
    offset_limit,
    page_of,
)
from scheduler.api.parsing import Blueprint
from scheduler.extensions import db
from scheduler.models import Booking, Session
from scheduler.models.series import SESSION_KINDS
from scheduler.models.sessions import SESSION_STATUSES
from scheduler.services import booking, sessions
from scheduler.services.lookup import get_or_404
from scheduler.services.overrides import Override

URL_PREFIX = "/sessions"
blp = Blueprint("sessions", __name__, description="Sessions (occurrences)")


class SessionListArgs(PageArgs):
    series_id = QueryId()
    program_id = QueryId()
    staff_id = QueryId()
    room_id = QueryId()
    client_id = QueryId(metadata={"description": "Sessions this client has a seat in."})
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
    cancelled_by = fields.String(allow_none=True, metadata={
        "description": "override, series_edit, series_end or closure."})
    closure_id = fields.Integer(allow_none=True)
    capacity = fields.Integer()
    room_id = fields.Integer(allow_none=True)
    video_url = fields.String(allow_none=True)
    facilitator_ids = fields.Function(lambda s: [f.id for f in s.facilitators])
    is_overridden = fields.Boolean()
    sequence = fields.Integer()
    booked_count = fields.Integer()
    waitlist_count = fields.Integer()


class SessionPatch(ApiSchema):
    status = fields.String(validate=validate.OneOf(SESSION_STATUSES))
    reason = fields.String(validate=validate.Length(min=1, max=500))
    starts_at = Instant()
    ends_at = Instant()
    room_id = Id(allow_none=True)
    video_url = fields.URL(allow_none=True, schemes={"https"}, validate=validate.Length(max=500))
    facilitator_ids = BoundedList(Id(), MAX_FACILITATORS)
    override = fields.Boolean(
        load_only=True,
        metadata={"description": "Proceed despite room, staff or client conflicts; "
                  "needs a reason."},
    )

    @validates_schema
    def coherent(self, data, **kwargs):
        if data.get("status") == "cancelled" and not data.get("reason"):
            raise ValidationError("A reason is required to cancel a session.", "reason")
        if "ends_at" in data and "starts_at" in data and data["ends_at"] <= data["starts_at"]:
            raise ValidationError("Must be after the start.", "ends_at")


class OneOffIn(ApiSchema):
    program_id = Id(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(SESSION_KINDS))
    starts_at = Instant(required=True)
    ends_at = Instant(required=True)
    title = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "Defaults to a neutral name for the kind."},
    )
    capacity = fields.Integer(
        strict=True, load_default=None, validate=validate.Range(min=1, max=MAX_CAPACITY),
        metadata={"description": "Defaults from the kind as for a series: 1 for one-to-one "
                  "kinds, 12 for the rest, never more than the room's capacity."})
    room_id = Id(allow_none=True)
    video_url = fields.URL(allow_none=True, schemes={"https"}, validate=validate.Length(max=500))
    facilitator_ids = BoundedList(Id(), MAX_FACILITATORS, load_default=list)
    client_id = Id(allow_none=True, metadata={"description": "Book this client into it at once."})
    override = fields.Boolean(load_default=False)
    reason = fields.String(validate=validate.Length(min=1, max=500))

    @validates_schema
    def coherent(self, data, **kwargs):
        if "ends_at" in data and "starts_at" in data and data["ends_at"] <= data["starts_at"]:
            raise ValidationError("Must be after the start.", "ends_at")


SessionList = list_schema(SessionOut, "SessionList")


def with_counts(items: list[Session]) -> list[Session]:
    """Attach booked and waitlist counts, one query for the whole page."""
    tally = booking.counts(db.session, [s.id for s in items])
    for session in items:
        session.booked_count, session.waitlist_count = tally[session.id]
    return items


def _client_may_see(session_id: int) -> bool:
    return db.session.scalar(
        select(Booking.id).where(
            Booking.session_id == session_id,
            Booking.client_id == current_user.client_id,
            Booking.status.in_(("booked", "waitlisted")),
        )
    ) is not None


@blp.route("")
class Sessions(MethodView):
    @roles_required(*STAFF_READ, "client")
    @blp.arguments(SessionListArgs, location="query")
    @blp.response(200, SessionList)
    def get(self, args):
        """List sessions by series, program, staff member, room, client and time window.

        A client sees only their own booked sessions.
        """
        if current_user.role == "client":
            if args.get("client_id", current_user.client_id) != current_user.client_id:
                abort(403, message="You may only read your own sessions.")
            args["client_id"] = current_user.client_id
        filters = sessions.SessionFilter(
            series_id=args.get("series_id"),
            program_id=args.get("program_id"),
            staff_id=args.get("staff_id"),
            room_id=args.get("room_id"),
            client_id=args.get("client_id"),
            status=args.get("status"),
            starts_from=args.get("from_"),
            starts_to=args.get("to"),
        )
        offset, limit = offset_limit(args)
        items, total = sessions.list_sessions(db.session, filters, offset=offset, limit=limit)
        if "client_id" in args:
            # One client's schedule is their record; other lists carry only head counts.
            log_read([args["client_id"]], "schedule")
        return page_of(with_counts(items), total, args)

    @roles_required(*WRITE)
    @blp.arguments(OneOffIn)
    @blp.response(201, SessionOut)
    def post(self, data):
        """Create a one-off session (individual therapy, a medication review) outside any series.

        With `client_id` the client is booked at once. Room, staff and client conflicts
        answer 409 unless `override` is true and a `reason` is given.
        """
        override = Override.given(data.pop("override"), data.pop("reason", None))
        session = sessions.create_one_off(
            db.session, current_actor(), now=clock.now(), override=override, **data
        )
        db.session.commit()
        return with_counts([session])[0]


@blp.route("/<int:session_id>")
class SessionById(MethodView):
    @roles_required(*STAFF_READ, "client")
    @blp.response(200, SessionOut)
    def get(self, session_id):
        """Read one session, with its booked and waitlist counts."""
        if current_user.role == "client" and not _client_may_see(session_id):
            abort(403, message="You may only read sessions you are booked into.")
        return with_counts([get_or_404(db.session, Session, session_id, "session")])[0]

    @roles_required(*WRITE)
    @blp.arguments(SessionPatch)
    @blp.response(200, SessionOut)
    def patch(self, changes, session_id):
        """Override one occurrence: cancel or restore, move, change room, substitute staff.

        A move, room or staff change that double-books anyone answers 409 listing every
        conflict, unless `override` is true and a `reason` is given.
        A cancelled session can only be restored (`status` "scheduled"): a move, room, link or
        staff change to it answers 409 until it is.
        """
        session = get_or_404(db.session, Session, session_id, "session")
        reason = changes.pop("reason", None)
        override = Override.given(changes.pop("override", False), reason)
        sessions.change_session(
            db.session, current_actor(), session, changes, reason=reason, override=override,
        )
        db.session.commit()
        return with_counts([session])[0]
