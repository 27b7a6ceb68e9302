"""Bookings into sessions, enrolments in series, and discharge."""

from flask import jsonify
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import abort
from marshmallow import Schema, fields, validate
from sqlalchemy import func, select

from scheduler import clock
from scheduler.api.access import STAFF_READ, WRITE, current_actor, log_read, roles_required
from scheduler.api.clients import ClientOut
from scheduler.api.common import (
    ApiSchema,
    CalendarDate,
    Id,
    PageArgs,
    list_schema,
    offset_limit,
    page_of,
)
from scheduler.api.errors import ClashOut
from scheduler.api.parsing import Blueprint
from scheduler.extensions import db
from scheduler.models import Booking, Enrollment, Session, SessionSeries
from scheduler.models.bookings import BOOKING_STATUSES
from scheduler.services import booking
from scheduler.services.lookup import get_or_404
from scheduler.services.overrides import Override

URL_PREFIX = ""
blp = Blueprint(
    "bookings",
    __name__,
    description="Bookings, the waitlist and enrolments. A full session queues the client "
    "first come, first served; a freed seat goes to the first waitlisted client without a "
    "conflict at that time. Conflicts answer 409 with "
    '`{"conflicts":[{"kind","session_id","starts_at","ends_at","detail"}]}`; '
    '`{"override": true, "reason": "…"}` books anyway and is audited.',
)


class OverrideFields(ApiSchema):
    override = fields.Boolean(load_default=False)
    reason = fields.String(validate=validate.Length(min=1, max=500))


class BookingIn(OverrideFields):
    client_id = Id(required=True)


class BookingOut(Schema):
    id = fields.Integer()
    session_id = fields.Integer()
    client_id = fields.Integer()
    enrollment_id = fields.Integer(allow_none=True)
    status = fields.String(metadata={"description": "booked, waitlisted or cancelled"})
    waitlist_position = fields.Method("position", allow_none=True)
    cancel_reason = fields.String(allow_none=True)
    override_reason = fields.String(allow_none=True)

    def position(self, obj):
        return booking.waitlist_position(db.session, obj)


class CancelledBooking(BookingOut):
    promoted = fields.List(fields.Nested(BookingOut), dump_default=list)


class CancelArgs(ApiSchema):
    reason = fields.String(validate=validate.Length(min=1, max=500))


class BookingListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(BOOKING_STATUSES))
    per_page = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


BookingList = list_schema(BookingOut, "BookingList")


class EnrollmentIn(OverrideFields):
    client_id = Id(required=True)
    start_date = CalendarDate(metadata={"description": "Defaults to today or the series start."})
    end_date = CalendarDate(
        allow_none=True, metadata={"description": "Defaults to the series end."}
    )
    skip_conflicting = fields.Boolean(
        load_default=False,
        metadata={"description": "Book the occurrences without conflicts and list the rest."},
    )


class EnrollmentOut(Schema):
    id = fields.Integer()
    client_id = fields.Integer()
    series_id = fields.Integer()
    start_date = fields.Date()
    end_date = fields.Date(allow_none=True)
    status = fields.String()
    booked = fields.Integer(metadata={"description": "Occurrences this request booked."})
    waitlisted = fields.Integer(metadata={"description": "Occurrences this request queued for."})
    skipped = fields.List(fields.Nested(ClashOut), dump_default=list)


EnrollmentList = list_schema(EnrollmentOut, "EnrollmentList")


class DischargeIn(ApiSchema):
    date = CalendarDate(required=True, metadata={"description": "Last day in treatment."})
    reason = fields.String(validate=validate.Length(min=1, max=500))


class DischargeOut(ClientOut):
    cancelled_bookings = fields.Integer()


def _override(data: dict) -> Override | None:
    return Override.given(data["override"], data.get("reason"))


