"""The audit trail and access log, searched by admins; each search is itself logged."""

from datetime import UTC, date, datetime, time, timedelta

from flask.views import MethodView
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from scheduler.api.access import current_actor, roles_required
from scheduler.api.common import PageArgs, QueryId, list_schema, offset_limit, page_of
from scheduler.api.parsing import Blueprint
from scheduler.extensions import db
from scheduler.services import access_log, audit
from scheduler.services.dates import BETWEEN, instant_in_calendar

URL_PREFIX = ""
blp = Blueprint("audit_events", __name__, description="Search the audit trail of writes and "
                "the access log of reads (admins only).")

DAY_OR_INSTANT = ("A date (2027-02-16, a whole UTC day) or an ISO 8601 date-time; "
                  "one without an offset is read as UTC.")


class DayOrInstant(fields.String):
    """A UTC date or date-time; loads as (instant, whole_day) so `to` can include the day."""

    default_error_messages = {"invalid": "Must be a date (YYYY-MM-DD) or an ISO 8601 date-time.",
                              "range": f"Must be {BETWEEN}."}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise self.make_error("invalid")
        try:
            day = date.fromisoformat(value)
        except ValueError:
            day = None
        if day is not None:
            at, whole_day = datetime.combine(day, time(), UTC), True
        else:
            try:
                at = datetime.fromisoformat(value)
            except ValueError:
                raise self.make_error("invalid") from None
            at = at.replace(tzinfo=UTC) if at.tzinfo is None else at
            try:
                at, whole_day = at.astimezone(UTC), False
            except OverflowError:  # e.g. 9999-12-31T23:00-05:00 is in the year 10000 in UTC
                raise self.make_error("range") from None
        if not instant_in_calendar(at):
            raise self.make_error("range")
        return at, whole_day


class AuditEventArgs(PageArgs):
    class Meta:
        # A misspelt filter must not silently widen an audit search to everything.
        unknown = RAISE

    client_id = QueryId(metadata={"description": "Events about this client's record "
                                  "(entity_type client)."})
    entity_type = fields.String(validate=validate.Length(min=1, max=64))
    entity_id = QueryId()
    actor_user_id = QueryId()
    action = fields.String(validate=validate.Length(min=1, max=64), metadata={
        "description": "read, export, denied for the access log; for writes, one of "
                       + ", ".join(a for a in audit.ACTIONS if a not in access_log.ACCESS_ACTIONS)
                       + ". Rows filed before a session's cancel and restore had their own "
                       "actions are under override."})
    from_ = DayOrInstant(data_key="from", metadata={"description": DAY_OR_INSTANT})
    to = DayOrInstant(metadata={"description": DAY_OR_INSTANT + " A date includes that day."})

    @validates_schema
    def coherent(self, data, **kwargs):
        if "client_id" in data and data.get("entity_type", "client") != "client":
            raise ValidationError("client_id is for entity_type client; use entity_id.",
                                  "client_id")
        if "client_id" in data and "entity_id" in data:
            raise ValidationError("Give client_id or entity_id, not both.", "client_id")
        if "from_" in data and "to" in data and data["to"][0] < data["from_"][0]:
            raise ValidationError("Must not be before from.", "to")


class AuditEventOut(Schema):
    id = fields.Integer()
    occurred_at = fields.AwareDateTime()
    actor_user_id = fields.Integer(allow_none=True)
    actor = fields.String()
    address = fields.String(allow_none=True, metadata={
        "description": "The network address the request came from; null for the system."})
    action = fields.String()
    entity_type = fields.String()
    entity_id = fields.Integer(allow_none=True)
    before = fields.Dict(allow_none=True)
    after = fields.Dict(allow_none=True, metadata={
        "description": "For a write, the changed fields; for a read, what was read "
                       "(resource, via) and never its content."})
    reason = fields.String(allow_none=True)


def event_filter(args: dict) -> audit.EventFilter:
    """The service's filter for the request's query arguments."""
    occurred_before = None
    if "to" in args:
        at, whole_day = args["to"]
        occurred_before = at + timedelta(days=1) if whole_day else at + timedelta(microseconds=1)
    return audit.EventFilter(
        entity_type="client" if "client_id" in args else args.get("entity_type"),
        entity_id=args.get("client_id", args.get("entity_id")),
        actor_user_id=args.get("actor_user_id"),
        action=args.get("action"),
        occurred_from=args["from_"][0] if "from_" in args else None,
        occurred_before=occurred_before,
    )


def searched_filters(args: dict) -> dict:
    """The filters a search used, as the access log keeps them."""
    keep = {key: value for key, value in args.items() if key not in ("from_", "to")}
    for key, name in (("from_", "from"), ("to", "to")):
        if key in args:
            keep[name] = args[key][0]
    return {key: audit.to_json(value) for key, value in keep.items()}


@blp.route("/audit-events")
class AuditEvents(MethodView):
    @roles_required("admin")
    @blp.arguments(AuditEventArgs, location="query", unknown=RAISE)
    @blp.response(200, list_schema(AuditEventOut, "AuditEventList"))
    def get(self, args):
        """Audit and access events, newest first, by client, user, action, type and period."""
        offset, limit = offset_limit(args)
        events, total = audit.search(db.session, event_filter(args), offset=offset, limit=limit)
        access_log.record_access(db.session, current_actor(), [None], "audit_events",
                                 entity_type="audit_log",
                                 detail={"filters": searched_filters(args)})
        return page_of(events, total, args)
