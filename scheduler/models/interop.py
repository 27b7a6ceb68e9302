"""What leaves the building, and on whose word (42 CFR Part 2, issue 20).

A recipient is an external system (an EHR, a billing service, a referral partner). A client's
consent names one recipient, the purpose, what may go (scope) and until when; revoking it stops
everything from that moment. Every disclosure, through FHIR or a webhook, is logged for the
client's accounting of disclosures.

Recipients own FHIR API clients (OAuth2 client credentials, SMART Backend Services) with the
tokens they were issued, and webhook endpoints with the deliveries made to them.
"""

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from scheduler.clock import now
from scheduler.extensions import Model
from scheduler.models.checks import one_of
from scheduler.models.types import JSONDocument, UTCDateTime

RECIPIENT_KINDS = ("ehr", "billing", "referral")
# What a consent may cover, in the API's words; each is a column of its own (Consent.covers).
CONSENT_SCOPES = ("appointments", "attendance", "demographics")
DISCLOSURE_CHANNELS = ("fhir", "webhook")
FHIR_SCOPES = ("system/Appointment.read", "system/Slot.read", "system/Patient.read",
               "system/Patient.write")
WEBHOOK_EVENTS = ("session.cancelled", "session.moved", "booking.created", "booking.cancelled",
                  "waitlist.promoted", "attendance.recorded", "client.discharged")
# pending: due at next_attempt_at; delivered: a 2xx came back; failed: given up (attempts
# spent, 410, or the endpoint disabled).
DELIVERY_STATUSES = ("pending", "delivered", "failed")


class Recipient(Model):
    """A registered external system that may receive what a client consents to."""

    __tablename__ = "recipients"
    __table_args__ = (CheckConstraint(one_of("kind", RECIPIENT_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    # Who to call about it: free text, e.g. "Kipu support, 555-0100".
    contact: Mapped[str | None] = mapped_column(String(300))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)


class Consent(Model):
    """A client's written consent to disclose to one recipient (42 CFR §2.31).

    The dates are the form's, on the client's program calendar; valid_from and valid_until are
    the instants they mean there (services/consents.py computes them), so "live now" is one
    comparison in SQL.
    """

    __tablename__ = "consents"
    __table_args__ = (
        CheckConstraint("expires_on >= signed_on", name="dates"),
        CheckConstraint("valid_until > valid_from", name="window"),
        Index("ix_consents_client_recipient", "client_id", "recipient_id"),
        Index("ix_consents_recipient_live", "recipient_id", "valid_until"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="RESTRICT"))
    recipient_id: Mapped[int] = mapped_column(ForeignKey("recipients.id", ondelete="RESTRICT"))
    purpose: Mapped[str] = mapped_column(Text)
    covers_appointments: Mapped[bool] = mapped_column(Boolean, default=False)
    covers_attendance: Mapped[bool] = mapped_column(Boolean, default=False)
    covers_demographics: Mapped[bool] = mapped_column(Boolean, default=False)
    signed_on: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date] = mapped_column(Date)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime)
    # Where the signed form is kept (a document id or path in the clinic's records).
    document_ref: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))
    revoke_reason: Mapped[str | None] = mapped_column(Text)

    recipient: Mapped[Recipient] = relationship(lazy="joined")

    @property
    def scope(self) -> list[str]:
        return [name for name in CONSENT_SCOPES if getattr(self, f"covers_{name}")]

    def is_live(self, at: datetime) -> bool:
        return (self.revoked_at is None or self.revoked_at > at) and (
            self.valid_from <= at < self.valid_until)


