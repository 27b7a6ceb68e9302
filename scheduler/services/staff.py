"""Staff members: create and edit."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DbSession

from scheduler import clock
from scheduler.feeds import tokens as feed_tokens
from scheduler.i18n import gettext
from scheduler.models import Staff
from scheduler.services import audit, sites
from scheduler.services.audit import Actor
from scheduler.services.errors import InvalidField
from scheduler.services.lookup import get_referenced

DEACTIVATED = "Staff member deactivated"
AUDITED = ("name", "role", "credentials", "email", "is_active")


def active_member(db: DbSession, staff_id, field: str) -> Staff:
    """The staff member this field names, who must still work here to run or own anything."""
    member = get_referenced(db, Staff, staff_id, field, "staff member")
    if not member.is_active:
        raise InvalidField(field, gettext("%(name)s is no longer active.", name=member.name))
    return member


def _check_email_free(db: DbSession, email: str | None, staff_id: int | None = None) -> None:
    if not email:
        return
    clash = db.scalar(select(Staff.id).where(func.lower(Staff.email) == email.lower()))
    if clash is not None and clash != staff_id:
        raise InvalidField("email", gettext("A staff member with email %(email)s already exists.",
                                            email=repr(email)))


def create_staff(db: DbSession, actor: Actor, **fields) -> Staff:
    """Add a staff member."""
    if fields.get("email"):
        fields["email"] = fields["email"].strip().lower()
    _check_email_free(db, fields.get("email"))
    site_ids = sites.sites_for_new_staff(db, actor, fields.pop("site_ids", None))
    staff = Staff(**fields)
    db.add(staff)
    db.flush()
    _, after = sites.set_staff_sites(db, staff.id, site_ids)
    audit.record(db, actor, "create", "staff", staff.id,
                 after={**audit.snapshot(staff, AUDITED), "site_ids": after})
    return staff


def update_staff(db: DbSession, actor: Actor, staff: Staff, changes: dict) -> Staff:
    """Edit a staff member."""
    if changes.get("email"):
        changes["email"] = changes["email"].strip().lower()
        _check_email_free(db, changes["email"], staff.id)
    site_ids = changes.pop("site_ids", None)
    if site_ids is not None:
        site_ids = sites.check_staff_sites(db, site_ids)
    before = audit.snapshot(staff, AUDITED)
    for key, value in changes.items():
        setattr(staff, key, value)
    db.flush()
    after = audit.snapshot(staff, AUDITED)
    if site_ids is not None:
        before["site_ids"], after["site_ids"] = sites.set_staff_sites(db, staff.id, site_ids)
    audit.record(db, actor, "update", "staff", staff.id, before, after)
    if before["is_active"] and not staff.is_active:
        # Someone who has left keeps no window on the clinic's schedule; reactivating them
        # does not revive the old link, a new one has to be made.
        feed_tokens.revoke(db, actor, "staff", staff.id, clock.now(), reason=DEACTIVATED)
    return staff
