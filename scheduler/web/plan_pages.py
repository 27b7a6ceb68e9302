"""Treatment plan pages: revising the active plan with tapering phases, and its paperwork dates.

A revision is a new plan version (the old one keeps its content); the certification and review
dates are recorded on the active version in place, as the API does.
"""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from wtforms import (
    DateField,
    FieldList,
    FormField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, NumberRange, Optional, ValidationError

from scheduler.extensions import db
from scheduler.i18n import gettext as _
from scheduler.i18n import lazy_gettext as _l
from scheduler.i18n import local
from scheduler.models import Client, TreatmentPlan
from scheduler.models.series import SESSION_KINDS
from scheduler.models.users import STAFF
from scheduler.services import plans
from scheduler.services.errors import DomainError, InvalidField
from scheduler.services.lookup import get_or_404
from scheduler.web.access import log_page_read, outside_caseload, page_actor, page_roles
from scheduler.web.calendar.pickers import offer_staff
from scheduler.web.clients import detail_page
from scheduler.web.form_fields import (
    Hours,
    PageForm,
    PickerField,
    PlainForm,
    WholeNumber,
    in_range,
)
from scheduler.web.labels import KIND_LABELS
from scheduler.web.refusals import beside, beside_fields, describe

bp = Blueprint("plan_pages", __name__)

# Tapering programs run three or four steps (e.g. 3×/week, 2×/week, weekly, step-down).
PHASE_ROWS = 5


class PhaseForm(PlainForm):
    """One row of the tapering table; a row without a first week is left out."""

    name = StringField(_l("Phase name"), validators=[Optional(), Length(max=100)])
    first_week = WholeNumber(_l("From week"), validators=[Optional(), NumberRange(1, 520)])
    last_week = WholeNumber(_l("To week (leave empty if it has no end)"),
                            validators=[Optional(), NumberRange(1, 520)])
    weekly_hours_target = Hours(_l("Hours a week (leave empty for the whole plan's hours)"),
                                places=2,
                                validators=[Optional(), NumberRange(0, 168)])

    def validate_last_week(self, field):
        if field.data is not None and self.first_week.data is None:
            raise ValidationError(_l("Give the week the phase starts too."))

    def is_blank(self) -> bool:
        return self.first_week.data is None and self.last_week.data is None

    def requirement_fields(self):
        return [(kind, getattr(self, f"per_week_{kind}")) for kind in SESSION_KINDS]

    def as_phase(self) -> dict:
        return {"name": (self.name.data or "").strip() or None,
                "first_week": self.first_week.data, "last_week": self.last_week.data,
                "weekly_hours_target": self.weekly_hours_target.data,
                "requirements": [{"kind": kind, "sessions_per_week": f.data}
                                 for kind, f in self.requirement_fields() if f.data]}


for _kind in SESSION_KINDS:
    setattr(PhaseForm, f"per_week_{_kind}", WholeNumber(
        _l("%(kind)s a week", kind=KIND_LABELS[_kind]),
        validators=[Optional(), NumberRange(1, 50)]))


class RevisionForm(PageForm):
    end_date = DateField(_l("End date (optional)"), validators=[Optional(), in_range])
    primary_therapist_id = PickerField(_l("Primary therapist"), validators=[Optional()])
    weekly_hours_target = Hours(
        _l("Weekly hours target (leave empty for the program's minimum)"), places=2,
        validators=[Optional(), NumberRange(min=0, max=168)])
    goals = TextAreaField(_l("Goals, one a line"), validators=[Optional(), Length(max=20000)])
    phases = FieldList(FormField(PhaseForm), min_entries=PHASE_ROWS, max_entries=PHASE_ROWS)

    def filled_phases(self) -> list[tuple[int, PhaseForm]]:
        """(row index, row) of the rows in use, so a service error finds its row."""
        return [(i, row.form) for i, row in enumerate(self.phases) if not row.form.is_blank()]

    def changes(self) -> dict:
        return {
            "end_date": self.end_date.data,
            "primary_therapist_id": self.primary_therapist_id.data,
            "weekly_hours_target": self.weekly_hours_target.data,
            "goals": [g.strip() for g in (self.goals.data or "").splitlines() if g.strip()],
            "phases": [row.as_phase() for _, row in self.filled_phases()],
        }


class PaperworkForm(PageForm):
    on = DateField(_l("Date"), validators=[InputRequired(_l("Give the date.")), in_range])


def _active_plan_or_404(client_id: int) -> tuple[Client, TreatmentPlan]:
    client = get_or_404(db.session, Client, client_id, "client")
    plan = plans.active_plan(db.session, client_id, with_phases=True)
    if plan is None:
        abort(404)
    return client, plan


def _form_from_plan(plan: TreatmentPlan) -> RevisionForm:
    form = RevisionForm(formdata=None)
    form.end_date.data = plan.end_date
    form.primary_therapist_id.data = plan.primary_therapist_id
    form.weekly_hours_target.data = plan.weekly_hours_target
    form.goals.data = "\n".join(plan.goals or [])
    # The form always has PHASE_ROWS rows; those past the plan's phases stay blank.
    for row, phase in zip(form.phases, plan.phases, strict=False):
        row.form.name.data = phase.name
        row.form.first_week.data = phase.first_week
        row.form.last_week.data = phase.last_week
        row.form.weekly_hours_target.data = phase.weekly_hours_target
        wanted = {r.kind: r.sessions_per_week for r in phase.requirements}
        for kind, field in row.form.requirement_fields():
            field.data = wanted.get(kind)
    return form


def _place_error(form: RevisionForm, error: InvalidField) -> bool:
    """Put "phases.<n>.<field>" under the right row's input; False when it has no input."""
    placed = False
    rows = form.filled_phases()
    for name, messages in error.fields.items():
        parts = name.split(".")
        target = None
        if parts[0] == "phases" and len(parts) >= 3 and int(parts[1]) < len(rows):
            row = rows[int(parts[1])][1]
            target = getattr(row, parts[2], None) if parts[2] != "requirements" else None
        elif len(parts) == 1:
            target = getattr(form, name, None)
        if target is not None and hasattr(target, "errors"):
            target.errors = list(target.errors) + list(messages)
            placed = True
    return placed


def _page(client, plan, form, status=200):
    offer_staff(form.primary_therapist_id, _("None named"))
    return render_template("clients/plan_revise.html", client=client, plan=plan, form=form,
                           rows=list(enumerate(form.phases))), status


@bp.route("/clients/<int:client_id>/plan/revise", methods=["GET", "POST"])
@page_roles(*STAFF)
def revise(client_id: int):
    """A new version of the client's active plan: targets, goals and the tapering phases."""
    refusal = outside_caseload(client_id, "plans")
    if refusal is not None:
        return refusal
    client, plan = _active_plan_or_404(client_id)
    if request.method == "GET":
        page = _page(client, plan, _form_from_plan(plan))
        log_page_read([client_id], "plans")
        return page
    form = RevisionForm()
    offer_staff(form.primary_therapist_id, _("None named"))
    if not form.validate_on_submit():
        flash(_("Not saved: please fix the fields marked below."), "error")
        return _page(client, plan, form, 422)
    try:
        revised = plans.revise_plan(db.session, page_actor(), plan.id, form.changes())
    except DomainError as error:
        db.session.rollback()
        placed = isinstance(error, InvalidField) and _place_error(form, error)
        flash(_("Not saved: please fix the fields marked below.") if placed
              else describe(error, what=_("Not saved")), "error")
        return _page(client, *_active_plan_or_404(client_id)[1:], form, error.status)
    db.session.commit()
    flash(_("Plan version %(new)s saved; version %(old)s is kept as it was.",
            new=revised.version, old=plan.version), "success")
    return redirect(url_for("client_pages.detail", client_id=client_id), code=303)


PAPERWORK = {"certification": (plans.record_certification, _l("Certification not recorded"),
                               _l("Certification recorded for %(day)s.")),
             "review": (plans.record_review, _l("Plan review not recorded"),
                        _l("Plan review recorded for %(day)s."))}
PAPERWORK_LABELS = {"certified_on": _l("Date"), "reviewed_on": _l("Date")}
PAPERWORK_FIELDS = {"certification": "certified_on", "review": "reviewed_on"}


@bp.post("/clients/<int:client_id>/plan/certification", defaults={"what": "certification"})
@bp.post("/clients/<int:client_id>/plan/review", defaults={"what": "review"})
@page_roles(*STAFF)
def paperwork(client_id: int, what: str):
    """Record the physician's certification or the plan review; the next falls due 60 days on."""
    refusal = outside_caseload(client_id, "plans")
    if refusal is not None:
        return refusal
    _active, plan = _active_plan_or_404(client_id)
    record, refused, done = PAPERWORK[what]
    form = PaperworkForm()
    # The date is the one field: its refusal stands beside it (g.field_refusals, by the
    # service's name for it) rather than only on top of the page.
    column = PAPERWORK_FIELDS[what]
    if not form.validate_on_submit():
        problems = [str(m) for messages in form.errors.values() for m in messages]
        beside(column, f"{refused}: " + " ".join(problems))
        return detail_page(client_id, 422)
    try:
        record(db.session, page_actor(), plan.id, form.on.data)
    except DomainError as error:
        db.session.rollback()
        if not beside_fields(error, PAPERWORK_LABELS, [column], what=str(refused)):
            flash(describe(error, PAPERWORK_LABELS, what=str(refused)), "error")
        return detail_page(client_id, error.status)
    db.session.commit()
    flash(str(done) % {"day": local(form.on.data, "short_date")}, "success")
    return redirect(url_for("client_pages.detail", client_id=client_id), code=303)
