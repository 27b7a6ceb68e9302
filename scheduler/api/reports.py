"""Reports in JSON, or CSV with `?format=csv` carrying the same numbers."""

from flask import g
from flask.views import MethodView
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from scheduler import clock, csv_files
from scheduler.api.access import STAFF_READ, caseload_within, current_actor, roles_required
from scheduler.api.common import ApiSchema, CalendarDate, QueryId
from scheduler.api.parsing import Blueprint
from scheduler.extensions import db
from scheduler.models.attendance import ATTENDANCE_STATUSES
from scheduler.services import access_log, day_sheet, reports
from scheduler.services.access_log import client_ids_of

URL_PREFIX = "/reports"
blp = Blueprint("reports", __name__, description="Reports, computed with SQL aggregates. A "
                "clinician's reports hold only the clients of their caseload.")


class ProgramArgs(ApiSchema):
    program_id = QueryId(required=True)
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv")),
                           metadata={"description": "csv gives the same numbers as a file, "
                                     "its times in the program's local time with a "
                                     "time_zone column naming the zone."})
    names = fields.Boolean(load_default=False, metadata={
        "description": "With format=csv, a client_name column beside client_id, for staff "
        "who work from a spreadsheet. The download is logged as an export of those clients, "
        "with names."})

    @validates_schema
    def names_in_files(self, data, **kwargs):
        if data.get("names") and data.get("format") != "csv":
            raise ValidationError("Names come only in a CSV file: add format=csv.", "names")


class PeriodArgs(ProgramArgs):
    from_ = CalendarDate(required=True, data_key="from",
                         metadata={"description": "First date, in the program's time zone."})
    to = CalendarDate(required=True, metadata={"description": "Last date, included."})

    @validates_schema
    def ordered(self, data, **kwargs):
        if "from_" in data and "to" in data and data["to"] < data["from_"]:
            raise ValidationError("Must not be before from.", "to")


WeeklyHoursArgs = PeriodArgs


class AttendanceRateArgs(PeriodArgs):
    by = fields.String(load_default="client", validate=validate.OneOf(("client", "series")))


class WeekHoursOut(Schema):
    client_id = fields.Integer()
    week_start = fields.Date(metadata={"description": "Monday, in the program's time zone."})
    scheduled_hours = fields.Float()
    attended_hours = fields.Float()
    target_hours = fields.Float(allow_none=True)
    met = fields.Boolean(allow_none=True)


class WeeklyHoursOut(Schema):
    items = fields.List(fields.Nested(WeekHoursOut))


def _status_fields(prefix: str = "counts.") -> dict:
    return {status: fields.Integer(attribute=f"{prefix}{status}") for status in ATTENDANCE_STATUSES}


_RATE = fields.Float(allow_none=True, metadata={
    "description": "Attended over attended plus absences (excused or not); clinic "
    "cancellations and leaves of absence are left out. Null when nothing was expected."})

AttendanceRateOut = Schema.from_dict({
    "client_id": fields.Integer(allow_none=True),
    "series_id": fields.Integer(allow_none=True),
    "series_title": fields.String(allow_none=True),
    **_status_fields(),
    "unmarked": fields.Integer(metadata={"description": "Ended, booked, and not yet marked."}),
    "attended": fields.Integer(metadata={"description": "present + late + left_early"}),
    "attended_hours": fields.Float(),
    "attendance_rate": fields.Float(attribute="rate", allow_none=True,
                                    metadata=_RATE.metadata),
    "episode_id": fields.Integer(allow_none=True, metadata={
        "description": "By client: the stay (episode) the row counts. A client re-admitted "
        "within the period has a row per stay."}),
    "admitted_on": fields.Date(allow_none=True, metadata={"description": "By client: when "
                                                          "the stay began."}),
    "discharged_on": fields.Date(allow_none=True, metadata={"description": "By client: when "
                                                            "the stay ended, if it has."}),
}, name="AttendanceRateOut")

