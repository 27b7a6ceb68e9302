"""Episodes: a client's stays in treatment, and the one writer of the client's current stay.

The client row keeps the current episode's program, admission, discharge and status so that
every query can filter on it; this module is the only place that writes those fields, and it
writes the episode in the same step, so the two never disagree.
"""

from datetime import date

from sqlalchemy import Select, select
from sqlalchemy.orm import Session as DbSession

from scheduler.i18n import gettext as _
from scheduler.models import Booking, Client, Episode, Program, Session, TreatmentPlan
from scheduler.services import audit, webhooks
from scheduler.services.audit import Actor
from scheduler.services.errors import InvalidField, StateConflict
from scheduler.services.locks import begin_write, lock_rows
from scheduler.services.lookup import get_or_404, get_referenced

# Why a plan ended, as the audit trail says it.
DISCHARGED, READMITTED = "Client discharged", "Client re-admitted"

AUDITED = ("client_id", "program_id", "admitted_on", "discharged_on", "level_of_care",
           "plan_id", "discharge_reason")


def episodes_of(db: DbSession, client_id: int) -> list[Episode]:
    """The client's episodes, oldest first."""
    return list(db.scalars(select(Episode).where(Episode.client_id == client_id)
                           .order_by(Episode.admitted_on, Episode.id)))


def current(db: DbSession, client_id: int) -> Episode | None:
    """The latest episode: the open one, or the last one closed."""
    return db.scalar(select(Episode).where(Episode.client_id == client_id)
                     .order_by(Episode.admitted_on.desc(), Episode.id.desc()).limit(1))


def open_first(db: DbSession, actor: Actor, client: Client) -> Episode:
    """The episode a new client record starts with, from the fields it was created with."""
    program = db.get_one(Program, client.program_id)
    episode = Episode(client_id=client.id, program_id=client.program_id,
                      admitted_on=client.admitted_on, discharged_on=client.discharged_on,
                      level_of_care=program.level_of_care)
    client.status = "discharged" if client.discharged_on is not None else "active"
    db.add(episode)
    db.flush()
    audit.record(db, actor, "create", "episode", episode.id,
                 after=audit.snapshot(episode, AUDITED))
    return episode


def follow_edit(db: DbSession, actor: Actor, client: Client, previous_discharge: date | None
                ) -> None:
    """An edit of the client's program or admission date is an edit of the current episode."""
    episode = current(db, client.id)
    if episode is None:
        return
    if previous_discharge is not None and client.admitted_on < previous_discharge:
        raise InvalidField("admitted_on", _("Must not be before %(name)s's previous discharge "
                                            "(%(day)s).",
                                            name=client.name, day=previous_discharge.isoformat()))
    before = audit.snapshot(episode, AUDITED)
    episode.program_id, episode.admitted_on = client.program_id, client.admitted_on
    episode.discharged_on = client.discharged_on
    db.flush()
    audit.record(db, actor, "update", "episode", episode.id, before,
                 audit.snapshot(episode, AUDITED))


def previous_discharge(db: DbSession, client_id: int) -> date | None:
    """The discharge date of the episode before the current one, if there is one."""
    rows = list(db.scalars(select(Episode).where(Episode.client_id == client_id)
                           .order_by(Episode.admitted_on.desc(), Episode.id.desc()).limit(2)))
    return rows[1].discharged_on if len(rows) == 2 else None


def _end_plans(db: DbSession, actor: Actor, client_id: int, reason: str) -> None:
    """The client's active plan ends with the stay it belongs to; it stays on record, and
    its targets still rule that stay's weeks in reports."""
    for plan in db.scalars(select(TreatmentPlan).where(TreatmentPlan.client_id == client_id,
                                                       TreatmentPlan.status == "active")):
        plan.status = "ended"
        audit.record(db, actor, "end", "treatment_plan", plan.id,
                     {"status": "active"}, {"status": "ended"}, reason=reason)


def close(db: DbSession, actor: Actor, client: Client, discharged_on: date,
          reason: str | None) -> None:
    """Discharge: the current episode ends on that date, and the client row and the plan
    with it."""
    episode = current(db, client.id)
    client.status, client.discharged_on = "discharged", discharged_on
    _end_plans(db, actor, client.id, DISCHARGED)
    webhooks.emit(db, "client.discharged", client_id=client.id)
    if episode is None:
        return
    before = audit.snapshot(episode, AUDITED)
    episode.discharged_on, episode.discharge_reason = discharged_on, reason
    db.flush()
    audit.record(db, actor, "discharge", "episode", episode.id, before,
                 audit.snapshot(episode, AUDITED), reason=reason)


def readmit(db: DbSession, actor: Actor, client_id: int, *, admitted_on: date,
            program_id: int) -> Episode:
    """A returning client: a new episode on the same record, without a plan until intake
    writes one. The last episode keeps its dates and plans; its plan ends."""
    begin_write(db)
    client = get_or_404(db, Client, client_id, "client")
    lock_rows(db, Client, [client.id])
    db.refresh(client)
    program = get_referenced(db, Program, program_id, "program_id", "program")
    last = current(db, client.id)
    if client.status != "discharged" or (last is not None and last.discharged_on is None):
        raise StateConflict(_("%(name)s is in treatment since %(day)s; discharge them "
                              "before re-admitting.",
                              name=client.name, day=client.admitted_on.isoformat()))
    last_discharge = last.discharged_on if last is not None else client.discharged_on
    if last_discharge is not None and admitted_on < last_discharge:
        raise InvalidField("admitted_on", _("Must not be before %(name)s's last discharge "
                                            "(%(day)s).",
                                            name=client.name, day=last_discharge.isoformat()))
    # Discharge ends the plan; one left active by an older version ends here.
    _end_plans(db, actor, client.id, READMITTED)
    before = audit.snapshot(client, ("program_id", "admitted_on", "discharged_on", "status"))
    client.program_id, client.admitted_on = program.id, admitted_on
    client.discharged_on, client.status = None, "active"
    episode = Episode(client_id=client.id, program_id=program.id, admitted_on=admitted_on,
                      level_of_care=program.level_of_care)
    db.add(episode)
    db.flush()
    audit.record(db, actor, "readmit", "client", client.id, before,
                 audit.snapshot(client, ("program_id", "admitted_on", "discharged_on", "status")))
    audit.record(db, actor, "create", "episode", episode.id,
                 after=audit.snapshot(episode, AUDITED))
    return episode


def attach_plan(db: DbSession, client_id: int, plan: TreatmentPlan) -> None:
    """A new plan version belongs to the client's current episode."""
    episode = current(db, client_id)
    if episode is not None:
        episode.plan_id = plan.id


def without_plan(db: DbSession, program_id: int,
                 within: Select | None = None) -> dict[int, Episode]:
    """Open episodes of the program with no plan and nothing booked since admission: intake
    stopped after its first step. Keyed by client; with `within` (client ids), only those."""
    booked_since = (
        select(Booking.id)
        .join(Session, Session.id == Booking.session_id)
        .where(Booking.client_id == Episode.client_id,
               Booking.status.in_(("booked", "waitlisted")),
               Session.starts_at >= Episode.admitted_on)
        .exists()
    )
    rows = db.scalars(
        select(Episode)
        .join(Client, Client.id == Episode.client_id)
        .where(Client.program_id == program_id, Client.status == "active",
               Episode.program_id == program_id, Episode.discharged_on.is_(None),
               Episode.plan_id.is_(None), ~booked_since,
               *([Client.id.in_(within)] if within is not None else []))
    )
    return {episode.client_id: episode for episode in rows}
