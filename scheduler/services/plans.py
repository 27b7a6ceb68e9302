"""Assessments and versioned treatment plans.

A plan is never rewritten: a revision adds a new row (version + 1) carrying everything it did
not change, and the previous version only changes its status to 'superseded'. The one
exception is the Medicare paperwork dates (certification of need and plan review), which are
recorded on the active plan as their own audited writes: they are dates of an event that
happened to the plan, not clinical content of it.
"""

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import selectinload

from scheduler.i18n import gettext as _
from scheduler.models import (
    Assessment,
    Client,
    PlanPhase,
    PlanRequirement,
    Program,
    Staff,
    TreatmentPlan,
)
from scheduler.models.plans import RECOMMENDED_LEVELS
from scheduler.models.series import SESSION_KINDS
from scheduler.services import audit, episodes, scope
from scheduler.services import staff as staff_service
from scheduler.services.audit import Actor
from scheduler.services.errors import InvalidField, StateConflict
from scheduler.services.locks import begin_write, lock_rows
from scheduler.services.lookup import get_or_404, get_referenced
from scheduler.services.wording import day_words

ASSESSMENT_KINDS = ("intake", "ongoing", "plan_review")
# Medicare IOP: certification of need and plan review "at least every other month".
RENEWAL_DAYS = 60
DUE_SOON_DAYS = 14
MAX_WEEKLY_HOURS = Decimal(168)

ASSESSMENT_AUDITED = (
    "client_id",
    "assessed_on",
    "clinician_id",
    "kind",
    "physical_health",
    "mental_health",
    "substance_use_history",
    "summary",
    "recommended_level",
)
ASSESSMENT_FIELDS = set(ASSESSMENT_AUDITED) - {"client_id"}

PLAN_AUDITED = (
    "client_id",
    "version",
    "status",
    "assessment_id",
    "primary_therapist_id",
    "start_date",
    "end_date",
    "goals",
    "weekly_hours_target",
    "certified_on",
    "certification_due",
    "reviewed_on",
    "review_due",
)
# What a revision may change; the paperwork dates have their own writes.
REVISABLE = (
    "start_date",
    "end_date",
    "primary_therapist_id",
    "goals",
    "weekly_hours_target",
    "assessment_id",
    "phases",
)


# --- assessments -------------------------------------------------------------------------------


def record_assessment(db: DbSession, actor: Actor, client_id: int, **fields) -> Assessment:
    """Record an assessment of a client by a clinician (a staff member)."""
    unknown = set(fields) - ASSESSMENT_FIELDS
    if unknown:
        name = sorted(unknown)[0]
        raise InvalidField(name, _("Unknown field."))
    get_or_404(db, Client, client_id, "client")
    for required in ("assessed_on", "clinician_id", "recommended_level"):
        if fields.get(required) is None:
            raise InvalidField(required, _("Missing data for required field."))
    _staff(db, fields["clinician_id"], "clinician_id")
    if fields["recommended_level"] not in RECOMMENDED_LEVELS:
        raise InvalidField(
            "recommended_level", _("Must be one of: %(choices)s.",
                                   choices=', '.join(RECOMMENDED_LEVELS))
        )
    fields.setdefault("kind", "intake")
    if fields["kind"] not in ASSESSMENT_KINDS:
        raise InvalidField("kind", _("Must be one of: %(choices)s.",
                                     choices=', '.join(ASSESSMENT_KINDS)))
    assessment = Assessment(client_id=client_id, **fields)
    db.add(assessment)
    db.flush()
    audit.record(db, actor, "create", "assessment", assessment.id,
                 after=audit.snapshot(assessment, ASSESSMENT_AUDITED))
    return assessment


def assessments_of(db: DbSession, client_id: int) -> list[Assessment]:
    get_or_404(db, Client, client_id, "client")
    return list(db.scalars(
        select(Assessment).where(Assessment.client_id == client_id)
        .order_by(Assessment.assessed_on.desc(), Assessment.id.desc())
    ))


# --- plans -------------------------------------------------------------------------------------


