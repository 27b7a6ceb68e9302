"""Job history for admins; alerts for the staff who act on them; clients' message choices."""

from flask.views import MethodView
from flask_login import current_user
from marshmallow import Schema, fields, validate
from sqlalchemy import func, select

from scheduler import clock
from scheduler.api.access import (
    STAFF_READ,
    caseload_within,
    current_actor,
    log_read,
    own_client_or_writer,
    roles_required,
)
from scheduler.api.common import ApiSchema, PageArgs, QueryId, list_schema, offset_limit, page_of
from scheduler.api.parsing import Blueprint
from scheduler.extensions import db
from scheduler.jobs.registry import JOBS
from scheduler.models import Alert, JobRun
from scheduler.models.jobs import ALERT_KINDS, RUN_OUTCOMES
from scheduler.services import alerts, clients

URL_PREFIX = ""
blp = Blueprint("jobs", __name__, description="Background job runs, alerts, and what "
                "messages a client receives.")


class RunArgs(PageArgs):
    job = fields.String(validate=validate.OneOf(sorted(JOBS)))
    outcome = fields.String(validate=validate.OneOf(RUN_OUTCOMES))


class JobRunOut(Schema):
    id = fields.Integer()
    job = fields.String()
    started_at = fields.AwareDateTime()
    finished_at = fields.AwareDateTime(allow_none=True)
    outcome = fields.String()
    counts = fields.Dict(allow_none=True)
    error = fields.String(allow_none=True)
    trigger = fields.String()


@blp.route("/jobs/runs")
class JobRuns(MethodView):
    @roles_required("admin")
    @blp.arguments(RunArgs, location="query")
    @blp.response(200, list_schema(JobRunOut, "JobRunList"))
    def get(self, args):
        """Each job run, newest first: start, end, outcome and what it did."""
        query = select(JobRun)
        for name in ("job", "outcome"):
            if name in args:
                query = query.where(getattr(JobRun, name) == args[name])
        total = db.session.scalar(select(func.count()).select_from(query.subquery()))
        offset, limit = offset_limit(args)
        runs = db.session.scalars(query.order_by(JobRun.started_at.desc(), JobRun.id.desc())
                                  .offset(offset).limit(limit))
        return page_of(list(runs), total, args)


class AlertArgs(PageArgs):
    program_id = QueryId()
    kind = fields.String(validate=validate.OneOf(ALERT_KINDS))
    open = fields.Boolean(load_default=True, metadata={
        "description": "true (default): not yet acknowledged; false: every alert."})


class AlertOut(Schema):
    id = fields.Integer()
    kind = fields.String()
    client_id = fields.Integer(allow_none=True, metadata={
        "description": "None for an alert about no client (webhook_disabled)."})
    program_id = fields.Integer(allow_none=True)
    summary = fields.Function(lambda alert: alerts.summary(alert), metadata={
        "description": "What happened, in plain words."})
    detail = fields.Dict(allow_none=True)
    raised_at = fields.AwareDateTime()
    acknowledged_at = fields.AwareDateTime(allow_none=True)
    acknowledged_by_user_id = fields.Integer(allow_none=True)


@blp.route("/alerts")
class Alerts(MethodView):
    @roles_required(*STAFF_READ)
    @blp.arguments(AlertArgs, location="query")
    @blp.response(200, list_schema(AlertOut, "AlertList"))
    def get(self, args):
        """Alerts raised by the absence-alerts job, open ones by default, newest first.

        Admins also see each clinician's break-the-glass (kind `break_glass`) with its reason,
        and each webhook endpoint disabled after failed deliveries (kind `webhook_disabled`).
        A clinician sees the alerts of their caseload's clients only.
        """
        query = alerts.visible(current_user.role, caseload_within(), args["open"])
        for name in ("program_id", "kind"):
            if name in args:
                query = query.where(getattr(Alert, name) == args[name])
        total = db.session.scalar(select(func.count()).select_from(
            query.order_by(None).subquery()))
        offset, limit = offset_limit(args)
        rows = list(db.session.scalars(query.offset(offset).limit(limit)))
        log_read([row.client_id for row in rows if row.client_id is not None], "alerts")
        return page_of(rows, total, args)


@blp.route("/alerts/<int:alert_id>/acknowledge")
class AcknowledgeAlert(MethodView):
    @roles_required(*STAFF_READ)
    @blp.response(200, AlertOut)
    def post(self, alert_id):
        """Mark an alert handled (the outreach happened); audited. An alert the caller does
        not see in the list (another caseload's, or a break-the-glass one for a non-admin)
        answers 404."""
        alert = alerts.acknowledge(
            db.session, current_actor(), alert_id, clock.now(),
            seen=alerts.visible(current_user.role, caseload_within(), open_only=False))
        db.session.commit()
        return alert


class PreferencesIn(ApiSchema):
    remind_day_before = fields.Boolean()
    remind_two_hours = fields.Boolean()
    notifications_opt_out = fields.Boolean(metadata={
        "description": "true stops every email to the client, reminders and changes alike."})


class PreferencesOut(Schema):
    remind_day_before = fields.Boolean()
    remind_two_hours = fields.Boolean()
    notifications_opt_out = fields.Boolean()


@blp.route("/clients/<int:client_id>/notification-preferences")
class NotificationPreferences(MethodView):
    @own_client_or_writer
    @blp.arguments(PreferencesIn)
    @blp.response(200, PreferencesOut)
    def put(self, data, client_id):
        """Which reminders the client gets by email, or none at all."""
        client = clients.set_notification_preferences(db.session, current_actor(), client_id,
                                                      data)
        db.session.commit()
        return client
