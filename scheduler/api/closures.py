"""Closures: a program closed for a day or a range (a holiday, snow), and lifting it again."""

from flask import current_app
from flask.views import MethodView
from marshmallow import Schema, fields

from scheduler import clock, outbox
from scheduler.api.access import STAFF_READ, WRITE, current_actor, roles_required
from scheduler.api.common import ApiSchema, CalendarDate, RequiredText
from scheduler.api.parsing import Blueprint
from scheduler.extensions import db
from scheduler.models import Program
from scheduler.services import closures
from scheduler.services.lookup import get_or_404
from scheduler.services.overrides import MAX_REASON
from scheduler.services.wording import session_words

URL_PREFIX = "/programs"
blp = Blueprint("closures", __name__, description="Closures of a program")


class ClosureIn(ApiSchema):
    starts_on = CalendarDate(required=True, metadata={
        "description": "First closed day, on the program's calendar."})
    ends_on = CalendarDate(required=True, metadata={
        "description": "Last closed day, inclusive (at most 92 days after starts_on)."})
    reason = RequiredText(MAX_REASON, required=True, metadata={
        "description": "Shown to clients on their page, e.g. 'Snow'."})


class ClosureOut(Schema):
    id = fields.Integer()
    program_id = fields.Integer()
    starts_on = fields.Date()
    ends_on = fields.Date()
    reason = fields.String()
    created_at = fields.AwareDateTime()
    cancelled = fields.Integer(metadata={
        "description": "Sessions this closure holds cancelled."})


class ClosureCreated(ClosureOut):
    kept = fields.List(fields.String(), metadata={
        "description": "Sessions in the range left as they were: attendance is recorded."})


class ClosureLifted(ClosureOut):
    restored = fields.Integer(metadata={"description": "Sessions back on."})
    still_closed = fields.Integer(metadata={
        "description": "Sessions another closure of the same days keeps cancelled."})


class ClosureList(Schema):
    items = fields.List(fields.Nested(ClosureOut))


def _out(closure, cancelled: int, **extra) -> dict:
    return {"id": closure.id, "program_id": closure.program_id, "starts_on": closure.starts_on,
            "ends_on": closure.ends_on, "reason": closure.reason,
            "created_at": closure.created_at, "cancelled": cancelled, **extra}


@blp.route("/<int:program_id>/closures")
class ProgramClosures(MethodView):
    @roles_required(*STAFF_READ)
    @blp.response(200, ClosureList)
    def get(self, program_id):
        """The program's closures in force, soonest first."""
        get_or_404(db.session, Program, program_id, "program")
        rows = closures.list_closures(db.session, program_id)
        counts = closures.cancelled_counts(db.session, [c.id for c in rows])
        return {"items": [_out(c, counts[c.id]) for c in rows]}

    @roles_required(*WRITE)
    @blp.arguments(ClosureIn)
    @blp.response(201, ClosureCreated)
    def post(self, data, program_id):
        """Close the program: every session in the range that has not begun is cancelled.

        Sessions with attendance recorded stay (listed in `kept`). Booked clients get one
        message listing their cancelled sessions.
        """
        program = get_or_404(db.session, Program, program_id, "program")
        closing = closures.create_closure(
            db.session, current_actor(), program, now=clock.now(),
            public_name=current_app.config["PUBLIC_NAME"], **data)
        db.session.commit()
        outbox.send_after_response(*closing.message_keys)
        return _out(closing.closure, len(closing.cancelled),
                    kept=[session_words(s) for s in closing.kept])


@blp.route("/<int:program_id>/closures/<int:closure_id>")
class ProgramClosure(MethodView):
    @roles_required(*WRITE)
    @blp.response(200, ClosureLifted)
    def delete(self, program_id, closure_id):
        """Lift the closure: exactly the sessions it cancelled that are still ahead come back.

        A session cancelled for another reason stays cancelled. Booked clients get one message.
        """
        get_or_404(db.session, Program, program_id, "program")
        closure = closures.get_closure(db.session, program_id, closure_id)
        lifting = closures.lift_closure(db.session, current_actor(), closure, now=clock.now(),
                                        public_name=current_app.config["PUBLIC_NAME"])
        db.session.commit()
        outbox.send_after_response(*lifting.message_keys)
        return _out(closure, 0, restored=len(lifting.restored),
                    still_closed=len(lifting.still_closed))