def create_plan(
    db: DbSession,
    actor: Actor,
    client_id: int,
    *,
    start_date: date,
    end_date: date | None = None,
    primary_therapist_id: int | None = None,
    goals: list | None = None,
    weekly_hours_target: Decimal | None = None,
    assessment_id: int | None = None,
    certified_on: date | None = None,
    reviewed_on: date | None = None,
    phases: list[dict] | None = None,
) -> TreatmentPlan:
    """A new plan for the client: version 1, or the next version superseding the active one."""
    begin_write(db)
    client = get_or_404(db, Client, client_id, "client")
    lock_rows(db, Client, [client.id])
    values = dict(
        start_date=start_date,
        end_date=end_date,
        primary_therapist_id=primary_therapist_id,
        goals=list(goals or []),
        weekly_hours_target=weekly_hours_target,
        assessment_id=assessment_id,
        phases=phases or [],
    )
    _validate(db, client, values)
    previous = active_plan(db, client.id)
    plan = _new_version(db, client, values, actor)
    plan.certified_on, plan.certification_due = certified_on, _due(certified_on)
    plan.reviewed_on, plan.review_due = reviewed_on, _due(reviewed_on)
    if previous is not None:
        _supersede(db, actor, previous)
    db.flush()
    episodes.attach_plan(db, client.id, plan)
    audit.record(db, actor, "create", "treatment_plan", plan.id, after=plan_snapshot(plan))
    return plan


def revise_plan(db: DbSession, actor: Actor, plan_id: int, changes: dict) -> TreatmentPlan:
    """A new version of the active plan with `changes`; the old version keeps its content."""
    begin_write(db)
    old = get_or_404(db, TreatmentPlan, plan_id, "treatment plan")
    lock_rows(db, Client, [old.client_id])
    db.refresh(old)
    if old.status != "active":
        raise StateConflict(
            _("This plan is %(status)s; revise the client's active plan "
              "instead.",
              status=old.status)
        )
    unknown = set(changes) - set(REVISABLE)
    if unknown:
        raise InvalidField(sorted(unknown)[0], _("Cannot be changed by a revision."))
    client = db.get_one(Client, old.client_id)
    values = {
        "start_date": old.start_date,
        "end_date": old.end_date,
        "primary_therapist_id": old.primary_therapist_id,
        "goals": list(old.goals or []),
        "weekly_hours_target": old.weekly_hours_target,
        "assessment_id": old.assessment_id,
        "phases": [_phase_dict(p) for p in old.phases],
    }
    values.update(changes)
    if "goals" in changes:
        values["goals"] = list(changes["goals"] or [])
    if "phases" in changes:
        values["phases"] = changes["phases"] or []
    _validate(db, client, values)
    before = plan_snapshot(old)
    plan = _new_version(db, client, values, actor)
    for name in ("certified_on", "certification_due", "reviewed_on", "review_due"):
        setattr(plan, name, getattr(old, name))
    _supersede(db, actor, old)
    db.flush()
    episodes.attach_plan(db, client.id, plan)
    audit.record(db, actor, "revise", "treatment_plan", plan.id, before, plan_snapshot(plan))
    return plan


def record_certification(db: DbSession, actor: Actor, plan_id: int,
                         certified_on: date) -> TreatmentPlan:
    """A physician certified the need for IOP on this date; the next is due 60 days later."""
    return _record_date(db, actor, plan_id, "certified_on", "certification_due", certified_on,
                        "certify")


def record_review(db: DbSession, actor: Actor, plan_id: int, reviewed_on: date) -> TreatmentPlan:
    """The plan was reviewed on this date; the next review is due 60 days later."""
    return _record_date(db, actor, plan_id, "reviewed_on", "review_due", reviewed_on, "review")


def _record_date(db, actor, plan_id, field, due_field, on, action) -> TreatmentPlan:
    begin_write(db)
    plan = get_or_404(db, TreatmentPlan, plan_id, "treatment plan")
    lock_rows(db, Client, [plan.client_id])
    db.refresh(plan)
    if plan.status != "active":
        raise StateConflict(_("This plan is %(status)s; record this on the active plan.",
                              status=plan.status))
    if on < plan.start_date:
        raise InvalidField(field, _("Must not be before the plan starts, %(day)s.",
                                    day=day_words(plan.start_date)))
    # Only these two date columns change in place: they record paperwork done for the plan
    # (when it was certified or reviewed), not its clinical content, which stays versioned.
    before = audit.snapshot(plan, (field, due_field))
    setattr(plan, field, on)
    setattr(plan, due_field, _due(on))
    db.flush()
    audit.record(db, actor, action, "treatment_plan", plan.id, before,
                 audit.snapshot(plan, (field, due_field)))
    return plan


