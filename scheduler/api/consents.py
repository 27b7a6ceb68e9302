"""A client's Part 2 consents and their accounting of disclosures (42 CFR §2.31, §2.24).

Coordinators and admins record and revoke consents for the clients of their sites; clinicians
read them within their caseload; a client reads their own, and the list of every disclosure
made under them. Every read is in the access log. The rule of what a consent lets through is
services/consents.py's alone.
"""

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from scheduler import clock
from scheduler.api.access import WRITE, client_or_staff, current_actor, roles_required
from scheduler.api.common import (
    ApiSchema,
    BoundedList,
    CalendarDate,
    Id,
    PageArgs,
    RequiredText,
    list_schema,
    offset_limit,
    page_of,
)
from scheduler.api.parsing import Blueprint
from scheduler.extensions import db
from scheduler.models import Client
from scheduler.models.interop import CONSENT_SCOPES, DISCLOSURE_CHANNELS, RECIPIENT_KINDS
from scheduler.services import consents, disclosures
from scheduler.services.lookup import get_or_404

URL_PREFIX = "/clients"
blp = Blueprint(
    "consents", __name__,
    description="A client's consents to disclose to a recipient (42 CFR Part 2 §2.31) and the "
    "accounting of disclosures made under them (§2.24). Nothing about a client leaves through "
    "FHIR or webhooks without a live consent naming the recipient and covering the scope.")

STATES = ("live", "revoked", "expired")


class ConsentIn(ApiSchema):
    recipient_id = Id(required=True, metadata={
        "description": "The registered recipient the consent names (GET /recipients)."})
    purpose = RequiredText(max_length=consents.PURPOSE_MAX, required=True, metadata={
        "description": "What the disclosure is for, as the signed form says it "
        "(e.g. \"Coordination of care\")."})
    scope = BoundedList(
        fields.String(validate=validate.OneOf(CONSENT_SCOPES)), max_items=len(CONSENT_SCOPES) * 2,
        required=True, validate=validate.Length(min=1, error="Choose at least one."),
        metadata={"description": "How much and what kind: any of appointments, attendance and "
                  "demographics (name, date of birth and identifiers)."})
    signed_on = CalendarDate(required=True, metadata={
        "description": "The day the client signed; not after today."})
    expires_on = CalendarDate(required=True, metadata={
        "description": "The last day the consent covers (on the program's calendar); on or "
        "after signed_on, and not already past."})
    document_ref = fields.String(
        allow_none=True, validate=validate.Length(max=consents.DOCUMENT_REF_MAX), metadata={
            "description": "Where the signed form is kept (a document id or path)."})


class RevokeIn(ApiSchema):
    reason = fields.String(allow_none=True, validate=validate.Length(max=consents.REASON_MAX),
                           metadata={"description": "Why, in a line (e.g. \"Client asked by "
                                     "phone\"); kept in the audit trail."})


class RecipientRef(Schema):
    id = fields.Integer()
    name = fields.String()
    kind = fields.String(metadata={"enum": list(RECIPIENT_KINDS)})


class ConsentOut(Schema):
    id = fields.Integer()
    client_id = fields.Integer()
    recipient = fields.Nested(RecipientRef)
    purpose = fields.String()
    scope = fields.List(fields.String(metadata={"enum": list(CONSENT_SCOPES)}))
    signed_on = fields.Date()
    expires_on = fields.Date()
    document_ref = fields.String(allow_none=True)
    state = fields.Method("_state", metadata={
        "enum": list(STATES), "type": "string",
        "description": "live: disclosures may go under it now; revoked: revoked, nothing more "
        "goes; expired: past its last day."})
    revoked_at = fields.AwareDateTime(allow_none=True)
    revoke_reason = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()

    def _state(self, consent) -> str:
        return consents.state(consent, clock.now())


class ConsentRef(Schema):
    id = fields.Integer()
    purpose = fields.String()
    signed_on = fields.Date()
    expires_on = fields.Date()


