"""Coordinator pages: the week calendar, one session and its overrides, series and enrolment."""

from datetime import UTC, datetime, timedelta
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
from sqlalchemy import select
from wtforms import (
    BooleanField,
    DateField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    TimeField,
    URLField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)

from scheduler.extensions import db
from scheduler.models import Program, Room, Session, SessionSeries, Staff
from scheduler.models.series import MAX_DURATION_MINUTES, SESSION_KINDS
from scheduler.services import booking, clock, day_sheet, rosters, series_preview, week_view
from scheduler.services import series as series_service
from scheduler.services import sessions as sessions_service
from scheduler.services.conflicts import ConflictDetected
from scheduler.services.errors import DomainError
from scheduler.services.lookup import MAX_ID
from scheduler.web import query_args
from scheduler.web.access import COORDINATORS, log_page_read, page_actor, page_roles
from scheduler.web.form_fields import (
    PageForm,
    PlainForm,
    WholeNumber,
    in_range,
    optional_id,
    put_on_form,
)

bp = Blueprint("calendar", __name__)

WEEKDAY_NAMES = [("MO", "Monday"), ("TU", "Tuesday"), ("WE", "Wednesday"), ("TH", "Thursday"),
            ("FR", "Friday"), ("SA", "Saturday"), ("SU", "Sunday")]
KIND_LABELS = {
    "group": "Group therapy", "individual": "Individual therapy",
    "behavioral": "Behavioural skills (CBT/DBT)", "family": "Family", "education": "Education",
    "medical": "Medication management", "peer_support": "Peer support",
    "assessment": "Assessment", "case_management": "Case management",
}
WEEKDAYS = [SelectChoice(code, name) for code, name in WEEKDAY_NAMES]
# Dates a form may carry: far-off years overflow datetime arithmetic, and a series starting in
# year 1 would materialise every week since (the API keeps the same bounds).
# A page lists this many clashes; an enrolment over months can hit dozens.
SHOWN_CLASHES = 5


class WeekFilterForm(PlainForm):
    """The week's GET filters; a plain Form: reading needs no CSRF token."""

    week = DateField("Week of", validators=[Optional(), in_range])
    program = SelectField("Program", coerce=optional_id, validators=[Optional()])
    room = SelectField("Room", coerce=optional_id, validators=[Optional()])
    staff = SelectField("Staff member", coerce=optional_id, validators=[Optional()])


class OverrideFields:
    """An explicit, audited way past double-booking checks: a tick box and a reason."""

    override = BooleanField("Book anyway despite conflicts")
    # No Optional(): it would stop the chain before the inline check that wants a reason.
    override_reason = StringField("Reason for booking anyway", validators=[Length(max=500)])

    def validate_override_reason(self, field):
        if self.override.data and not (field.data or "").strip():
            raise ValidationError("A reason is required to book despite conflicts.")

    def override_or_none(self) -> str | None:
        """The reason to hand the service, only when the box is ticked."""
        return self.override_reason.data.strip() if self.override.data else None