def active_plan(db: DbSession, client_id: int, *,
                with_phases: bool = False) -> TreatmentPlan | None:
    """The client's active plan; `with_phases` loads phases and requirements up front."""
    query = (select(TreatmentPlan)
             .where(TreatmentPlan.client_id == client_id, TreatmentPlan.status == "active")
             .order_by(TreatmentPlan.version.desc()).limit(1))
    if with_phases:
        query = query.options(
            selectinload(TreatmentPlan.phases).selectinload(PlanPhase.requirements))
    return db.scalar(query)


def active_plans(db: DbSession, client_ids: list[int], *,
                 with_phases: bool = False) -> dict[int, TreatmentPlan]:
    """`active_plan` for many clients in one query (two with phases), by client id; clients
    without an active plan are left out."""
    if not client_ids:
        return {}
    query = (select(TreatmentPlan)
             .where(TreatmentPlan.client_id.in_(client_ids), TreatmentPlan.status == "active")
             .order_by(TreatmentPlan.client_id, TreatmentPlan.version.desc()))
    if with_phases:
        query = query.options(
            selectinload(TreatmentPlan.phases).selectinload(PlanPhase.requirements))
    out: dict[int, TreatmentPlan] = {}
    for plan in db.scalars(query):
        out.setdefault(plan.client_id, plan)
    return out


def plans_of(db: DbSession, client_id: int) -> list[TreatmentPlan]:
    """Every version of the client's plan, newest first."""
    get_or_404(db, Client, client_id, "client")
    return list(db.scalars(
        select(TreatmentPlan).where(TreatmentPlan.client_id == client_id)
        .order_by(TreatmentPlan.version.desc())
    ))


def due_soon(db: DbSession, today: date, within_days: int = DUE_SOON_DAYS,
             program_id: int | None = None, within: Select | None = None) -> list[tuple]:
    """(client_id, plan_id, 'certification' | 'review', due date) for active plans whose
    certification or review falls due within `within_days` of `today`, overdue ones included.

    Plans already past their end date and discharged clients are left out: nothing to chase.
    """
    horizon = today + timedelta(days=within_days)
    query = (
        select(TreatmentPlan.client_id, TreatmentPlan.id, TreatmentPlan.certification_due,
               TreatmentPlan.review_due)
        .join(Client, Client.id == TreatmentPlan.client_id)
        .where(
            TreatmentPlan.status == "active",
            Client.status != "discharged",
            or_(TreatmentPlan.end_date.is_(None), TreatmentPlan.end_date >= today),
            or_(TreatmentPlan.certification_due <= horizon, TreatmentPlan.review_due <= horizon),
            scope.programs_filter(Client.program_id),
        )
    )
    if program_id is not None:
        query = query.where(Client.program_id == program_id)
    if within is not None:
        # Client ids a list is held to (services/caseload.within).
        query = query.where(Client.id.in_(within))
    rows = db.execute(query)
    out = []
    for client_id, plan_id, cert_due, review_due in rows:
        if cert_due is not None and cert_due <= horizon:
            out.append((client_id, plan_id, "certification", cert_due))
        if review_due is not None and review_due <= horizon:
            out.append((client_id, plan_id, "review", review_due))
    return sorted(out, key=lambda item: (item[3], item[0], item[2]))


# --- reading a plan ----------------------------------------------------------------------------


def week_number(plan: TreatmentPlan, on_date: date) -> int:
    """The plan week `on_date` falls in: week 1 is the Monday-to-Sunday week holding the
    plan's start date (weeks start Monday, as the weekly-hours report counts them)."""
    first_monday = plan.start_date - timedelta(days=plan.start_date.weekday())
    return (on_date - first_monday).days // 7 + 1


def phase_for_week(plan: TreatmentPlan, week: int) -> PlanPhase | None:
    """The phase covering plan week `week`, if any (an open-ended phase covers every later week)."""
    for phase in plan.phases:
        if phase.first_week <= week and (phase.last_week is None or week <= phase.last_week):
            return phase
    return None


