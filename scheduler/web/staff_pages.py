"""Coordinator pages for staff: who works here, and each person's weekly working hours."""

import re
from datetime import time

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from wtforms import StringField
from wtforms.validators import Length, ValidationError

from scheduler.extensions import db
from scheduler.i18n import gettext as _
from scheduler.i18n import lazy_gettext as _l
from scheduler.models import Staff, StaffWorkingHours
from scheduler.models.users import COORDINATORS
from scheduler.services import availability, sites
from scheduler.services.errors import DomainError, InvalidField
from scheduler.services.lookup import get_or_404
from scheduler.web.access import page_actor, page_roles
from scheduler.web.form_fields import PageForm
from scheduler.web.refusals import describe

bp = Blueprint("staff_pages", __name__)

DAYS = (_l("Monday"), _l("Tuesday"), _l("Wednesday"), _l("Thursday"), _l("Friday"), _l("Saturday"),
        _l("Sunday"))
# A staff member's role as the staff list shows it.
ROLE_LABELS = {"therapist": _l("therapist"), "counselor": _l("counselor"), "medical": _l("medical"),
               "peer_support": _l("peer support"), "other": _l("other")}
SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*[-–—]\s*(\d{1,2}):(\d{2})\s*$")


def _spans(text: str) -> list[tuple[time, time]]:
    """"09:00–12:00, 13:00–17:00" as (start, end) pairs; ValueError says what is wrong."""
    spans = []
    for part in (p for p in re.split(r"[,;]", text or "") if p.strip()):
        match = SPAN.match(part)
        if not match:
            raise ValueError(_("“%(part)s” is not a span like 09:00–17:00.", part=part.strip()))
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
            raise ValueError(_("“%(part)s” is not a time of day.", part=part.strip()))
        spans.append((time(h1, m1), time(h2, m2)))
    return spans


class HoursForm(PageForm):
    """One line of spans per weekday; a blank day is a day off (all blank: no limit)."""

    def day_fields(self):
        return [getattr(self, f"day_{n}") for n in range(7)]

    def windows(self) -> tuple[list[dict], list[int]]:
        """The windows in order, and the weekday each one came from (for errors)."""
        windows, days = [], []
        for n, field in enumerate(self.day_fields()):
            for start, end in _spans(field.data):
                windows.append({"weekday": n, "start": start, "end": end})
                days.append(n)
        return windows, days


def _check_spans(form, field):
    try:
        _spans(field.data)
    except ValueError as error:
        raise ValidationError(str(error)) from None


for _n, _day in enumerate(DAYS):
    setattr(HoursForm, f"day_{_n}", StringField(_day, validators=[Length(max=200),
                                                                 _check_spans]))


def _text(rows: list[StaffWorkingHours], weekday: int) -> str:
    return ", ".join(f"{r.start_time:%H:%M}–{r.end_time:%H:%M}" for r in rows
                     if r.weekday == weekday)


@bp.get("/staff")
@page_roles(*COORDINATORS)
def index():
    """Active staff with their weekly hours."""
    staff = list(db.session.scalars(select(Staff).where(Staff.is_active.is_(True))
                                    .order_by(Staff.name, Staff.id)))
    rows = db.session.scalars(select(StaffWorkingHours)).all()
    by_staff: dict[int, list] = {}
    for row in rows:
        by_staff.setdefault(row.staff_id, []).append(row)
    hours = {s.id: availability.hours_text(by_staff.get(s.id, [])) for s in staff}
    site_names = sites.staff_site_names(db.session, [s.id for s in staff])
    return render_template("staff/index.html", staff=staff, hours=hours, site_names=site_names,
                           role_labels=ROLE_LABELS)


@bp.route("/staff/<int:staff_id>/hours", methods=["GET", "POST"])
@page_roles(*COORDINATORS)
def hours(staff_id: int):
    """Set a staff member's weekly hours; booking them outside the hours is then a conflict."""
    member = get_or_404(db.session, Staff, staff_id, "staff member")
    form = HoursForm()
    if request.method == "GET":
        rows = availability.working_hours(db.session, member.id)
        for n, field in enumerate(form.day_fields()):
            field.data = _text(rows, n)
        return render_template("staff/hours.html", form=form, member=member)
    if not form.validate_on_submit():
        return render_template("staff/hours.html", form=form, member=member), 422
    windows, days = form.windows()
    try:
        availability.set_working_hours(db.session, page_actor(), member.id, windows)
    except DomainError as error:
        db.session.rollback()
        placed = False
        if isinstance(error, InvalidField):
            for path, messages in error.fields.items():
                parts = path.split(".")
                if len(parts) > 1 and parts[1].isdigit() and int(parts[1]) < len(days):
                    field = form.day_fields()[days[int(parts[1])]]
                    field.errors = [*field.errors, *messages]
                    placed = True
        if not placed:
            flash(describe(error, what=_("Not saved")), "error")
        return render_template("staff/hours.html", form=form, member=member), error.status
    db.session.commit()
    flash(_("Working hours of %(name)s saved.", name=member.name), "success")
    return redirect(url_for(".index"), code=303)
