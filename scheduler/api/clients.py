"""Clients: the people in treatment, and their episodes. A client reads only their own record.

Admitting a client answers 409 with the probable existing records (the same name and date of
birth, email or phone) unless the body says `confirm_new`: a returning client is re-admitted
with a new episode on their record, not made twice.
"""



from flask.views import MethodView
from flask_login import current_user
from marshmallow import Schema, fields, validate
from sqlalchemy import func, select

from scheduler import clock, outbox
from scheduler.api.access import (
    STAFF_READ,
    WRITE,
    caseload_policy,
    client_or_staff,
    current_actor,
    log_read,
    roles_required,
)
from scheduler.api.common import (
    ApiSchema,
    BirthDate,
    CalendarDate,
    Id,
    Instant,
    QueryId,
    RequiredText,
    SearchPageArgs,
    list_schema,
    offset_limit,
    page_of,
    patch_schema,
)
from scheduler.api.parsing import Blueprint
from scheduler.extensions import db
from scheduler.languages import LANGUAGES
from scheduler.models import Client
from scheduler.models.clients import CLIENT_STATUSES
from scheduler.services import caseload, clients, episodes, free_slots, scope
from scheduler.services.lookup import get_or_404
from scheduler.services.search import filtered

URL_PREFIX = "/clients"
blp = Blueprint("clients", __name__, description="Clients")


class ClientFields(ApiSchema):
    name = RequiredText(required=True)
    program_id = Id(required=True)
    admitted_on = CalendarDate(required=True)
    preferred_name = fields.String(allow_none=True, validate=validate.Length(max=120))
    email = fields.Email(allow_none=True, validate=validate.Length(max=254))
    phone = fields.String(allow_none=True, validate=validate.Length(max=40))
    date_of_birth = BirthDate(allow_none=True)
    feed_alarm_minutes = fields.Integer(
        allow_none=True,
        validate=validate.Range(min=0, max=10080),
        metadata={"description": "A reminder in the client's subscribed calendar this many "
                  "minutes before each session (e.g. 120); null for none."},
    )


    language = fields.String(validate=validate.OneOf(LANGUAGES), metadata={
        "description": "The language of the client's portal, emails and calendar: "
        + ", ".join(LANGUAGES) + "."})


class ClientIn(ClientFields):
    confirm_new = fields.Boolean(load_default=False, metadata={
        "description": "Create the record even though probable existing clients were found "
        "(the 409 lists them): the coordinator has checked this is a different person."})


class MatchOut(Schema):
    """As the 409 of POST /clients lists them (dates already ISO 8601 text)."""

    client_id = fields.Integer()
    name = fields.String()
    date_of_birth = fields.String(allow_none=True, metadata={"format": "date"})
    status = fields.String()
    program_id = fields.Integer()
    admitted_on = fields.String(metadata={"format": "date"})
    discharged_on = fields.String(allow_none=True, metadata={"format": "date"})
    reasons = fields.List(fields.String(validate=validate.OneOf(
        ("name_and_birth", "name", "email", "phone"))))


class MatchArgs(ApiSchema):
    name = fields.String(validate=validate.Length(max=200))
    date_of_birth = BirthDate()
    email = fields.String(validate=validate.Length(max=254))
    phone = fields.String(validate=validate.Length(max=40))


class EpisodeIn(ApiSchema):
    admitted_on = CalendarDate(required=True)
    program_id = Id(required=True)


class EpisodeOut(Schema):
    id = fields.Integer()
    client_id = fields.Integer()
    program_id = fields.Integer()
    admitted_on = fields.Date()
    discharged_on = fields.Date(allow_none=True)
    level_of_care = fields.String()
    plan_id = fields.Integer(allow_none=True)
    discharge_reason = fields.String(allow_none=True)


class ClientListArgs(SearchPageArgs):
    program_id = QueryId()
    status = fields.String(validate=validate.OneOf(CLIENT_STATUSES))


class ClientOut(Schema):
    id = fields.Integer()
    name = fields.String()
    preferred_name = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    date_of_birth = fields.Date(allow_none=True)
    program_id = fields.Integer()
    admitted_on = fields.Date()
    discharged_on = fields.Date(allow_none=True)
    status = fields.String()
    feed_alarm_minutes = fields.Integer(allow_none=True)
    remind_day_before = fields.Boolean()
    remind_two_hours = fields.Boolean()
    notifications_opt_out = fields.Boolean()
    language = fields.String()


ClientPatch = patch_schema(ClientFields, "ClientPatch")
ClientList = list_schema(ClientOut, "ClientList")


@blp.route("")
class Clients(MethodView):
    @roles_required(*STAFF_READ)
    @blp.arguments(ClientListArgs, location="query")
    @blp.response(200, ClientList)
    def get(self, args):
        """List clients, optionally of one program or status, or whose name matches `q`."""
        query = filtered(select(Client), Client.name, args.get("q")).where(
            scope.programs_filter(Client.program_id))
        if "program_id" in args:
            query = query.where(Client.program_id == args["program_id"])
        if "status" in args:
            query = query.where(Client.status == args["status"])
        offset, limit = offset_limit(args)
        total = db.session.scalar(select(func.count()).select_from(query.subquery()))
        items = list(db.session.scalars(
            query.order_by(Client.name, Client.id).offset(offset).limit(limit)))
        log_read([c.id for c in items], "client_list")
        return page_of(items, total, args)

    @roles_required(*WRITE)
    @blp.arguments(ClientIn)
    @blp.response(201, ClientOut)
    @blp.alt_response(409, response="CONFLICT")
    def post(self, data):
        """Admit a client to a program.

        A probable existing client (the same name and date of birth, or a date of birth
        missing on one side; the same email; the same phone number) answers 409 with
        `matches`: re-admit that client (POST /clients/{id}/episodes) or send `confirm_new`.
        """
        if not data.pop("confirm_new"):
            clients.refuse_duplicates(db.session, **data)
        client = clients.create_client(db.session, current_actor(), **data)
        db.session.commit()
        return client