class SeriesForm(OverrideFields, PageForm):
    program_id = SelectField("Program", coerce=optional_id,
                             validators=[DataRequired("Choose a program.")])
    title = StringField("Title", validators=[DataRequired("Give the series a title."),
                                             Length(max=200)])
    kind = SelectField("Kind", choices=[SelectChoice(k, KIND_LABELS[k]) for k in SESSION_KINDS],
                       default="group")
    description = TextAreaField("Description (optional)", validators=[Optional(),
                                                                      Length(max=5000)])
    room_id = SelectField("Room", coerce=optional_id, validators=[Optional()])
    video_url = URLField("Video link (virtual sessions)", validators=[
        Optional(), Length(max=500),
        Regexp(r"^https://\S+$", message="Must be an https:// link.")])
    facilitator_ids = SelectMultipleField("Facilitators", coerce=int)
    weekdays = SelectMultipleField("Weekdays", choices=WEEKDAYS,
                                   validators=[DataRequired("Choose at least one weekday.")])
    start_time = TimeField("Start time (local)", validators=[InputRequired("Give a start time.")])
    duration_minutes = WholeNumber("Length in minutes", validators=[
        InputRequired("Give the length in minutes."),
        NumberRange(1, MAX_DURATION_MINUTES, f"Must be from 1 to {MAX_DURATION_MINUTES} (12 h).")])
    start_date = DateField("First day", validators=[InputRequired("Give the first day."),
                                                    in_range])
    end_date = DateField("Last day (optional)", validators=[Optional(), in_range])
    count = WholeNumber("Or number of sessions (optional)",
                        validators=[Optional(), NumberRange(1, 2000, "Must be from 1 to 2000.")])
    capacity = WholeNumber("Seats (optional: 12 for groups, 1 for one-to-one)",
                           validators=[Optional(), NumberRange(1, 500, "Must be from 1 to 500.")])

    def validate_end_date(self, field):
        if field.data and self.start_date.data and field.data < self.start_date.data:
            raise ValidationError("Must not be before the first day.")

    def validate_count(self, field):
        if field.data is not None and self.end_date.data is not None:
            raise ValidationError("Give a last day or a number of sessions, not both.")

    def series_fields(self) -> dict:
        """The form as create_series' keyword arguments."""
        rrule = "FREQ=WEEKLY;BYDAY=" + ",".join(self.weekdays.data)
        if self.count.data is not None:
            rrule += f";COUNT={self.count.data}"
        return dict(
            program_id=self.program_id.data, kind=self.kind.data, title=self.title.data.strip(),
            description=self.description.data or None, start_date=self.start_date.data,
            start_time=self.start_time.data, duration_minutes=self.duration_minutes.data,
            rrule=rrule, end_date=self.end_date.data, capacity=self.capacity.data,
            room_id=self.room_id.data, video_url=self.video_url.data or None,
            facilitator_ids=list(self.facilitator_ids.data or []),
        )


class SeriesEditForm(OverrideFields, PageForm):
    """What a coordinator may change on a running series; program and first day stay."""

    title = StringField("Title", validators=[DataRequired("Give the series a title."),
                                             Length(max=200)])
    description = TextAreaField("Description (optional)", validators=[Optional(),
                                                                      Length(max=5000)])
    room_id = SelectField("Room", coerce=optional_id, validators=[Optional()])
    video_url = SeriesForm.video_url
    facilitator_ids = SelectMultipleField("Facilitators", coerce=int)
    weekdays = SeriesForm.weekdays
    start_time = SeriesForm.start_time
    duration_minutes = SeriesForm.duration_minutes
    end_date = SeriesForm.end_date
    capacity = WholeNumber("Seats", validators=[
        InputRequired("Give the number of seats."), NumberRange(1, 500, "Must be from 1 to 500.")])
    reason = StringField("Why (kept in the audit trail, optional)",
                         validators=[Optional(), Length(max=500)])

    def changes_to(self, series: SessionSeries) -> dict:
        """Only what differs, so an untouched field never reshuffles the occurrences."""
        wanted = dict(
            title=self.title.data.strip(), description=self.description.data or None,
            room_id=self.room_id.data, video_url=self.video_url.data or None,
            start_time=self.start_time.data, duration_minutes=self.duration_minutes.data,
            end_date=self.end_date.data, capacity=self.capacity.data,
            rrule=_with_weekdays(series.rrule, self.weekdays.data))
        changes = {k: v for k, v in wanted.items() if getattr(series, k) != v}
        facilitators = sorted(self.facilitator_ids.data or [])
        if facilitators != sorted(s.id for s in series.facilitators):
            changes["facilitator_ids"] = facilitators
        return changes


