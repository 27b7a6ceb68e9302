"""When people cannot be booked: clients' weekly routines and staff time off."""

from flask.views import MethodView
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from scheduler.api.access import STAFF_READ, WRITE, client_or_staff, current_actor, roles_required
from scheduler.api.common import ApiSchema, BoundedList, Instant
from scheduler.api.parsing import Blueprint
from scheduler.extensions import db
from scheduler.services import availability

URL_PREFIX = ""
blp = Blueprint(
    "availability",
    __name__,
    description="A client's weekly unavailable windows (job, school, childcare), in their "
    "program's time zone, staff time off and staff working hours. Each counts as a conflict "
    "when booking.",
)


class Window(Schema):
    weekday = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=0, max=6),
        metadata={"description": "0 is Monday … 6 is Sunday."},
    )
    start = fields.Time(required=True, format="%H:%M", metadata={"example": "09:00"})
    end = fields.Time(required=True, format="%H:%M", metadata={"example": "17:00"})
    label = fields.String(allow_none=True, validate=validate.Length(max=120))

    @validates_schema
    def ordered(self, data, **kwargs):
        # Here rather than only in the service, so the error nests like every other one
        # in the list: errors.json.unavailable.<index>.end.
        if "start" in data and "end" in data and data["end"] <= data["start"]:
            raise ValidationError(
                "Must be after start (split a window that crosses midnight into two days).",
                "end",
            )


class AvailabilityIn(ApiSchema):
    unavailable = BoundedList(fields.Nested(Window), 100, required=True)
    preferred = BoundedList(fields.Nested(Window), 100, metadata={
        "description": "Weekly windows the client would rather come in; the schedule planner "
        "prefers them, nothing is refused outside them. Absent: left as they are."})


class WindowOut(Schema):
    weekday = fields.Integer()
    start = fields.Time(format="%H:%M", attribute="start_time")
    end = fields.Time(format="%H:%M", attribute="end_time")
    label = fields.String(allow_none=True)


class AvailabilityOut(Schema):
    unavailable = fields.List(fields.Nested(WindowOut))
    preferred = fields.List(fields.Nested(WindowOut))


class WorkingWindow(Schema):
    weekday = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=0, max=6),
        metadata={"description": "0 is Monday … 6 is Sunday."},
    )
    start = fields.Time(required=True, format="%H:%M", metadata={"example": "09:00"})
    end = fields.Time(required=True, format="%H:%M", metadata={"example": "17:00"})

    @validates_schema
    def ordered(self, data, **kwargs):
        if "start" in data and "end" in data and data["end"] <= data["start"]:
            raise ValidationError(
                "Must be after the start (split hours that cross midnight into two days).",
                "end",
            )


class WorkingHoursIn(ApiSchema):
    windows = BoundedList(
        fields.Nested(WorkingWindow), availability.MAX_WORKING_WINDOWS, required=True,
        metadata={"description": "Local wall times, read in the zone of the program whose "
                  "session it is. No windows: no limit."},
    )


class WorkingWindowOut(Schema):
    weekday = fields.Integer()
    start = fields.Time(format="%H:%M", attribute="start_time")
    end = fields.Time(format="%H:%M", attribute="end_time")


class WorkingHoursOut(Schema):
    windows = fields.List(fields.Nested(WorkingWindowOut))


class TimeOffIn(ApiSchema):
    starts_at = Instant(required=True)
    ends_at = Instant(required=True)
    reason = fields.String(allow_none=True, validate=validate.Length(max=200))

    @validates_schema
    def ordered(self, data, **kwargs):
        if "starts_at" in data and "ends_at" in data and data["ends_at"] <= data["starts_at"]:
            raise ValidationError("Must be after the start.", "ends_at")


class TimeOffOut(Schema):
    id = fields.Integer()
    staff_id = fields.Integer()
    starts_at = fields.AwareDateTime()
    ends_at = fields.AwareDateTime()
    reason = fields.String(allow_none=True)


class TimeOffList(Schema):
    items = fields.List(fields.Nested(TimeOffOut))


@blp.route("/clients/<int:client_id>/availability")
class ClientAvailability(MethodView):
    @client_or_staff("availability")
    @blp.response(200, AvailabilityOut)
    def get(self, client_id):
        """The client's weekly unavailable windows, and the times they prefer."""
        return {"unavailable": availability.client_windows(db.session, client_id),
                "preferred": availability.client_preferred(db.session, client_id)}

    @roles_required(*WRITE)
    @blp.arguments(AvailabilityIn)
    @blp.response(200, AvailabilityOut)
    def put(self, data, client_id):
        """Replace the client's weekly unavailable windows, and their preferred times when
        `preferred` is sent."""
        rows = availability.set_client_windows(
            db.session, current_actor(), client_id, data["unavailable"], data.get("preferred")
        )
        preferred = availability.client_preferred(db.session, client_id)
        db.session.commit()
        return {"unavailable": rows, "preferred": preferred}


@blp.route("/staff/<int:staff_id>/time-off")
class StaffTimeOffCollection(MethodView):
    @roles_required(*STAFF_READ)
    @blp.response(200, TimeOffList)
    def get(self, staff_id):
        """The staff member's time off."""
        return {"items": availability.staff_time_off(db.session, staff_id)}

    @roles_required(*WRITE)
    @blp.arguments(TimeOffIn)
    @blp.response(201, TimeOffOut)
    def post(self, data, staff_id):
        """Record time off; sessions they facilitate then conflict with it."""
        row = availability.add_time_off(
            db.session, current_actor(), staff_id, data["starts_at"], data["ends_at"],
            data.get("reason"),
        )
        db.session.commit()
        return row


@blp.route("/staff/<int:staff_id>/time-off/<int:time_off_id>")
class StaffTimeOffById(MethodView):
    @roles_required(*WRITE)
    @blp.response(204)
    def delete(self, staff_id, time_off_id):
        """Withdraw a time-off entry."""
        availability.remove_time_off(db.session, current_actor(), staff_id, time_off_id)
        db.session.commit()


@blp.route("/staff/<int:staff_id>/working-hours")
class StaffWorkingHoursById(MethodView):
    @roles_required(*STAFF_READ)
    @blp.response(200, WorkingHoursOut)
    def get(self, staff_id):
        """The staff member's weekly working hours; none means no limit."""
        return {"windows": availability.working_hours(db.session, staff_id)}

    @roles_required(*WRITE)
    @blp.arguments(WorkingHoursIn)
    @blp.response(200, WorkingHoursOut)
    def put(self, data, staff_id):
        """Replace the weekly working hours; facilitating outside them is then a conflict."""
        rows = availability.set_working_hours(
            db.session, current_actor(), staff_id, data["windows"]
        )
        db.session.commit()
        return {"windows": rows}
