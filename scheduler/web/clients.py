"""Coordinator pages for clients: the list, one client's plan, hours and feed link, and intake.

Intake is three forms, each its own transaction: the client and assessment, the treatment plan,
then enrolments. A refused step writes nothing and shows why on the same form.
"""

from datetime import date, timedelta

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from wtforms import (
    BooleanField,
    DateField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    Length,
    NumberRange,
    Optional,
    StopValidation,
    ValidationError,
)

from scheduler import clock, outbox
from scheduler.extensions import db
from scheduler.feeds import tokens
from scheduler.feeds.links import links_for
from scheduler.i18n import gettext as _
from scheduler.i18n import lazy_gettext as _l
from scheduler.i18n import local, weekday_short
from scheduler.models import (
    Assessment,
    Attendance,
    Client,
    Program,
    Session,
    SessionSeries,
    Staff,
    TreatmentPlan,
)
from scheduler.models.clients import CLIENT_STATUSES
from scheduler.models.plans import RECOMMENDED_LEVELS
from scheduler.models.series import SESSION_KINDS
from scheduler.models.users import COORDINATORS, STAFF
from scheduler.services import (
    account_links,
    booking,
    caseload,
    client_access,
    clients,
    consents,
    dates,
    day_sheet,
    episodes,
    one_to_one,
    plans,
    programs,
    recurrence,
    reports,
    scope,
)
from scheduler.services import users as logins_admin
from scheduler.services.errors import DomainError, InvalidField
from scheduler.services.lookup import get_or_404
from scheduler.web import consent_pages, find_time, proposal_pages, query_args
from scheduler.web.access import log_page_read, may_read_clinical, page_actor, page_roles
from scheduler.web.calendar.pickers import offer_staff
from scheduler.web.charts import Bar, hours_chart, hours_text
from scheduler.web.form_fields import (
    Hours,
    PageForm,
    PickerField,
    WholeNumber,
    in_range,
    optional_id,
    put_on_form,
)
from scheduler.web.labels import ATTENDANCE_LABELS, KIND_LABELS, reason_words
from scheduler.web.refusals import beside, beside_fields, describe
from scheduler.web.site_filter import site_choice

bp = Blueprint("client_pages", __name__)
bp.add_app_template_filter(hours_text, "hours_text")

# A list page is for finding someone; past this many, the search box is the way.
LIST_LIMIT = 300
HISTORY_LIMIT = 60
CHART_WEEKS = 12
# A client's status as the pages show it (models.clients.CLIENT_STATUSES).
CLIENT_STATUS_WORDS = {"active": _l("active"), "discharged": _l("discharged")}


# ---------------------------------------------------------------- forms


class IntakeForm(PageForm):
    """Step 1: an existing client, or a new one, and the intake assessment."""

    client_id = SelectField(_l("Existing client"), coerce=optional_id, validators=[Optional()])
    name = StringField(_l("New client's full name"), validators=[Optional(), Length(max=200)])
    date_of_birth = DateField(_l("Date of birth"), validators=[Optional()])
    email = StringField(_l("Email (optional)"), validators=[Optional(), Length(max=254)])
    phone = StringField(_l("Phone (optional)"), validators=[Optional(), Length(max=40)])
    program_id = SelectField(_l("Program"), coerce=optional_id, validators=[Optional()])
    admitted_on = DateField(_l("Admitted on"), validators=[Optional(), in_range])
    # Past the probable-duplicate warning: the coordinator checked this is someone else.
    confirm_new = BooleanField(_l("This is a different person: make a new record"))
    # The warning's buttons: go on with (or re-admit) that existing client instead.
    use_client = WholeNumber(_l("Existing record"), validators=[Optional()])
    assessed_on = DateField(_l("Assessed on"),
                            validators=[DataRequired(_l("Enter the date.")), in_range])
    clinician_id = PickerField(_l("Assessing clinician"),
                               validators=[DataRequired(_l("Choose the clinician."))])
    summary = TextAreaField(_l("Summary"), validators=[Optional(), Length(max=20000)])
    recommended_level = SelectField(
        _l("Recommended level of care (ASAM)"), default="2.1",
        choices=[SelectChoice(level, level) for level in RECOMMENDED_LEVELS])

    def validate_email(self, field):
        if field.data and "@" not in field.data:
            raise ValidationError(_l("Enter an email address such as name@example.org."))

    def validate(self, extra_validators=None) -> bool:
        """A new client needs a name, a program and an admission date; an existing one none."""
        valid = super().validate(extra_validators)
        if self.client_id.data is None:
            for field, message in (
                    (self.name, _("Enter a name, or choose an existing client.")),
                    (self.program_id, _("Choose the new client's program.")),
                    (self.admitted_on, _("Enter the admission date."))):
                if not field.errors and not (field.data.strip() if isinstance(field.data, str)
                                             else field.data):
                    field.errors = [*field.errors, message]
                    valid = False
        return valid


