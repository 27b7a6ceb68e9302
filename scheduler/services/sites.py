"""Sites: the one owner of which site a new program or room belongs to.

A clinic with one site never has to say so: a program or room made without a site goes to the
only one (made on first use, in the program's zone). Once there are two, the site must be
named, so nothing lands in the wrong building by default.
"""

from sqlalchemy import Select, delete, func, insert, select
from sqlalchemy.orm import Session as DbSession

from scheduler.i18n import gettext
from scheduler.models import Site, Staff, User, staff_sites, user_sites
from scheduler.services import audit, scope, search
from scheduler.services.audit import Actor
from scheduler.services.errors import InvalidField, no_such
from scheduler.services.lookup import get_referenced
from scheduler.services.recurrence import zone

DEFAULT_SITE = "Main site"
DEFAULT_ZONE = "America/New_York"
AUDITED = ("name", "address", "timezone", "is_active")


def site_for_new(db: DbSession, actor: Actor, site_id: int | None, *,
                 timezone: str | None = None, address: str | None = None) -> Site:
    """The site a new program or room goes to: the one named, else the only one."""
    if site_id is not None:
        return get_referenced(db, Site, site_id, "site_id", "site")
    count = db.scalar(select(func.count(Site.id))) or 0
    if count == 0:
        site = Site(name=DEFAULT_SITE, timezone=timezone or DEFAULT_ZONE, address=address)
        db.add(site)
        db.flush()
        audit.record(db, actor, "create", "site", site.id, after=audit.snapshot(site, AUDITED))
        return site
    if count > 1:
        raise InvalidField("site_id", gettext("Choose the site: this clinic has more than one."))
    return db.scalars(select(Site)).one()


def _check_name_free(db: DbSession, name: str, site_id: int | None = None) -> None:
    clash = db.scalar(select(Site.id).where(func.lower(Site.name) == name.lower()))
    if clash is not None and clash != site_id:
        raise InvalidField("name", gettext("A site named %(name)s already exists.",
                                           name=repr(name)))


def create_site(db: DbSession, actor: Actor, *, name: str, timezone: str,
                address: str | None = None, is_active: bool = True) -> Site:
    """Add a site (a building of the network) in its IANA zone."""
    zone(timezone)
    _check_name_free(db, name)
    site = Site(name=name, timezone=timezone, address=address, is_active=is_active)
    db.add(site)
    db.flush()
    audit.record(db, actor, "create", "site", site.id, after=audit.snapshot(site, AUDITED))
    return site


def update_site(db: DbSession, actor: Actor, site: Site, changes: dict) -> Site:
    """Rename, move or re-zone a site; its programs keep their own zones."""
    if "timezone" in changes:
        zone(changes["timezone"])
    if "name" in changes:
        _check_name_free(db, changes["name"], site.id)
    before = audit.snapshot(site, AUDITED)
    for key, value in changes.items():
        setattr(site, key, value)
    db.flush()
    audit.record(db, actor, "update", "site", site.id, before, audit.snapshot(site, AUDITED))
    return site


def list_sites(db: DbSession, q: str | None = None, *, offset: int = 0,
               limit: int | None = None) -> tuple[list[Site], int]:
    """Sites by name, those `q` finds (services/search, as every picker searches), and how many
    in all."""
    query = search.filtered(select(Site), Site.name, q).where(scope.sites_filter(Site.id))
    total = db.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = db.scalars(query.order_by(Site.name, Site.id).offset(offset).limit(limit)).all()
    return list(rows), total


def site_names(db: DbSession, site_ids: list[int]) -> list[str]:
    """The names of these sites, by name."""
    if not site_ids:
        return []
    return list(db.scalars(select(Site.name).where(Site.id.in_(site_ids)).order_by(Site.name)))


def _names_by(table, owner, owner_ids: list[int]) -> Select:
    return (select(table.c[owner], Site.name).join(Site, Site.id == table.c.site_id)
            .where(table.c[owner].in_(owner_ids)).order_by(Site.name))


def staff_site_names(db: DbSession, staff_ids: list[int]) -> dict[int, list[str]]:
    """The names of the sites each of these staff members works at, by name."""
    out: dict[int, list[str]] = {i: [] for i in staff_ids}
    for owner, name in db.execute(_names_by(staff_sites, "staff_id", staff_ids)):
        out[owner].append(name)
    return out


