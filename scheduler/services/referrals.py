"""Referrals from outside (an EHR's POST /fhir/R4/Patient): a client awaiting intake.

A referral makes a client record the way the intake desk does (services/clients.create_client,
audited, with its first episode), admitted today on the program's calendar, with no plan and
nothing booked: the intake list (services/episodes.without_plan) shows it until staff make the
plan.

Probable duplicates (services/clients.probable_matches) are handled without telling the
referrer anything it may not know. Saying "this person is already a client" is itself a
disclosure that they are in addiction treatment (42 CFR Part 2), so:
- a match the referrer already has a live demographics consent for is answered with that
  record (no second record is made), as a FHIR conditional create would;
- otherwise a new record is made, exactly as for a new person, and the audit trail says which
  records it probably duplicates, so staff check before intake.
"""

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session as DbSession

from scheduler.models import Client, Consent, Program, Recipient
from scheduler.services import clients, consents, day_sheet
from scheduler.services.audit import Actor
from scheduler.services.errors import InvalidField
from scheduler.services.lookup import find


@dataclass(frozen=True)
class Referral:
    name: str
    program_id: int
    date_of_birth: date | None = None
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class Outcome:
    client: Client
    created: bool
    # The referrer's live demographics consent for an existing record it was answered with.
    consent: Consent | None = None


def program_for(db: DbSession, program_id: int | None, field: str) -> Program:
    """The active program a referral names, or InvalidField naming `field`."""
    program = find(db, Program, program_id) if program_id is not None else None
    if program is None:
        raise InvalidField(field, f"No program (HealthcareService) with id {program_id}.")
    if not program.is_active:
        raise InvalidField(field, f"{program.name} no longer takes clients.")
    return program


def refer(db: DbSession, actor: Actor, recipient: Recipient, referral: Referral,
          now: datetime) -> Outcome:
    """Make the referred client (or find the one the referrer may already see)."""
    program = program_for(db, referral.program_id, "program_id")
    matches = clients.probable_matches(db, name=referral.name,
                                       date_of_birth=referral.date_of_birth,
                                       email=referral.email, phone=referral.phone)
    for match in matches:
        consent = consents.live(db, match.client.id, recipient.id, "demographics", now)
        if consent is not None:
            return Outcome(match.client, created=False, consent=consent)
    reason = f"Referral from {recipient.name} over FHIR, awaiting intake."
    if matches:
        reason += " Probably the same person as " + ", ".join(
            f"client {m.client.id} ({', '.join(m.reasons)})" for m in matches) + (
            ": check before intake.")
    client = clients.create_client(
        db, actor, reason=reason, name=referral.name, program_id=program.id,
        admitted_on=day_sheet.program_today(db, now, program.id),
        date_of_birth=referral.date_of_birth, email=referral.email, phone=referral.phone)
    return Outcome(client, created=True)
