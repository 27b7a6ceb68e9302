"""Recipients: the outside systems (EHR, billing, referral partners) a client may consent to
disclose to, and their FHIR API clients. Admins only: a recipient's credentials open /fhir/R4.

An API client's secret is in the 201 answer that makes it and never again; lists show when it
was made, last used and revoked. services/recipients.py owns the rules.
"""

from types import SimpleNamespace

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from scheduler import clock
from scheduler.api.access import current_actor, roles_required
from scheduler.api.common import (
    ApiSchema,
    BoundedList,
    RequiredText,
    SearchPageArgs,
    list_schema,
    offset_limit,
    page_of,
    patch_schema,
)
from scheduler.api.parsing import Blueprint
from scheduler.extensions import db
from scheduler.models import FhirClient, Recipient
from scheduler.models.interop import FHIR_SCOPES, RECIPIENT_KINDS
from scheduler.services import recipients
from scheduler.services.errors import NotFound
from scheduler.services.lookup import find, get_or_404

URL_PREFIX = "/recipients"
blp = Blueprint("recipients", __name__, description="Outside systems that may receive what a "
                "client consents to, and their FHIR API clients (admins only).")

ADMIN = ("admin",)


class RecipientFields(ApiSchema):
    name = RequiredText(required=True, max_length=200, metadata={
        "description": "Unique, e.g. the EHR's product and the clinic's instance."})
    kind = fields.String(required=True, validate=validate.OneOf(RECIPIENT_KINDS), metadata={
        "description": "ehr, billing or referral."})
    contact = fields.String(allow_none=True, validate=validate.Length(max=300), metadata={
        "description": "Who to call about it, e.g. 'Kipu support, 555-0100'."})


class RecipientPatchFields(RecipientFields):
    is_active = fields.Boolean(metadata={
        "description": "false stops everything to it at once, whatever its consents."})


class RecipientOut(Schema):
    id = fields.Integer()
    name = fields.String()
    kind = fields.String()
    contact = fields.String(allow_none=True)
    is_active = fields.Boolean()
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


RecipientPatch = patch_schema(RecipientPatchFields, "RecipientPatch")
RecipientList = list_schema(RecipientOut, "RecipientList")


class ApiClientIn(ApiSchema):
    scopes = BoundedList(fields.String(validate=validate.OneOf(FHIR_SCOPES)),
                         max_items=len(FHIR_SCOPES) * 2, required=True,
                         validate=validate.Length(min=1), metadata={
                             "description": "What its tokens may do: "
                             + ", ".join(FHIR_SCOPES) + "."})
    jwks = fields.Dict(allow_none=True, metadata={
        "description": "SMART Backend Services: the client's public keys as a JWKS document "
        '({"keys": [...]}, RSA or EC), to sign client assertions (RS384 or ES384) with '
        "instead of sending the secret."})


class ApiClientOut(Schema):
    id = fields.Integer()
    client_id = fields.String()
    scopes = fields.List(fields.String())
    has_keys = fields.Function(lambda row: bool(row.jwks), metadata={
        "description": "Whether public keys for signed client assertions are registered."})
    created_at = fields.AwareDateTime()
    last_used_at = fields.AwareDateTime(allow_none=True)
    revoked_at = fields.AwareDateTime(allow_none=True)


SHOWN = ("id", "client_id", "scopes", "jwks", "created_at", "last_used_at", "revoked_at")


class ApiClientCreated(ApiClientOut):
    client_secret = fields.String(metadata={
        "description": "Shown once, here: only its hash is kept."})


class ApiClientList(Schema):
    items = fields.List(fields.Nested(ApiClientOut))


@blp.route("")
class Recipients(MethodView):
    @roles_required(*ADMIN)
    @blp.arguments(SearchPageArgs, location="query")
    @blp.response(200, RecipientList)
    def get(self, args):
        """List recipients, optionally those whose name matches `q`."""
        offset, limit = offset_limit(args)
        rows, total = recipients.list_recipients(db.session, args.get("q"), offset=offset,
                                                 limit=limit)
        return page_of(rows, total, args)

    @roles_required(*ADMIN)
    @blp.arguments(RecipientFields)
    @blp.response(201, RecipientOut)
    def post(self, data):
        """Register an outside system."""
        row = recipients.create_recipient(db.session, current_actor(), **data)
        db.session.commit()
        return row


@blp.route("/<int:recipient_id>")
class RecipientById(MethodView):
    @roles_required(*ADMIN)
    @blp.response(200, RecipientOut)
    def get(self, recipient_id):
        """Read one recipient."""
        return get_or_404(db.session, Recipient, recipient_id, "recipient")

    @roles_required(*ADMIN)
    @blp.arguments(RecipientPatch)
    @blp.response(200, RecipientOut)
    def patch(self, changes, recipient_id):
        """Rename, re-describe or (de)activate a recipient."""
        row = get_or_404(db.session, Recipient, recipient_id, "recipient")
        recipients.update_recipient(db.session, current_actor(), row, changes)
        db.session.commit()
        return row


@blp.route("/<int:recipient_id>/api-clients")
class ApiClients(MethodView):
    @roles_required(*ADMIN)
    @blp.response(200, ApiClientList)
    def get(self, recipient_id):
        """The recipient's FHIR API clients, revoked ones included; never their secrets."""
        get_or_404(db.session, Recipient, recipient_id, "recipient")
        return {"items": recipients.clients_of(db.session, recipient_id)}

    @roles_required(*ADMIN)
    @blp.arguments(ApiClientIn)
    @blp.response(201, ApiClientCreated)
    @blp.alt_response(409, response="CONFLICT")
    def post(self, data, recipient_id):
        """Make a FHIR API client; its secret is in this answer and never shown again."""
        recipient = get_or_404(db.session, Recipient, recipient_id, "recipient")
        row, secret = recipients.create_fhir_client(db.session, current_actor(), recipient,
                                                    **data)
        db.session.commit()
        return SimpleNamespace(**{name: getattr(row, name) for name in SHOWN},
                               client_secret=secret)


@blp.route("/<int:recipient_id>/api-clients/<int:api_client_id>")
class ApiClientById(MethodView):
    @roles_required(*ADMIN)
    @blp.response(204)
    def delete(self, recipient_id, api_client_id):
        """Revoke an API client: every token it holds stops at once."""
        row = find(db.session, FhirClient, api_client_id)
        if row is None or row.recipient_id != recipient_id:
            raise NotFound("API client", api_client_id)
        recipients.revoke_fhir_client(db.session, current_actor(), row, clock.now())
        db.session.commit()