class EndSeriesForm(PageForm):
    end_date = DateField("Last day it meets", validators=[
        InputRequired("Give the last day."), in_range])
    reason = StringField("Reason (clients hear that their sessions are cancelled)", validators=[
        DataRequired("A reason is required to end a series."), Length(max=500)])


class CancelForm(PageForm):
    reason = StringField("Reason for cancelling", validators=[
        DataRequired("A reason is required to cancel a session."), Length(max=500)])


class MoveForm(OverrideFields, PageForm):
    new_date = DateField("New date", validators=[InputRequired("Give the new date."), in_range])
    new_time = TimeField("New start time (local)",
                         validators=[InputRequired("Give the new start time.")])


class RoomForm(OverrideFields, PageForm):
    room_id = SelectField("New room", coerce=optional_id,
                          validators=[DataRequired("Choose a room.")])


class SubstituteForm(OverrideFields, PageForm):
    staff_id = SelectField("Substitute facilitator", coerce=optional_id,
                           validators=[DataRequired("Choose a staff member.")])


class EnrollForm(OverrideFields, PageForm):
    client_id = SelectField("Client", coerce=optional_id,
                            validators=[DataRequired("Choose a client.")])


# ---------------------------------------------------------------- choices and lookups

def _programs():
    return [SelectChoice(p.id, p.name) for p in db.session.scalars(
        select(Program).where(Program.is_active.is_(True)).order_by(Program.name))]


def _rooms(rows=None):
    rows = rows if rows is not None else db.session.scalars(
        select(Room).where(Room.is_active.is_(True)).order_by(Room.name))
    return [SelectChoice(r.id, f"{r.name} ({r.capacity} seats)") for r in rows]


def _staff(rows=None):
    rows = rows if rows is not None else db.session.scalars(
        select(Staff).where(Staff.is_active.is_(True)).order_by(Staff.name))
    return [SelectChoice(s.id, s.name) for s in rows]


def _clients(program_id: int):
    return _with_none("Choose a client", [
        SelectChoice(c.id, c.name) for c in rosters.enrollable_clients(db.session, program_id)])


def _with_none(label: str, choices):
    return [SelectChoice("", label)] + list(choices)


def _row_or_404(model, row_id: int):
    row = db.session.get(model, row_id) if 0 < row_id <= MAX_ID else None
    if row is None:
        abort(404)
    return row


def _local(moment: datetime, tz_name: str) -> datetime:
    return moment.astimezone(ZoneInfo(tz_name))


def _clash_lines(error: ConflictDetected) -> list[str]:
    details = list(dict.fromkeys(c.detail for c in error.clashes))
    lines = details[:SHOWN_CLASHES]
    if len(details) > SHOWN_CLASHES:
        lines.append(f"… and {len(details) - SHOWN_CLASHES} more.")
    return lines


def _refusal(error: DomainError, what: str) -> str:
    """The flash for a refused write: conflicts name the clashing sessions."""
    if isinstance(error, ConflictDetected):
        return f"{what}: " + " ".join(_clash_lines(error))
    return f"{what}: {error.message}"


# ---------------------------------------------------------------- the week

