"""Programs: a level of care for one population in one time zone."""

from flask.views import MethodView
from marshmallow import Schema, fields, validate
from sqlalchemy import func, select

from scheduler.api.access import STAFF_READ, WRITE, current_actor, roles_required
from scheduler.api.common import (
    MAX_CAPACITY,
    ApiSchema,
    Count,
    Hours,
    Id,
    PageArgs,
    RequiredText,
    domain_validator,
    list_schema,
    offset_limit,
    page_of,
    patch_schema,
)
from scheduler.api.parsing import Blueprint
from scheduler.extensions import db
from scheduler.models import Program
from scheduler.models.feeds import PRIVACY_LEVELS
from scheduler.models.programs import LEVELS_OF_CARE, POPULATIONS
from scheduler.services import programs, scope
from scheduler.services.lookup import get_or_404
from scheduler.services.recurrence import zone

URL_PREFIX = "/programs"
blp = Blueprint("programs", __name__, description="Programs")


class ProgramFields(ApiSchema):
    name = RequiredText(required=True)
    level_of_care = fields.String(required=True, validate=validate.OneOf(LEVELS_OF_CARE))
    population = fields.String(load_default="adult", validate=validate.OneOf(POPULATIONS))
    timezone = fields.String(required=True, validate=domain_validator(zone))
    address = fields.String(allow_none=True, validate=validate.Length(max=300))
    min_weekly_hours = Hours(
        80,
        allow_none=True,
        places=2,
        metadata={"description": "Defaults from level and population (2.1 adult 9, "
                  "2.1 adolescent 6, 2.5 20, level 1 none); null restores the default."},
    )
    absence_streak_alert = fields.Integer(
        validate=validate.Range(min=1, max=20),
        metadata={"description": "Unexcused absences in a row that put a client on the "
                  "follow-up list (default 2)."},
    )
    discharge_review_streak = fields.Integer(
        validate=validate.Range(min=1, max=50),
        metadata={"description": "Unexcused absences in a row that call for a discharge "
                  "review (default 3)."},
    )
    discharge_review_absences = fields.Integer(
        validate=validate.Range(min=1, max=200),
        metadata={"description": "More unexcused absences than this within "
                  "discharge_review_weeks also call for one (default 6)."},
    )
    discharge_review_weeks = fields.Integer(validate=validate.Range(min=1, max=52))
    feed_privacy = fields.String(
        validate=validate.OneOf(PRIVACY_LEVELS),
        metadata={"description": "What calendar feeds say. private (default): 'Appointment' "
                  "and the street address. standard: the kind ('Group session'). full: the "
                  "series title, verbatim, and the facilitators."},
    )
    country = fields.String(
        validate=domain_validator(programs.check_country),
        metadata={"description": "Two-letter country code (default US): series warn about "
                  "sessions on its public holidays."},
    )
    is_active = fields.Boolean()
    min_group_size = Count(
        allow_none=True, validate=validate.Range(min=1, max=MAX_CAPACITY),
        metadata={"description": "The fewest clients a group should have: the schedule "
                  "planner leaves no group it fills below it. Null: no minimum."},
    )


class ProgramOut(Schema):
    id = fields.Integer()
    site_id = fields.Integer()
    name = fields.String()
    level_of_care = fields.String()
    population = fields.String()
    timezone = fields.String()
    address = fields.String(allow_none=True)
    min_weekly_hours = fields.Float(allow_none=True)
    min_weekly_hours_is_default = fields.Function(lambda p: p.min_weekly_hours_override is None)
    absence_streak_alert = fields.Integer()
    discharge_review_streak = fields.Integer()
    discharge_review_absences = fields.Integer()
    discharge_review_weeks = fields.Integer()
    feed_privacy = fields.String()
    country = fields.String()
    is_active = fields.Boolean()
    min_group_size = fields.Integer(allow_none=True)


class ProgramIn(ProgramFields):
    site_id = Id(metadata={"description": "The site it runs at; required once the network "
                           "has more than one site."})


# A program stays at its site.
ProgramPatch = patch_schema(ProgramFields, "ProgramPatch")
ProgramList = list_schema(ProgramOut, "ProgramList")


@blp.route("")
class Programs(MethodView):
    @roles_required(*STAFF_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, ProgramList)
    def get(self, args):
        """List programs."""
        offset, limit = offset_limit(args)
        mine = scope.sites_filter(Program.site_id)
        total = db.session.scalar(select(func.count(Program.id)).where(mine))
        items = db.session.scalars(
            select(Program).where(mine).order_by(Program.id).offset(offset).limit(limit))
        return page_of(list(items), total, args)

    @roles_required(*WRITE)
    @blp.arguments(ProgramIn)
    @blp.response(201, ProgramOut)
    def post(self, data):
        """Create a program."""
        program = programs.create_program(db.session, current_actor(), **data)
        db.session.commit()
        return program


@blp.route("/<int:program_id>")
class ProgramById(MethodView):
    @roles_required(*STAFF_READ)
    @blp.response(200, ProgramOut)
    def get(self, program_id):
        """Read one program."""
        return get_or_404(db.session, Program, program_id, "program")

    @roles_required(*WRITE)
    @blp.arguments(ProgramPatch)
    @blp.response(200, ProgramOut)
    def patch(self, changes, program_id):
        """Edit a program."""
        program = get_or_404(db.session, Program, program_id, "program")
        programs.update_program(db.session, current_actor(), program, changes)
        db.session.commit()
        return program
