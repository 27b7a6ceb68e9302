"""What the Setup pages share: which site a new room or program goes to."""

from sqlalchemy import func, select
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice

from scheduler.extensions import db
from scheduler.models import Site
from scheduler.services import scope
from scheduler.web.form_fields import optional_id


class SiteField(SelectField):
    """The site a new room or program goes to: shown only when the network has more than one
    (services/sites.site_for_new names the only one otherwise, and says so when one is missing).
    """

    def __init__(self, label="Site", **kwargs):
        super().__init__(label, coerce=optional_id, validate_choice=False, **kwargs)


def offer_sites(field: SiteField) -> bool:
    """Give the field the sites the caller may see, by name; True when it is to be shown
    (more than one site in the network). A single choice is chosen already."""
    total = db.session.scalar(select(func.count(Site.id))) or 0
    rows = db.session.execute(select(Site.id, Site.name).where(scope.sites_filter(Site.id))
                              .order_by(Site.name, Site.id)).all()
    field.choices = [SelectChoice("", "Choose a site"),
                     *(SelectChoice(row.id, row.name) for row in rows)]
    if field.data is None and len(rows) == 1:
        field.data = rows[0].id
    return total > 1


def site_names(site_ids) -> dict[int, str]:
    """Site names by id, for a list's rows."""
    ids = set(site_ids)
    if not ids:
        return {}
    rows = db.session.execute(select(Site.id, Site.name).where(Site.id.in_(ids)))
    return {site_id: name for site_id, name in rows}