class DisclosureOut(Schema):
    id = fields.Integer()
    disclosed_at = fields.AwareDateTime(metadata={"description": "When it left."})
    recipient = fields.Nested(RecipientRef)
    channel = fields.String(metadata={"enum": list(DISCLOSURE_CHANNELS),
                                      "description": "fhir: read by the recipient's system; "
                                      "webhook: sent to it as an event."})
    scope = fields.String(metadata={"enum": list(CONSENT_SCOPES),
                                    "description": "Which part of the consent it used."})
    what = fields.String(metadata={"description": "What went, as a FHIR reference or an "
                                   "event: \"Appointment/123\", \"booking.created "
                                   "Appointment/123\"."})
    consent = fields.Nested(ConsentRef, metadata={"description": "The consent it went under."})


ConsentList = Schema.from_dict({"items": fields.List(fields.Nested(ConsentOut))},
                               name="ConsentList")
DisclosureList = list_schema(DisclosureOut, "DisclosureList")


@blp.route("/<int:client_id>/consents")
class ClientConsents(MethodView):
    @client_or_staff("consents", clinical=True)
    @blp.response(200, ConsentList)
    def get(self, client_id):
        """The client's consents, newest signed first, revoked and expired ones included.

        A client reads their own; a clinician within their caseload.
        """
        get_or_404(db.session, Client, client_id, "client")
        return {"items": consents.for_client(db.session, client_id)}

    @roles_required(*WRITE)
    @blp.arguments(ConsentIn)
    @blp.response(201, ConsentOut)
    def post(self, data, client_id):
        """Record a consent the client signed (coordinators and admins; audited).

        It is live from the start of `signed_on` to the end of `expires_on` on the client's
        program calendar, until revoked.
        """
        client = get_or_404(db.session, Client, client_id, "client")
        consent = consents.record(db.session, current_actor(), client, now=clock.now(), **data)
        db.session.commit()
        return consent


@blp.route("/<int:client_id>/consents/<int:consent_id>")
class ClientConsent(MethodView):
    @client_or_staff("consent", clinical=True)
    @blp.response(200, ConsentOut)
    def get(self, client_id, consent_id):
        """One of the client's consents."""
        get_or_404(db.session, Client, client_id, "client")
        return consents.of_client(db.session, client_id, consent_id)

    @roles_required(*WRITE)
    @blp.arguments(RevokeIn)
    @blp.response(200, ConsentOut)
    @blp.alt_response(409, response="CONFLICT")
    def delete(self, data, client_id, consent_id):
        """Revoke the consent: nothing more goes under it from this instant (audited).

        Answers 200 with the revoked consent (kept, never deleted: the accounting of
        disclosures names it). An optional JSON body gives the `reason`. A consent revoked
        already answers 409.
        """
        get_or_404(db.session, Client, client_id, "client")
        consent = consents.of_client(db.session, client_id, consent_id)
        consents.revoke(db.session, current_actor(), consent, clock.now(),
                        reason=data.get("reason"))
        db.session.commit()
        return consent


@blp.route("/<int:client_id>/disclosures")
class ClientDisclosures(MethodView):
    @client_or_staff("disclosures", clinical=True)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, DisclosureList)
    def get(self, args, client_id):
        """The accounting of disclosures: what left about the client, newest first.

        When, to which recipient, through which channel, what, and under which consent.
        A client reads their own (42 CFR §2.24).
        """
        get_or_404(db.session, Client, client_id, "client")
        offset, limit = offset_limit(args)
        rows, total = disclosures.for_client(db.session, client_id, offset=offset, limit=limit)
        under = disclosures.consents_of(db.session, rows)
        items = [{"id": r.id, "disclosed_at": r.disclosed_at, "recipient": r.recipient,
                  "channel": r.channel, "scope": r.scope, "what": r.what,
                  "consent": under.get(r.consent_id)} for r in rows]
        return page_of(items, total, args)
