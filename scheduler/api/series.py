"""Recurring session series and the occurrences they make."""

from flask import current_app
from flask.views import MethodView
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import func, select

from scheduler import clock
from scheduler.api.access import STAFF_READ, WRITE, current_actor, roles_required
from scheduler.api.common import (
    MAX_CAPACITY,
    MAX_FACILITATORS,
    ApiSchema,
    BoundedList,
    CalendarDate,
    Count,
    Id,
    QueryId,
    RequiredText,
    SearchPageArgs,
    Text,
    TimeOfDay,
    domain_validator,
    list_schema,
    offset_limit,
    page_of,
    patch_schema,
)
from scheduler.api.parsing import Blueprint
from scheduler.extensions import db
from scheduler.models import SessionSeries
from scheduler.models.series import MAX_DURATION_MINUTES, SESSION_KINDS
from scheduler.services import scope
from scheduler.services import series as series_service
from scheduler.services.lookup import get_or_404
from scheduler.services.overrides import Override
from scheduler.services.recurrence import parse_rrule, zone
from scheduler.services.search import filtered

URL_PREFIX = "/series"
blp = Blueprint(
    "series",
    __name__,
    description="Recurring session series. Occurrences are made in the series' IANA time "
    "zone, so an 18:00 group stays at 18:00 local time across daylight-saving changes, "
    "up to the series' end or the rolling horizon (SESSION_HORIZON_DAYS). As in dateutil, "
    "start_date is itself an occurrence only if it matches the rule: a series starting on "
    "a Tuesday with BYDAY=MO,WE first meets on the Wednesday.",
)


class SeriesIn(ApiSchema):
    program_id = Id(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(SESSION_KINDS))
    title = RequiredText(required=True)
    description = Text(allow_none=True, validate=validate.Length(max=5000))
    timezone = fields.String(
        validate=domain_validator(zone),
        metadata={"description": "IANA zone; defaults to the program's."},
    )
    start_date = CalendarDate(required=True)
    start_time = TimeOfDay(required=True, metadata={"example": "18:00"})
    duration_minutes = Count(
        required=True,
        validate=validate.Range(
            min=1, max=MAX_DURATION_MINUTES, error="Must be more than 0 and at most 720 (12 h)."
        ),
    )
    rrule = fields.String(
        required=True,
        validate=domain_validator(parse_rrule),
        metadata={
            "description": "RFC 5545 RRULE with FREQ=DAILY or WEEKLY, INTERVAL, BYDAY, "
            "and COUNT or UNTIL. The start date counts only if it matches the rule.",
            "example": "FREQ=WEEKLY;BYDAY=MO,WE,TH",
        },
    )
    end_date = CalendarDate(allow_none=True, metadata={"description": "Last day, inclusive."})
    capacity = Count(
        allow_none=True,
        validate=validate.Range(min=1, max=MAX_CAPACITY),
        metadata={
            "description": "Defaults to 1 for one-to-one kinds (individual, medical, "
            "assessment, case_management) and 12 for the rest (family is a multi-family group), "
            "never more than the room's capacity; null in a PATCH restores that default."
        },
    )
    room_id = Id(allow_none=True)
    video_url = fields.URL(allow_none=True, schemes={"https"}, validate=validate.Length(max=500))
    facilitator_ids = BoundedList(Id(), MAX_FACILITATORS, load_default=list)
    override = fields.Boolean(
        load_only=True,
        metadata={"description": "Proceed despite room or staff conflicts (and, when an edit "
                  "moves sessions, their booked clients' conflicts); needs a reason."},
    )
    reason = fields.String(
        load_only=True,
        validate=validate.Length(min=1, max=500),
        metadata={"description": "Why: kept on the audit trail (required with override)."},
    )

    @validates_schema
    def end_after_start(self, data, **kwargs):
        start, end = data.get("start_date"), data.get("end_date")
        if start and end and end < start:
            raise ValidationError("Must not be before the first day.", "end_date")


class SeriesChanges(SeriesIn):
    pass


SeriesPatch = patch_schema(SeriesChanges, "SeriesPatch")


class SeriesEnd(ApiSchema):
    end_date = CalendarDate(required=True, metadata={"description": "Last day that still meets."})
    reason = fields.String(validate=validate.Length(max=500))


class OccurrenceChanges(Schema):
    created = fields.Integer()
    updated = fields.Integer()
    cancelled = fields.Integer()