@bp.get("/week")
@page_roles(*COORDINATORS)
def week():
    """The week calendar, filtered by program, room or staff member."""
    # A filter naming nothing is a 404; one the picker does not offer, the week with a message.
    program_id = query_args.id_arg("program", Program, "program")
    query_args.id_arg("room", Room, "room")
    query_args.id_arg("staff", Staff, "staff member")
    form = WeekFilterForm(request.args)
    form.program.choices = _with_none("All programs", _programs())
    if program_id:
        # A provider of many clinics has thousands of rooms and staff; offer the program's.
        rooms, staff = week_view.rooms_and_staff_of(db.session, program_id)
    else:
        rooms = staff = None
    form.room.choices = _with_none("All rooms", _rooms(rooms))
    form.staff.choices = _with_none("All staff", _staff(staff))
    valid = form.validate()
    # A bad filter shows this week unfiltered, with the field's message, as a 400.
    chosen = dict(program=form.program.data, room=form.room.data,
                  staff=form.staff.data) if valid else {}
    tz = day_sheet.program_zone(db.session, chosen.get("program"))
    today = clock.now().astimezone(tz).date()
    monday = week_view.monday_of((form.week.data if valid else None) or today)
    days = week_view.week(db.session, monday, tz, program_id=chosen.get("program"),
                          room_id=chosen.get("room"), staff_id=chosen.get("staff"))
    if valid and form.week.data is None:
        form.week.data = monday  # the picker shows which week this is
    return render_template(
        "calendar/week.html", form=form, days=days, monday=monday, today=today, tz=tz,
        previous_url=url_for("calendar.week", week=monday - timedelta(days=7), **chosen),
        next_url=url_for("calendar.week", week=monday + timedelta(days=7), **chosen),
        this_week_url=url_for("calendar.week", **chosen),
    ), 200 if valid else 400


# ---------------------------------------------------------------- one session

def _session_forms(session: Session, given: dict) -> dict:
    forms = {
        "cancel_form": given.get("cancel_form") or CancelForm(formdata=None),
        "move_form": given.get("move_form") or MoveForm(formdata=None),
        "room_form": given.get("room_form") or RoomForm(formdata=None),
        "substitute_form": given.get("substitute_form") or SubstituteForm(formdata=None),
        "enroll_form": given.get("enroll_form") or EnrollForm(formdata=None),
    }
    forms["room_form"].room_id.choices = _with_none("Choose a room", _rooms())
    forms["substitute_form"].staff_id.choices = _with_none("Choose a staff member", _staff())
    forms["enroll_form"].client_id.choices = _clients(session.program_id)
    return forms


def _session_page(session_id: int, status: int = 200, **given):
    session = _row_or_404(Session, session_id)
    booked, waiting = rosters.session_roster(db.session, session.id)
    if request.method == "GET":
        log_page_read([client.id for client in booked + waiting], "session_roster")
    return render_template(
        "calendar/session.html", session=session, booked=booked, waiting=waiting,
        starts=_local(session.starts_at, session.timezone),
        ends=_local(session.ends_at, session.timezone),
        kind_label=KIND_LABELS.get(session.kind, session.kind),
        **_session_forms(session, given),
    ), status


@bp.get("/sessions/<int:session_id>")
@page_roles(*COORDINATORS)
def session(session_id):
    """One session: details, roster, waitlist, and the coordinator's overrides."""
    return _session_page(session_id)


def _change(session_id: int, form_key: str, form, changes: dict, done: str,
            reason: str | None = None):
    """Apply one override through the service; a refusal re-renders with nothing written."""
    target = _row_or_404(Session, session_id)
    forced = form.override_or_none() if isinstance(form, OverrideFields) else None
    try:
        sessions_service.change_session(db.session, page_actor(), target, changes,
                                        reason=reason or forced, override_reason=forced)
    except DomainError as error:
        db.session.rollback()
        flash(_refusal(error, "Not changed"), "error")
        put_on_form(form, error)
        return _session_page(session_id, error.status, **{form_key: form})
    db.session.commit()
    flash(done, "success")
    return redirect(url_for("calendar.session", session_id=session_id))


@bp.post("/sessions/<int:session_id>/cancel")
@page_roles(*COORDINATORS)
def cancel_session(session_id):
    """Cancel one occurrence, with a reason."""
    form = CancelForm()
    if not form.validate_on_submit():
        return _session_page(session_id, 422, cancel_form=form)
    return _change(session_id, "cancel_form", form, {"status": "cancelled"},
                   "Session cancelled.", reason=form.reason.data.strip())


