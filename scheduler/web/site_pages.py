"""Admin pages for sites (the buildings of the network), and where staff and coordinators work.

Admins add and edit sites and scope a coordinator's login to sites (the logins page links
here); coordinators set the sites a staff member works at.
"""

from flask import Blueprint, render_template, request, url_for
from wtforms import SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, Optional

from scheduler.extensions import db
from scheduler.i18n import gettext as _
from scheduler.i18n import lazy_gettext as _l
from scheduler.models import Site, Staff, User
from scheduler.models.users import COORDINATORS
from scheduler.services import sites
from scheduler.services import staff as staff_service
from scheduler.services.lookup import get_or_404
from scheduler.web import query_args
from scheduler.web.access import page_actor, page_roles
from scheduler.web.form_fields import PageForm
from scheduler.web.setup_forms import add_from_form, save_from_form

bp = Blueprint("site_pages", __name__)

PER_PAGE = 50


class SiteForm(PageForm):
    name = StringField(_l("Name"), validators=[DataRequired(_l("Give the site a name.")),
                                           Length(max=200)])
    address = StringField(_l("Address"), validators=[Optional(), Length(max=300)])
    timezone = StringField(_l("Time zone"), default="America/New_York", validators=[
        DataRequired(_l("Give the site's time zone, such as America/New_York.")),
        Length(max=64)],
        description=_l("An IANA name such as America/Chicago: new programs here start in it."))


class SitesForm(PageForm):
    """The sites a staff member works at, or a coordinator's login sees."""

    site_ids = SelectMultipleField(_l("Sites"), coerce=int)


def _site_choices() -> list[tuple[int, str]]:
    rows, _ = sites.list_sites(db.session)
    return [(s.id, s.name) for s in rows]


def _list_page(form: SiteForm, status: int = 200):
    q = query_args.text_arg("q", 200)
    page = query_args.number_arg("page", 1_000_000) or 1
    rows, total = sites.list_sites(db.session, q, offset=(page - 1) * PER_PAGE, limit=PER_PAGE)
    pages = max(1, -(-total // PER_PAGE))

    def page_url(n: int) -> str:
        return url_for(".index", **{**request.args.to_dict(), "page": n})

    return render_template(
        "sites/index.html", sites=rows, total=total, q=q or "", form=form,
        prev_url=page_url(page - 1) if page > 1 else None,
        next_url=page_url(page + 1) if page < pages else None), status


@bp.get("/sites")
@page_roles("admin")
def index():
    """Every site by name (searchable), and the form to add one."""
    return _list_page(SiteForm(formdata=None))


@bp.post("/sites")
@page_roles("admin")
def add():
    form = SiteForm()
    return add_from_form(form, lambda: sites.create_site(
        db.session, page_actor(), name=form.name.data.strip(),
        address=(form.address.data or "").strip() or None,
        timezone=form.timezone.data.strip()), _list_page)


@bp.route("/sites/<int:site_id>/edit", methods=["GET", "POST"])
@page_roles("admin")
def edit(site_id: int):
    """Rename a site, or change its address or zone (its programs keep their own zones)."""
    site = get_or_404(db.session, Site, site_id, "site")
    form = SiteForm(obj=site) if request.method == "GET" else SiteForm()
    return save_from_form(
        form, lambda: sites.update_site(db.session, page_actor(), site, {
            "name": form.name.data.strip(),
            "address": (form.address.data or "").strip() or None,
            "timezone": form.timezone.data.strip()}),
        lambda status: (render_template("sites/edit.html", form=form, site=site), status),
        lambda _result: _("%(name)s saved.", name=site.name))


def _sites_form(current: list[int]) -> SitesForm:
    form = SitesForm(formdata=None) if request.method == "GET" else SitesForm()
    form.site_ids.choices = _site_choices()
    if request.method == "GET":
        form.site_ids.data = current
    return form


@bp.route("/staff/<int:staff_id>/sites", methods=["GET", "POST"])
@page_roles(*COORDINATORS)
def staff_sites(staff_id: int):
    """The sites a staff member works at: one or more."""
    member = get_or_404(db.session, Staff, staff_id, "staff member")
    form = _sites_form(sites.staff_site_ids(db.session, member.id))
    form.site_ids.label.text = _("Sites %(name)s works at", name=member.name)
    return save_from_form(
        form, lambda: staff_service.update_staff(db.session, page_actor(), member,
                                                 {"site_ids": form.site_ids.data or []}),
        lambda status: (render_template("sites/staff.html", form=form, member=member), status),
        lambda _result: _("Sites of %(name)s saved.", name=member.name),
        back="staff_pages.index")


@bp.route("/users/<int:user_id>/sites", methods=["GET", "POST"])
@page_roles("admin")
def user_sites(user_id: int):
    """The sites a coordinator's login sees; none ticked means every site."""
    user = get_or_404(db.session, User, user_id, "user")
    form = _sites_form(sites.user_site_ids(db.session, user.id))
    form.site_ids.label.text = _("Sites %(email)s sees", email=user.email)

    def saved(chosen: list[int]) -> str:
        names = sites.site_names(db.session, chosen)
        if not names:
            return _("%(email)s sees every site.", email=user.email)
        return _("%(email)s sees %(sites)s.", email=user.email, sites=", ".join(names))

    return save_from_form(
        form, lambda: sites.set_user_sites(db.session, page_actor(), user,
                                           form.site_ids.data or []),
        lambda status: (render_template("sites/user.html", form=form, user=user), status),
        saved, back="user_pages.index")