class SeriesOut(Schema):
    id = fields.Integer()
    program_id = fields.Integer()
    kind = fields.String()
    title = fields.String()
    description = fields.String(allow_none=True)
    timezone = fields.String()
    start_date = fields.Date()
    start_time = fields.Time(format="%H:%M")
    duration_minutes = fields.Integer()
    rrule = fields.String()
    end_date = fields.Date(allow_none=True)
    capacity = fields.Integer()
    room_id = fields.Integer(allow_none=True)
    video_url = fields.String(allow_none=True)
    facilitator_ids = fields.Function(lambda s: [f.id for f in s.facilitators])
    status = fields.String()
    materialized_until = fields.AwareDateTime(allow_none=True)
    warnings = fields.List(fields.String(), dump_default=list)
    occurrences = fields.Nested(
        OccurrenceChanges,
        metadata={"description": "What this write did to the series' occurrences."},
    )


class SeriesListArgs(SearchPageArgs):
    program_id = QueryId()
    kind = fields.String(validate=validate.OneOf(SESSION_KINDS))


SeriesList = list_schema(SeriesOut, "SeriesList")


def _with_changes(series, change):
    series.occurrences = change
    series.warnings = series_service.warnings(series)
    return series


@blp.route("")
class SeriesCollection(MethodView):
    @roles_required(*STAFF_READ)
    @blp.arguments(SeriesListArgs, location="query")
    @blp.response(200, SeriesList)
    def get(self, args):
        """List series, optionally those whose title matches `q`."""
        query = filtered(select(SessionSeries), SessionSeries.title, args.get("q")).where(
            scope.programs_filter(SessionSeries.program_id))
        if "program_id" in args:
            query = query.where(SessionSeries.program_id == args["program_id"])
        if "kind" in args:
            query = query.where(SessionSeries.kind == args["kind"])
        offset, limit = offset_limit(args)
        total = db.session.scalar(select(func.count()).select_from(query.subquery()))
        items = db.session.scalars(query.order_by(SessionSeries.id).offset(offset).limit(limit))
        return page_of(list(items), total, args)

    @roles_required(*WRITE)
    @blp.arguments(SeriesIn)
    @blp.response(201, SeriesOut)
    def post(self, data):
        """Create a series and make its occurrences up to the horizon.

        A room or facilitator already busy at any occurrence answers 409 with every
        conflict listed, unless `override` is true and a `reason` is given.
        """
        override = Override.given(data.pop("override", False), data.pop("reason", None))
        series, change = series_service.create_series(
            db.session,
            current_actor(),
            now=clock.now(),
            horizon_days=current_app.config["SESSION_HORIZON_DAYS"],
            override=override,
            **data,
        )
        db.session.commit()
        return _with_changes(series, change)


@blp.route("/<int:series_id>")
class SeriesById(MethodView):
    @roles_required(*STAFF_READ)
    @blp.response(200, SeriesOut)
    def get(self, series_id):
        """Read one series."""
        return get_or_404(db.session, SessionSeries, series_id, "series")

    @roles_required(*WRITE)
    @blp.arguments(SeriesPatch)
    @blp.response(200, SeriesOut)
    def patch(self, changes, series_id):
        """Edit a series; past, attended and overridden occurrences stay as they were.

        An edit that double-books a room or facilitator, or (when it moves sessions) a client
        booked into them, answers 409 listing every conflict, unless `override` is true and a
        `reason` is given.
        """
        series = get_or_404(db.session, SessionSeries, series_id, "series")
        reason = changes.pop("reason", None)
        override = Override.given(changes.pop("override", False), reason)
        if "capacity" in changes and changes["capacity"] is None:
            # As on create: no capacity means the kind's default within the room, not a 500.
            changes["capacity"] = series_service.seats_for(
                db.session, changes.get("kind", series.kind),
                changes.get("room_id", series.room_id))
        series, change = series_service.update_series(
            db.session,
            current_actor(),
            series,
            changes,
            now=clock.now(),
            horizon_days=current_app.config["SESSION_HORIZON_DAYS"],
            reason=reason,
            override=override,
        )
        db.session.commit()
        return _with_changes(series, change)


@blp.route("/<int:series_id>/end")
class SeriesEnding(MethodView):
    @roles_required(*WRITE)
    @blp.arguments(SeriesEnd)
    @blp.response(200, SeriesOut)
    def post(self, data, series_id):
        """End a series early: later occurrences are cancelled, nothing is deleted."""
        series = get_or_404(db.session, SessionSeries, series_id, "series")
        series, change = series_service.end_series(
            db.session,
            current_actor(),
            series,
            data["end_date"],
            now=clock.now(),
            reason=data.get("reason"),
        )
        db.session.commit()
        return _with_changes(series, change)
