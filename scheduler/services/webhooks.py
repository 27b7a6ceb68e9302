"""Webhooks (issue 20, Standard Webhooks): the one owner of endpoints, events and delivery.

Endpoints. A recipient's URL and the events it hears. The signing secret is never stored: the
row keeps a random seed and the secret (`whsec_<base64 of 32 bytes>`) is an HMAC of it under a
key derived from WEBHOOK_SECRET_KEY (or SECRET_KEY), as MFA secrets are, so a copy of the
database alone cannot forge a delivery. It is shown once, when made or rotated. After a
rotation the previous secret signs too, for ROTATION_OVERLAP, so a receiver can switch without
dropping a delivery (webhook-signature then carries two signatures, space-separated).

Events. `emit` is called by the services that make the change, in the same transaction:
booking (created, cancelled, waitlist promoted, discharge), sessions (cancelled, moved),
attendance (recorded). Payloads are thin: {"type", "timestamp", "data": {"id", "fhir"}},
naming the client's Appointment (a booking) or Patient, never a name or a title; the receiver
reads the rest through FHIR, under consent.

Gating (42 CFR Part 2). An event about a client is queued only for endpoints whose recipient
holds that client's live consent covering the event's scope (EVENT_SCOPES), and is checked
again just before each attempt: a consent revoked or expired after queueing stops the delivery
then, as "nothing more flows from that moment" asks. A session event goes once per client
booked (or waitlisted) in it, each delivery naming only that client's Appointment, so a group
never reveals a co-member.

The accounting of disclosures. A delivery is logged as a disclosure (channel "webhook") once,
at the first attempt whose request reached the receiver: any HTTP answer, or a timeout while
waiting for one (the request had been sent). Queueing discloses nothing (a revoked consent
stops it before it goes), and an attempt refused before it connected (a private address, a
name that does not resolve, a refused connection) sent nothing.

Delivery. The deliver-webhooks job calls `deliver_due`: each attempt is recorded; a 2xx is
delivered; anything else (a redirect too) is retried with exponential back-off and jitter, 10
attempts over about 3 days, or when Retry-After says; 410 Gone disables the endpoint at once;
after the last failure the endpoint is disabled and the admins are alerted. The message id
(webhook-id) stays the same across retries, so receivers can drop duplicates. Addresses are
checked when saved and again at delivery (DNS rebinding): loopback, private, link-local,
multicast and reserved addresses are refused unless WEBHOOK_ALLOW_PRIVATE is set, and the
request goes to the address that was checked.
"""

import base64
import hashlib
import hmac
import ipaddress
import json
import random
import secrets
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from time import monotonic
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from sqlalchemy import func, select
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session as DbSession
from standardwebhooks import Webhook

