"""Webhook endpoints (issue 20, Standard Webhooks), for admins; services/webhooks.py rules."""

from flask import current_app
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from scheduler import clock
from scheduler.api.access import current_actor, log_read, roles_required
from scheduler.api.common import (
    ApiSchema,
    BoundedList,
    Id,
    PageArgs,
    QueryId,
    list_schema,
    offset_limit,
    page_of,
)
from scheduler.api.parsing import Blueprint
from scheduler.extensions import db
from scheduler.models.interop import WEBHOOK_EVENTS
from scheduler.services import webhooks

URL_PREFIX = "/webhooks"
blp = Blueprint("webhooks", __name__, description="Webhook endpoints: where a recipient hears "
                "of events (signed as Standard Webhooks says; sent only under the client's "
                "Part 2 consent), and the history of what was sent.")

EVENTS_WORDS = ("Any of " + ", ".join(WEBHOOK_EVENTS) + ". Each names the client's FHIR "
                "Appointment (or Patient, for client.discharged), never a name or a title.")


def _settings() -> webhooks.Settings:
    return webhooks.Settings.from_config(current_app.config)


class EndpointFields(ApiSchema):
    url = fields.String(required=True, validate=validate.Length(min=1, max=webhooks.URL_MAX),
                        metadata={"description": "https:// only; no user or password in it. "
                                  "Its host must not be, or resolve to, a private or local "
                                  "address."})
    events = BoundedList(fields.String(validate=validate.OneOf(WEBHOOK_EVENTS)),
                         max_items=len(WEBHOOK_EVENTS), required=True,
                         validate=validate.Length(min=1), metadata={"description": EVENTS_WORDS})
    description = fields.String(allow_none=True,
                                validate=validate.Length(max=webhooks.DESCRIPTION_MAX))


class EndpointIn(EndpointFields):
    recipient_id = Id(required=True)


class EndpointPatch(EndpointFields):
    is_enabled = fields.Boolean(metadata={
        "description": "true re-enables an endpoint disabled after failed deliveries (or a 410); "
        "false pauses it. Pending deliveries of a disabled endpoint are given up; retry them "
        "one by one after re-enabling."})

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("partial", True)
        super().__init__(*args, **kwargs)


class EndpointOut(Schema):
    id = fields.Integer()
    recipient_id = fields.Integer()
    recipient_name = fields.Function(lambda e: e.recipient.name)
    url = fields.String()
    events = fields.List(fields.String())
    description = fields.String(allow_none=True)
    is_enabled = fields.Boolean()
    disabled_at = fields.AwareDateTime(allow_none=True)
    disabled_reason = fields.String(allow_none=True)
    previous_secret_until = fields.AwareDateTime(
        attribute="previous_until", allow_none=True,
        metadata={"description": "After a rotation, the old secret signs too until then."})
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


class EndpointWithSecret(EndpointOut):
    secret = fields.String(metadata={
        "description": "whsec_…: verify each delivery with it (Standard Webhooks). Shown this "
        "once; it is not stored and cannot be shown again (rotate it to get a new one)."})


class EndpointArgs(PageArgs):
    recipient_id = QueryId()


class AttemptOut(Schema):
    attempted_at = fields.AwareDateTime()
    status_code = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)
    duration_ms = fields.Integer()


class DeliveryOut(Schema):
    id = fields.Integer()
    message_id = fields.String(metadata={"description": "The webhook-id header; the same on "
                                         "every retry."})
    event_type = fields.String()
    client_id = fields.Integer(allow_none=True)
    payload = fields.Dict()
    status = fields.String(metadata={"description": "pending, delivered or failed."})
    attempts = fields.Integer()
    next_attempt_at = fields.AwareDateTime(allow_none=True)
    last_attempt_at = fields.AwareDateTime(allow_none=True)
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    delivered_at = fields.AwareDateTime(allow_none=True)
    attempt_history = fields.List(fields.Nested(AttemptOut))


class _With:
    """A row as the response schema reads it, with what the row does not hold (a secret
    shown once, a delivery's attempts)."""

    def __init__(self, row, **extra):
        self._row = row
        self.__dict__.update(extra)

    def __getattr__(self, name):
        return getattr(self._row, name)


