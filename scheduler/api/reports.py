"""Reports in JSON, or CSV with `?format=csv` carrying the same numbers."""

import csv
import io

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from scheduler.api.access import STAFF_READ, roles_required
from scheduler.api.common import ApiSchema, CalendarDate, QueryId
from scheduler.extensions import db
from scheduler.services import reports

URL_PREFIX = "/reports"
blp = Blueprint("reports", __name__, description="Reports, computed with SQL aggregates.")


class WeeklyHoursArgs(ApiSchema):
    program_id = QueryId(required=True)
    from_ = CalendarDate(required=True, data_key="from")
    to = CalendarDate(required=True)
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv")))

    @validates_schema
    def ordered(self, data, **kwargs):
        if "from_" in data and "to" in data and data["to"] < data["from_"]:
            raise ValidationError("Must not be before from.", "to")


class WeekHoursOut(Schema):
    client_id = fields.Integer()
    week_start = fields.Date(metadata={"description": "Monday, in the program's time zone."})
    scheduled_hours = fields.Float()
    attended_hours = fields.Float()
    target_hours = fields.Float(allow_none=True)
    met = fields.Boolean(allow_none=True)


class WeeklyHoursOut(Schema):
    items = fields.List(fields.Nested(WeekHoursOut))


def as_csv(rows: list[dict], columns: list[str], filename: str) -> Response:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row[k] is None else row[k]) for k in columns})
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@blp.route("/weekly-hours")
class WeeklyHours(MethodView):
    @roles_required(*STAFF_READ)
    @blp.arguments(WeeklyHoursArgs, location="query")
    @blp.response(200, WeeklyHoursOut)
    def get(self, args):
        """Scheduled and attended hours per client per week, against the weekly target."""
        rows = reports.weekly_hours(db.session, args["program_id"], args["from_"], args["to"])
        if args["format"] == "csv":
            items = WeekHoursOut(many=True).dump(rows)
            return as_csv(items, list(WeekHoursOut().fields), "weekly-hours.csv")
        return {"items": rows}