def _plan_form_class():
    """The plan form with one sessions-a-week input per session kind."""

    class PlanForm(PageForm):
        assessment_id = WholeNumber(_l("Assessment"), validators=[Optional()])
        start_date = DateField(_l("Start date"),
                               validators=[DataRequired(_l("Enter the date.")), in_range])
        end_date = DateField(_l("End date (optional)"), validators=[Optional(), in_range])
        primary_therapist_id = PickerField(_l("Primary therapist"), validators=[Optional()])
        goals = TextAreaField(_l("Goals, one a line"),
                              validators=[Optional(), Length(max=20000)])
        weekly_hours_target = Hours(
            _l("Weekly hours target"), places=2,
            validators=[Optional(), NumberRange(min=0, max=168)])
        certified_on = DateField(_l("Certified on (optional)"),
                                 validators=[Optional(), in_range])
        reviewed_on = DateField(_l("Plan reviewed on (optional)"),
                                validators=[Optional(), in_range])

        def validate_end_date(self, field):
            if field.data and self.start_date.data and field.data < self.start_date.data:
                raise ValidationError(_l("Must not be before the start date."))

        def requirement_fields(self):
            return [(kind, getattr(self, f"per_week_{kind}")) for kind in SESSION_KINDS]

    for kind in SESSION_KINDS:
        setattr(PlanForm, f"per_week_{kind}", WholeNumber(
            _l("%(kind)s sessions a week", kind=KIND_LABELS[kind]),
            validators=[Optional(), NumberRange(min=1, max=50)]))
    return PlanForm


PlanForm = _plan_form_class()
# The service's names for plan fields, as the form calls them.
PLAN_FIELD_NAMES = {f"phases.0.requirements.{i}.sessions_per_week": f"per_week_{kind}"
                    for i, kind in enumerate(SESSION_KINDS)}


class OfferedSeries(SelectMultipleField):
    """The groups step 3 lists; anything else (another client's one-to-one slot, a series
    ended since the page was loaded) is refused in words, not as "not a valid choice"."""

    def pre_validate(self, form):
        offered = {choice.value for choice in self.choices or ()}
        if any(value not in offered for value in self.data or ()):
            raise ValidationError(_("Choose from the groups listed. A one-to-one series is its "
                                    "client's own time: book individual sessions with Find a "
                                    "time."))


def _series_or_invitation(form, field) -> None:
    # After an accepted suggestion (or Find a time) the groups are booked already, and step 3
    # may finish with the invitation alone.
    if not field.data and not form.invite.data:
        raise StopValidation(_("Choose at least one series, or tick the invitation to send "
                               "it alone.") if form.invite_offered else
                             _("Choose at least one series."))


class EnrolForm(PageForm):
    """Step 3: the series to book the client into, and the invitation that ends the intake."""

    series_ids = OfferedSeries(_l("Series"), coerce=int, validators=[_series_or_invitation])
    start_date = DateField(_l("Book from (optional)"), validators=[Optional(), in_range])
    skip_conflicting = BooleanField(_l("Skip sessions that clash with the client's other "
                                       "bookings and book the rest"))
    invite = BooleanField(_l("Email the client an invitation to their own account (to see "
                             "their sessions and calendar link)"))
    # Not offered to a client who has a working or deactivated login: it could only fail.
    invite_offered = True


# ---------------------------------------------------------------- lookups


