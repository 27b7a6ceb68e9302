"""The clinician's day: today's sessions, and the roster marked with one tap per client."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from scheduler import clock
from scheduler.extensions import db
from scheduler.i18n import gettext as _
from scheduler.i18n import lazy_gettext as _l
from scheduler.i18n import ngettext
from scheduler.models import Staff
from scheduler.models.attendance import REASON_CODES
from scheduler.models.users import COORDINATORS, STAFF
from scheduler.services import attendance, caseload, day_sheet
from scheduler.services.errors import DomainError, InvalidField
from scheduler.web import query_args
from scheduler.web.access import log_page_read, page_actor, page_roles
from scheduler.web.form_fields import PageForm, optional_id, posted_text
from scheduler.web.labels import ATTENDANCE_LABELS, REASON_LABELS, mark_words
from scheduler.web.refusals import describe
from scheduler.web.site_filter import site_choice

bp = Blueprint("clinician", __name__)

# The five marks a roster offers; the clinic-side statuses (cancelled, leave) are set elsewhere.
MARKS = tuple((status, ATTENDANCE_LABELS[status])
              for status in ("present", "late", "left_early", "absent_excused",
                             "absent_unexcused"))
MARK_LABELS = dict(MARKS)
REASONS = tuple((code, REASON_LABELS.get(code) or code.replace("_", " ").capitalize())
                for code in REASON_CODES)
FIELD_LABELS = {"reason_code": _l("Reason"), "arrived_at": _l("Arrival time"),
                "left_at": _l("Leaving time"), "status": _l("Status"), "client_id": _l("Client"),
                "code": _l("Code"), "pin": _l("PIN"), "reason": _l("Reason for the change"),
                "at": _l("Time")}
# Which input of a row a refused field is, so the row can point at it.
FORM_FIELDS = {"reason_code": "reason_code", "arrived_at": "at", "left_at": "at", "at": "at",
               "reason": "reason"}


def _wants_json() -> bool:
    # roster.js asks for JSON; a plain form post gets the redirect.
    return request.headers.get("X-Requested-With") == "fetch"


@bp.get("/today")
@page_roles(*STAFF)
def today():
    """Today's sessions: a clinician's own; coordinators and admins pick any staff member."""
    tz = day_sheet.program_zone(db.session)
    today_local = clock.now().astimezone(tz).date()
    day = query_args.date_arg("day") or today_local
    staff = []
    sites = None
    if current_user.role == "clinician":
        staff_id = current_user.staff_id
        # A clinician account not linked to a staff record facilitates nothing.
        entries = (day_sheet.clinic_day(db.session, day, tz, staff_id=staff_id)
                   if staff_id is not None else [])
    else:
        staff_id = query_args.id_arg("staff", Staff, "staff member")
        # My sites unless the address asks for others, as on the week.
        sites = site_choice()
        staff = day_sheet.active_staff(db.session, sites.site_ids)
        entries = day_sheet.clinic_day(db.session, day, tz, staff_id=staff_id,
                                       site_ids=sites.site_ids)
    return render_template("clinician/today.html", day=day, tz=tz, entries=entries, sites=sites,
                           staff=staff, staff_id=staff_id, is_today=day == today_local,
                           previous=day - timedelta(days=1), following=day + timedelta(days=1))


def _arrival(session, now: datetime, typed: str | None, tz) -> datetime:
    """The time typed (HH:MM, local, on the session's day), else now held within the session."""
    if typed:
        try:
            clock_time = datetime.strptime(typed, "%H:%M").time()
        except ValueError:
            raise InvalidField("at", _("must be a time like 18:25."),
                               location="form") from None
        local_day = session.starts_at.astimezone(tz).date()
        return datetime.combine(local_day, clock_time, tzinfo=tz).astimezone(
            session.starts_at.tzinfo)
    return min(max(now, session.starts_at), session.ends_at)


def _roster_page(session, status: int = 200, row_error: dict | None = None):
    tz = ZoneInfo(session.timezone)
    opens, closes = attendance.checkin_window(session)
    lines = day_sheet.roster_sheet(db.session, session.id)
    # A clinician who does not facilitate the session sees who is booked and may mark them
    # (covering, as the API allows), but reads the marks and notes of their caseload only.
    readable = caseload.roster_marks_readable(db.session, current_user, session.id,
                                              clock.now(),
                                              caseload.Policy.from_config(current_app.config))
    hidden = set()
    if readable is not None:
        hidden = {line.client.id for line in lines if line.client.id not in readable}
        lines = [line if line.client.id not in hidden else day_sheet.RosterLine(line.client, None)
                 for line in lines]
    if request.method == "GET":
        log_page_read([line.client.id for line in lines], "roster")
    locked = attendance.is_locked(session, clock.now(),
                                  attendance.Policy.from_config(current_app.config))
    return render_template(
        "clinician/roster.html", session=session, lines=lines, marks=MARKS, reasons=REASONS,
        locked=locked, may_unlock=current_user.role in COORDINATORS, hidden=hidden,
        mark_words=mark_words, row_error=row_error or {},
        code=attendance.checkin_code(current_app.config["SECRET_KEY"], session),
        opens=opens.astimezone(tz), closes=closes.astimezone(tz), tz=tz,
        starts=session.starts_at.astimezone(tz), ends=session.ends_at.astimezone(tz),
    ), status


@bp.route("/sessions/<int:session_id>/roster", methods=["GET", "POST"])
@page_roles(*STAFF)
def roster(session_id: int):
    """The booked clients with a tap per status; any staff member may mark, as in the API.
    A clinician reads the marks of a session they do not facilitate for their caseload only."""
    session = day_sheet.session_with_room(db.session, session_id)
    if session is None:
        abort(404)
    if request.method == "GET":
        return _roster_page(session)

    now = clock.now()
    try:
        record = _record_from_form(session, now)
        (row,) = attendance.record_roster(
            db.session, page_actor(), current_user.role, session.id, [record],
            now=now, policy=attendance.Policy.from_config(current_app.config),
            reason=posted_text("reason") or None,
        )
    except DomainError as error:
        # Nothing of a refused mark is kept; the refusal goes on the tapped row.
        db.session.rollback()
        return _refused(session_id, error)
    db.session.commit()
    label = str(MARK_LABELS[record["status"]]).lower()
    if _wants_json():
        return jsonify(client_id=record["client_id"], status=record["status"],
                       message=_("Marked %(mark)s.", mark=label),
                       current=_("Now: %(mark)s", mark=mark_words(row)))
    flash(_("Marked %(mark)s.", mark=label), "success")
    return redirect(url_for(".roster", session_id=session.id), code=303)


def _refused(session_id: int, error: DomainError):
    """A refused tap: the reason and the input at fault, for the row the tap came from."""
    field = None
    if isinstance(error, InvalidField):
        field = FORM_FIELDS.get(next(iter(error.fields)).rsplit(".", 1)[-1])
    message = describe(error, FIELD_LABELS, what=_("Not saved"))
    if _wants_json():
        return jsonify(error=message, field=field), error.status
    row_error = {"client_id": request.form.get("client_id", type=optional_id),
                 "message": message, "field": field,
                 # What was typed stays, to be corrected rather than typed again.
                 "reason_code": request.form.get("reason_code", ""),
                 "at": request.form.get("at", ""), "reason": request.form.get("reason", "")}
    flash(message, "error")
    session = day_sheet.session_with_room(db.session, session_id)
    return _roster_page(session, error.status, row_error)


@bp.post("/sessions/<int:session_id>/roster/all-present")
@page_roles(*STAFF)
def all_present(session_id: int):
    """One tap for everyone not yet marked; marked clients keep their marks."""
    session = day_sheet.session_with_room(db.session, session_id)
    if session is None:
        abort(404)
    if not PageForm().validate_on_submit():
        abort(400)
    booked = len(day_sheet.roster_sheet(db.session, session.id))
    try:
        written = attendance.mark_all_present(
            db.session, page_actor(), current_user.role, session.id, now=clock.now(),
            policy=attendance.Policy.from_config(current_app.config),
            reason=posted_text("reason") or None,
        )
    except DomainError as error:
        db.session.rollback()
        flash(describe(error, FIELD_LABELS, what=_("Not saved")), "error")
        return _roster_page(day_sheet.session_with_room(db.session, session_id), error.status)
    db.session.commit()
    if not written:
        flash(_("Everyone already has a mark; nothing changed."), "success")
    else:
        kept = booked - len(written)
        text = ngettext("Marked %(num)d client present", "Marked %(num)d clients present",
                        len(written))
        if kept:
            text += "; " + _("%(count)s already marked kept their mark", count=kept)
        flash(text + ".", "success")
    return redirect(url_for(".roster", session_id=session.id), code=303)


def _record_from_form(session, now: datetime) -> dict:
    """The one record a tap sends, with the times the service asks for late and left early."""
    # An id past the keys' range names nobody; handed to the database it would fail.
    client_id = request.form.get("client_id", type=optional_id)
    if client_id is None:
        raise InvalidField("client_id", _("is missing."), location="form")
    status = request.form.get("status", "")
    if status not in MARK_LABELS:
        raise InvalidField("status", _("choose one of the buttons."), location="form")
    # A reason typed before switching to "present" would stick to a record that needs none.
    reason = (request.form.get("reason_code") or None) if status != "present" else None
    if reason is None and status in attendance.NEEDS_REASON:
        # The service's refusal lists the codes (illness, …, no_call) for the API; a person
        # sees the choices in the list beside the buttons.
        raise InvalidField("reason_code",
                           _("choose one for %(mark)s.", mark=str(MARK_LABELS[status]).lower()),
                           location="form")
    record = {"client_id": client_id, "status": status, "reason_code": reason}
    # Typed times are the room's wall clock, which is the session's own zone.
    tz = ZoneInfo(session.timezone)
    if status == "late":
        record["arrived_at"] = _arrival(session, now, request.form.get("at"), tz)
    elif status == "left_early":
        left = _arrival(session, now, request.form.get("at"), tz)
        # Leaving in the session's first minute still needs a moment after the start.
        record["left_at"] = max(left, session.starts_at + timedelta(minutes=1))
    return record
