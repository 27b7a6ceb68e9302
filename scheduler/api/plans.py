"""Assessments and versioned treatment plans.

Clinicians, coordinators and admins write both (clinicians write clinical records). A client
may read their own plan's versions, never assessments (clinical notes). A revision adds a new
version and never rewrites the old one.
"""

from flask.views import MethodView
from flask_login import current_user
from flask_smorest import abort
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from scheduler import clock
from scheduler.api.access import (
    STAFF_READ,
    caseload_of,
    caseload_policy,
    client_or_staff,
    current_actor,
    log_read,
    require_caseload,
    require_login,
    roles_required,
)
from scheduler.api.common import (
    ApiSchema,
    BoundedList,
    CalendarDate,
    Count,
    Hours,
    Id,
    RequiredText,
    Text,
)
from scheduler.api.parsing import Blueprint
from scheduler.extensions import db
from scheduler.models import Assessment, TreatmentPlan
from scheduler.models.plans import RECOMMENDED_LEVELS
from scheduler.models.series import SESSION_KINDS
from scheduler.services import caseload, day_sheet, plans
from scheduler.services.lookup import get_or_404

URL_PREFIX = ""
blp = Blueprint(
    "plans",
    __name__,
    description="Assessments and treatment plans. Plans are versioned: a revision adds a new "
    "version and the previous one becomes 'superseded' with its content unchanged. "
    "Certification of need and plan review are due 60 days after the last one.",
)

# Clinicians write clinical records; coordinators and admins may too.
PLAN_WRITE = STAFF_READ  # clinicians write plans too
MOST_WEEKLY_HOURS = 168
LONG_TEXT = dict(allow_none=True, validate=validate.Length(max=20000))


# --- schemas -----------------------------------------------------------------------------------


class AssessmentIn(ApiSchema):
    assessed_on = CalendarDate(required=True)
    clinician_id = Id(required=True, metadata={"description": "The assessing staff member."})
    kind = fields.String(load_default="intake", validate=validate.OneOf(plans.ASSESSMENT_KINDS))
    physical_health = Text(**LONG_TEXT)
    mental_health = Text(**LONG_TEXT)
    substance_use_history = Text(**LONG_TEXT)
    summary = Text(**LONG_TEXT)
    recommended_level = fields.String(
        required=True, validate=validate.OneOf(RECOMMENDED_LEVELS),
        metadata={"description": "ASAM level of care recommended."},
    )


class AssessmentOut(Schema):
    id = fields.Integer()
    client_id = fields.Integer()
    assessed_on = fields.Date()
    clinician_id = fields.Integer()
    kind = fields.String()
    physical_health = fields.String(allow_none=True)
    mental_health = fields.String(allow_none=True)
    substance_use_history = fields.String(allow_none=True)
    summary = fields.String(allow_none=True)
    recommended_level = fields.String()
    created_at = fields.AwareDateTime()


class AssessmentList(Schema):
    items = fields.List(fields.Nested(AssessmentOut))


class RequirementIn(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(SESSION_KINDS))
    sessions_per_week = Count(required=True, validate=validate.Range(min=1, max=50))


class PhaseIn(Schema):
    name = fields.String(allow_none=True, validate=validate.Length(max=120))
    first_week = Count(required=True, validate=validate.Range(min=1, max=520))
    last_week = Count(allow_none=True, validate=validate.Range(min=1, max=520),
                      metadata={"description": "Null for an open-ended last phase."})
    weekly_hours_target = Hours(
        MOST_WEEKLY_HOURS, allow_none=True,
        metadata={"description": "Overrides the plan's target in this phase."})
    requirements = BoundedList(fields.Nested(RequirementIn), len(SESSION_KINDS),
                               load_default=list)