def _attendance_history(client_id: int, tz) -> list[dict]:
    """The client's attendance marks, newest first, with the session; one query."""
    rows = db.session.execute(
        select(Attendance, Session.title, Session.starts_at)
        .join(Session, Session.id == Attendance.session_id)
        .where(Attendance.client_id == client_id)
        .order_by(Session.starts_at.desc(), Session.id.desc())
        .limit(HISTORY_LIMIT)
    ).tuples()
    return [{"when": starts.astimezone(tz), "title": title,
             "status": ATTENDANCE_LABELS.get(mark.status, mark.status),
             "absent": mark.status.startswith("absent"),
             "reason": reason_words(mark.reason_code) if mark.reason_code else "",
             "minutes": mark.minutes_attended} for mark, title, starts in rows]


def _hours_weeks(client: Client, today: date) -> list[reports.WeekHours]:
    """The client's rows of the weekly-hours report for the last CHART_WEEKS weeks."""
    monday = today - timedelta(days=today.weekday())
    first = monday - timedelta(weeks=CHART_WEEKS - 1)
    return reports.weekly_hours(db.session, client.program_id, first, today, client_id=client.id)


def _refused(form, error: DomainError, renames: dict | None = None) -> None:
    """Nothing of a refused step is kept; the reason goes under its input or on top."""
    db.session.rollback()
    if not put_on_form(form, error, renames):
        flash(describe(error), "error")


# ---------------------------------------------------------------- list and detail


@bp.get("/clients")
@page_roles(*COORDINATORS)
def index():
    """Clients by name, searchable, filtered by program and status."""
    q = query_args.text_arg("q", 200) or ""
    program = query_args.row_arg("program", Program, "program")
    program_id = program.id if program is not None else None
    status = query_args.choice_arg("status", CLIENT_STATUSES) or ""
    sites = site_choice(program)  # my sites unless the address asks for others
    query = (select(Client, Program.name).join(Program, Program.id == Client.program_id)
             .where(scope.of_sites(Client.program_id, sites.site_ids)))
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(Client.name.ilike(pattern, escape="\\")
                            | Client.preferred_name.ilike(pattern, escape="\\"))
    if program_id is not None:
        query = query.where(Client.program_id == program_id)
    if status:
        query = query.where(Client.status == status)
    rows = db.session.execute(
        query.order_by(Client.name, Client.id).limit(LIST_LIMIT + 1)).tuples().all()
    log_page_read([client.id for client, _ in rows[:LIST_LIMIT]], "client_list")
    return render_template(
        "clients/index.html", rows=rows[:LIST_LIMIT], more=len(rows) > LIST_LIMIT, q=q,
        program_id=program_id, status=status, sites=sites,
        programs=programs.active_programs(db.session, sites.site_ids), statuses=CLIENT_STATUSES,
        status_words=CLIENT_STATUS_WORDS)


