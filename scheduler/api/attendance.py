"""Attendance: the roster a clinician marks, and self check-in with the room's code."""

from flask import current_app
from flask.views import MethodView
from flask_login import current_user
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from scheduler import clock, rate_limits
from scheduler.api.access import (
    STAFF_READ,
    caseload_policy,
    current_actor,
    log_read,
    roles_required,
)
from scheduler.api.common import MAX_CAPACITY, ApiSchema, BoundedList, Id, Instant, Text
from scheduler.api.parsing import Blueprint
from scheduler.extensions import db
from scheduler.models import Attendance, Session
from scheduler.models.attendance import ATTENDANCE_STATUSES, REASON_CODES
from scheduler.services import attendance, caseload
from scheduler.services.lookup import get_or_404

URL_PREFIX = ""
blp = Blueprint(
    "attendance",
    __name__,
    description="Attendance per booking. Minutes attended follow from the status and the "
    "arrival and leaving times. Records of sessions that ended more than "
    "ATTENDANCE_LOCK_DAYS ago change only with a reason, by a coordinator or admin.",
)


class RecordIn(Schema):
    client_id = Id(required=True)
    status = fields.String(required=True, validate=validate.OneOf(ATTENDANCE_STATUSES))
    reason_code = fields.String(
        allow_none=True, validate=validate.OneOf(REASON_CODES),
        metadata={"description": "Required for late and for absences."},
    )
    arrived_at = Instant(allow_none=True)
    left_at = Instant(allow_none=True)
    note = Text(allow_none=True, validate=validate.Length(max=2000))


class RosterIn(ApiSchema):
    # A session seats at most 500 (its capacity's bound), so its roster is never longer.
    records = BoundedList(fields.Nested(RecordIn), MAX_CAPACITY, required=True,
                          validate=validate.Length(min=1))
    reason = fields.String(
        validate=validate.Length(min=1, max=500),
        metadata={"description": "Why a locked (older) record is being changed."},
    )


class AttendanceOut(Schema):
    id = fields.Integer()
    booking_id = fields.Integer()
    session_id = fields.Integer()
    client_id = fields.Integer()
    status = fields.String()
    reason_code = fields.String(allow_none=True)
    arrived_at = fields.AwareDateTime(allow_none=True)
    left_at = fields.AwareDateTime(allow_none=True)
    minutes_attended = fields.Integer()
    method = fields.String()
    recorded_by_user_id = fields.Integer(allow_none=True)
    note = fields.String(allow_none=True)
    recorded_at = fields.AwareDateTime()


class AttendanceList(Schema):
    items = fields.List(fields.Nested(AttendanceOut))


class SessionAttendanceOut(Schema):
    items = fields.List(fields.Nested(AttendanceOut))
    withheld = fields.Integer(metadata={
        "description": "Records not given because they are of clients outside the caller's "
        "caseload: a clinician who does not facilitate the session reads only their own "
        "caseload's marks and notes. 0 for its facilitators, coordinators and admins."})


class CheckinCode(Schema):
    session_id = fields.Integer()
    code = fields.String()
    valid_from = fields.AwareDateTime()
    valid_until = fields.AwareDateTime()


class CheckinIn(ApiSchema):
    code = fields.String(required=True, validate=validate.Regexp(r"^\d{6}$",
                         error="Must be the six digits shown in the room."))


@blp.route("/sessions/<int:session_id>/attendance")
class SessionAttendance(MethodView):
    @roles_required(*STAFF_READ)
    @blp.response(200, SessionAttendanceOut)
    def get(self, session_id):
        """Attendance recorded for the session so far.

        A clinician who facilitates the session (a substitute included) reads every record;
        another clinician reads only those of clients on their caseload, and `withheld` says
        how many others there are.
        """
        get_or_404(db.session, Session, session_id, "session")
        within = caseload.roster_within(db.session, current_user, session_id, clock.now(),
                                        caseload_policy())
        rows, withheld = attendance.session_records(db.session, session_id, within)
        log_read([row.client_id for row in rows], "attendance")
        return {"items": rows, "withheld": withheld}

    @roles_required(*STAFF_READ)
    @blp.arguments(RosterIn)
    @blp.response(200, AttendanceList)
    def put(self, data, session_id):
        """Mark the whole group in one call; one bad record rejects all, naming its index.

        Only booked clients can be marked; a walk-in is booked in the same call if a seat
        is free.
        """
        rows = attendance.record_roster(
            db.session, current_actor(), current_user.role, session_id, data["records"],
            now=clock.now(), policy=attendance.Policy.from_config(current_app.config),
            reason=data.get("reason"),
        )
        ids = [row.id for row in rows]
        db.session.commit()
        # The committed rows, read back in one query rather than one each as they serialise.
        db.session.scalars(select(Attendance).where(Attendance.id.in_(ids))).all()
        # A clinician covering a session they do not lead gets back what they wrote, but not
        # a note someone else left on a client outside their caseload.
        readable = caseload.roster_marks_readable(db.session, current_user, session_id,
                                                  clock.now(), caseload_policy())
        if readable is not None:
            noted = {record["client_id"] for record in data["records"] if "note" in record}
            return {"items": [
                row if row.client_id in readable | noted
                else {**{name: getattr(row, name) for name in AttendanceOut().fields},
                      "note": None} for row in rows]}
        return {"items": rows}


@blp.route("/sessions/<int:session_id>/checkin-code")
class SessionCheckinCode(MethodView):
    @roles_required(*STAFF_READ)
    @blp.response(200, CheckinCode)
    def get(self, session_id):
        """The short code to show the room, valid from 30 minutes before the start to the end."""
        session = get_or_404(db.session, Session, session_id, "session")
        opens, closes = attendance.checkin_window(session)
        return {
            "session_id": session.id,
            "code": attendance.checkin_code(current_app.config["SECRET_KEY"], session),
            "valid_from": opens,
            "valid_until": closes,
        }


@blp.route("/checkin")
class SelfCheckin(MethodView):
    @rate_limits.self_checkin
    @roles_required("client")
    @blp.arguments(CheckinIn)
    @blp.response(200, AttendanceOut)
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    def post(self, data):
        """A client checks themselves in with the room's code: present, or late after the grace.

        After 5 wrong codes the client's check-in pauses (1, 2, 4 … minutes) and answers 429.
        """
        outcome = attendance.self_check_in(
            db.session, current_actor(), current_user.client_id, data["code"],
            now=clock.now(), secret=current_app.config["SECRET_KEY"],
            policy=attendance.Policy.from_config(current_app.config),
        )
        # Saved either way: a wrong code must count even though the request fails.
        db.session.commit()
        if outcome.error is not None:
            raise outcome.error
        return outcome.attendance
