"""Programs: create and edit, with ASAM hour defaults."""

from sqlalchemy.orm import Session as DbSession

from scheduler.models import Program
from scheduler.services import audit
from scheduler.services.audit import Actor
from scheduler.services.recurrence import zone

AUDITED = (
    "name",
    "level_of_care",
    "population",
    "timezone",
    "address",
    "min_weekly_hours_override",
    "absence_streak_alert",
    "discharge_review_streak",
    "discharge_review_absences",
    "discharge_review_weeks",
    "feed_privacy",
    "is_active",
)


def create_program(db: DbSession, actor: Actor, **fields) -> Program:
    """Add a program; min_weekly_hours follows the level unless given."""
    zone(fields["timezone"])
    hours = fields.pop("min_weekly_hours", None)
    program = Program(**fields, min_weekly_hours_override=hours)
    db.add(program)
    db.flush()
    audit.record(db, actor, "create", "program", program.id, after=audit.snapshot(program, AUDITED))
    return program


def update_program(db: DbSession, actor: Actor, program: Program, changes: dict) -> Program:
    """Edit a program; min_weekly_hours=None returns it to the level's default."""
    before = audit.snapshot(program, AUDITED)
    if "timezone" in changes:
        zone(changes["timezone"])
    if "min_weekly_hours" in changes:
        program.min_weekly_hours_override = changes.pop("min_weekly_hours")
    for key, value in changes.items():
        setattr(program, key, value)
    db.flush()
    audit.record(
        db, actor, "update", "program", program.id, before, audit.snapshot(program, AUDITED)
    )
    return program
