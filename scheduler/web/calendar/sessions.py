"""One session: its page, roster and waitlist, and the coordinator's overrides of it."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import abort, flash, redirect, render_template, request, url_for

from scheduler import clock
from scheduler.extensions import db
from scheduler.i18n import gettext as _
from scheduler.models import Session
from scheduler.models.users import COORDINATORS
from scheduler.services import day_sheet, one_to_one, rosters
from scheduler.services import sessions as sessions_service
from scheduler.services.errors import DomainError
from scheduler.services.lookup import get_or_404
from scheduler.services.overrides import reason_of
from scheduler.services.recurrence import zone
from scheduler.web.access import log_page_read, page_actor, page_roles
from scheduler.web.calendar.blueprint import bp
from scheduler.web.calendar.forms import (
    CancelForm,
    EnrollForm,
    MoveForm,
    OverrideFields,
    RoomForm,
    SubstituteForm,
)
from scheduler.web.calendar.pickers import (
    offer_clients,
    offer_rooms,
    offer_staff,
    site_rooms,
)
from scheduler.web.form_fields import PageForm, put_on_form
from scheduler.web.labels import KIND_LABELS, mark_words
from scheduler.web.refusals import describe


def _session_forms(session: Session, given: dict) -> dict:
    forms = {
        "cancel_form": given.get("cancel_form") or CancelForm(formdata=None),
        "move_form": given.get("move_form") or MoveForm(formdata=None),
        "room_form": given.get("room_form") or RoomForm(formdata=None),
        "substitute_form": given.get("substitute_form") or SubstituteForm(formdata=None),
        "enroll_form": given.get("enroll_form") or EnrollForm(formdata=None),
    }
    offer_rooms(forms["room_form"].room_id, rows=site_rooms(session.program_id))
    offer_staff(forms["substitute_form"].staff_id)
    offer_clients(forms["enroll_form"].client_id, session.program_id)
    return forms


def _series_owner(session: Session):
    """Whose one-to-one series this session belongs to: such a series takes nobody else, so
    the page offers no enrolment into it (the service would refuse it anyway)."""
    if session.series is None:
        return None
    today = day_sheet.program_today(db.session, clock.now(), session.program_id)
    return one_to_one.owners_of_series(db.session, [session.series], today).get(session.series_id)


def session_page(session_id: int, status: int = 200, **given):
    session = get_or_404(db.session, Session, session_id, "session")
    booked, waiting = rosters.session_roster(db.session, session.id)
    if request.method == "GET":
        log_page_read([client.id for client in booked + waiting], "session_roster")
    marks = {line.client.id: line.attendance
             for line in day_sheet.roster_sheet(db.session, session.id)}
    # A past session is history and a cancelled one can only come back: neither offers changes.
    is_past = session.ends_at <= clock.now()
    return render_template(
        "calendar/session.html", session=session, booked=booked, waiting=waiting,
        marks=marks, mark_words=mark_words, is_past=is_past,
        starts=session.starts_at.astimezone(zone(session.timezone)),
        ends=session.ends_at.astimezone(zone(session.timezone)),
        kind_label=KIND_LABELS.get(session.kind, session.kind),
        client_name=one_to_one.clients_of_sessions(db.session, [session]).get(session.id),
        series_owner=_series_owner(session),
        **_session_forms(session, given),
    ), status


@bp.get("/sessions/<int:session_id>")
@page_roles(*COORDINATORS)
def session(session_id):
    """One session: details, roster, waitlist, and the coordinator's overrides."""
    return session_page(session_id)


def _change(session_id: int, form_key: str, form, changes: dict, done: str,
            reason: str | None = None):
    """Apply one override through the service; a refusal re-renders with nothing written."""
    target = get_or_404(db.session, Session, session_id, "session")
    forced = form.override_or_none() if isinstance(form, OverrideFields) else None
    try:
        sessions_service.change_session(db.session, page_actor(), target, changes,
                                        reason=reason or reason_of(forced), override=forced)
    except DomainError as error:
        db.session.rollback()
        flash(describe(error, what=_("Not changed")), "error")
        put_on_form(form, error)
        return session_page(session_id, error.status, **{form_key: form})
    db.session.commit()
    flash(done, "success")
    return redirect(url_for("calendar.session", session_id=session_id))


@bp.post("/sessions/<int:session_id>/cancel")
@page_roles(*COORDINATORS)
def cancel_session(session_id):
    """Cancel one occurrence, with a reason."""
    form = CancelForm()
    if not form.validate_on_submit():
        return session_page(session_id, 422, cancel_form=form)
    return _change(session_id, "cancel_form", form, {"status": "cancelled"},
                   _("Session cancelled."), reason=form.reason.data.strip())


@bp.post("/sessions/<int:session_id>/restore")
@page_roles(*COORDINATORS)
def restore_session(session_id):
    """Bring back a cancelled occurrence."""
    form = PageForm()
    if not form.validate_on_submit():
        abort(400)
    return _change(session_id, "cancel_form", CancelForm(formdata=None),
                   {"status": "scheduled"}, _("Session restored."))


@bp.post("/sessions/<int:session_id>/move")
@page_roles(*COORDINATORS)
def move_session(session_id):
    """Move one occurrence to a new local date and time; its length stays."""
    form = MoveForm()
    if not form.validate_on_submit():
        return session_page(session_id, 422, move_form=form)
    target = get_or_404(db.session, Session, session_id, "session")
    new_start = datetime.combine(form.new_date.data, form.new_time.data,
                                 tzinfo=ZoneInfo(target.timezone))
    return _change(session_id, "move_form", form,
                   {"starts_at": new_start.astimezone(UTC)}, _("Session moved."))


@bp.post("/sessions/<int:session_id>/room")
@page_roles(*COORDINATORS)
def change_room(session_id):
    """Put one occurrence in another room."""
    form = RoomForm()
    target = get_or_404(db.session, Session, session_id, "session")
    offer_rooms(form.room_id, rows=site_rooms(target.program_id))
    if not form.validate_on_submit():
        return session_page(session_id, 422, room_form=form)
    return _change(session_id, "room_form", form, {"room_id": form.room_id.data},
                   _("Room changed."))


@bp.post("/sessions/<int:session_id>/facilitator")
@page_roles(*COORDINATORS)
def substitute(session_id):
    """Give one occurrence a substitute facilitator."""
    form = SubstituteForm()
    offer_staff(form.staff_id)
    if not form.validate_on_submit():
        return session_page(session_id, 422, substitute_form=form)
    return _change(session_id, "substitute_form", form,
                   {"facilitator_ids": [form.staff_id.data]}, _("Facilitator changed."))