@bp.post("/sessions/<int:session_id>/restore")
@page_roles(*COORDINATORS)
def restore_session(session_id):
    """Bring back a cancelled occurrence."""
    form = PageForm()
    if not form.validate_on_submit():
        abort(400)
    return _change(session_id, "cancel_form", CancelForm(formdata=None),
                   {"status": "scheduled"}, "Session restored.")


@bp.post("/sessions/<int:session_id>/move")
@page_roles(*COORDINATORS)
def move_session(session_id):
    """Move one occurrence to a new local date and time; its length stays."""
    form = MoveForm()
    if not form.validate_on_submit():
        return _session_page(session_id, 422, move_form=form)
    target = _row_or_404(Session, session_id)
    local = datetime.combine(form.new_date.data, form.new_time.data,
                             tzinfo=ZoneInfo(target.timezone))
    return _change(session_id, "move_form", form,
                   {"starts_at": local.astimezone(UTC)}, "Session moved.")


@bp.post("/sessions/<int:session_id>/room")
@page_roles(*COORDINATORS)
def change_room(session_id):
    """Put one occurrence in another room."""
    form = RoomForm()
    form.room_id.choices = _with_none("Choose a room", _rooms())
    if not form.validate_on_submit():
        return _session_page(session_id, 422, room_form=form)
    return _change(session_id, "room_form", form, {"room_id": form.room_id.data},
                   "Room changed.")


@bp.post("/sessions/<int:session_id>/facilitator")
@page_roles(*COORDINATORS)
def substitute(session_id):
    """Give one occurrence a substitute facilitator."""
    form = SubstituteForm()
    form.staff_id.choices = _with_none("Choose a staff member", _staff())
    if not form.validate_on_submit():
        return _session_page(session_id, 422, substitute_form=form)
    return _change(session_id, "substitute_form", form,
                   {"facilitator_ids": [form.staff_id.data]}, "Facilitator changed.")


# ---------------------------------------------------------------- series

def _series_choices(form: SeriesForm) -> SeriesForm:
    form.program_id.choices = _with_none("Choose a program", _programs())
    form.room_id.choices = _with_none("No room (virtual)", _rooms())
    form.facilitator_ids.choices = _staff()
    return form


# The service names the recurrence "rrule" and the zone "timezone"; the form shows neither.
SERIES_RENAMES = {"rrule": "weekdays", "timezone": "program_id"}
FIX_FIELDS = "Not saved: please fix the fields marked below."


@bp.route("/series/new", methods=["GET", "POST"])
@page_roles(*COORDINATORS)
def new_series():
    """A new recurring series, with a live conflict preview before it is saved."""
    form = _series_choices(SeriesForm())
    if request.method == "GET":
        return render_template("calendar/series_form.html", form=form)
    if not form.validate_on_submit():
        flash(FIX_FIELDS, "error")  # one alert up top, so a screen reader hears of the errors
        return render_template("calendar/series_form.html", form=form), 422
    try:
        created, change = series_service.create_series(
            db.session, page_actor(), now=clock.now(),
            horizon_days=current_app.config["SESSION_HORIZON_DAYS"],
            override_reason=form.override_or_none(), **form.series_fields())
    except DomainError as error:
        db.session.rollback()
        placed = put_on_form(form, error, SERIES_RENAMES)
        flash(FIX_FIELDS if placed else _refusal(error, "Not saved"), "error")
        return render_template("calendar/series_form.html", form=form), error.status
    notes = series_service.warnings(created)
    db.session.commit()
    flash(f"Series “{created.title}” saved with {change.created} sessions.", "success")
    for note in notes:
        flash(note, "info")
    return redirect(url_for("calendar.series", series_id=created.id))


