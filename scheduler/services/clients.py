"""Clients: admit and edit, and find a probable existing record before making a new one."""

import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session as DbSession

from scheduler import clock
from scheduler.i18n import gettext as _
from scheduler.languages import LANGUAGES
from scheduler.models import Client, Program
from scheduler.services import audit, day_sheet, episodes, scope
from scheduler.services.audit import Actor
from scheduler.services.dates import EARLIEST_BIRTH
from scheduler.services.errors import InvalidField, StateConflict
from scheduler.services.lookup import get_or_404, get_referenced

# Digits a phone number is compared on: the national number, without a country prefix.
PHONE_DIGITS = 10

AUDITED = (
    "name",
    "preferred_name",
    "email",
    "phone",
    "date_of_birth",
    "program_id",
    "admitted_on",
    "discharged_on",
    "status",
    "feed_alarm_minutes",
    "remind_day_before",
    "remind_two_hours",
    "notifications_opt_out",
    "language",
)
PREFERENCES = ("remind_day_before", "remind_two_hours", "notifications_opt_out")


def create_client(db: DbSession, actor: Actor, *, reason: str | None = None,
                  **fields) -> Client:
    """Admit a client to a program; `reason` goes to the audit trail with it (e.g. what a
    referral from outside said)."""
    get_referenced(db, Program, fields["program_id"], "program_id", "program")
    _check_dates(fields["admitted_on"], fields.get("discharged_on"))
    check_date_of_birth(db, fields.get("date_of_birth"), fields["program_id"])
    client = Client(**fields)
    db.add(client)
    db.flush()
    episodes.open_first(db, actor, client)
    audit.record(db, actor, "create", "client", client.id, after=audit.snapshot(client, AUDITED),
                 reason=reason)
    return client


def update_client(db: DbSession, actor: Actor, client: Client, changes: dict) -> Client:
    """Edit a client's details."""
    if "program_id" in changes:
        get_referenced(db, Program, changes["program_id"], "program_id", "program")
    _check_dates(
        changes.get("admitted_on", client.admitted_on),
        changes.get("discharged_on", client.discharged_on),
    )
    if "date_of_birth" in changes:
        check_date_of_birth(db, changes["date_of_birth"],
                            changes.get("program_id", client.program_id))
    before = audit.snapshot(client, AUDITED)
    for key, value in changes.items():
        setattr(client, key, value)
    db.flush()
    if {"program_id", "admitted_on", "discharged_on"} & set(changes):
        episodes.follow_edit(db, actor, client, episodes.previous_discharge(db, client.id))
    audit.record(db, actor, "update", "client", client.id, before, audit.snapshot(client, AUDITED))
    return client


def set_notification_preferences(db: DbSession, actor: Actor, client_id: int,
                                 changes: dict) -> Client:
    """Which emails the client gets; the client may set this themselves."""
    client = get_or_404(db, Client, client_id, "client")
    unknown = set(changes) - set(PREFERENCES)
    if unknown:
        raise InvalidField(sorted(unknown)[0], _("Unknown field."))
    before = audit.snapshot(client, PREFERENCES)
    for key, value in changes.items():
        setattr(client, key, bool(value))
    db.flush()
    audit.record(db, actor, "set_preferences", "client", client.id, before,
                 audit.snapshot(client, PREFERENCES))
    return client


def set_language(db: DbSession, actor: Actor, client_id: int, language: str) -> Client:
    """The language of the client's portal, emails and calendar; the client may set it."""
    if language not in LANGUAGES:
        raise InvalidField("language", _("Choose one of the languages offered."))
    client = get_or_404(db, Client, client_id, "client")
    before = audit.snapshot(client, ("language",))
    client.language = language
    db.flush()
    audit.record(db, actor, "set_language", "client", client.id, before,
                 audit.snapshot(client, ("language",)))
    return client


def _check_dates(admitted_on, discharged_on) -> None:
    if discharged_on is not None and discharged_on < admitted_on:
        raise InvalidField("discharged_on", _("must not be before the admission date."))


