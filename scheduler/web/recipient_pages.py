"""Admin pages for recipients (the outside systems a client may consent to share with) and
their API clients: the credentials a recipient's system signs in to /fhir/R4 with.

An API client's secret is shown once, on the page that made it, and never again: only its
hash is kept (services/recipients.py).
"""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select
from wtforms import SelectField, SelectMultipleField, StringField, widgets
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from scheduler import clock
from scheduler.extensions import db
from scheduler.fhir import BASE as FHIR_BASE
from scheduler.i18n import gettext as _
from scheduler.i18n import lazy_gettext as _l
from scheduler.models import FhirClient, Recipient
from scheduler.models.interop import FHIR_SCOPES, RECIPIENT_KINDS
from scheduler.services import recipients
from scheduler.services.errors import DomainError, NotFound
from scheduler.services.lookup import find, get_or_404
from scheduler.web import query_args
from scheduler.web.access import page_actor, page_roles
from scheduler.web.form_fields import PageForm, put_on_form
from scheduler.web.refusals import describe
from scheduler.web.setup_forms import add_from_form

bp = Blueprint("recipient_pages", __name__)

PER_PAGE = 50
# What each FHIR scope lets a recipient's system do, in words beside its name.
SCOPE_WORDS = {
    "system/Appointment.read": _l("Read appointments of clients who consented"),
    "system/Slot.read": _l("Read open group seats (no client information)"),
    "system/Patient.read": _l("Read name, date of birth and identifiers of clients who "
                              "consented"),
    "system/Patient.write": _l("Send referrals (new clients awaiting intake)"),
}


class RecipientForm(PageForm):
    name = StringField(_l("Name"), validators=[DataRequired(_l("Give the service's name.")),
                                           Length(max=200)],
                       description=_l("As clients' consent forms name it, e.g. “Kipu EHR”."))
    kind = SelectField(_l("Kind"), choices=[SelectChoice(k, recipients.KIND_WORDS[k])
                                        for k in RECIPIENT_KINDS],
                       validators=[DataRequired(_l("Choose the kind of service."))])
    contact = StringField(_l("Contact (optional)"), validators=[Optional(), Length(max=300)],
                          description=_l("Whom to call about it, e.g. “Kipu support, 555-0100”."))


class ApiClientForm(PageForm):
    scopes = SelectMultipleField(
        _l("What its system may do"),
        choices=[SelectChoice(s, _l("%(words)s (%(scope)s)", words=SCOPE_WORDS[s], scope=s))
                 for s in FHIR_SCOPES],
        validators=[DataRequired(_l("Tick at least one."))],
        widget=widgets.ListWidget(prefix_label=False), option_widget=widgets.CheckboxInput())


def _client_counts(ids: list[int]) -> dict[int, int]:
    """Each recipient's API clients still in use."""
    if not ids:
        return {}
    return dict(db.session.execute(
        select(FhirClient.recipient_id, func.count(FhirClient.id))
        .where(FhirClient.recipient_id.in_(ids), FhirClient.revoked_at.is_(None))
        .group_by(FhirClient.recipient_id)).tuples().all())