@bp.post("/series/preview")
@page_roles(*COORDINATORS)
def preview_series():
    """JSON for the new-series form: how many sessions, and their conflicts; writes nothing."""
    form = _series_choices(SeriesForm())
    if not form.validate_on_submit():
        errors = {k: v for k, v in form.errors.items() if k != "csrf_token"}
        return jsonify(conflicts=[], occurrences=0, errors=errors), 422
    try:
        preview = series_preview.preview_series(
            db.session, page_actor(), now=clock.now(),
            horizon_days=current_app.config["SESSION_HORIZON_DAYS"], **form.series_fields())
    except DomainError as error:
        db.session.rollback()
        fields = getattr(error, "fields", None) or {"form": [error.message]}
        errors = {SERIES_RENAMES.get(k, k): v for k, v in fields.items()}
        return jsonify(conflicts=[], occurrences=0, errors=errors), error.status
    tz = _program_zone(form.program_id.data)
    conflicts = [
        {"session_start": (c.slot.starts_at if c.slot else c.starts_at).astimezone(tz).isoformat(),
         "what": c.kind, "with": c.detail}
        for c in preview.clashes
    ]
    return jsonify(conflicts=conflicts, occurrences=preview.occurrences)


def _program_zone(program_id: int) -> ZoneInfo:
    return day_sheet.program_zone(db.session, program_id)


def _series_page(series_id: int, status: int = 200, enroll_form=None, end_form=None):
    series = _row_or_404(SessionSeries, series_id)
    if enroll_form is None:
        enroll_form = EnrollForm(formdata=None)
    if end_form is None:
        end_form = EndSeriesForm(formdata=None)
    enroll_form.client_id.choices = _clients(series.program_id)
    upcoming, _ = sessions_service.list_sessions(
        db.session, sessions_service.SessionFilter(series_id=series.id, starts_from=clock.now()),
        limit=12)
    tally = booking.counts(db.session, [s.id for s in upcoming])
    return render_template(
        "calendar/series.html", series=series, enroll_form=enroll_form, end_form=end_form,
        kind_label=KIND_LABELS.get(series.kind, series.kind),
        weekdays=_weekday_names(series.rrule),
        upcoming=[(s, _local(s.starts_at, s.timezone), *tally[s.id]) for s in upcoming],
        enrollments=rosters.series_enrollments(db.session, series.id),
    ), status


def _weekday_codes(rrule: str) -> list[str]:
    for part in rrule.split(";"):
        key, _, value = part.partition("=")
        if key == "BYDAY":
            return value.split(",")
    return []


def _with_weekdays(rrule: str, codes: list[str]) -> str:
    """The series' rule with new weekdays; COUNT, INTERVAL and the rest are kept."""
    if sorted(codes) == sorted(_weekday_codes(rrule)):
        return rrule
    parts = [p for p in rrule.split(";") if not p.startswith("BYDAY=")]
    return ";".join(parts + ["BYDAY=" + ",".join(codes)])


def _weekday_names(rrule: str) -> str:
    names = dict(WEEKDAY_NAMES)
    return ", ".join(names.get(code, code) for code in _weekday_codes(rrule))


@bp.get("/series/<int:series_id>")
@page_roles(*COORDINATORS)
def series(series_id):
    """One series: its rule, next sessions, enrolled clients and the enrolment form."""
    return _series_page(series_id)


def _change_summary(change: series_service.SeriesChange) -> str:
    parts = [f"{n} {what}" for n, what in ((change.updated, "moved or updated"),
                                           (change.cancelled, "cancelled"),
                                           (change.created, "added")) if n]
    return "Sessions: " + ", ".join(parts) + "." if parts else "No session needed changing."


def _edit_form(series: SessionSeries, formdata=None) -> SeriesEditForm:
    form = SeriesEditForm(formdata=formdata, obj=series if formdata is None else None)
    if formdata is None:
        form.weekdays.data = _weekday_codes(series.rrule)
        form.facilitator_ids.data = [s.id for s in series.facilitators]
    form.room_id.choices = _with_none("No room (virtual)", _rooms())
    form.facilitator_ids.choices = _staff()
    return form