class PlanChangesIn(ApiSchema):
    """The plan content a revision may change; anything left out is carried over."""

    start_date = CalendarDate()
    end_date = CalendarDate(allow_none=True)
    primary_therapist_id = Id(allow_none=True)
    # One line each: the plan pages edit goals one a line.
    goals = BoundedList(RequiredText(max_length=500), 50)
    weekly_hours_target = Hours(
        MOST_WEEKLY_HOURS, allow_none=True,
        metadata={"description": "Null: the program's minimum for its level of care."})
    assessment_id = Id(allow_none=True)
    phases = BoundedList(fields.Nested(PhaseIn), 20)


class PlanIn(PlanChangesIn):
    start_date = CalendarDate(required=True)
    certified_on = CalendarDate(allow_none=True)
    reviewed_on = CalendarDate(allow_none=True)


class RequirementOut(Schema):
    kind = fields.String()
    sessions_per_week = fields.Integer()


class PhaseOut(Schema):
    position = fields.Integer()
    name = fields.String(allow_none=True)
    first_week = fields.Integer()
    last_week = fields.Integer(allow_none=True)
    weekly_hours_target = fields.Float(allow_none=True)
    requirements = fields.List(fields.Nested(RequirementOut))


class PlanOut(Schema):
    id = fields.Integer()
    client_id = fields.Integer()
    version = fields.Integer()
    status = fields.String()
    assessment_id = fields.Integer(allow_none=True)
    primary_therapist_id = fields.Integer(allow_none=True)
    start_date = fields.Date()
    end_date = fields.Date(allow_none=True)
    goals = fields.List(fields.String())
    weekly_hours_target = fields.Float(allow_none=True)
    certified_on = fields.Date(allow_none=True)
    certification_due = fields.Date(allow_none=True)
    reviewed_on = fields.Date(allow_none=True)
    review_due = fields.Date(allow_none=True)
    created_at = fields.AwareDateTime()
    created_by_user_id = fields.Integer(allow_none=True)
    phases = fields.List(fields.Nested(PhaseOut))


class PlanList(Schema):
    items = fields.List(fields.Nested(PlanOut))


class CertificationIn(ApiSchema):
    certified_on = CalendarDate(required=True)


class ReviewIn(ApiSchema):
    reviewed_on = CalendarDate(required=True)


class DueArgs(ApiSchema):
    within_days = fields.Integer(load_default=plans.DUE_SOON_DAYS,
                                 validate=validate.Range(min=0, max=366))


class DueOut(Schema):
    client_id = fields.Integer()
    plan_id = fields.Integer()
    what = fields.String(metadata={"description": "'certification' or 'review'."})
    due_on = fields.Date()
    overdue = fields.Boolean()


class DueList(Schema):
    items = fields.List(fields.Nested(DueOut))


# --- assessments -------------------------------------------------------------------------------


@blp.route("/clients/<int:client_id>/assessments")
class ClientAssessments(MethodView):
    @roles_required(*STAFF_READ)
    @blp.response(200, AssessmentList)
    def get(self, client_id):
        """A client's assessments, newest first (staff only: clinical notes; a clinician's
        caseload only)."""
        require_caseload(client_id, "assessments")
        items = plans.assessments_of(db.session, client_id)
        log_read([client_id], "assessments")
        return {"items": items}

    @roles_required(*PLAN_WRITE)
    @blp.arguments(AssessmentIn)
    @blp.response(201, AssessmentOut)
    def post(self, data, client_id):
        """Record an assessment of the client."""
        assessment = plans.record_assessment(db.session, current_actor(), client_id, **data)
        db.session.commit()
        return assessment


@blp.route("/assessments/<int:assessment_id>")
class AssessmentById(MethodView):
    @roles_required(*STAFF_READ)
    @blp.response(200, AssessmentOut)
    def get(self, assessment_id):
        """One assessment (staff only)."""
        assessment = get_or_404(db.session, Assessment, assessment_id, "assessment")
        require_caseload(assessment.client_id, "assessment")
        log_read([assessment.client_id], "assessment")
        return assessment


# --- plans -------------------------------------------------------------------------------------