@blp.route("/sessions/<int:session_id>/bookings")
class SessionBookings(MethodView):
    @roles_required(*STAFF_READ)
    @blp.arguments(BookingListArgs, location="query")
    @blp.response(200, BookingList)
    def get(self, args, session_id):
        """The session's roster and waitlist, waitlist in queue order."""
        get_or_404(db.session, Session, session_id, "session")
        query = select(Booking).where(Booking.session_id == session_id)
        if "status" in args:
            query = query.where(Booking.status == args["status"])
        offset, limit = offset_limit(args)
        total = db.session.scalar(select(func.count()).select_from(query.subquery()))
        items = list(db.session.scalars(
            query.order_by(Booking.status, Booking.waitlisted_at, Booking.id)
            .offset(offset).limit(limit)
        ))
        log_read([row.client_id for row in items], "session_bookings")
        return page_of(items, total, args)

    @roles_required(*WRITE)
    @blp.arguments(BookingIn)
    @blp.response(201, BookingOut)
    @blp.alt_response(200, schema=BookingOut, description="The client already held this booking.")
    def post(self, data, session_id):
        """Book a client into one session; a full session puts them on the waitlist."""
        row, created = booking.book_client(
            db.session, current_actor(), session_id, data["client_id"],
            now=clock.now(), override=_override(data),
        )
        # Dumped before commit: the queue position is read under the session lock, and
        # the row need not be reloaded afterwards.
        body = jsonify(BookingOut().dump(row))
        db.session.commit()
        return body, 201 if created else 200


@blp.route("/bookings/<int:booking_id>")
class BookingById(MethodView):
    @roles_required(*STAFF_READ, "client")
    @blp.response(200, BookingOut)
    def get(self, booking_id):
        """Read one booking; a client may read only their own."""
        if current_user.role == "client":
            # 403 for a missing id too, so a client cannot probe which bookings exist.
            row = db.session.get(Booking, booking_id)
            if row is None or row.client_id != current_user.client_id:
                abort(403, message="You may only read your own bookings.")
        else:
            row = get_or_404(db.session, Booking, booking_id, "booking")
        log_read([row.client_id], "booking")
        return row

    @roles_required(*WRITE)
    @blp.arguments(CancelArgs, location="query")
    @blp.response(200, CancelledBooking)
    def delete(self, args, booking_id):
        """Cancel a booking (kept, never deleted); the freed seat promotes the waitlist."""
        row, promoted = booking.cancel_booking(
            db.session, current_actor(), booking_id, now=clock.now(), reason=args.get("reason")
        )
        db.session.commit()
        row.promoted = promoted
        return row


@blp.route("/series/<int:series_id>/enrollments")
class SeriesEnrollments(MethodView):
    @roles_required(*STAFF_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, EnrollmentList)
    def get(self, args, series_id):
        """Who is enrolled in the series."""
        get_or_404(db.session, SessionSeries, series_id, "series")
        query = select(Enrollment).where(Enrollment.series_id == series_id)
        offset, limit = offset_limit(args)
        total = db.session.scalar(select(func.count()).select_from(query.subquery()))
        items = list(db.session.scalars(
            query.order_by(Enrollment.id).offset(offset).limit(limit)))
        log_read([row.client_id for row in items], "enrollments")
        return page_of(items, total, args)

    @roles_required(*WRITE)
    @blp.arguments(EnrollmentIn)
    @blp.response(201, EnrollmentOut)
    def post(self, data, series_id):
        """Enrol a client: every occurrence in range is booked (or queued), or none is.

        All conflicts are listed at once (409). With `skip_conflicting` the rest are booked
        and the skipped occurrences listed; with `override` and a `reason` all are booked.
        Occurrences the horizon makes later are booked as they are made.
        """
        result = booking.enroll_client(
            db.session, current_actor(), series_id, data["client_id"],
            now=clock.now(),
            start_date=data.get("start_date"),
            end_date=data.get("end_date"),
            skip_conflicting=data["skip_conflicting"],
            override=_override(data),
        )
        db.session.commit()
        row = result.enrollment
        row.booked, row.waitlisted = result.booked, result.waitlisted
        row.skipped = [c.as_dict() for c in result.skipped]
        return row


@blp.route("/clients/<int:client_id>/discharge")
class ClientDischarge(MethodView):
    @roles_required(*WRITE)
    @blp.arguments(DischargeIn)
    @blp.response(200, DischargeOut)
    def post(self, data, client_id):
        """Discharge: enrolments end, later bookings are cancelled, waitlists move up."""
        client, cancelled = booking.discharge_client(
            db.session, current_actor(), client_id, data["date"],
            now=clock.now(), reason=data.get("reason"),
        )
        db.session.commit()
        client.cancelled_bookings = cancelled
        return client