def _list_page(form: RecipientForm, status: int = 200):
    q = query_args.text_arg("q", 200)
    page = query_args.number_arg("page", 1_000_000) or 1
    rows, total = recipients.list_recipients(db.session, q, offset=(page - 1) * PER_PAGE,
                                             limit=PER_PAGE)
    pages = max(1, -(-total // PER_PAGE))
    return render_template(
        "setup/recipients.html", recipients=rows, total=total, q=q or "", form=form,
        kinds=recipients.KIND_WORDS, clients=_client_counts([r.id for r in rows]),
        prev_url=url_for(".index", q=q, page=page - 1) if page > 1 else None,
        next_url=url_for(".index", q=q, page=page + 1) if page < pages else None), status


@bp.get("/recipients")
@page_roles("admin")
def index():
    """Every recipient by name (searchable), and the form to add one."""
    return _list_page(RecipientForm(formdata=None))


@bp.post("/recipients")
@page_roles("admin")
def add():
    form = RecipientForm()
    return add_from_form(form, lambda: recipients.create_recipient(
        db.session, page_actor(), name=form.name.data.strip(), kind=form.kind.data,
        contact=(form.contact.data or "").strip() or None), _list_page)


def _set_active(recipient_id: int, active: bool):
    recipient = get_or_404(db.session, Recipient, recipient_id, "recipient")
    if recipient.is_active != active:
        recipients.update_recipient(db.session, page_actor(), recipient, {"is_active": active})
        db.session.commit()
    flash(_("%(name)s receives again what clients consent to.", name=recipient.name)
          if active else
          _("%(name)s is deactivated: it receives nothing, whatever the consents, and its API "
            "clients cannot sign in.", name=recipient.name), "success")
    return redirect(url_for(".index"), code=303)


@bp.post("/recipients/<int:recipient_id>/deactivate")
@page_roles("admin")
def deactivate(recipient_id: int):
    """Stop everything to a recipient at once; its consents and log stay."""
    return _set_active(recipient_id, False)


@bp.post("/recipients/<int:recipient_id>/reactivate")
@page_roles("admin")
def reactivate(recipient_id: int):
    return _set_active(recipient_id, True)


def _recipient_page(recipient: Recipient, form: ApiClientForm, status: int = 200,
                    made: FhirClient | None = None, secret: str | None = None):
    return render_template(
        "setup/recipient.html", recipient=recipient, form=form, made=made, secret=secret,
        kinds=recipients.KIND_WORDS, scope_words=SCOPE_WORDS,
        token_url=request.host_url.rstrip("/") + FHIR_BASE + "/auth/token",
        api_clients=recipients.clients_of(db.session, recipient.id)), status


@bp.get("/recipients/<int:recipient_id>")
@page_roles("admin")
def show(recipient_id: int):
    """One recipient: its API clients, and the form to make one."""
    recipient = get_or_404(db.session, Recipient, recipient_id, "recipient")
    return _recipient_page(recipient, ApiClientForm(formdata=None))


@bp.post("/recipients/<int:recipient_id>/api-clients")
@page_roles("admin")
def make_api_client(recipient_id: int):
    """Make an API client and show its secret this once."""
    recipient = get_or_404(db.session, Recipient, recipient_id, "recipient")
    form = ApiClientForm()
    if not form.validate_on_submit():
        flash(_("Not made: please fix the fields marked below."), "error")
        return _recipient_page(recipient, form, 422)
    try:
        row, secret = recipients.create_fhir_client(db.session, page_actor(), recipient,
                                                    scopes=form.scopes.data)
    except DomainError as error:
        db.session.rollback()
        if not put_on_form(form, error):
            flash(describe(error, what=_("Not made")), "error")
        return _recipient_page(recipient, form, error.status)
    db.session.commit()
    # Rendered, not redirected: the secret must not travel in the (signed, unencrypted)
    # cookie, and no cache may keep a copy of this page.
    page, status = _recipient_page(recipient, ApiClientForm(formdata=None), 201, made=row,
                                   secret=secret)
    return page, status, {"Cache-Control": "no-store"}


@bp.post("/recipients/<int:recipient_id>/api-clients/<int:api_client_id>/revoke")
@page_roles("admin")
def revoke_api_client(recipient_id: int, api_client_id: int):
    """Revoke an API client and every token it holds, at once."""
    recipient = get_or_404(db.session, Recipient, recipient_id, "recipient")
    row = find(db.session, FhirClient, api_client_id)
    if row is None or row.recipient_id != recipient.id:
        raise NotFound("API client", api_client_id)
    recipients.revoke_fhir_client(db.session, page_actor(), row, clock.now())
    db.session.commit()
    flash(_("API client %(id)s revoked: its tokens stop working now.", id=row.client_id),
          "success")
    return redirect(url_for(".show", recipient_id=recipient.id), code=303)
