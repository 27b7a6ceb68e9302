"""Schedule proposals: the planner's suggested enrolments and appointments, accepted in one step.

Proposing books nothing. Accepting books exactly what the proposal shows, in one transaction;
if anything changed since (a seat taken, a new booking, the clinician or room taken) it answers
409 listing each change in words, and writes nothing.
"""

from flask import current_app
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from scheduler import clock
from scheduler.api.access import WRITE, current_actor, log_read, roles_required
from scheduler.api.common import ApiSchema, BoundedList, CalendarDate, Count, Id
from scheduler.api.parsing import Blueprint
from scheduler.extensions import db
from scheduler.services import proposals

URL_PREFIX = ""
blp = Blueprint(
    "proposals",
    __name__,
    description="Schedule proposals (issue 18): the planner (CP-SAT) suggests enrolments in "
    "group series and one-to-one appointments that meet each week's target hours around the "
    "client's unavailability, bookings and plan; accept one to book it all at once. A "
    "proposal lapses after PROPOSAL_TTL_MINUTES.",
)


# --- requests -----------------------------------------------------------------------------------


class ProposalIn(ApiSchema):
    from_ = CalendarDate(required=True, data_key="from", metadata={
        "description": "First day, in the program's time zone; today or later."})
    weeks = Count(load_default=proposals.DEFAULT_WEEKS, validate=validate.Range(
        min=proposals.MIN_WEEKS, max=proposals.MAX_WEEKS,
        error=f"Must be from {proposals.MIN_WEEKS} to {proposals.MAX_WEEKS} weeks."))


class CohortIn(ProposalIn):
    client_ids = BoundedList(Id(), proposals.MAX_COHORT, required=True,
                             validate=validate.Length(min=1, error="Name at least one client."),
                             metadata={"description": "The program's new admissions to plan "
                                       "together."})


class MakeUpIn(ApiSchema):
    week_start = CalendarDate(required=True, metadata={
        "description": "The Monday of the week to make up (as the below-target report "
        "gives it)."})


# --- answers ------------------------------------------------------------------------------------

# The stored answer keeps times and days as ISO 8601 text already (times in the program's UTC
# offset), so they are dumped as the text they are, documented with their format.


def _instant(**kwargs) -> fields.String:
    kwargs["metadata"] = {"format": "date-time", **kwargs.get("metadata", {})}
    return fields.String(**kwargs)


def _day(**kwargs) -> fields.String:
    kwargs["metadata"] = {"format": "date", **kwargs.get("metadata", {})}
    return fields.String(**kwargs)



class EnrollmentOffer(Schema):
    series_id = fields.Integer()
    title = fields.String()
    sessions = fields.Integer(metadata={"description": "Sessions the enrolment books."})
    seats_free = fields.Integer(metadata={"description": "The fewest free seats among them."})
    starts_on = _day()
    ends_on = _day(metadata={"description": "The enrolment ends here: it covers the "
                                    "proposed weeks only."})
    meets = fields.String(allow_none=True, metadata={"example": "Mondays at 18:00"})


class SessionOffer(Schema):
    session_id = fields.Integer()
    series_id = fields.Integer(allow_none=True)
    title = fields.String()
    starts_at = _instant(metadata={"description": "In the program's UTC offset."})
    ends_at = _instant()
    seats_free = fields.Integer()


class AppointmentOffer(Schema):
    starts_at = _instant(metadata={"description": "In the program's UTC offset."})
    ends_at = _instant()
    staff_id = fields.Integer()
    staff_name = fields.String()
    room_id = fields.Integer(allow_none=True)
    room_name = fields.String(allow_none=True)
    kind = fields.String()


class CalendarItem(Schema):
    starts_at = _instant()
    ends_at = _instant()
    title = fields.String()
    kind = fields.String()
    new = fields.Boolean(metadata={"description": "Added by the proposal; false for what the "
                                   "client already holds."})


class WeekHours(Schema):
    week_start = _day()
    planned_hours = fields.Float(metadata={"description": "Already booked plus proposed."})
    target_hours = fields.Float(allow_none=True)
    met = fields.Boolean(allow_none=True)


class Unmet(Schema):
    week_start = _day()
    short_hours = fields.Float()
    why = fields.String(metadata={"description": "The limiting constraint, in words."})
    kind = fields.String(allow_none=True)
    sessions_short = fields.Integer(allow_none=True)


class SolverOut(Schema):
    status = fields.String(metadata={"description": "OPTIMAL or FEASIBLE (CP-SAT)."})
    seconds = fields.Float()
    objective = fields.Float(allow_none=True)
    bound = fields.Float(allow_none=True)
    gap = fields.Float(allow_none=True, metadata={
        "description": "Relative gap between objective and bound; 0 when proven optimal."})


class AcceptOut(Schema):
    enrollment_ids = fields.List(fields.Integer())
    booking_ids = fields.List(fields.Integer())
    session_ids = fields.List(fields.Integer(), metadata={
        "description": "The one-off appointment sessions made."})


_STATUS = fields.String(metadata={"description": "proposed, accepted or expired"})
_KIND = fields.String(metadata={"description": "schedule, cohort or make_up"})


class ProposalHead(Schema):
    id = fields.Integer()
    status = _STATUS
    kind = _KIND
    program_id = fields.Integer()
    from_ = _day(data_key="from", attribute="from")
    weeks = fields.Integer()
    expires_at = _instant()
    solver = fields.Nested(SolverOut)
    result = fields.Nested(AcceptOut, metadata={"description": "Once accepted: what it made."})