def target_hours(plan: TreatmentPlan, on_date: date) -> Decimal | None:
    """The weekly hours target for the week holding `on_date`: the phase's own, else the plan's.

    None outside the plan's dates.
    """
    if on_date < plan.start_date or (plan.end_date is not None and on_date > plan.end_date):
        return None
    phase = phase_for_week(plan, week_number(plan, on_date))
    if phase is not None and phase.weekly_hours_target is not None:
        return phase.weekly_hours_target
    return plan.weekly_hours_target


def targets_for_weeks(plan, mondays: list[date]) -> list[Decimal | None]:
    """`target_hours` for each week beginning on one of `mondays` (from the later of the Monday
    and the plan's start). `plan` is a TreatmentPlan or any row with its dates, target and
    phases in order: reports read plans as plain rows."""
    start, end, own = plan.start_date, plan.end_date, plan.weekly_hours_target
    first_monday = start - timedelta(days=start.weekday())
    phases = [(p.first_week, p.last_week, p.weekly_hours_target) for p in plan.phases]
    out: list[Decimal | None] = []
    for monday in mondays:
        on_date = max(monday, start)
        if on_date > monday + timedelta(days=6) or (end is not None and on_date > end):
            out.append(None)
            continue
        week = (on_date - first_monday).days // 7 + 1
        target = own
        for first, last, phase_target in phases:
            if first <= week and (last is None or week <= last):
                if phase_target is not None:
                    target = phase_target
                break
        out.append(target)
    return out


def plan_snapshot(plan: TreatmentPlan) -> dict:
    data = audit.snapshot(plan, PLAN_AUDITED)
    data["phases"] = [
        {
            "name": p.name,
            "first_week": p.first_week,
            "last_week": p.last_week,
            "weekly_hours_target": audit.to_json(p.weekly_hours_target),
            "requirements": [
                {"kind": r.kind, "sessions_per_week": r.sessions_per_week}
                for r in sorted(p.requirements, key=lambda r: r.kind)
            ],
        }
        for p in sorted(plan.phases, key=lambda p: p.position)
    ]
    return data


# --- internals ---------------------------------------------------------------------------------


def _due(on: date | None) -> date | None:
    return on + timedelta(days=RENEWAL_DAYS) if on is not None else None


def _staff(db: DbSession, staff_id, field: str) -> Staff:
    return staff_service.active_member(db, staff_id, field)


def _phase_dict(phase: PlanPhase) -> dict:
    return {
        "name": phase.name,
        "first_week": phase.first_week,
        "last_week": phase.last_week,
        "weekly_hours_target": phase.weekly_hours_target,
        "requirements": [
            {"kind": r.kind, "sessions_per_week": r.sessions_per_week} for r in phase.requirements
        ],
    }


def _hours(value, field: str) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise InvalidField(field, _("Must be a number of hours."))
    hours = Decimal(str(value))
    if not hours.is_finite() or hours < 0 or hours > MAX_WEEKLY_HOURS:
        raise InvalidField(field, _("Must be between 0 and %(MAX_WEEKLY_HOURS)s.",
                                    MAX_WEEKLY_HOURS=MAX_WEEKLY_HOURS))
    if hours != hours.quantize(Decimal("0.01")):
        raise InvalidField(field, _("At most two decimal places."))
    return _cents(hours)


def _cents(hours: Decimal | None) -> Decimal | None:
    """As the Numeric(5, 2) column stores it, so audit snapshots match what is read back."""
    return hours.quantize(Decimal("0.01")) if hours is not None else None


def _validate(db: DbSession, client: Client, values: dict) -> None:
    """Check a plan's content in place, naming the first wrong field; fills defaults."""
    start, end = values["start_date"], values["end_date"]
    if start is None:
        raise InvalidField("start_date", _("Missing data for required field."))
    if end is not None and end < start:
        raise InvalidField("end_date", _("Must not be before the start date."))
    if values["primary_therapist_id"] is not None:
        _staff(db, values["primary_therapist_id"], "primary_therapist_id")
    if values["assessment_id"] is not None:
        assessment = get_referenced(db, Assessment, values["assessment_id"], "assessment_id",
                                    "assessment")
        if assessment.client_id != client.id:
            raise InvalidField("assessment_id",
                               _("That assessment is another client's."))
    goals = values["goals"]
    if not all(isinstance(g, str) and g.strip() for g in goals):
        raise InvalidField("goals", _("Each goal must be non-blank text."))
    values["weekly_hours_target"] = _hours(values["weekly_hours_target"], "weekly_hours_target")
    if values["weekly_hours_target"] is None:
        program = db.get(Program, client.program_id)
        values["weekly_hours_target"] = _cents(program.min_weekly_hours if program else None)
    _validate_phases(values["phases"])