@bp.route("/series/<int:series_id>/edit", methods=["GET", "POST"])
@page_roles(*COORDINATORS)
def edit_series(series_id):
    """Change a series; only future sessions without attendance follow the change."""
    target = _row_or_404(SessionSeries, series_id)
    page = "calendar/series_edit.html"
    if request.method == "GET":
        return render_template(page, series=target, form=_edit_form(target))
    form = _edit_form(target, request.form)
    if not form.validate_on_submit():
        flash(FIX_FIELDS, "error")
        return render_template(page, series=target, form=form), 422
    changes = form.changes_to(target)
    if not changes:
        flash("Nothing changed.", "info")
        return redirect(url_for("calendar.series", series_id=series_id))
    try:
        _, change = series_service.update_series(
            db.session, page_actor(), target, changes, now=clock.now(),
            horizon_days=current_app.config["SESSION_HORIZON_DAYS"],
            reason=form.reason.data or None, override_reason=form.override_or_none())
    except DomainError as error:
        db.session.rollback()
        placed = put_on_form(form, error, SERIES_RENAMES)
        flash(FIX_FIELDS if placed else _refusal(error, "Not saved"), "error")
        return render_template(page, series=db.session.get(SessionSeries, series_id),
                               form=form), error.status
    db.session.commit()
    flash(f"Series saved. {_change_summary(change)}", "success")
    return redirect(url_for("calendar.series", series_id=series_id))


@bp.post("/series/<int:series_id>/end")
@page_roles(*COORDINATORS)
def end_series(series_id):
    """End a series early: later sessions are cancelled and their clients told."""
    target = _row_or_404(SessionSeries, series_id)
    form = EndSeriesForm()
    if not form.validate_on_submit():
        return _series_page(series_id, 422, end_form=form)
    try:
        _, change = series_service.end_series(db.session, page_actor(), target,
                                              form.end_date.data, now=clock.now(),
                                              reason=form.reason.data.strip())
    except DomainError as error:
        db.session.rollback()
        if not put_on_form(form, error):
            flash(_refusal(error, "Not ended"), "error")
        return _series_page(series_id, error.status, end_form=form)
    db.session.commit()
    flash(f"Series ends on {form.end_date.data:%-d %b %Y}. {_change_summary(change)}", "success")
    return redirect(url_for("calendar.series", series_id=series_id))


def _enroll(series_id: int, rerender):
    """Enrol the posted client in the series; a conflict is shown and nothing is written."""
    target = _row_or_404(SessionSeries, series_id)
    form = EnrollForm()
    form.client_id.choices = _clients(target.program_id)
    if not form.validate_on_submit():
        return rerender(422, form)
    try:
        result = booking.enroll_client(db.session, page_actor(), target.id, form.client_id.data,
                                       now=clock.now(), override_reason=form.override_or_none())
    except DomainError as error:
        db.session.rollback()
        if not put_on_form(form, error):
            flash(_refusal(error, "Not enrolled"), "error")
        return rerender(error.status, form)
    name = result.enrollment.client.name
    message = f"{name} enrolled: {result.booked} sessions booked"
    if result.waitlisted:
        message += f", waitlisted for {result.waitlisted}"
    db.session.commit()
    flash(message + ".", "success")
    return None


@bp.post("/series/<int:series_id>/enroll")
@page_roles(*COORDINATORS)
def enroll(series_id):
    """Enrol a client from the series page."""
    refused = _enroll(series_id, lambda status, form: _series_page(series_id, status, form))
    return refused or redirect(url_for("calendar.series", series_id=series_id))


@bp.post("/sessions/<int:session_id>/enroll")
@page_roles(*COORDINATORS)
def enroll_from_session(session_id):
    """Enrol a client in the series this session belongs to."""
    target = _row_or_404(Session, session_id)
    if target.series_id is None:
        abort(404)
    refused = _enroll(target.series_id, lambda status, form: _session_page(
        session_id, status, enroll_form=form))
    return refused or redirect(url_for("calendar.session", session_id=session_id))