class ScheduleProposalOut(ProposalHead):
    client_id = fields.Integer()
    enrollments = fields.List(fields.Nested(EnrollmentOffer))
    sessions = fields.List(fields.Nested(SessionOffer), metadata={
        "description": "Single sessions (make-up proposals); empty otherwise."})
    appointments = fields.List(fields.Nested(AppointmentOffer))
    calendar = fields.List(fields.Nested(CalendarItem))
    weekly = fields.List(fields.Nested(WeekHours))
    unmet = fields.List(fields.Nested(Unmet))


class CohortClient(Schema):
    client_id = fields.Integer()
    name = fields.String()
    enrollments = fields.List(fields.Nested(EnrollmentOffer))
    appointments = fields.List(fields.Nested(AppointmentOffer))
    weekly = fields.List(fields.Nested(WeekHours))
    unmet = fields.List(fields.Nested(Unmet))
    coverage = fields.Float(allow_none=True, metadata={
        "description": "Share of the target hours over the weeks that the plan meets (0–1)."})


class CohortGroup(Schema):
    series_id = fields.Integer()
    title = fields.String()
    week_start = _day()
    added = fields.Integer(metadata={"description": "Cohort clients the proposal adds."})
    size = fields.Integer(metadata={"description": "Booked at its fullest session, after."})
    capacity = fields.Integer()


class CohortProposalOut(ProposalHead):
    clients = fields.List(fields.Nested(CohortClient))
    groups = fields.List(fields.Nested(CohortGroup))
    worst_coverage = fields.Float(allow_none=True)


class ProposalOut(ScheduleProposalOut, CohortProposalOut):
    """Any proposal: a schedule or make-up one carries client_id and its lists, a cohort one
    clients and groups."""


# --- routes -------------------------------------------------------------------------------------


def _answer(proposal) -> dict:
    body = proposals.body_of(proposal, clock.now())
    db.session.commit()
    # Logged after the commit: the log writes on its own connection, which SQLite would make
    # wait for this request's write lock.
    log_read(proposal.client_ids or [], "schedule_proposal")
    return body


@blp.route("/clients/<int:client_id>/schedule-proposals")
class ClientProposals(MethodView):
    @roles_required(*WRITE)
    @blp.arguments(ProposalIn)
    @blp.response(201, ScheduleProposalOut)
    @blp.alt_response(409, response="CONFLICT")
    def post(self, data, client_id):
        """Suggest a schedule for one client: enrolments and appointments for `weeks` weeks.

        Reads the plan's weekly targets and requirements, the client's unavailability and
        bookings, free seats, staff and rooms. Books nothing; accept it to book. A discharged
        client answers 409.
        """
        proposal = proposals.propose_for_client(
            db.session, current_actor(), client_id, from_date=data["from_"],
            weeks=data["weeks"], now=clock.now(), **proposals.limits(current_app.config))
        return _answer(proposal)


@blp.route("/programs/<int:program_id>/schedule-proposals")
class ProgramProposals(MethodView):
    @roles_required(*WRITE)
    @blp.arguments(CohortIn)
    @blp.response(201, CohortProposalOut)
    @blp.alt_response(409, response="CONFLICT")
    def post(self, data, program_id):
        """Suggest schedules for a cohort of new admissions at once, fairly: the worst-off
        client's coverage first, then the total; no group over capacity."""
        proposal = proposals.propose_for_program(
            db.session, current_actor(), program_id, client_ids=data["client_ids"],
            from_date=data["from_"], weeks=data["weeks"], now=clock.now(),
            **proposals.limits(current_app.config))
        return _answer(proposal)


@blp.route("/clients/<int:client_id>/make-up-proposals")
class MakeUpProposals(MethodView):
    @roles_required(*WRITE)
    @blp.arguments(MakeUpIn)
    @blp.response(201, ScheduleProposalOut)
    @blp.alt_response(409, response="CONFLICT")
    def post(self, data, client_id):
        """Suggest single sessions (and required appointments) that close this week's
        shortfall, from today on."""
        proposal = proposals.propose_make_up(
            db.session, current_actor(), client_id, week_start=data["week_start"],
            now=clock.now(), **proposals.limits(current_app.config))
        return _answer(proposal)


@blp.route("/schedule-proposals/<int:proposal_id>")
class ProposalById(MethodView):
    @roles_required(*WRITE)
    @blp.response(200, ProposalOut)
    def get(self, proposal_id):
        """Read a proposal; its status says "expired" once it lapsed unaccepted."""
        proposal = proposals.get(db.session, proposal_id)
        body = proposals.body_of(proposal, clock.now())
        log_read(proposal.client_ids or [], "schedule_proposal")
        return body


@blp.route("/schedule-proposals/<int:proposal_id>/accept")
class AcceptProposal(MethodView):
    @roles_required(*WRITE)
    @blp.response(200, AcceptOut)
    @blp.alt_response(409, response="CONFLICT", description="Accepted already, lapsed, or "
                      "something changed since; `conflicts` lists each change in words and "
                      "nothing was written.")
    def post(self, proposal_id):
        """Book everything the proposal shows in one transaction, or nothing."""
        result = proposals.accept(db.session, current_actor(), proposal_id, now=clock.now())
        db.session.commit()
        return result
