"""Closures: the days each program is closed, closing a day or a range, and lifting it."""

from flask import current_app, flash, redirect, render_template, url_for
from wtforms import DateField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length

from scheduler import clock, outbox
from scheduler.extensions import db
from scheduler.i18n import gettext as _
from scheduler.i18n import lazy_gettext as _l
from scheduler.i18n import ngettext
from scheduler.models import Closure, Program
from scheduler.models.users import COORDINATORS
from scheduler.services import closures, day_sheet
from scheduler.services import programs as programs_service
from scheduler.services.errors import DomainError
from scheduler.services.lookup import get_or_404
from scheduler.services.overrides import MAX_REASON
from scheduler.services.wording import session_words
from scheduler.web.access import page_actor, page_roles
from scheduler.web.calendar.blueprint import bp
from scheduler.web.calendar.pickers import program_choices
from scheduler.web.form_fields import PageForm, in_range, optional_id, put_on_form
from scheduler.web.refusals import describe


class ClosureForm(PageForm):
    program_id = SelectField(_l("Program"), coerce=optional_id,
                             validators=[InputRequired(_l("Choose the program to close."))])
    starts_on = DateField(_l("First closed day"), validators=[
        InputRequired(_l("Give the first closed day.")), in_range])
    ends_on = DateField(_l("Last closed day"), validators=[
        InputRequired(_l("Give the last closed day (the same day for one day).")), in_range])
    reason = StringField(_l("Reason (clients see it on their page)"), validators=[
        DataRequired(_l("Say why the program is closed (for example: snow).")),
        Length(max=MAX_REASON)])


class LiftForm(PageForm):
    """Only the CSRF token: the closure is in the address."""


def _form(formdata=None) -> ClosureForm:
    form = ClosureForm(formdata=formdata) if formdata is not None else ClosureForm()
    form.program_id.choices = program_choices()
    return form


def _page(form: ClosureForm, status: int = 200):
    now = clock.now()
    programs = []
    for row in programs_service.active_programs(db.session):
        today = day_sheet.program_today(db.session, now, row.id)
        rows = closures.list_closures(db.session, row.id, since=today)
        counts = closures.cancelled_counts(db.session, [c.id for c in rows])
        programs.append((row, [(c, counts[c.id]) for c in rows]))
    return render_template("calendar/closures.html", form=form, programs=programs,
                           lift_form=LiftForm(formdata=None)), status


@bp.get("/closures")
@page_roles(*COORDINATORS)
def closures_page():
    """Every program's closures still to come, and the form to close a day or a range."""
    form = _form()
    if len(form.program_id.choices) == 1:
        form.program_id.data = form.program_id.choices[0].value
    return _page(form)


@bp.post("/closures")
@page_roles(*COORDINATORS)
def add_closure():
    """Close a program: the sessions in the range are cancelled and booked clients told."""
    form = _form(None)
    if not form.validate_on_submit():
        flash(_("Not closed: please fix the fields marked below."), "error")
        return _page(form, 422)
    program = get_or_404(db.session, Program, form.program_id.data, "program")
    try:
        closing = closures.create_closure(
            db.session, page_actor(), program, starts_on=form.starts_on.data,
            ends_on=form.ends_on.data, reason=form.reason.data, now=clock.now(),
            public_name=current_app.config["PUBLIC_NAME"])
    except DomainError as error:
        db.session.rollback()
        placed = put_on_form(form, error)
        flash(_("Not closed: please fix the fields marked below.") if placed
              else describe(error, what=_("Not closed")), "error")
        return _page(form, error.status)
    db.session.commit()
    outbox.send_after_response(*closing.message_keys)
    n = len(closing.cancelled)
    flash(ngettext("%(program)s is closed %(days)s: %(num)d session cancelled; booked clients "
                   "are told.",
                   "%(program)s is closed %(days)s: %(num)d sessions cancelled; booked clients "
                   "are told.", n, program=program.name,
                   days=closures.range_words(closing.closure)), "success")
    if closing.kept:
        flash(_("Kept, because attendance is recorded: %(sessions)s.",
                sessions="; ".join(session_words(s) for s in closing.kept)), "info")
    return redirect(url_for("calendar.closures_page"), code=303)


@bp.post("/closures/<int:closure_id>/lift")
@page_roles(*COORDINATORS)
def lift_closure(closure_id):
    """Open again: exactly the sessions this closure cancelled, still ahead, come back."""
    form = LiftForm()
    if not form.validate_on_submit():
        flash(_("The form had expired; please try again."), "error")
        return redirect(url_for("calendar.closures_page"), code=303)
    found = get_or_404(db.session, Closure, closure_id, "closure")
    closure = closures.get_closure(db.session, found.program_id, closure_id)
    lifting = closures.lift_closure(db.session, page_actor(), closure, now=clock.now(),
                                    public_name=current_app.config["PUBLIC_NAME"])
    db.session.commit()
    outbox.send_after_response(*lifting.message_keys)
    n = len(lifting.restored)
    message = ngettext("Open again %(days)s: %(num)d session back on; booked clients are told.",
                       "Open again %(days)s: %(num)d sessions back on; booked clients are told.",
                       n, days=closures.range_words(closure))
    if lifting.still_closed:
        message += " " + _("%(count)s stay cancelled by another closure.",
                           count=len(lifting.still_closed))
    flash(message, "success")
    return redirect(url_for("calendar.closures_page"), code=303)