@blp.route("/clients/<int:client_id>/plans")
class ClientPlans(MethodView):
    @client_or_staff("plans", clinical=True)
    @blp.response(200, PlanList)
    def get(self, client_id):
        """Every version of the client's plan, newest first; a client reads only their own."""
        return {"items": plans.plans_of(db.session, client_id)}

    @roles_required(*PLAN_WRITE)
    @blp.arguments(PlanIn)
    @blp.response(201, PlanOut)
    def post(self, data, client_id):
        """Write a new plan; an active one becomes 'superseded' and this is the next version.

        The weekly hours target defaults from the client's program level of care.
        """
        plan = plans.create_plan(db.session, current_actor(), client_id, **data)
        db.session.commit()
        return plan


@blp.route("/plans/due")
class PlansDue(MethodView):
    @roles_required(*STAFF_READ)
    @blp.arguments(DueArgs, location="query")
    @blp.response(200, DueList)
    def get(self, args):
        """Certifications and plan reviews due within `within_days` (default 14), or overdue."""
        # The clinic's calendar, not UTC's: a review due today is not overdue at 8 pm.
        today = day_sheet.program_today(db.session, clock.now())
        items = plans.due_soon(db.session, today, args["within_days"])
        # A clinician's list holds their caseload's plans only.
        shown = caseload.visible_client_ids(db.session, current_user, clock.now(),
                                            caseload_policy())
        if shown is not None:
            items = [item for item in items if item[0] in shown]
        log_read([c for c, *_ in items], "plans_due")
        return {"items": [
            {"client_id": c, "plan_id": p, "what": what, "due_on": due, "overdue": due < today}
            for c, p, what, due in items
        ]}


@blp.route("/plans/<int:plan_id>")
class PlanById(MethodView):
    @blp.response(200, PlanOut)
    def get(self, plan_id):
        """One plan version; a client may read only their own."""
        require_login()
        if current_user.role in STAFF_READ:
            plan = get_or_404(db.session, TreatmentPlan, plan_id, "treatment plan")
            require_caseload(plan.client_id, "plan")
        else:
            plan = db.session.get(TreatmentPlan, plan_id)
            if (current_user.role != "client" or plan is None
                    or plan.client_id != current_user.client_id):
                abort(403, message="You may only read your own records.")
        log_read([plan.client_id], "plan")
        return plan


def _client_of_plan(plan_id: int) -> int | None:
    return db.session.scalar(select(TreatmentPlan.client_id).where(TreatmentPlan.id == plan_id))


# A change to a plan answers with the whole plan: a clinician's caseload only.
plan_in_caseload = caseload_of("plan", _client_of_plan)


@blp.route("/plans/<int:plan_id>/revisions")
class PlanRevisions(MethodView):
    @roles_required(*PLAN_WRITE)
    @plan_in_caseload
    @blp.arguments(PlanChangesIn)
    @blp.response(201, PlanOut)
    def post(self, changes, plan_id):
        """Revise the active plan: a new version with the changes, the old one superseded."""
        plan = plans.revise_plan(db.session, current_actor(), plan_id, changes)
        db.session.commit()
        return plan


@blp.route("/plans/<int:plan_id>/certification")
class PlanCertification(MethodView):
    @roles_required(*PLAN_WRITE)
    @plan_in_caseload
    @blp.arguments(CertificationIn)
    @blp.response(200, PlanOut)
    def post(self, data, plan_id):
        """Record the physician's certification of need; the next is due 60 days later."""
        plan = plans.record_certification(db.session, current_actor(), plan_id,
                                          data["certified_on"])
        db.session.commit()
        return plan


@blp.route("/plans/<int:plan_id>/review")
class PlanReview(MethodView):
    @roles_required(*PLAN_WRITE)
    @plan_in_caseload
    @blp.arguments(ReviewIn)
    @blp.response(200, PlanOut)
    def post(self, data, plan_id):
        """Record a plan review; the next is due 60 days later."""
        plan = plans.record_review(db.session, current_actor(), plan_id, data["reviewed_on"])
        db.session.commit()
        return plan