def check_date_of_birth(db: DbSession, born: date | None, program_id: int) -> None:
    """Not in the future (the program's today), and not before 1900."""
    if born is None:
        return
    today = day_sheet.program_today(db, clock.now(), program_id)
    if born > today:
        raise InvalidField("date_of_birth", _("Must not be in the future."))
    if born < EARLIEST_BIRTH:
        raise InvalidField("date_of_birth", _("Must not be before 1900."))


# --- probable duplicates -----------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    client: Client
    # Why this record is probably the same person: "name_and_birth", "name" (a date of birth
    # missing on one side), "email", "phone".
    reasons: list[str]


class ProbableDuplicate(StateConflict):
    """A new record would probably duplicate an existing client; the body lists them."""

    def __init__(self, matches: list[Match]):
        names = ", ".join(m.client.name for m in matches)
        super().__init__(f"This may be a client already on record: {names}. Re-admit or "
                         "continue with that record, or confirm this is a new person.")
        self.matches = matches
        self.body = {"matches": [match_dict(m) for m in matches]}


def match_dict(match: Match) -> dict:
    client = match.client
    return {"client_id": client.id, "name": client.name,
            "date_of_birth": client.date_of_birth.isoformat() if client.date_of_birth else None,
            "status": client.status, "program_id": client.program_id,
            "admitted_on": client.admitted_on.isoformat(),
            "discharged_on": client.discharged_on.isoformat() if client.discharged_on else None,
            "reasons": match.reasons}


def normal_name(name: str | None) -> str:
    return " ".join((name or "").split()).casefold()


def normal_email(email: str | None) -> str:
    return (email or "").strip().casefold()


def normal_phone(phone: str | None) -> str:
    """The last ten digits: '+1 (555) 010-2233' and '555.010.2233' are one number."""
    return re.sub(r"\D", "", phone or "")[-PHONE_DIGITS:]


def probable_matches(db: DbSession, *, name: str | None = None,
                     date_of_birth: date | None = None,
                     email: str | None = None, phone: str | None = None,
                     exclude_id: int | None = None) -> list[Match]:
    """Existing clients who are probably this person: the same name and date of birth (or a
    date of birth missing on either side), the same email, or the same phone number."""
    want_name, want_email, want_phone = normal_name(name), normal_email(email), normal_phone(phone)
    # A phone number shorter than this matches too much to mean anything.
    if len(want_phone) < 7:
        want_phone = ""
    tests: list[ColumnElement[bool]] = []
    if want_name:
        # Narrowed in SQL by the lower-cased name; spacing and Unicode case are settled below.
        tests.append(func.lower(Client.name).like(
            "%" + (name or "").split()[-1].lower().replace("\\", "\\\\").replace("%", "\\%")
            .replace("_", "\\_") + "%", escape="\\"))
    if want_email:
        tests.append(func.lower(Client.email) == want_email)
    if want_phone:
        tests.append(Client.phone.like("%" + want_phone[-4:] + "%"))
    if not tests:
        return []
    # A scoped coordinator's matches are of their sites only (services/scope.py).
    query = select(Client).where(or_(*tests), scope.programs_filter(Client.program_id))
    if exclude_id is not None:
        query = query.where(Client.id != exclude_id)
    matches = []
    for client in db.scalars(query.order_by(Client.name, Client.id)):
        reasons = []
        if want_name and normal_name(client.name) == want_name:
            if date_of_birth is not None and client.date_of_birth == date_of_birth:
                reasons.append("name_and_birth")
            elif date_of_birth is None or client.date_of_birth is None:
                reasons.append("name")
        if want_email and normal_email(client.email) == want_email:
            reasons.append("email")
        if want_phone and normal_phone(client.phone) == want_phone:
            reasons.append("phone")
        if reasons:
            matches.append(Match(client, reasons))
    return matches


def refuse_duplicates(db: DbSession, **fields) -> None:
    """ProbableDuplicate when a new record for these details would probably duplicate one."""
    matches = probable_matches(db, name=fields.get("name"),
                               date_of_birth=fields.get("date_of_birth"),
                               email=fields.get("email"), phone=fields.get("phone"))
    if matches:
        raise ProbableDuplicate(matches)