def detail_page(client_id: int, status: int = 200, links: dict | None = None,
                readmit_error: str | None = None, readmit_on: str | None = None,
                glass_error: str | None = None, glass_reason: str | None = None,
                consent_form: consent_pages.ConsentForm | None = None,
                revoke_id: int | None = None,
                revoke_form: consent_pages.RevokeForm | None = None):
    client = get_or_404(db.session, Client, client_id, "client")
    program = db.session.get(Program, client.program_id)
    tz = day_sheet.program_zone(db.session, client.program_id)
    now = clock.now()
    today = now.astimezone(tz).date()
    # A clinician outside the client's caseload sees the record without its clinical sections
    # (episodes, plan, hours, attendance), and a form to break the glass.
    clinical = may_read_clinical(client.id)
    stays = episodes.episodes_of(db.session, client.id) if clinical else []
    plan = plans.active_plan(db.session, client.id, with_phases=True) if clinical else None
    therapist = (db.session.get(Staff, plan.primary_therapist_id)
                 if plan and plan.primary_therapist_id else None)
    weeks = _hours_weeks(client, today) if clinical else []
    access = client_access.of(db.session, client.id)
    may_write = current_user.role in COORDINATORS
    # Consents and disclosures are the client's record too: shown where the clinical sections
    # are; the recording form to coordinators.
    if may_write and consent_form is None:
        consent_form = consent_pages.blank_form(client)
    sharing = consent_pages.sharing_of(
        client, consent_form if may_write else None, revoke_id, revoke_form) if clinical \
        else None
    chart = hours_chart(
        [Bar(local(row.week_start, "day_month"), row.attended_hours, row.target_hours)
         for row in weeks],
        _("Hours attended per week by %(name)s, against the weekly target", name=client.name),
        "client-hours") if clinical else None
    return render_template(
        "clients/detail.html", client=client, program=program, plan=plan, therapist=therapist,
        kind_labels=KIND_LABELS, weeks=weeks, chart=chart, today=today, clinical=clinical,
        status_words=CLIENT_STATUS_WORDS,
        glass_error=glass_error, glass_reason=glass_reason,
        glass_for=caseload.duration_words(
            caseload.Policy.from_config(current_app.config).break_glass_minutes),
        upcoming=day_sheet.upcoming_for_client(db.session, client.id, now, tz, limit=15),
        history=_attendance_history(client.id, tz) if clinical else [], links=links,
        has_feed=links is not None or access.has_feed, access=access,
        feed_stopped_on=_stopped_on(access, tz),
        may_write=may_write, sharing=sharing,
        search=find_time.blank_search(client) if current_user.role in COORDINATORS else None,
        suggest=(proposal_pages.blank_form(client)
                 if current_user.role in COORDINATORS and client.status != "discharged"
                 else None),
        episodes=stays, readmit_error=readmit_error, readmit_on=readmit_on,
        readmit_programs=programs.active_programs(db.session),
        episode_programs=dict(db.session.execute(
            select(Program.id, Program.name)
            .where(Program.id.in_({e.program_id for e in stays}))).tuples().all()),
        plan_versions=dict(db.session.execute(
            select(TreatmentPlan.id, TreatmentPlan.version)
            .where(TreatmentPlan.client_id == client.id)).tuples().all()) if clinical else {},
    ), status


@bp.get("/clients/<int:client_id>")
@page_roles(*STAFF)
def detail(client_id: int):
    """One client: plan, schedule, hours against target, attendance and the feed link."""
    page = detail_page(client_id)
    log_page_read([client_id], "client")
    if not may_read_clinical(client_id):
        # The clinical sections were held back: a refused look, logged as such.
        log_page_read([client_id], "clinical_record", action="denied")
    return page


class BreakGlassForm(PageForm):
    reason = StringField(_l("Why you need this record now"), validators=[
        DataRequired(_l("Say why you need this client's record.")),
        Length(max=caseload.REASON_MAX,
               message=_l("At most %(max)s characters."))])


@bp.post("/clients/<int:client_id>/break-glass")
@page_roles(*caseload.HELD_TO_CASELOAD)
def break_glass(client_id: int):
    """A clinician opens a client's clinical record outside their caseload for
    BREAK_GLASS_MINUTES, with a reason: audited, and the admins are alerted."""
    form = BreakGlassForm()
    if not form.validate_on_submit():
        problems = " ".join(str(m) for messages in form.errors.values() for m in messages)
        return detail_page(client_id, 422, glass_error=problems or _("Please try again."),
                           glass_reason=request.form.get("reason", ""))
    try:
        grant, keys = caseload.break_glass(
            db.session, page_actor(), current_user, client_id, form.reason.data, clock.now(),
            caseload.Policy.from_config(current_app.config))
    except DomainError as error:
        db.session.rollback()
        return detail_page(client_id, error.status, glass_error=describe(error),
                           glass_reason=request.form.get("reason", ""))
    db.session.commit()
    outbox.send_after_response(*keys)
    until = grant.expires_at.astimezone(day_sheet.program_zone(
        db.session, db.session.get(Client, client_id).program_id))
    flash(_("You may read this client's clinical record until %(time)s. The admins are "
            "told, with your reason.", time=local(until, "time")), "success")
    return redirect(url_for("client_pages.detail", client_id=client_id), code=303)