CensusOut = Schema.from_dict({
    "session_id": fields.Integer(attribute="session.id"),
    "series_id": fields.Integer(attribute="session.series_id", allow_none=True),
    "kind": fields.String(attribute="session.kind"),
    "title": fields.String(attribute="session.title"),
    "starts_at": fields.AwareDateTime(attribute="session.starts_at"),
    "ends_at": fields.AwareDateTime(attribute="session.ends_at"),
    "status": fields.String(attribute="session.status"),
    "capacity": fields.Integer(attribute="session.capacity"),
    "booked": fields.Integer(),
    "waitlisted": fields.Integer(),
    **_status_fields(),
    "attended": fields.Integer(),
    "unmarked": fields.Integer(),
}, name="CensusOut")


class BelowTargetOut(Schema):
    client_id = fields.Integer()
    week_start = fields.Date()
    attended_hours = fields.Float()
    upcoming_hours = fields.Float(metadata={"description": "Booked and not yet marked."})
    projected_hours = fields.Float()
    target_hours = fields.Float()
    shortfall_hours = fields.Float()
    open_hours = fields.Float(metadata={
        "description": "Hours of this week's sessions still ahead with a free seat that the "
        "client does not hold."})
    fixable = fields.Boolean(metadata={"description": "open_hours cover the shortfall."})
    make_up_url = fields.Function(
        lambda row: f"/api/v1/clients/{row.client_id}/make-up-proposals" if row.fixable
        else None,
        allow_none=True,
        metadata={"description": "For a fixable week: POST {\"week_start\"} here for a "
                  "make-up proposal that closes it."})


FOLLOW_UP_REASONS = ("absence_streak", "discharge_review", "certification_due", "review_due",
                     "intake_unfinished")


class FollowUpOut(Schema):
    client_id = fields.Integer()
    reasons = fields.List(fields.String(validate=validate.OneOf(FOLLOW_UP_REASONS)))
    unexcused_streak = fields.Integer(metadata={
        "description": "Unexcused absences since the last contact (any other mark but a "
        "clinic cancellation)."})
    unexcused_recent = fields.Integer(metadata={
        "description": "Unexcused absences within the program's discharge_review_weeks."})
    last_attended_at = fields.AwareDateTime(allow_none=True)
    last_attended_session_id = fields.Integer(allow_none=True)
    certification_due = fields.Date(allow_none=True)
    review_due = fields.Date(allow_none=True)
    intake_since = fields.Date(allow_none=True, metadata={
        "description": "intake_unfinished: admitted on this day, and no plan written yet "
        "(continue at intake step 2)."})


class BillingDayOut(Schema):
    client_id = fields.Integer()
    service_date = fields.Date(metadata={"description": "In the program's time zone."})
    services = fields.Integer(metadata={
        "description": "Qualifying services attended: " + ", ".join(reports.QUALIFYING_KINDS)})
    attended_minutes = fields.Integer()
    individual_minutes = fields.Integer()
    tier = fields.String(validate=validate.OneOf(("under_3", "3", "4+")))


def _items(schema, name: str) -> type[Schema]:
    return Schema.from_dict({"items": fields.List(fields.Nested(schema))}, name=name)


# `?format=csv` answers the same 200 as a file; documented so clients expect text/csv too.
CSV_TOO = {"responses": {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}}


def answer(rows, schema: type[Schema], args: dict, filename: str, columns=None):
    """The rows for smorest to dump, or the same dump as a CSV file; logged either way."""
    fmt, ids = args["format"], client_ids_of(rows)
    # A download leaves the system, so it is logged apart from a read on screen.
    access_log.record_access(
        db.session, current_actor(), ids, filename.removesuffix(".csv"),
        action="export" if fmt == "csv" else "read",
        detail={"names": True} if fmt == "csv" and args["names"] else None)
    if fmt != "csv":
        return {"items": rows}
    items = schema(many=True).dump(rows)
    columns = list(columns or schema().fields)
    if args["names"] and "client_id" in columns:
        named = reports.client_names(db.session, ids)
        for item in items:
            item["client_name"] = named.get(item.get("client_id"))
        columns.insert(columns.index("client_id") + 1, "client_name")
    times = [name for name, field in schema().fields.items()
             if isinstance(field, fields.DateTime) and name in columns]
    if times:
        tz = day_sheet.program_zone(db.session, args["program_id"])
        for item in items:
            for name in times:
                item[name] = csv_files.local_time(item[name], tz)
            item["time_zone"] = tz.key
        columns.append("time_zone")
    # A script (a bearer token) reads the columns by the field names the README documents,
    # whatever its login's language; a person downloading from the pages reads theirs.
    return csv_files.response(items, columns, filename,
                              translated=getattr(g, "api_token_id", None) is None)