def _with_secret(endpoint, secret: str) -> _With:
    return _With(endpoint, secret=secret)


@blp.route("")
class Endpoints(MethodView):
    @roles_required("admin")
    @blp.arguments(EndpointArgs, location="query")
    @blp.response(200, list_schema(EndpointOut, "WebhookEndpointList"))
    def get(self, args):
        """The webhook endpoints, oldest first (deleted ones are left out)."""
        offset, limit = offset_limit(args)
        rows, total = webhooks.listing(db.session, recipient_id=args.get("recipient_id"),
                                       offset=offset, limit=limit)
        return page_of(rows, total, args)

    @roles_required("admin")
    @blp.arguments(EndpointIn)
    @blp.response(201, EndpointWithSecret)
    def post(self, data):
        """Register an endpoint for a recipient. The answer carries its signing secret, once."""
        endpoint, secret = webhooks.create(db.session, current_actor(), _settings(),
                                           now=clock.now(), **data)
        db.session.commit()
        return _with_secret(endpoint, secret)


@blp.route("/<int:webhook_id>")
class EndpointById(MethodView):
    @roles_required("admin")
    @blp.response(200, EndpointOut)
    def get(self, webhook_id):
        """Read one endpoint (never its secret)."""
        return webhooks.get(db.session, webhook_id)

    @roles_required("admin")
    @blp.arguments(EndpointPatch)
    @blp.response(200, EndpointOut)
    def patch(self, changes, webhook_id):
        """Change the URL, events or description, or re-enable (is_enabled) the endpoint."""
        endpoint = webhooks.get(db.session, webhook_id)
        webhooks.update(db.session, current_actor(), _settings(), endpoint, changes,
                        clock.now())
        db.session.commit()
        return endpoint

    @roles_required("admin")
    @blp.response(204)
    def delete(self, webhook_id):
        """Stop the endpoint for good; its delivery history stays."""
        endpoint = webhooks.get(db.session, webhook_id)
        webhooks.delete(db.session, current_actor(), endpoint, clock.now())
        db.session.commit()


@blp.route("/<int:webhook_id>/rotate-secret")
class RotateSecret(MethodView):
    @roles_required("admin")
    @blp.response(200, EndpointWithSecret)
    def post(self, webhook_id):
        """A new signing secret, shown once. The old one keeps signing beside it for 24
        hours (two signatures in webhook-signature), so the receiver can switch."""
        endpoint = webhooks.get(db.session, webhook_id)
        endpoint, secret = webhooks.rotate_secret(db.session, current_actor(), _settings(),
                                                  endpoint, clock.now())
        db.session.commit()
        return _with_secret(endpoint, secret)


def _delivery_out(delivery, attempts) -> _With:
    return _With(delivery, attempt_history=attempts)


@blp.route("/<int:webhook_id>/deliveries")
class Deliveries(MethodView):
    @roles_required("admin")
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, list_schema(DeliveryOut, "WebhookDeliveryList"))
    def get(self, args, webhook_id):
        """What was sent to the endpoint, newest first, each with its attempts."""
        endpoint = webhooks.get(db.session, webhook_id)
        offset, limit = offset_limit(args)
        rows, total = webhooks.deliveries(db.session, endpoint, offset=offset, limit=limit)
        attempts = webhooks.attempts_of(db.session, [row.id for row in rows])
        log_read(sorted({row.client_id for row in rows if row.client_id is not None}),
                 "webhook_deliveries")
        return page_of([_delivery_out(row, attempts[row.id]) for row in rows], total, args)


@blp.route("/<int:webhook_id>/deliveries/<int:delivery_id>/retry")
class RetryDelivery(MethodView):
    @roles_required("admin")
    @blp.response(200, DeliveryOut)
    def post(self, webhook_id, delivery_id):
        """Send this delivery again at the job's next run, with the same webhook-id (a
        failed one gets a fresh round of attempts). Consent is checked again then."""
        endpoint = webhooks.get(db.session, webhook_id)
        delivery = webhooks.retry(db.session, current_actor(), endpoint, delivery_id,
                                  clock.now())
        db.session.commit()
        return _delivery_out(delivery, webhooks.attempts_of(db.session, [delivery.id])[
            delivery.id])