@bp.post("/clients/<int:client_id>/consents")
@page_roles(*COORDINATORS)
def record_consent(client_id: int):
    """Record the client's signed consent to share with a recipient (audited)."""
    client = get_or_404(db.session, Client, client_id, "client")
    form = consent_pages.ConsentForm()
    if not form.validate_on_submit():
        # The form says so itself, beside its fields (templates/clients/_sharing.html).
        return detail_page(client.id, 422, consent_form=form)
    try:
        consent = consents.record(
            db.session, page_actor(), client, recipient_id=form.recipient_id.data,
            purpose=form.purpose.data, scope=form.scope.data, signed_on=form.signed_on.data,
            expires_on=form.expires_on.data, document_ref=form.document_ref.data,
            now=clock.now())
    except DomainError as error:
        db.session.rollback()
        if not put_on_form(form, error):
            flash(describe(error, consent_pages.FIELD_LABELS, _("Not recorded")), "error")
        return detail_page(client.id, error.status, consent_form=form)
    name = consent.recipient.name
    db.session.commit()
    flash(_("Consent recorded: %(name)s may receive %(what)s until %(day)s.", name=name,
            what=consent_pages.covers_words(consent),
            day=local(consent.expires_on, "short_date")), "success")
    return redirect(url_for(".detail", client_id=client.id) + "#sharing", code=303)


@bp.post("/clients/<int:client_id>/consents/<int:consent_id>/revoke")
@page_roles(*COORDINATORS)
def revoke_consent(client_id: int, consent_id: int):
    """Revoke a consent: nothing more goes under it from now on (audited)."""
    client = get_or_404(db.session, Client, client_id, "client")
    consent = consents.of_client(db.session, client.id, consent_id)
    form = consent_pages.RevokeForm()
    if not form.validate_on_submit():
        flash(_("Consent not revoked: please fix the reason."), "error")
        return detail_page(client.id, 422, revoke_id=consent_id, revoke_form=form)
    try:
        consents.revoke(db.session, page_actor(), consent, clock.now(), reason=form.reason.data)
    except DomainError as error:
        db.session.rollback()
        if not put_on_form(form, error):
            flash(describe(error, consent_pages.FIELD_LABELS, _("Not revoked")), "error")
        else:
            flash(_("Consent not revoked: please fix the reason."), "error")
        return detail_page(client.id, error.status, revoke_id=consent_id, revoke_form=form)
    name = consent.recipient.name
    db.session.commit()
    flash(_("Consent revoked: nothing more goes to %(name)s from now on.", name=name), "success")
    return redirect(url_for(".detail", client_id=client.id) + "#sharing", code=303)


@bp.post("/clients/<int:client_id>/readmit")
@page_roles(*COORDINATORS)
def readmit(client_id: int):
    """Re-admit a discharged client: a new episode, then a new plan (intake step 2)."""
    client = get_or_404(db.session, Client, client_id, "client")
    typed = request.form.get("admitted_on", "")[:20]
    try:
        admitted_on = date.fromisoformat(typed)
    except ValueError:
        beside("admitted_on", _("Admitted on: enter a date."))
        return detail_page(client.id, 422, readmit_on=typed)
    program_id = _form_id("program_id")
    try:
        if not dates.in_calendar(admitted_on):
            raise InvalidField("admitted_on", _("Must be between %(first)s and %(last)s.",
                                                first=dates.EARLIEST_DATE,
                                                last=dates.LATEST_DATE))
        episodes.readmit(db.session, page_actor(), client.id, admitted_on=admitted_on,
                         program_id=program_id if program_id is not None else client.program_id)
    except DomainError as error:
        db.session.rollback()
        # A refused date or program stands beside its input; anything else above the form.
        if beside_fields(error, READMIT_LABELS, READMIT_LABELS):
            return detail_page(client.id, error.status, readmit_on=typed)
        return detail_page(client.id, error.status, readmit_error=describe(error, READMIT_LABELS),
                           readmit_on=typed)
    db.session.commit()
    flash(_("%(name)s re-admitted on %(day)s. Now write the treatment plan for this episode.",
            name=client.name, day=admitted_on.isoformat()), "success")
    return redirect(url_for(".intake_plan", client_id=client.id), code=303)


READMIT_LABELS = {"admitted_on": _l("Admitted on"), "program_id": _l("Program")}


def _stopped_on(access: client_access.ClientAccess, tz) -> date | None:
    """The program's day the client's last calendar link stopped, when none works now."""
    return access.feed_stopped.at.astimezone(tz).date() if access.feed_stopped else None


