"""Sites: the one owner of which site a new program or room belongs to.

A clinic with one site never has to say so: a program or room made without a site goes to the
only one (made on first use, in the program's zone). Once there are two, the site must be
named, so nothing lands in the wrong building by default.
"""

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DbSession

from scheduler.models import Site
from scheduler.services import audit
from scheduler.services.audit import Actor
from scheduler.services.errors import InvalidField
from scheduler.services.lookup import get_referenced

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
        raise InvalidField("site_id", "Choose the site: this clinic has more than one.")
    return db.scalars(select(Site)).one()
