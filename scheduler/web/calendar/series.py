"""Recurring series: a new one with its live conflict preview, its page, edits and its end."""


from flask import current_app, flash, jsonify, redirect, render_template, request, url_for

from scheduler import clock
from scheduler.extensions import db
from scheduler.i18n import gettext as _
from scheduler.i18n import lazy_gettext as _l
from scheduler.i18n import local
from scheduler.models import SessionSeries
from scheduler.models.users import COORDINATORS
from scheduler.services import booking, day_sheet, one_to_one, rosters, series_preview
from scheduler.services import series as series_service
from scheduler.services import sessions as sessions_service
from scheduler.services.errors import DomainError
from scheduler.services.lookup import get_or_404
from scheduler.services.recurrence import zone
from scheduler.web.access import page_actor, page_roles
from scheduler.web.calendar.blueprint import bp
from scheduler.web.calendar.forms import (
    EndSeriesForm,
    EnrollForm,
    SeriesEditForm,
    SeriesForm,
    weekday_codes,
    weekday_names,
)
from scheduler.web.calendar.pickers import (
    offer_clients,
    offer_rooms,
    offer_staff_many,
    program_choices,
    site_rooms,
    with_none,
)
from scheduler.web.form_fields import put_on_form
from scheduler.web.labels import KIND_LABELS
from scheduler.web.refusals import describe


def _series_choices(form: SeriesForm) -> SeriesForm:
    form.program_id.choices = with_none(_("Choose a program"), program_choices())
    offer_rooms(form.room_id, _("No room (virtual)"))
    offer_staff_many(form.facilitator_ids)
    return form


# The service names the recurrence "rrule" and the zone "timezone"; the form shows neither.
SERIES_RENAMES = {"rrule": "weekdays", "timezone": "program_id"}
FIX_FIELDS = _l("Not saved: please fix the fields marked below.")


def _default_seats(form: SeriesForm) -> int:
    """The seats a blank Seats field will give, for the kind and room now on the form."""
    try:
        return series_service.seats_for(db.session, form.kind.data, form.room_id.data)
    except DomainError:  # a room that is not there: the form says so next to the room
        return series_service.default_capacity(form.kind.data)


def _form_page(form: SeriesForm) -> str:
    return render_template("calendar/series_form.html", form=form,
                           default_seats=_default_seats(form))


@bp.route("/series/new", methods=["GET", "POST"])
@page_roles(*COORDINATORS)
def new_series():
    """A new recurring series, with a live conflict preview before it is saved."""
    form = _series_choices(SeriesForm())
    if request.method == "GET":
        return _form_page(form)
    if not form.validate_on_submit():
        flash(str(FIX_FIELDS), "error")  # one alert up top, so a screen reader hears of the errors
        return _form_page(form), 422
    try:
        created, change = series_service.create_series(
            db.session, page_actor(), now=clock.now(),
            horizon_days=current_app.config["SESSION_HORIZON_DAYS"],
            override=form.override_or_none(), **form.series_fields())
    except DomainError as error:
        db.session.rollback()
        placed = put_on_form(form, error, SERIES_RENAMES)
        flash(str(FIX_FIELDS) if placed else describe(error, what=_("Not saved")), "error")
        return _form_page(form), error.status
    notes = series_service.warnings(created)
    db.session.commit()
    flash(_("Series “%(title)s” saved with %(count)s sessions.", title=created.title,
            count=change.created), "success")
    for note in notes:
        flash(note, "info")
    return redirect(url_for("calendar.series", series_id=created.id))


@bp.post("/series/preview")
@page_roles(*COORDINATORS)
def preview_series():
    """JSON for the new-series form: how many sessions, and their conflicts; writes nothing."""
    form = _series_choices(SeriesForm())
    # The seats saving would give, so the form can show what a blank Seats field means.
    seats = form.capacity.data if isinstance(form.capacity.data, int) else _default_seats(form)
    if not form.validate_on_submit():
        errors = {k: [str(m) for m in v] for k, v in form.errors.items() if k != "csrf_token"}
        return jsonify(conflicts=[], occurrences=0, errors=errors, capacity=seats), 422
    try:
        preview = series_preview.preview_series(
            db.session, page_actor(), now=clock.now(),
            horizon_days=current_app.config["SESSION_HORIZON_DAYS"], **form.series_fields())
    except DomainError as error:
        db.session.rollback()
        fields = getattr(error, "fields", None) or {"form": [error.message]}
        errors = {SERIES_RENAMES.get(k, k): v for k, v in fields.items()}
        return jsonify(conflicts=[], occurrences=0, errors=errors, capacity=seats), error.status
    tz = day_sheet.program_zone(db.session, form.program_id.data)
    conflicts = [
        {"session_start": c.slot.starts_at.astimezone(tz).isoformat(),
         "what": c.kind, "with": c.detail}
        for c in preview.clashes
    ]
    return jsonify(conflicts=conflicts, occurrences=preview.occurrences,
                   warnings=preview.warnings, capacity=seats)


