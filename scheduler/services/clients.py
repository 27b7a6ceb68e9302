"""Clients: admit and edit."""

from sqlalchemy.orm import Session as DbSession

from scheduler.models import Client, Program
from scheduler.services import audit
from scheduler.services.audit import Actor
from scheduler.services.errors import InvalidField
from scheduler.services.lookup import get_or_404, get_referenced

AUDITED = (
    "name",
    "preferred_name",
    "email",
    "phone",
    "program_id",
    "admitted_on",
    "discharged_on",
    "status",
    "feed_alarm_minutes",
    "remind_day_before",
    "remind_two_hours",
    "notifications_opt_out",
)
PREFERENCES = ("remind_day_before", "remind_two_hours", "notifications_opt_out")


def create_client(db: DbSession, actor: Actor, **fields) -> Client:
    """Admit a client to a program."""
    get_referenced(db, Program, fields["program_id"], "program_id", "program")
    _check_dates(fields["admitted_on"], fields.get("discharged_on"))
    client = Client(**fields)
    if client.discharged_on is not None:
        client.status = "discharged"
    db.add(client)
    db.flush()
    audit.record(db, actor, "create", "client", client.id, after=audit.snapshot(client, AUDITED))
    return client


def update_client(db: DbSession, actor: Actor, client: Client, changes: dict) -> Client:
    """Edit a client's details."""
    if "program_id" in changes:
        get_referenced(db, Program, changes["program_id"], "program_id", "program")
    _check_dates(
        changes.get("admitted_on", client.admitted_on),
        changes.get("discharged_on", client.discharged_on),
    )
    before = audit.snapshot(client, AUDITED)
    for key, value in changes.items():
        setattr(client, key, value)
    db.flush()
    audit.record(db, actor, "update", "client", client.id, before, audit.snapshot(client, AUDITED))
    return client


def set_notification_preferences(db: DbSession, actor: Actor, client_id: int,
                                 changes: dict) -> Client:
    """Which emails the client gets; the client may set this themselves."""
    client = get_or_404(db, Client, client_id, "client")
    unknown = set(changes) - set(PREFERENCES)
    if unknown:
        raise InvalidField(sorted(unknown)[0], "Unknown field.")
    before = audit.snapshot(client, PREFERENCES)
    for key, value in changes.items():
        setattr(client, key, bool(value))
    db.flush()
    audit.record(db, actor, "set_preferences", "client", client.id, before,
                 audit.snapshot(client, PREFERENCES))
    return client


def _check_dates(admitted_on, discharged_on) -> None:
    if discharged_on is not None and discharged_on < admitted_on:
        raise InvalidField("discharged_on", "must not be before the admission date.")