def user_site_names(db: DbSession, user_ids: list[int]) -> dict[int, list[str]]:
    """The names of the sites each of these logins is scoped to (none: every site)."""
    out: dict[int, list[str]] = {i: [] for i in user_ids}
    for owner, name in db.execute(_names_by(user_sites, "user_id", user_ids)):
        out[owner].append(name)
    return out


def _referenced(db: DbSession, site_ids: list[int], field: str) -> list[int]:
    """The distinct ids, in order, each naming a site, else InvalidField naming the field."""
    wanted = list(dict.fromkeys(site_ids))
    # Another site than the caller's is as good as missing (services/scope.py).
    known = set(db.scalars(select(Site.id).where(
        Site.id.in_(wanted), scope.sites_filter(Site.id)))) if wanted else set()
    missing = [i for i in wanted if i not in known]
    if missing:
        raise InvalidField(field, no_such("site", missing[0]))
    return sorted(wanted)


# Staff: the sites each person works at (one or more).


def staff_site_ids(db: DbSession, staff_id: int) -> list[int]:
    return list(db.scalars(select(staff_sites.c.site_id)
                           .where(staff_sites.c.staff_id == staff_id)
                           .order_by(staff_sites.c.site_id)))


def sites_for_new_staff(db: DbSession, actor: Actor, site_ids: list[int] | None) -> list[int]:
    """The sites a new staff member works at: those named, else the only one (made on first
    use); with more than one site they must be named."""
    if site_ids:
        return _referenced(db, site_ids, "site_ids")
    if site_ids is not None:
        raise InvalidField("site_ids", gettext("Choose at least one site this person works at."))
    count = db.scalar(select(func.count(Site.id))) or 0
    if count > 1:
        raise InvalidField("site_ids", gettext("Choose the sites this person works at: this "
                                               "clinic has more than one."))
    return [site_for_new(db, actor, None).id]


def set_staff_sites(db: DbSession, staff_id: int, site_ids: list[int]) -> tuple[list, list]:
    """Make the staff member's sites exactly these; (before, after), for the caller's audit.

    The caller checked the ids (sites_for_new_staff or check_staff_sites).
    """
    before = staff_site_ids(db, staff_id)
    # The sites a scoped coordinator cannot see stay as they were (services/scope.py).
    seen = scope.current()
    if seen is not None:
        site_ids = sorted(set(site_ids) | {i for i in before if i not in seen})
    gone = [i for i in before if i not in site_ids]
    new = [i for i in site_ids if i not in before]
    if gone:
        db.execute(delete(staff_sites).where(staff_sites.c.staff_id == staff_id,
                                             staff_sites.c.site_id.in_(gone)))
    if new:
        db.execute(insert(staff_sites), [{"staff_id": staff_id, "site_id": i} for i in new])
    member = db.get(Staff, staff_id)
    if member is not None:  # Staff.sites reads the table afresh next time
        db.expire(member, ["sites"])
    return before, sorted(site_ids)


def check_staff_sites(db: DbSession, site_ids: list[int]) -> list[int]:
    """A staff member's new list of sites: one or more that exist."""
    if not site_ids:
        raise InvalidField("site_ids", gettext("Choose at least one site this person works at."))
    return _referenced(db, site_ids, "site_ids")


# Logins: the sites a coordinator's login is scoped to (none: every site).


def user_site_ids(db: DbSession, user_id: int) -> list[int]:
    return list(db.scalars(select(user_sites.c.site_id)
                           .where(user_sites.c.user_id == user_id)
                           .order_by(user_sites.c.site_id)))


def set_user_sites(db: DbSession, actor: Actor, user: User, site_ids: list[int]) -> list[int]:
    """Scope a coordinator's login to these sites; an empty list means every site."""
    wanted = _referenced(db, site_ids, "site_ids")
    if wanted and user.role != "coordinator":
        raise InvalidField("site_ids", gettext("Only a coordinator's login is limited to sites; "
                                               "admins see every site."))
    before = user_site_ids(db, user.id)
    db.execute(delete(user_sites).where(user_sites.c.user_id == user.id))
    if wanted:
        db.execute(insert(user_sites), [{"user_id": user.id, "site_id": i} for i in wanted])
    db.expire(user, ["sites"])  # User.sites reads the table afresh next time
    audit.record(db, actor, "update", "user", user.id, {"site_ids": before},
                 {"site_ids": wanted})
    return wanted