@blp.route("/<int:client_id>")
class ClientById(MethodView):
    @client_or_staff("client")
    @blp.response(200, ClientOut)
    def get(self, client_id):
        """Read one client; a client may read only their own record."""
        return get_or_404(db.session, Client, client_id, "client")

    @roles_required(*WRITE)
    @blp.arguments(ClientPatch)
    @blp.response(200, ClientOut)
    def patch(self, changes, client_id):
        """Edit a client's details."""
        client = get_or_404(db.session, Client, client_id, "client")
        clients.update_client(db.session, current_actor(), client, changes)
        db.session.commit()
        return client


class FreeSlotArgs(ApiSchema):
    staff_id = QueryId(required=True, metadata={"description": "The clinician."})
    duration_minutes = fields.Integer(
        required=True,
        validate=validate.Range(min=free_slots.MIN_DURATION, max=free_slots.MAX_DURATION),
    )
    from_ = Instant(required=True, data_key="from",
                    metadata={"description": "ISO 8601 with a UTC offset."})
    to = Instant(required=True, metadata={
        "description": f"ISO 8601 with a UTC offset; at most {free_slots.MAX_RANGE_DAYS} days "
        "after from."})
    # The range's own rules (after from, at most MAX_RANGE_DAYS) belong to free_slots, which
    # the pages call too; its refusal names `to` in the query, as a schema error would.


class FreeSlotOut(Schema):
    starts_at = fields.AwareDateTime(metadata={"description": "In the program's UTC offset."})
    ends_at = fields.AwareDateTime()
    room_id = fields.Integer()


class FreeSlotList(Schema):
    items = fields.List(fields.Nested(FreeSlotOut))


@blp.route("/<int:client_id>/free-slots")
class ClientFreeSlots(MethodView):
    @roles_required(*STAFF_READ)
    @blp.arguments(FreeSlotArgs, location="query")
    @blp.response(200, FreeSlotList)
    def get(self, args, client_id):
        """Times where the client, the clinician and a room are all free.

        Book one with POST /api/v1/sessions (a one-off session with client_id). Candidates
        start on a half-hour grid (quarter-hour for sessions under 30 minutes) in
        the program's zone, inside the clinician's working hours, or 08:00–21:00 Monday to
        Saturday where none are set; at most 200, earliest first.
        """
        items = free_slots.free_slots(
            db.session, client_id, args["staff_id"], args["duration_minutes"], args["from_"],
            args["to"], now=clock.now())
        log_read([client_id], "free_slots")
        return {"items": items}


@blp.route("/matches")
class ClientMatches(MethodView):
    @roles_required(*WRITE)
    @blp.arguments(MatchArgs, location="query")
    @blp.response(200, Schema.from_dict({"items": fields.List(fields.Nested(MatchOut))},
                                        name="ClientMatches"))
    def get(self, args):
        """Clients who are probably the person described, by the rule admission uses."""
        found = clients.probable_matches(db.session, **args)
        log_read([m.client.id for m in found], "client_matches")
        return {"items": [clients.match_dict(m) for m in found]}


@blp.route("/<int:client_id>/episodes")
class ClientEpisodes(MethodView):
    @client_or_staff("episodes", clinical=True)
    @blp.response(200, Schema.from_dict({"items": fields.List(fields.Nested(EpisodeOut))},
                                        name="EpisodeList"))
    def get(self, client_id):
        """The client's stays in treatment, oldest first."""
        get_or_404(db.session, Client, client_id, "client")
        return {"items": episodes.episodes_of(db.session, client_id)}

    @roles_required(*WRITE)
    @blp.arguments(EpisodeIn)
    @blp.response(201, EpisodeOut)
    @blp.alt_response(409, response="CONFLICT")
    def post(self, data, client_id):
        """Re-admit a discharged client: a new episode on the same record.

        409 while an episode is open; `admitted_on` may not be before the last discharge.
        The earlier episode keeps its plans and attendance; write a new plan next.
        """
        episode = episodes.readmit(db.session, current_actor(), client_id,
                                   admitted_on=data["admitted_on"],
                                   program_id=data["program_id"])
        db.session.commit()
        return episode


class BreakGlassIn(ApiSchema):
    reason = RequiredText(max_length=caseload.REASON_MAX, required=True, metadata={
        "description": "Why you need this client's clinical record now (one line, at most "
        f"{caseload.REASON_MAX} characters); the admins read it."})


class BreakGlassOut(Schema):
    client_id = fields.Integer()
    expires_at = fields.AwareDateTime()
    reason = fields.String()


@blp.route("/<int:client_id>/break-glass")
class ClientBreakGlass(MethodView):
    @roles_required(*caseload.HELD_TO_CASELOAD)
    @blp.arguments(BreakGlassIn)
    @blp.response(201, BreakGlassOut)
    def post(self, data, client_id):
        """Break the glass: read a client's clinical record outside your caseload for a while.

        The grant lasts BREAK_GLASS_MINUTES (an hour by default).

        For clinicians; audited with the reason, and the admins get an alert (and an email
        where mail is set).
        """
        grant, keys = caseload.break_glass(db.session, current_actor(), current_user, client_id,
                                           data["reason"], clock.now(), caseload_policy())
        db.session.commit()
        outbox.send_after_response(*keys)
        return grant
