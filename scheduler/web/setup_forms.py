"""What the Setup pages share: which site a new room or program goes to, and the add and edit
forms' round trips."""

from collections.abc import Callable

from flask import flash, redirect, request, url_for
from sqlalchemy import func, select
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice

from scheduler.extensions import db
from scheduler.i18n import gettext as _
from scheduler.i18n import lazy_gettext as _l
from scheduler.models import Site
from scheduler.services import scope
from scheduler.services.errors import DomainError
from scheduler.web.form_fields import optional_id, put_on_form
from scheduler.web.refusals import describe

SITE = _l("Site")


class SiteField(SelectField):
    """The site a new room or program goes to: shown only when the network has more than one
    (services/sites.site_for_new names the only one otherwise, and says so when one is missing).
    """

    def __init__(self, label=SITE, **kwargs):
        super().__init__(label, coerce=optional_id, validate_choice=False, **kwargs)


def offer_sites(field: SiteField) -> bool:
    """Give the field the sites the caller may see, by name; True when it is to be shown
    (more than one site in the network). A single choice is chosen already."""
    total = db.session.scalar(select(func.count(Site.id))) or 0
    rows = db.session.execute(select(Site.id, Site.name).where(scope.sites_filter(Site.id))
                              .order_by(Site.name, Site.id)).all()
    field.choices = [SelectChoice("", _("Choose a site")),
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


NOT_ADDED = _l("Not added: please fix the fields marked below.")


def add_from_form(form, create: Callable, list_page: Callable):
    """An add form's round trip on a Setup page: the fields checked, the service's refusal put
    under its field (or said in words), else saved and back to the list naming what was added.
    `create()` writes through the service; `list_page(form, status)` shows the list again."""
    if not form.validate_on_submit():
        flash(NOT_ADDED, "error")
        return list_page(form, 422)
    try:
        row = create()
    except DomainError as error:
        db.session.rollback()
        placed = put_on_form(form, error)
        flash(NOT_ADDED if placed else describe(error, what=_("Not added")), "error")
        return list_page(form, error.status)
    db.session.commit()
    flash(_("%(name)s added.", name=row.name), "success")
    return redirect(url_for(".index"), code=303)


def save_from_form(form, write: Callable, page: Callable, done: Callable[..., str],
                   back: str = ".index"):
    """An edit form's round trip: shown on GET, the fields checked, the service's refusal put
    under its field (or said in words), else saved and back to `back` saying `done(result)`.
    `write()` changes through the service; `page(status)` shows the form again."""
    if request.method == "GET":
        return page(200)
    if not form.validate_on_submit():
        return page(422)
    try:
        result = write()
    except DomainError as error:
        db.session.rollback()
        if not put_on_form(form, error):
            flash(describe(error, what=_("Not saved")), "error")
        return page(error.status)
    db.session.commit()
    flash(done(result), "success")
    return redirect(url_for(back), code=303)