from scheduler import clock, i18n
from scheduler.fhir import ids
from scheduler.i18n import gettext
from scheduler.i18n import gettext as _
from scheduler.models import (
    Alert,
    Booking,
    Consent,
    Recipient,
    User,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from scheduler.models.interop import WEBHOOK_EVENTS
from scheduler.services import audit, consents, disclosures, notifications
from scheduler.services.audit import Actor
from scheduler.services.errors import InvalidField, NotFound, StateConflict
from scheduler.services.lookup import get_referenced

AUDITED = ("recipient_id", "url", "events", "description", "is_enabled", "disabled_reason",
           "deleted_at")
# Which consent scope an event discloses under. A discharge ends the client's appointments,
# so a consent covering appointments or demographics lets it go (the first that is live).
EVENT_SCOPES: dict[str, tuple[str, ...]] = {
    "session.cancelled": ("appointments",),
    "session.moved": ("appointments",),
    "booking.created": ("appointments",),
    "booking.cancelled": ("appointments",),
    "waitlist.promoted": ("appointments",),
    "attendance.recorded": ("attendance",),
    "client.discharged": ("appointments", "demographics"),
}
assert set(EVENT_SCOPES) == set(WEBHOOK_EVENTS)
SESSION_EVENTS = ("session.cancelled", "session.moved")

URL_MAX = 2000
DESCRIPTION_MAX = 300
ROTATION_OVERLAP = timedelta(hours=24)
MAX_ATTEMPTS = 10
# Back-off after the n-th failure: BASE * FACTOR**(n-1), at most CAP, then ±JITTER. With 10
# attempts that is 1 min, 3, 9, 27 min, 1.4 h, 4 h, 12 h, 24 h, 24 h: about 2.8 days.
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_FACTOR = 3
BACKOFF_CAP = timedelta(hours=24)
JITTER = 0.1
# A Retry-After further away than this is taken as this.
RETRY_AFTER_CAP = timedelta(hours=24)
# A delivery being tried is not due again for this long, so two runs never send it together.
LEASE = timedelta(minutes=5)
BATCH = 100
ERROR_MAX = 500
# How a timed-out attempt's error begins: the request had gone, so it was a disclosure.
NO_ANSWER = "No answer within"


# --- settings and secrets --------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    key: bytes
    allow_private: bool = False
    timeout: float = 10.0

    @classmethod
    def from_config(cls, config) -> "Settings":
        secret = config.get("WEBHOOK_SECRET_KEY") or config["SECRET_KEY"]
        key = hmac.new(str(secret).encode(), b"iop-scheduler webhook signing v1",
                       hashlib.sha256).digest()
        return cls(key=key, allow_private=bool(config.get("WEBHOOK_ALLOW_PRIVATE")),
                   timeout=float(config.get("WEBHOOK_TIMEOUT_SECONDS") or 10))


def secret_of(settings: Settings, seed: str) -> str:
    """The endpoint's signing secret, as Standard Webhooks writes it: whsec_ + base64."""
    digest = hmac.new(settings.key, b"whsec:" + seed.encode(), hashlib.sha256).digest()
    return "whsec_" + base64.b64encode(digest).decode()


def signing_secrets(settings: Settings, endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The secrets that sign now: the current one, and the previous one during the overlap."""
    found = [secret_of(settings, endpoint.secret_seed)]
    if (endpoint.previous_secret_seed and endpoint.previous_until is not None
            and now < endpoint.previous_until):
        found.append(secret_of(settings, endpoint.previous_secret_seed))
    return found


def sign(settings: Settings, endpoint: WebhookEndpoint, message_id: str, at: datetime,
         body: str) -> str:
    """The webhook-signature header: one v1 signature per signing secret, space-separated."""
    return " ".join(Webhook(secret).sign(message_id, at, body)
                    for secret in signing_secrets(settings, endpoint, at))


def _new_seed() -> str:
    return secrets.token_hex(32)


# --- addresses -------------------------------------------------------------------------------


class AddressRefused(Exception):
    """The URL's host is, or resolves to, an address webhooks may not reach."""


def _refused_ip(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (address.is_loopback or address.is_private or address.is_link_local
            or address.is_multicast or address.is_reserved or address.is_unspecified
            or not address.is_global)


def check_url(url, allow_private: bool, field_name: str = "url") -> str:
    """The URL as saved, or InvalidField: https (http only with WEBHOOK_ALLOW_PRIVATE), a host,
    no user or password in it, no fragment, at most URL_MAX characters; a literal address
    must be public unless private ones are allowed. Names are resolved at delivery."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidField(field_name, gettext("Give the https:// address the recipient listens "
                                               "on."))
    url = url.strip()
    if len(url) > URL_MAX:
        raise InvalidField(field_name, gettext("Must be at most %(num)d characters.", num=URL_MAX))
    if any(ord(ch) < 33 or ord(ch) == 127 for ch in url):
        raise InvalidField(field_name, gettext("Must not contain spaces or control characters."))
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidField(field_name, gettext("Is not a web address.")) from None
    if parts.scheme not in ("https", "http"):
        raise InvalidField(field_name, gettext("Must start with https://."))
    if parts.scheme == "http" and not allow_private:
        raise InvalidField(field_name, gettext("Must use https://, so deliveries cannot be read "
                                               "on the way."))
    if parts.username is not None or parts.password is not None:
        raise InvalidField(field_name, gettext("Must not carry a user name or password; the "
                                               "signature proves who sent each delivery."))
    if not parts.hostname:
        raise InvalidField(field_name, gettext("Has no host name."))
    if parts.fragment:
        raise InvalidField(field_name, gettext("Must not have a #fragment."))
    if port == 0:
        raise InvalidField(field_name, gettext("Port 0 cannot be reached."))
    literal = _literal_ip(parts.hostname)
    if literal is not None and not allow_private and _refused_ip(literal):
        raise InvalidField(field_name, gettext("Points to a private or local address, which "
                                               "webhooks do not reach."))
    if parts.hostname.lower() in ("localhost", "localhost.localdomain") and not allow_private:
        raise InvalidField(field_name, gettext("Points to this machine, which webhooks do not "
                                               "reach."))
    return url


def _literal_ip(host: str):
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def resolve(host: str, port: int, allow_private: bool,
            getaddrinfo: Callable = socket.getaddrinfo) -> str:
    """The address to connect to: every address the name resolves to must be allowed (a name
    with one public and one private address is refused), and the first is used."""
    try:
        infos = getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as problem:
        raise AddressRefused(f"The host name {host} did not resolve ({problem}).") from None
    found = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not found:
        raise AddressRefused(f"The host name {host} did not resolve.")
    if not allow_private:
        for address in found:
            if _refused_ip(address):
                raise AddressRefused(f"{host} resolves to {address}, a private or local "
                                     "address; webhooks do not reach those.")
    return str(found[0])


class _PinnedAdapter(HTTPAdapter):
    """Connects to the checked address while TLS still checks the certificate of the name."""

    def __init__(self, hostname: str, **kwargs):
        self._hostname = hostname
        super().__init__(**kwargs)

    def init_poolmanager(self, connections, maxsize, block=False, **pool_kwargs):
        pool_kwargs["server_hostname"] = self._hostname
        pool_kwargs["assert_hostname"] = self._hostname
        super().init_poolmanager(connections, maxsize, block=block, **pool_kwargs)


def post(url: str, body: bytes, headers: dict, settings: Settings) -> requests.Response:
    """POST to the URL at the address `resolve` checked: no redirects, the configured timeout."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = resolve(host, port, settings.allow_private)
    shown = f"[{address}]" if ":" in address else address
    netloc = shown if parts.port is None else f"{shown}:{parts.port}"
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    with requests.Session() as http:
        http.trust_env = False  # no proxy from the environment: the checked address is the peer
        if parts.scheme == "https":
            http.mount("https://", _PinnedAdapter(host))
        # stream: the answer's body is never read, so a receiver cannot make us hold one.
        return http.post(pinned, data=body, timeout=settings.timeout, allow_redirects=False,
                         stream=True, headers={**headers, "Host": parts.netloc.rsplit("@", 1)[-1]})


# --- endpoints -------------------------------------------------------------------------------


def _check_events(events) -> list[str]:
    if not isinstance(events, list) or not events:
        raise InvalidField("events", gettext("Choose at least one event: %(events)s.",
                                             events=", ".join(WEBHOOK_EVENTS)))
    for index, name in enumerate(events):
        if name not in WEBHOOK_EVENTS:
            raise InvalidField(f"events.{index}", gettext(
                "%(name)s is not an event; the events are %(events)s.",
                name=repr(str(name)[:60]), events=", ".join(WEBHOOK_EVENTS)))
    return list(dict.fromkeys(events))


def _check_description(description) -> str | None:
    if description is None:
        return None
    description = description.strip()
    if len(description) > DESCRIPTION_MAX:
        raise InvalidField("description", gettext("Must be at most %(num)d characters.",
                                                  num=DESCRIPTION_MAX))
    return description or None


def create(db: DbSession, actor: Actor, settings: Settings, *, recipient_id: int, url: str,
           events: list[str], description: str | None = None,
           now: datetime) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret, which is shown this once (audited, without it)."""
    recipient = get_referenced(db, Recipient, recipient_id, "recipient_id", "recipient")
    if not recipient.is_active:
        raise InvalidField("recipient_id", gettext("%(name)s is no longer an active recipient.",
                                                   name=recipient.name))
    endpoint = WebhookEndpoint(
        recipient_id=recipient.id, url=check_url(url, settings.allow_private),
        events=_check_events(events), description=_check_description(description),
        secret_seed=_new_seed(), created_at=now, updated_at=now)
    db.add(endpoint)
    db.flush()
    audit.record(db, actor, "create", "webhook_endpoint", endpoint.id,
                 after=audit.snapshot(endpoint, AUDITED))
    return endpoint, secret_of(settings, endpoint.secret_seed)


def update(db: DbSession, actor: Actor, settings: Settings, endpoint: WebhookEndpoint,
           changes: dict, now: datetime) -> WebhookEndpoint:
    """Change the URL, events or description; `is_enabled` true re-enables a disabled one,
    false pauses it (its pending deliveries are given up)."""
    before = audit.snapshot(endpoint, AUDITED)
    if "url" in changes:
        endpoint.url = check_url(changes["url"], settings.allow_private)
    if "events" in changes:
        endpoint.events = _check_events(changes["events"])
    if "description" in changes:
        endpoint.description = _check_description(changes["description"])
    if "is_enabled" in changes:
        if changes["is_enabled"] and not endpoint.is_enabled:
            endpoint.is_enabled, endpoint.disabled_at, endpoint.disabled_reason = True, None, None
        elif not changes["is_enabled"] and endpoint.is_enabled:
            _disable(db, endpoint, "Paused by an admin.", now, alert=False)
    after = audit.snapshot(endpoint, AUDITED)
    if after != before:
        endpoint.updated_at = now
        db.flush()
        audit.record(db, actor, "update", "webhook_endpoint", endpoint.id, before, after)
    return endpoint


def delete(db: DbSession, actor: Actor, endpoint: WebhookEndpoint, now: datetime) -> None:
    """Stop the endpoint for good; its delivery history stays (audited)."""
    before = audit.snapshot(endpoint, AUDITED)
    if endpoint.is_enabled:
        _disable(db, endpoint, "Deleted by an admin.", now, alert=False)
    endpoint.deleted_at = now
    db.flush()
    audit.record(db, actor, "delete", "webhook_endpoint", endpoint.id, before,
                 audit.snapshot(endpoint, AUDITED))


def rotate_secret(db: DbSession, actor: Actor, settings: Settings, endpoint: WebhookEndpoint,
                  now: datetime) -> tuple[WebhookEndpoint, str]:
    """A new secret, shown once; the old one keeps signing beside it for ROTATION_OVERLAP."""
    endpoint.previous_secret_seed = endpoint.secret_seed
    endpoint.previous_until = now + ROTATION_OVERLAP
    endpoint.secret_seed = _new_seed()
    endpoint.updated_at = now
    db.flush()
    audit.record(db, actor, "rotate_secret", "webhook_endpoint", endpoint.id, None,
                 {"previous_until": audit.to_json(endpoint.previous_until)})
    return endpoint, secret_of(settings, endpoint.secret_seed)


def get(db: DbSession, endpoint_id: int) -> WebhookEndpoint:
    """An endpoint not deleted, or NotFound."""
    endpoint = db.get(WebhookEndpoint, endpoint_id) if 0 < endpoint_id < 2**31 else None
    if endpoint is None or endpoint.deleted_at is not None:
        raise NotFound("webhook endpoint", endpoint_id)
    return endpoint


def listing(db: DbSession, *, recipient_id: int | None = None, offset: int = 0,
            limit: int | None = None) -> tuple[list[WebhookEndpoint], int]:
    query = select(WebhookEndpoint).where(WebhookEndpoint.deleted_at.is_(None))
    if recipient_id is not None:
        query = query.where(WebhookEndpoint.recipient_id == recipient_id)
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.scalars(query.order_by(WebhookEndpoint.id).offset(offset).limit(limit))
    return list(rows), total


def deliveries(db: DbSession, endpoint: WebhookEndpoint, *, offset: int = 0,
               limit: int | None = None) -> tuple[list[WebhookDelivery], int]:
    """The endpoint's deliveries, newest first, with their attempts (attempts_of)."""
    where = WebhookDelivery.endpoint_id == endpoint.id
    total = db.scalar(select(func.count(WebhookDelivery.id)).where(where)) or 0
    rows = db.scalars(select(WebhookDelivery).where(where)
                      .order_by(WebhookDelivery.id.desc()).offset(offset).limit(limit))
    return list(rows), total


def attempts_of(db: DbSession, delivery_ids: list[int]) -> dict[int, list[WebhookAttempt]]:
    found: dict[int, list[WebhookAttempt]] = {i: [] for i in delivery_ids}
    for attempt in db.scalars(select(WebhookAttempt)
                              .where(WebhookAttempt.delivery_id.in_(delivery_ids))
                              .order_by(WebhookAttempt.id)):
        found[attempt.delivery_id].append(attempt)
    return found


def retry(db: DbSession, actor: Actor, endpoint: WebhookEndpoint, delivery_id: int,
          now: datetime) -> WebhookDelivery:
    """Send one delivery again at the next run, with the same message id: a failed one gets
    a fresh round of attempts. Refused on a disabled endpoint (re-enable it first)."""
    delivery = db.get(WebhookDelivery, delivery_id) if 0 < delivery_id < 2**31 else None
    if delivery is None or delivery.endpoint_id != endpoint.id:
        raise NotFound("delivery", delivery_id)
    if not endpoint.is_enabled:
        raise StateConflict(gettext("This endpoint is disabled; re-enable it (PATCH is_enabled) "
                                    "first."))
    before = audit.snapshot(delivery, ("status", "attempts", "next_attempt_at"))
    if delivery.status != "pending":
        delivery.attempts = 0
    delivery.status, delivery.next_attempt_at = "pending", now
    db.flush()
    audit.record(db, actor, "retry", "webhook_delivery", delivery.id, before,
                 audit.snapshot(delivery, ("status", "attempts", "next_attempt_at")))
    return delivery


# --- events ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    """Whom an event is about and how FHIR names it."""

    client_id: int
    resource_id: int
    reference: str


def appointments_of(bookings: Iterable[Booking]) -> list[tuple[int, int]]:
    """(booking id, client id) of each booking: what `emit` takes."""
    return [(b.id, b.client_id) for b in bookings]


def _subjects(event_type: str, appointments: Iterable[tuple[int, int]],
              client_id: int | None) -> list[Subject]:
    if event_type == "client.discharged":
        if client_id is None:
            raise ValueError("client.discharged needs client_id")
        return [Subject(client_id, client_id, ids.patient(client_id))]
    return [Subject(client, booking_id, ids.appointment(booking_id))
            for booking_id, client in appointments]


def _listening(db: DbSession, event_type: str) -> list[WebhookEndpoint]:
    rows = db.scalars(select(WebhookEndpoint)
                      .join(Recipient, Recipient.id == WebhookEndpoint.recipient_id)
                      .where(WebhookEndpoint.is_enabled.is_(True),
                             WebhookEndpoint.deleted_at.is_(None),
                             Recipient.is_active.is_(True))
                      .order_by(WebhookEndpoint.id))
    return [row for row in rows if event_type in (row.events or [])]


def consent_for(db: DbSession, event_type: str, client_id: int, recipient_id: int,
                at: datetime):
    """The live consent an event about the client may go to the recipient under, and its
    scope; (None, None) when none."""
    for scope in EVENT_SCOPES[event_type]:
        consent = consents.live(db, client_id, recipient_id, scope, at)
        if consent is not None:
            return consent, scope
    return None, None


def payload(event_type: str, subject: Subject, at: datetime) -> dict:
    return {"type": event_type, "timestamp": at.isoformat().replace("+00:00", "Z"),
            "data": {"id": str(subject.resource_id), "fhir": subject.reference}}


def emit(db: DbSession, event_type: str, *, appointments: Iterable[tuple[int, int]] = (),
         client_id: int | None = None, at: datetime | None = None) -> int:
    """Queue the event for every endpoint listening whose recipient holds the client's live
    consent; one delivery per endpoint and client (booking). Returns how many were queued.

    `appointments` are (booking id, client id) pairs (appointments_of) for the booking,
    session, waitlist and attendance events; `client_id` for client.discharged. Cheap when no
    endpoint listens: one query."""
    if event_type not in EVENT_SCOPES:
        raise ValueError(f"unknown webhook event {event_type!r}")
    endpoints = _listening(db, event_type)
    if not endpoints:
        return 0
    at = at or clock.now()
    subjects = _subjects(event_type, appointments, client_id)
    clients = {subject.client_id for subject in subjects}
    queued = 0
    for endpoint in endpoints:
        # One query per scope for all the event's clients: a series edit or the horizon job
        # announces hundreds of sessions at once.
        allowed: dict[int, Consent] = {}
        for scope in reversed(EVENT_SCOPES[event_type]):
            allowed.update(consents.live_for_clients(db, clients, endpoint.recipient_id,
                                                     scope, at))
        for subject in subjects:
            consent = allowed.get(subject.client_id)
            if consent is None:
                continue
            db.add(WebhookDelivery(
                endpoint_id=endpoint.id, message_id=f"msg_{secrets.token_hex(16)}",
                event_type=event_type, client_id=subject.client_id, consent_id=consent.id,
                payload=payload(event_type, subject, at), status="pending", attempts=0,
                next_attempt_at=at, created_at=at))
            queued += 1
    if queued:
        db.flush()
    return queued


def emit_sessions(db: DbSession, event_type: str, session_ids: Iterable[int],
                  at: datetime | None = None) -> int:
    """A session event (cancelled, moved): once per client booked or waitlisted in each
    session, each delivery naming only that client's own Appointment."""
    if event_type not in SESSION_EVENTS:
        raise ValueError(f"{event_type!r} is not a session event")
    session_ids = list(session_ids)
    if not session_ids or not _listening(db, event_type):
        return 0
    held = db.execute(select(Booking.id, Booking.client_id)
                      .where(Booking.session_id.in_(session_ids),
                             Booking.status.in_(("booked", "waitlisted")))
                      .order_by(Booking.id)).tuples().all()
    return emit(db, event_type, appointments=held, at=at)


# --- delivery --------------------------------------------------------------------------------


def backoff(failures: int, rng: random.Random | None = None) -> timedelta:
    """How long after the `failures`-th failed attempt the next one goes, with jitter."""
    base = min(BACKOFF_BASE * BACKOFF_FACTOR ** (failures - 1), BACKOFF_CAP)
    spread = (rng or random).uniform(1 - JITTER, 1 + JITTER)
    return base * spread


def retry_after(value: str | None, now: datetime) -> timedelta | None:
    """Retry-After as a delay: seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        delay = timedelta(seconds=int(value[:9]))
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None or when.tzinfo is None:
            return None
        delay = when - now
    return max(timedelta(0), min(delay, RETRY_AFTER_CAP))


@dataclass
class Outcome:
    """What one attempt came to."""

    status_code: int | None = None
    error: str | None = None
    reached: bool = False
    retry_after: str | None = None
    duration_ms: int = 0


@dataclass
class RunCounts:
    delivered: int = 0
    failed: int = 0
    retrying: int = 0
    stopped: int = 0
    disabled: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"delivered": self.delivered, "failed": self.failed, "retrying": self.retrying,
                "stopped_no_consent": self.stopped, "endpoints_disabled": len(self.disabled)}


Sender = Callable[[str, bytes, dict, Settings], requests.Response]


def _attempt(sender: Sender, url: str, body: bytes, headers: dict,
             settings: Settings) -> Outcome:
    started = monotonic()
    outcome = Outcome()
    try:
        response = sender(url, body, headers, settings)
    except AddressRefused as problem:
        outcome.error = str(problem)
    except requests.exceptions.ReadTimeout:
        outcome.error = f"{NO_ANSWER} {settings.timeout:g} seconds."
        outcome.reached = True  # the request was sent; only the answer is missing
    except requests.exceptions.ConnectTimeout:
        outcome.error = f"Could not connect within {settings.timeout:g} seconds."
    except requests.exceptions.SSLError:
        outcome.error = "The TLS handshake failed (certificate or protocol)."
    except requests.exceptions.ConnectionError:
        outcome.error = "The connection was refused or dropped."
    except requests.exceptions.RequestException as problem:
        outcome.error = f"The request failed: {type(problem).__name__}."
    else:
        outcome.reached = True
        outcome.status_code = response.status_code
        outcome.retry_after = response.headers.get("Retry-After")
        if 300 <= response.status_code < 400:
            outcome.error = (f"Answered {response.status_code}, a redirect; redirects are not "
                             "followed, so update the endpoint's URL.")
        elif not 200 <= response.status_code < 300:
            outcome.error = f"Answered {response.status_code}."
        response.close()
    outcome.duration_ms = int((monotonic() - started) * 1000)
    return outcome


def _due(db: DbSession, now: datetime, limit: int) -> list[int]:
    query = (select(WebhookDelivery.id)
             .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
             .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now,
                    WebhookEndpoint.is_enabled.is_(True), WebhookEndpoint.deleted_at.is_(None))
             .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(limit))
    if db.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=WebhookDelivery, skip_locked=True)
    return list(db.scalars(query))


def _give_up(delivery: WebhookDelivery, reason: str) -> None:
    delivery.status, delivery.next_attempt_at, delivery.last_error = "failed", None, reason


def deliver_due(db: DbSession, settings: Settings, now: datetime, *,
                sender: Sender = post, rng: random.Random | None = None,
                limit: int = BATCH) -> RunCounts:
    """Try every delivery that is due, each in its own transactions: claimed (leased) and
    committed before the request, so no transaction or lock is held while a receiver thinks,
    and two overlapping runs never send the same one."""
    counts = RunCounts()
    due = _due(db, now, limit)
    for delivery_id in due:
        db.execute(sql_update(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
                   .values(next_attempt_at=now + LEASE))
    db.commit()
    for delivery_id in due:
        # Each attempt signs with its own time: a batch of slow receivers must not age the
        # later ones' timestamps past the receivers' tolerance.
        _deliver_one(db, settings, delivery_id, clock.now(), sender, rng, counts)
    return counts


def _deliver_one(db: DbSession, settings: Settings, delivery_id: int, now: datetime,
                 sender: Sender, rng, counts: RunCounts) -> None:
    delivery = db.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.status != "pending":
        db.commit()
        return
    endpoint = delivery.endpoint
    consent, scope = (consent_for(db, delivery.event_type, delivery.client_id,
                                  endpoint.recipient_id, now)
                      if delivery.client_id is not None else (None, None))
    if consent is None or delivery.event_type not in (endpoint.events or []):
        why = ("The client's consent is no longer live (revoked or expired), so nothing more "
               "goes to this recipient." if consent is None
               else "The endpoint no longer listens for this event.")
        _give_up(delivery, why)
        counts.stopped += 1
        db.commit()
        return
    body = json.dumps(delivery.payload, separators=(",", ":"))
    headers = {"webhook-id": delivery.message_id,
               "webhook-timestamp": str(int(now.timestamp())),
               "webhook-signature": sign(settings, endpoint, delivery.message_id, now, body),
               "Content-Type": "application/json",
               "User-Agent": "iop-scheduler-webhooks/1"}
    url, consent_id = endpoint.url, consent.id
    db.commit()  # nothing held while the receiver answers

    outcome = _attempt(sender, url, body.encode(), headers, settings)

    delivery = db.get_one(WebhookDelivery, delivery_id)
    endpoint = delivery.endpoint
    disclosed_before = _disclosed(db, delivery)
    db.add(WebhookAttempt(delivery_id=delivery.id, attempted_at=now,
                          status_code=outcome.status_code,
                          error=outcome.error[:ERROR_MAX] if outcome.error else None,
                          duration_ms=outcome.duration_ms))
    delivery.attempts += 1
    delivery.last_attempt_at, delivery.last_status_code = now, outcome.status_code
    delivery.last_error = outcome.error[:ERROR_MAX] if outcome.error else None
    if outcome.reached and not disclosed_before and scope is not None:
        consent = db.get_one(Consent, consent_id)
        delivery.consent_id = consent_id
        disclosures.log(db, consent, channel="webhook", scope=scope,
                        what=f"{delivery.event_type} {delivery.payload['data']['fhir']} "
                             f"({delivery.message_id})",
                        at=now, webhook_endpoint_id=endpoint.id)
    if outcome.error is None:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = "delivered", now, None
        counts.delivered += 1
    elif outcome.status_code == 410:
        _give_up(delivery, outcome.error + " (Gone: the endpoint is disabled.)")
        _disable(db, endpoint, "The receiver answered 410 Gone.", now)
        counts.failed += 1
        counts.disabled.append(endpoint.id)
    elif delivery.attempts >= MAX_ATTEMPTS:
        _give_up(delivery, f"{outcome.error} Gave up after {MAX_ATTEMPTS} attempts.")
        _disable(db, endpoint, f"{MAX_ATTEMPTS} attempts at one delivery failed; the last: "
                               f"{outcome.error}", now)
        counts.failed += 1
        counts.disabled.append(endpoint.id)
    else:
        asked = retry_after(outcome.retry_after, now)
        wait = asked if asked is not None else backoff(delivery.attempts, rng)
        delivery.next_attempt_at = now + wait
        counts.retrying += 1
    db.commit()


def _disclosed(db: DbSession, delivery: WebhookDelivery) -> bool:
    """Whether an earlier attempt of this delivery already reached the receiver (logged)."""
    return db.scalar(select(WebhookAttempt.id).where(
        WebhookAttempt.delivery_id == delivery.id,
        WebhookAttempt.status_code.is_not(None) | WebhookAttempt.error.startswith(NO_ANSWER))
        .limit(1)) is not None


def _disable(db: DbSession, endpoint: WebhookEndpoint, reason: str, now: datetime, *,
             alert: bool = True) -> None:
    """Disable the endpoint and give up its pending deliveries; with `alert` (deliveries
    failed, not an admin's choice) the admins are alerted and emailed."""
    if not endpoint.is_enabled:
        return
    endpoint.is_enabled, endpoint.disabled_at = False, now
    endpoint.disabled_reason = reason[:ERROR_MAX]
    db.execute(sql_update(WebhookDelivery)
               .where(WebhookDelivery.endpoint_id == endpoint.id,
                      WebhookDelivery.status == "pending")
               .values(status="failed", next_attempt_at=None,
                       last_error="The endpoint was disabled."))
    if alert:
        _alert_admins(db, endpoint, reason, now)


def _alert_admins(db: DbSession, endpoint: WebhookEndpoint, reason: str, now: datetime) -> None:
    key = f"webhook_disabled:endpoint={endpoint.id}:at={now.isoformat()}"
    if db.scalar(select(Alert.id).where(Alert.key == key)) is not None:
        return
    alert = Alert(key=key, kind="webhook_disabled", client_id=None, program_id=None,
                  raised_at=now,
                  detail={"endpoint_id": endpoint.id, "recipient": endpoint.recipient.name,
                          "url": endpoint.url[:300], "reason": reason[:ERROR_MAX]})
    db.add(alert)
    db.flush()
    for admin_id, address, language in db.execute(
            select(User.id, User.email, User.language)
            .where(User.role == "admin", User.is_active.is_(True)).order_by(User.id)):
        with i18n.speaking(language):
            # Names the recipient and the endpoint, never a client: the alerts list has the
            # reason. The reason is the receiver's own answer, passed on as it came.
            body = (_("Webhook endpoint #%(id)s of %(recipient)s was disabled: %(reason)s",
                      id=endpoint.id, recipient=endpoint.recipient.name, reason=reason)
                    + "\n\n"
                    + _("Nothing more is sent to it until an admin re-enables it (PATCH "
                        "%(path)s with is_enabled true). The alerts list has the details.",
                        path=f"/api/v1/webhooks/{endpoint.id}") + "\n")
            subject = _("A webhook endpoint was disabled")
        notifications.queue(db, f"alert:{alert.key}:to={address}", "alert", address,
                            subject, body, user_id=admin_id)


def has_due(db: DbSession, now: datetime) -> bool:
    return db.scalar(select(WebhookDelivery.id).where(
        WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
        .limit(1)) is not None