@bp.post("/clients/<int:client_id>/login/reactivate")
@page_roles(*COORDINATORS)
def reactivate_login(client_id: int):
    """Let a returning client's deactivated login sign in again (as /users does), then go back
    to the client's page or the intake step it was asked from."""
    client = get_or_404(db.session, Client, client_id, "client")
    back = (url_for(".intake_enrol", client_id=client.id) if request.form.get("back") == "intake"
            else url_for(".detail", client_id=client.id))
    login = client_access.login_of(db.session, client.id)
    if login is None:
        flash(_("%(name)s has no login to let in again; invite them instead.", name=client.name),
              "error")
        return redirect(back, code=303)
    if login.is_active:
        flash(_("%(name)s can already sign in as %(email)s.", name=client.name,
                email=login.email), "success")
        return redirect(back, code=303)
    viewer = logins_admin.Viewer(current_user.id, current_user.role, page_actor())
    logins_admin.update_login(db.session, viewer, login.id, {"is_active": True}, clock.now())
    db.session.commit()
    flash(_("%(name)s can sign in again as %(email)s, with their own password. A calendar "
            "link and a check-in PIN need to be made anew.", name=client.name,
            email=login.email), "success")
    return redirect(back, code=303)


def _form_id(name: str) -> int | None:
    """A posted id, or None when it is missing or not one (the service then names it)."""
    text = request.form.get(name, "")
    return int(text) if text.isdigit() and len(text) < 20 else None


@bp.post("/clients/<int:client_id>/feed")
@page_roles(*COORDINATORS)
def feed(client_id: int):
    """Make or replace the client's calendar link and show it this once."""
    client = get_or_404(db.session, Client, client_id, "client")
    token = tokens.issue(db.session, page_actor(), "client", client.id, clock.now())
    db.session.commit()
    # Rendered, not redirected: the token must not travel in the (signed, unencrypted) cookie.
    page, status = detail_page(client.id, 201, links=links_for(token))
    # The secret link is in this page alone: no cache may keep a copy of it.
    return page, status, {"Cache-Control": "no-store"}


@bp.post("/clients/<int:client_id>/feed/revoke")
@page_roles(*COORDINATORS)
def revoke_feed(client_id: int):
    """Stop the client's calendar link at once."""
    client = get_or_404(db.session, Client, client_id, "client")
    count = tokens.revoke(db.session, page_actor(), "client", client.id, clock.now())
    db.session.commit()
    flash(_("Calendar link revoked: it stops working now.") if count
          else _("There was no calendar link to revoke."), "success")
    return redirect(url_for(".detail", client_id=client.id), code=303)


# ---------------------------------------------------------------- intake


def _intake_form(form: IntakeForm | None = None) -> IntakeForm:
    form = form or IntakeForm()
    # Two columns, not whole rows: a large clinic lists hundreds of clients here.
    form.client_id.choices = [SelectChoice("", _("New client"))] + [
        SelectChoice(client_id, name) for client_id, name in db.session.execute(
            select(Client.id, Client.name).where(Client.status == "active",
                                                 scope.programs_filter(Client.program_id))
            .order_by(Client.name, Client.id))]
    form.program_id.choices = [SelectChoice("", _("Choose a program"))] + [
        SelectChoice(p.id, p.name) for p in programs.active_programs(db.session)]
    offer_staff(form.clinician_id, _("Choose a clinician"))
    return form


@bp.route("/intake", methods=["GET", "POST"])
@page_roles(*COORDINATORS)
def intake():
    """Step 1: choose or admit the client and record the intake assessment."""
    form = _intake_form()
    if request.method == "GET":
        if form.assessed_on.data is None:
            form.assessed_on.data = day_sheet.program_today(db.session, clock.now())
        return render_template("clients/intake.html", form=form, step=1)
    if not form.validate_on_submit():
        return render_template("clients/intake.html", form=form, step=1), 422
    actor = page_actor()
    try:
        client_id = form.client_id.data
        if client_id is None and form.use_client.data is not None:
            client_id = _continue_with(form, actor)
        elif client_id is None:
            details = {"name": form.name.data.strip(),
                       "date_of_birth": form.date_of_birth.data,
                       "email": (form.email.data or "").strip() or None,
                       "phone": (form.phone.data or "").strip() or None}
            if not form.confirm_new.data:
                matches = clients.probable_matches(db.session, **details)
                if matches:
                    # Nothing is written: give up the form post's write lock before the log
                    # row goes in on its own connection.
                    db.session.rollback()
                    log_page_read([m.client.id for m in matches], "client_matches")
                    return render_template(
                        "clients/intake.html", form=_intake_form(form), step=1,
                        matches=matches, reasons=MATCH_REASONS,
                        programs={p.id: p.name for p in programs.active_programs(db.session)}), 409
            client_id = clients.create_client(
                db.session, actor, program_id=form.program_id.data,
                admitted_on=form.admitted_on.data, **details).id
        assessment = plans.record_assessment(
            db.session, actor, client_id, assessed_on=form.assessed_on.data,
            clinician_id=form.clinician_id.data, kind="intake",
            summary=(form.summary.data or "").strip() or None,
            recommended_level=form.recommended_level.data)
    except DomainError as error:
        _refused(form, error)
        return render_template("clients/intake.html", form=_intake_form(form), step=1), \
            error.status
    db.session.commit()
    flash(_("Assessment recorded. Now write the treatment plan."), "success")
    return redirect(url_for(".intake_plan", client_id=client_id, assessment=assessment.id),
                    code=303)