@blp.route("/weekly-hours")
class WeeklyHours(MethodView):
    @roles_required(*STAFF_READ)
    @blp.arguments(WeeklyHoursArgs, location="query")
    @blp.response(200, WeeklyHoursOut)
    @blp.doc(**CSV_TOO)
    def get(self, args):
        """Scheduled and attended hours per client per week, against the weekly target."""
        rows = reports.weekly_hours(db.session, args["program_id"], args["from_"], args["to"],
                                    within=caseload_within())
        return answer(rows, WeekHoursOut, args, "weekly-hours.csv")


@blp.route("/attendance-rates")
class AttendanceRates(MethodView):
    @roles_required(*STAFF_READ)
    @blp.arguments(AttendanceRateArgs, location="query")
    @blp.response(200, _items(AttendanceRateOut, "AttendanceRates"))
    @blp.doc(**CSV_TOO)
    def get(self, args):
        """Attendance counts and rate per client stay (by=client) or per series, over ended
        sessions.

        With by=client the rows carry client_id and the stay (episode_id, admitted_on,
        discharged_on) and a null series: a client re-admitted within the period has a row
        per stay. With by=series, series_id and its title (null for one-off sessions).
        """
        rows = reports.attendance_rates(db.session, args["program_id"], args["from_"],
                                        args["to"], args["by"], clock.now(),
                                        within=caseload_within())
        fields_ = list(AttendanceRateOut().fields)
        drop = (("series_id", "series_title") if args["by"] == "client" else
                ("client_id", "episode_id", "admitted_on", "discharged_on"))
        columns = [name for name in fields_ if name not in drop]
        return answer(rows, AttendanceRateOut, args, f"attendance-by-{args['by']}.csv",
                      columns)


@blp.route("/census")
class SessionCensus(MethodView):
    @roles_required(*STAFF_READ)
    @blp.arguments(PeriodArgs, location="query")
    @blp.response(200, _items(CensusOut, "Census"))
    @blp.doc(**CSV_TOO)
    def get(self, args):
        """Head count per session: seats taken, waitlist, and the roster's marks."""
        rows = reports.census(db.session, args["program_id"], args["from_"], args["to"],
                              within=caseload_within())
        return answer(rows, CensusOut, args, "census.csv")


@blp.route("/below-target")
class BelowTarget(MethodView):
    @roles_required(*STAFF_READ)
    @blp.arguments(ProgramArgs, location="query")
    @blp.response(200, _items(BelowTargetOut, "BelowTargetList"))
    @blp.doc(**CSV_TOO)
    def get(self, args):
        """Clients whose hours this week (attended plus booked) fall short of their target."""
        rows = reports.below_target(db.session, args["program_id"], clock.now(),
                                    within=caseload_within())
        return answer(rows, BelowTargetOut, args, "below-target.csv")


@blp.route("/follow-up")
class FollowUp(MethodView):
    @roles_required(*STAFF_READ)
    @blp.arguments(ProgramArgs, location="query")
    @blp.response(200, _items(FollowUpOut, "FollowUpList"))
    @blp.doc(**CSV_TOO)
    def get(self, args):
        """Runs of unexcused absences, the discharge-review rule, paperwork due in 14 days, and
        intakes left before the plan (intake_unfinished)."""
        rows = reports.follow_up(db.session, args["program_id"], clock.now(),
                                 within=caseload_within())
        return answer(rows, FollowUpOut, args, "follow-up.csv")


@blp.route("/billing-days")
class BillingDays(MethodView):
    @roles_required(*STAFF_READ)
    @blp.arguments(PeriodArgs, location="query")
    @blp.response(200, _items(BillingDayOut, "BillingDays"))
    @blp.doc(**CSV_TOO)
    def get(self, args):
        """Qualifying services attended per client per day, with the Medicare IOP tier."""
        rows = reports.billing_days(db.session, args["program_id"], args["from_"], args["to"],
                                    within=caseload_within())
        return answer(rows, BillingDayOut, args, "billing-days.csv")
