"""Programs: create and edit, with ASAM hour defaults."""

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from scheduler.i18n import gettext
from scheduler.models import Program
from scheduler.services import audit, closed_days, scope, sites
from scheduler.services.audit import Actor
from scheduler.services.errors import InvalidField
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
    "country",
    "is_active",
    "min_group_size",
)


def check_country(code) -> str:
    """A two-letter country code whose public holidays are known ("US", "GB")."""
    if not isinstance(code, str) or not closed_days.is_supported_country(code.upper()):
        raise InvalidField("country", gettext("Use a two-letter country code, such as US, CA "
                                              "or GB."))
    return code.upper()


def check_min_group_size(size) -> int | None:
    """At least one client, or None for no minimum."""
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise InvalidField("min_group_size", gettext("Must be a whole number of clients, at "
                                                     "least 1, or empty for no minimum."))
    return size


def active_programs(db: DbSession, site_ids: frozenset[int] | None = None) -> list[Program]:
    """The programs that run, by name: what every program picker offers. Only those of the
    caller's scope (services/scope.py), and of `site_ids` when a page shows some sites."""
    return list(db.scalars(select(Program).where(Program.is_active.is_(True),
                                                 scope.sites_in(Program.site_id, site_ids))
                           .order_by(Program.name, Program.id)))


def create_program(db: DbSession, actor: Actor, **fields) -> Program:
    """Add a program; min_weekly_hours follows the level unless given."""
    zone(fields["timezone"])
    if "country" in fields:
        fields["country"] = check_country(fields["country"])
    if "min_group_size" in fields:
        fields["min_group_size"] = check_min_group_size(fields["min_group_size"])
    hours = fields.pop("min_weekly_hours", None)
    site = sites.site_for_new(db, actor, fields.pop("site_id", None),
                              timezone=fields["timezone"], address=fields.get("address"))
    program = Program(**fields, site_id=site.id, min_weekly_hours_override=hours)
    db.add(program)
    db.flush()
    audit.record(db, actor, "create", "program", program.id, after=audit.snapshot(program, AUDITED))
    return program


def update_program(db: DbSession, actor: Actor, program: Program, changes: dict) -> Program:
    """Edit a program; min_weekly_hours=None returns it to the level's default."""
    before = audit.snapshot(program, AUDITED)
    if "timezone" in changes:
        zone(changes["timezone"])
    if "country" in changes:
        changes["country"] = check_country(changes["country"])
    if "min_group_size" in changes:
        changes["min_group_size"] = check_min_group_size(changes["min_group_size"])
    if "min_weekly_hours" in changes:
        program.min_weekly_hours_override = changes.pop("min_weekly_hours")
    for key, value in changes.items():
        setattr(program, key, value)
    db.flush()
    audit.record(
        db, actor, "update", "program", program.id, before, audit.snapshot(program, AUDITED)
    )
    return program