def _validate_phases(phases: list[dict]) -> None:
    """Phases in week order, none after an open-ended one; each phase's hours and needs."""
    previous_last = 0
    open_ended = False
    for i, phase in enumerate(phases):
        where = f"phases.{i}"
        first, last = _phase_weeks(phase, where)
        if open_ended:
            raise InvalidField(f"{where}.first_week",
                               _("The previous phase is open-ended; no phase may follow it."))
        if first <= previous_last:
            raise InvalidField(f"{where}.first_week",
                               _("Overlaps or precedes the previous phase (ends week "
                                 "%(previous_last)s); phases must be in order.",
                                 previous_last=previous_last))
        previous_last = last if last is not None else first
        open_ended = last is None
        phase["weekly_hours_target"] = _hours(phase.get("weekly_hours_target"),
                                              f"{where}.weekly_hours_target")
        _validate_requirements(phase.get("requirements") or [], where)


def _phase_weeks(phase: dict, where: str) -> tuple[int, int | None]:
    """The phase's first and last week (None: open-ended), whole numbers in order."""
    first, last = phase.get("first_week"), phase.get("last_week")
    if isinstance(first, bool) or not isinstance(first, int) or first < 1:
        raise InvalidField(f"{where}.first_week", _("Must be a whole number of at least 1."))
    if last is not None and (isinstance(last, bool) or not isinstance(last, int)):
        raise InvalidField(f"{where}.last_week", _("Must be a whole number."))
    if last is not None and last < first:
        raise InvalidField(f"{where}.last_week", _("Must not be before the first week."))
    return first, last


def _validate_requirements(requirements: list[dict], where: str) -> None:
    """Each session kind at most once per phase, at least one session a week."""
    kinds = set()
    for j, req in enumerate(requirements):
        kind, per_week = req.get("kind"), req.get("sessions_per_week")
        if kind not in SESSION_KINDS:
            raise InvalidField(f"{where}.requirements.{j}.kind",
                               _("Must be one of: %(choices)s.",
                                 choices=', '.join(SESSION_KINDS)))
        if kind in kinds:
            raise InvalidField(f"{where}.requirements.{j}.kind",
                               _("%(kind)s is already required in this phase.",
                                 kind=kind))
        kinds.add(kind)
        if isinstance(per_week, bool) or not isinstance(per_week, int) or per_week < 1:
            raise InvalidField(f"{where}.requirements.{j}.sessions_per_week",
                               _("Must be a whole number of at least 1."))


def _new_version(db: DbSession, client: Client, values: dict, actor: Actor) -> TreatmentPlan:
    latest = db.scalar(
        select(func.max(TreatmentPlan.version)).where(TreatmentPlan.client_id == client.id)
    ) or 0
    plan = TreatmentPlan(
        client_id=client.id,
        version=latest + 1,
        status="active",
        assessment_id=values["assessment_id"],
        primary_therapist_id=values["primary_therapist_id"],
        start_date=values["start_date"],
        end_date=values["end_date"],
        goals=values["goals"],
        weekly_hours_target=values["weekly_hours_target"],
        created_by_user_id=actor.user_id,
    )
    for position, phase in enumerate(values["phases"], start=1):
        plan.phases.append(PlanPhase(
            position=position,
            name=phase.get("name"),
            first_week=phase["first_week"],
            last_week=phase.get("last_week"),
            weekly_hours_target=phase.get("weekly_hours_target"),
            requirements=[
                PlanRequirement(kind=r["kind"], sessions_per_week=r["sessions_per_week"])
                for r in phase.get("requirements") or []
            ],
        ))
    db.add(plan)
    return plan


def _supersede(db: DbSession, actor: Actor, plan: TreatmentPlan) -> None:
    """Only the status of the previous version changes; its content stays as written."""
    plan.status = "superseded"
    audit.record(db, actor, "supersede", "treatment_plan", plan.id,
                 {"status": "active"}, {"status": "superseded"})