MATCH_REASONS = {"name_and_birth": _l("same name and date of birth"),
                 "name": _l("same name; a date of birth is missing on one side"),
                 "email": _l("same email"), "phone": _l("same phone number")}


def _continue_with(form: IntakeForm, actor) -> int:
    """The warning's choice: an existing client instead of a new record, re-admitted with a
    new episode when they were discharged."""
    chosen = db.session.get(Client, form.use_client.data)
    if chosen is None:
        raise InvalidField("use_client", _("That client is no longer on record."))
    if chosen.status == "discharged":
        episodes.readmit(db.session, actor, chosen.id,
                         admitted_on=form.admitted_on.data,
                         program_id=form.program_id.data or chosen.program_id)
    return chosen.id


def _plan_page(client: Client, form, status: int = 200):
    offer_staff(form.primary_therapist_id, _("None yet"))
    program = db.session.get(Program, client.program_id)
    return render_template("clients/intake_plan.html", form=form, client=client,
                           program=program, step=2), status


@bp.route("/intake/<int:client_id>/plan", methods=["GET", "POST"])
@page_roles(*COORDINATORS)
def intake_plan(client_id: int):
    """Step 2: the treatment plan; the target defaults from the program's level of care."""
    client = get_or_404(db.session, Client, client_id, "client")
    form = PlanForm()
    if request.method == "GET":
        program = db.session.get(Program, client.program_id)
        assessment = query_args.row_arg("assessment", Assessment, "assessment")
        if assessment is not None and assessment.client_id != client.id:
            raise query_args.BadQuery("assessment", _("there is no such assessment."), 404)
        form.assessment_id.data = assessment.id if assessment is not None else None
        form.start_date.data = form.start_date.data or day_sheet.program_today(
            db.session, clock.now(), client.program_id)
        form.weekly_hours_target.data = program.min_weekly_hours
        return _plan_page(client, form)
    offer_staff(form.primary_therapist_id, _("None yet"))
    if not form.validate_on_submit():
        return _plan_page(client, form, 422)
    requirements = [{"kind": kind, "sessions_per_week": field.data}
                    for kind, field in form.requirement_fields() if field.data]
    goals = [line.strip() for line in (form.goals.data or "").splitlines() if line.strip()]
    try:
        plans.create_plan(
            db.session, page_actor(), client.id, start_date=form.start_date.data,
            end_date=form.end_date.data, primary_therapist_id=form.primary_therapist_id.data,
            goals=goals, weekly_hours_target=form.weekly_hours_target.data,
            assessment_id=form.assessment_id.data, certified_on=form.certified_on.data,
            reviewed_on=form.reviewed_on.data,
            # One open-ended phase holds the weekly requirements; tapering is a later revision.
            phases=[{"name": "Intake", "first_week": 1, "last_week": None,
                     "requirements": requirements}] if requirements else [])
    except DomainError as error:
        _refused(form, error, PLAN_FIELD_NAMES)
        return _plan_page(client, form, error.status)
    db.session.commit()
    flash(_("Treatment plan saved. Now book the client into series."), "success")
    return redirect(url_for(".intake_enrol", client_id=client.id), code=303)


