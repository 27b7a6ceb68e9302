"""Enrolling a client in a series, from the series' page or from one of its sessions."""

from flask import abort, flash, redirect, url_for

from scheduler import clock
from scheduler.extensions import db
from scheduler.i18n import gettext as _
from scheduler.models import Session, SessionSeries
from scheduler.models.users import COORDINATORS
from scheduler.services import booking
from scheduler.services.errors import DomainError
from scheduler.services.lookup import get_or_404
from scheduler.web.access import page_actor, page_roles
from scheduler.web.calendar.blueprint import bp
from scheduler.web.calendar.forms import EnrollForm
from scheduler.web.calendar.pickers import offer_clients
from scheduler.web.calendar.series import series_page
from scheduler.web.calendar.sessions import session_page
from scheduler.web.form_fields import put_on_form
from scheduler.web.refusals import describe


def _enroll(series_id: int, rerender):
    """Enrol the posted client in the series; a conflict is shown and nothing is written."""
    target = get_or_404(db.session, SessionSeries, series_id, "series")
    form = EnrollForm()
    offer_clients(form.client_id, target.program_id)
    if not form.validate_on_submit():
        return rerender(422, form)
    try:
        result = booking.enroll_client(db.session, page_actor(), target.id, form.client_id.data,
                                       now=clock.now(), override=form.override_or_none())
    except DomainError as error:
        db.session.rollback()
        if not put_on_form(form, error):
            flash(describe(error, what=_("Not enrolled")), "error")
        return rerender(error.status, form)
    name = result.enrollment.client.name
    message = _("%(name)s enrolled: %(count)s sessions booked", name=name, count=result.booked)
    if result.waitlisted:
        message += ", " + _("waitlisted for %(count)s", count=result.waitlisted)
    db.session.commit()
    flash(message + ".", "success")
    return None


@bp.post("/series/<int:series_id>/enroll")
@page_roles(*COORDINATORS)
def enroll(series_id):
    """Enrol a client from the series page."""
    refused = _enroll(series_id, lambda status, form: series_page(series_id, status, form))
    return refused or redirect(url_for("calendar.series", series_id=series_id))


@bp.post("/sessions/<int:session_id>/enroll")
@page_roles(*COORDINATORS)
def enroll_from_session(session_id):
    """Enrol a client in the series this session belongs to."""
    target = get_or_404(db.session, Session, session_id, "session")
    if target.series_id is None:
        abort(404)
    refused = _enroll(target.series_id, lambda status, form: session_page(
        session_id, status, enroll_form=form))
    return refused or redirect(url_for("calendar.session", session_id=session_id))