class Disclosure(Model):
    """One disclosure of a client's data: who, what, to whom, when, under which consent."""

    __tablename__ = "disclosures"
    __table_args__ = (
        CheckConstraint(one_of("channel", DISCLOSURE_CHANNELS), name="channel"),
        CheckConstraint(one_of("scope", CONSENT_SCOPES), name="scope"),
        Index("ix_disclosures_client_at", "client_id", "disclosed_at"),
        Index("ix_disclosures_recipient_at", "recipient_id", "disclosed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="RESTRICT"))
    recipient_id: Mapped[int] = mapped_column(ForeignKey("recipients.id", ondelete="RESTRICT"))
    consent_id: Mapped[int] = mapped_column(ForeignKey("consents.id", ondelete="RESTRICT"))
    channel: Mapped[str] = mapped_column(String(8))
    # Which part of the consent's scope it used.
    scope: Mapped[str] = mapped_column(String(16))
    # What went, as a FHIR reference or an event: "Appointment/123", "Patient/7",
    # "booking.created Appointment/123".
    what: Mapped[str] = mapped_column(String(200))
    # Who on the recipient's side asked (a FHIR API client), or where it was sent (an endpoint).
    api_client_id: Mapped[int | None] = mapped_column(
        ForeignKey("fhir_clients.id", ondelete="SET NULL"))
    webhook_endpoint_id: Mapped[int | None] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="SET NULL"))
    disclosed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    recipient: Mapped[Recipient] = relationship(lazy="joined")


class FhirClient(Model):
    """A recipient's system account for /fhir/R4: OAuth2 client credentials and its scopes."""

    __tablename__ = "fhir_clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient_id: Mapped[int] = mapped_column(
        ForeignKey("recipients.id", ondelete="RESTRICT"), index=True)
    # The public OAuth2 client_id; the secret is shown once and only its SHA-256 is kept.
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list] = mapped_column(JSONDocument)
    # SMART Backend Services: the client's public keys (a JWKS document) or where to get them.
    jwks: Mapped[dict | None] = mapped_column(JSONDocument)
    jwks_url: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    recipient: Mapped[Recipient] = relationship(lazy="joined")


class FhirToken(Model):
    """An access token issued to a FHIR client; only its SHA-256 is kept."""

    __tablename__ = "fhir_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    fhir_client_id: Mapped[int] = mapped_column(
        ForeignKey("fhir_clients.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list] = mapped_column(JSONDocument)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # A SMART assertion's jti, kept so the same assertion is never taken twice.
    assertion_jti: Mapped[str | None] = mapped_column(String(255), unique=True)

    client: Mapped[FhirClient] = relationship(lazy="joined")


class WebhookEndpoint(Model):
    """Where a recipient hears of events; signed as Standard Webhooks says.

    The signing secret is never stored: the row keeps a random seed and the secret is an HMAC of
    it under a key derived from the app's secret (as MFA secrets are), so a copy of the
    database alone cannot forge a delivery. After a rotation the previous seed signs too until
    previous_until, so a receiver can switch without dropping deliveries.
    """

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient_id: Mapped[int] = mapped_column(
        ForeignKey("recipients.id", ondelete="RESTRICT"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list] = mapped_column(JSONDocument)
    description: Mapped[str | None] = mapped_column(String(300))
    secret_seed: Mapped[str] = mapped_column(String(64))
    previous_secret_seed: Mapped[str | None] = mapped_column(String(64))
    previous_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    is_enabled: Mapped[bool] = mapped_column(default=True)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    recipient: Mapped[Recipient] = relationship(lazy="joined")


class WebhookDelivery(Model):
    """One event for one endpoint: its message id stays the same across every retry."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint(one_of("status", DELIVERY_STATUSES), name="status"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    # The webhook-id header ("msg_…"); unique, so the same event is queued once per endpoint.
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    event_type: Mapped[str] = mapped_column(String(40))
    client_id: Mapped[int | None] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), index=True)
    consent_id: Mapped[int | None] = mapped_column(ForeignKey("consents.id", ondelete="RESTRICT"))
    payload: Mapped[dict] = mapped_column(JSONDocument)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    endpoint: Mapped[WebhookEndpoint] = relationship()


class WebhookAttempt(Model):
    """One try at a delivery: when, what came back, how long it took."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