def series_page(series_id: int, status: int = 200, enroll_form=None, end_form=None):
    series = get_or_404(db.session, SessionSeries, series_id, "series")
    if enroll_form is None:
        enroll_form = EnrollForm(formdata=None)
    if end_form is None:
        end_form = EndSeriesForm(formdata=None)
    offer_clients(enroll_form.client_id, series.program_id)
    upcoming, _more = sessions_service.list_sessions(
        db.session, sessions_service.SessionFilter(series_id=series.id, starts_from=clock.now()),
        limit=12)
    tally = booking.counts(db.session, [s.id for s in upcoming])
    today = day_sheet.program_today(db.session, clock.now(), series.program_id)
    owner = one_to_one.owners_of_series(db.session, [series], today).get(series.id)
    return render_template(
        "calendar/series.html", series=series, enroll_form=enroll_form, end_form=end_form,
        kind_label=KIND_LABELS.get(series.kind, series.kind),
        weekdays=weekday_names(series.rrule),
        upcoming=[(s, s.starts_at.astimezone(zone(s.timezone)), *tally[s.id]) for s in upcoming],
        enrollments=rosters.series_enrollments(db.session, series.id),
        owner=owner, one_to_one=one_to_one.is_one_to_one(series),
    ), status


@bp.get("/series/<int:series_id>")
@page_roles(*COORDINATORS)
def series(series_id):
    """One series: its rule, next sessions, enrolled clients and the enrolment form."""
    return series_page(series_id)


def _change_summary(change: series_service.SeriesChange) -> str:
    parts = [words for n, words in (
        (change.updated, _("%(count)s moved or updated", count=change.updated)),
        (change.cancelled, _("%(count)s cancelled", count=change.cancelled)),
        (change.created, _("%(count)s added", count=change.created))) if n]
    return (_("Sessions: %(changes)s.", changes=", ".join(parts)) if parts
            else _("No session needed changing."))


def _edit_form(series: SessionSeries, formdata=None) -> SeriesEditForm:
    form = SeriesEditForm(formdata=formdata, obj=series if formdata is None else None)
    if formdata is None:
        form.weekdays.data = weekday_codes(series.rrule)
        form.facilitator_ids.data = [s.id for s in series.facilitators]
    offer_rooms(form.room_id, _("No room (virtual)"), rows=site_rooms(series.program_id))
    offer_staff_many(form.facilitator_ids)
    return form


@bp.route("/series/<int:series_id>/edit", methods=["GET", "POST"])
@page_roles(*COORDINATORS)
def edit_series(series_id):
    """Change a series; only future sessions without attendance follow the change."""
    target = get_or_404(db.session, SessionSeries, series_id, "series")
    page = "calendar/series_edit.html"
    if request.method == "GET":
        return render_template(page, series=target, form=_edit_form(target))
    form = _edit_form(target, request.form)
    if not form.validate_on_submit():
        flash(str(FIX_FIELDS), "error")
        return render_template(page, series=target, form=form), 422
    changes = form.changes_to(target)
    if not changes:
        flash(_("Nothing changed."), "info")
        return redirect(url_for("calendar.series", series_id=series_id))
    try:
        _updated, change = series_service.update_series(
            db.session, page_actor(), target, changes, now=clock.now(),
            horizon_days=current_app.config["SESSION_HORIZON_DAYS"],
            reason=form.reason.data or None, override=form.override_or_none())
    except DomainError as error:
        db.session.rollback()
        placed = put_on_form(form, error, SERIES_RENAMES)
        flash(str(FIX_FIELDS) if placed else describe(error, what=_("Not saved")), "error")
        return render_template(page, series=db.session.get(SessionSeries, series_id),
                               form=form), error.status
    notes = series_service.warnings(target)
    db.session.commit()
    flash(_("Series saved.") + " " + _change_summary(change), "success")
    for note in notes:
        flash(note, "info")
    return redirect(url_for("calendar.series", series_id=series_id))


@bp.post("/series/<int:series_id>/end")
@page_roles(*COORDINATORS)
def end_series(series_id):
    """End a series early: later sessions are cancelled and their clients told."""
    target = get_or_404(db.session, SessionSeries, series_id, "series")
    form = EndSeriesForm()
    if not form.validate_on_submit():
        return series_page(series_id, 422, end_form=form)
    try:
        _ended, change = series_service.end_series(db.session, page_actor(), target,
                                              form.end_date.data, now=clock.now(),
                                              reason=form.reason.data.strip())
    except DomainError as error:
        db.session.rollback()
        if not put_on_form(form, error):
            flash(describe(error, what=_("Not ended")), "error")
        return series_page(series_id, error.status, end_form=form)
    db.session.commit()
    flash(_("Series ends on %(day)s.", day=local(form.end_date.data, "short_date")) + " "
          + _change_summary(change), "success")
    return redirect(url_for("calendar.series", series_id=series_id))