def _series_of(program_id: int) -> list[SessionSeries]:
    # Groups only: a one-to-one series is someone's appointment (services/one_to_one.py).
    return one_to_one.group_series(db.session, program_id)


def _seats_words(free: int | None, capacity: int) -> str:
    if free is None:
        return _("no sessions ahead")
    if free == 0:
        return _("all %(capacity)s seats taken on some dates: the client would wait for a seat",
                 capacity=capacity)
    return _("%(free)s of %(capacity)s seats free", free=free, capacity=capacity)


def _series_label(series: SessionSeries) -> str:
    weekdays = recurrence.parse_rrule(series.rrule).byweekday or ()
    days = "/".join(weekday_short(day) for day in weekdays)
    return (f"{series.title} — {KIND_LABELS.get(series.kind, series.kind)}, {days} "
            f"{local(series.start_time, 'time')} ({series.duration_minutes} min)").strip()


def _enrol_page(client: Client, form, status: int = 200, done=None):
    offered = _series_of(client.program_id)
    access = client_access.of(db.session, client.id)
    tz = day_sheet.program_zone(db.session, client.program_id)
    free = booking.free_seats_of_series(db.session, offered, clock.now())
    form.series_ids.choices = [
        SelectChoice(s.id, f"{_series_label(s)} · {_seats_words(free[s.id], s.capacity)}")
        for s in offered]
    return render_template("clients/intake_enrol.html", form=form, client=client, step=3,
                           done=done, search=find_time.blank_search(client), access=access,
                           feed_stopped_on=_stopped_on(access, tz), may_write=True,
                           suggest=proposal_pages.blank_form(client, intake=True)), status


def _invite(client: Client, now) -> account_links.Sent:
    """Invite the client at their email to an account of their own (the intake's last step)."""
    if not client.email:
        raise InvalidField("invite", _("%(name)s has no email address; add one on their page "
                                      "first.", name=client.name))
    return account_links.invite(
        db.session, current_user, email=client.email, role="client", client_id=client.id,
        now=now, base_url=outbox.base_url(), public_name=current_app.config["PUBLIC_NAME"],
        address=outbox.remote_address())


@bp.route("/intake/<int:client_id>/enrol", methods=["GET", "POST"])
@page_roles(*COORDINATORS)
def intake_enrol(client_id: int):
    """Step 3: enrol the client in series; a conflict refuses them all and names the clash."""
    client = get_or_404(db.session, Client, client_id, "client")
    form = EnrolForm()
    form.invite_offered = client_access.of(db.session, client.id).may_be_invited
    if request.method == "GET":
        return _enrol_page(client, form)
    form.series_ids.choices = [SelectChoice(s.id, s.title) for s in _series_of(client.program_id)]
    if not form.validate_on_submit():
        return _enrol_page(client, form, 422)
    now = clock.now()
    results = []
    try:
        for series_id in form.series_ids.data:
            results.append(booking.enroll_client(
                db.session, page_actor(), series_id, client.id, now=now,
                start_date=form.start_date.data, skip_conflicting=form.skip_conflicting.data))
    except DomainError as error:
        # All or none: one refused series leaves the others unbooked too.
        _refused(form, error, {"client_id": "series_ids"})
        return _enrol_page(client, form, error.status)
    invitation = None
    if form.invite.data:
        try:
            invitation = _invite(client, now)
        except DomainError as error:
            _refused(form, error, {"email": "invite", "client_id": "invite"})
            return _enrol_page(client, form, error.status)
    booked = sum(r.booked for r in results)
    waitlisted = sum(r.waitlisted for r in results)
    skipped = sum(len(r.skipped) for r in results)
    db.session.commit()
    if invitation is not None:
        outbox.send_after_response(invitation.message_key)
        flash(_("An invitation to set up an account is on its way to %(email)s.",
                email=client.email), "success")
    if results:
        message = _("%(name)s enrolled in %(series)s series: %(count)s sessions booked",
                    name=client.name, series=len(results), count=booked)
        if waitlisted:
            message += ", " + _("waitlisted for %(count)s", count=waitlisted)
        if skipped:
            message += ", " + _("%(count)s clashing sessions skipped", count=skipped)
        flash(message + ".", "success")
    return redirect(url_for(".detail", client_id=client.id), code=303)
