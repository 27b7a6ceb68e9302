""""Find a time": free times for a client's one-to-one session, booked once or weekly.

Reached from the client's page and from intake step 3. The search is a GET form and each time
a small POST form, so it works without JavaScript; the rules live in services/free_slots.
"""

from contextlib import suppress
from datetime import date, datetime, timedelta

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict
from wtforms import DateField, HiddenField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Optional

from scheduler import clock
from scheduler.extensions import db
from scheduler.i18n import gettext as _
from scheduler.i18n import lazy_gettext as _l
from scheduler.i18n import local
from scheduler.models import Client, Room, Staff
from scheduler.models.users import COORDINATORS
from scheduler.services import day_sheet, free_slots, plans
from scheduler.services.errors import DomainError, InvalidField
from scheduler.services.lookup import get_or_404
from scheduler.services.series import ONE_TO_ONE_KINDS
from scheduler.web.access import log_page_read, page_actor, page_roles
from scheduler.web.calendar.pickers import offer_staff
from scheduler.web.form_fields import (
    PageForm,
    PickerField,
    PlainForm,
    in_range,
    optional_id,
    put_on_form,
)
from scheduler.web.labels import KIND_LABELS
from scheduler.web.refusals import describe

bp = Blueprint("find_time", __name__)

LENGTHS = (30, 45, 50, 60, 90)
KINDS = [k for k in KIND_LABELS if k in ONE_TO_ONE_KINDS]
# The service's names for its inputs, as this page's forms call them.
RENAMES = {"staff_id": "staff_id", "duration_minutes": "length", "to": "week",
           "from": "week"}


class SearchForm(PlainForm):
    """Who, how long and which week; read from the query string."""

    staff_id = PickerField(_l("Clinician"),
                           validators=[DataRequired(_l("Choose the clinician."))])
    length = SelectField(_l("Length"), coerce=int, default=50,
                         choices=[SelectChoice(n, _l("%(count)s minutes", count=n))
                                  for n in LENGTHS])
    kind = SelectField(_l("Kind of session"), default="individual",
                       choices=[SelectChoice(k, KIND_LABELS[k]) for k in KINDS])
    week = DateField(_l("Week of"), validators=[Optional(), in_range])
    intake = HiddenField()


class BookForm(PageForm):
    """One found time, booked once or every week."""

    starts_at = HiddenField(validators=[DataRequired()])
    staff_id = HiddenField(validators=[DataRequired()])
    room_id = HiddenField(validators=[DataRequired()])
    length = HiddenField(validators=[DataRequired()])
    kind = HiddenField(validators=[DataRequired()])
    repeat = HiddenField()
    intake = HiddenField()


def search_form(client: Client, args=None) -> tuple[SearchForm, bool]:
    """The search form, its clinician defaulting to the plan's primary therapist, and whether
    to search (a clinician was asked for, or there is a default one)."""
    args = args if args is not None else request.args
    form = SearchForm(args)
    if "staff_id" not in args:
        plan = plans.active_plan(db.session, client.id)
        form.staff_id.data = plan.primary_therapist_id if plan is not None else None
    offer_staff(form.staff_id, _("Choose a clinician"))
    return form, "staff_id" in args or form.staff_id.data is not None


def blank_search(client: Client) -> SearchForm:
    """The search form as the client's page and intake show it, before any search."""
    return search_form(client, MultiDict())[0]


def _week(client: Client, chosen: date | None) -> tuple[date, datetime, datetime]:
    """Monday of the chosen week (this week by default) and its bounds in the program's zone."""
    tz = day_sheet.program_zone(db.session, client.program_id)
    day = chosen or day_sheet.program_today(db.session, clock.now(), client.program_id)
    monday = day - timedelta(days=day.weekday())
    start = datetime.combine(monday, datetime.min.time(), tzinfo=tz)
    return monday, start, datetime.combine(monday + timedelta(days=7), datetime.min.time(),
                                           tzinfo=tz)


def _page(client: Client, search: tuple[SearchForm, bool], status: int = 200,
          refused: DomainError | None = None):
    """The form, and with a valid search the free times by day; `refused` is a booking's
    refusal, beside the search field it names (validating the form would wipe it before),
    else on top."""
    form, asked = search
    days: dict[date, list] = {}
    monday = None
    searched = False
    if asked:
        if form.validate() and form.staff_id.data is not None:
            monday, start, end = _week(client, form.week.data)
            # The box shows the Monday the list starts on, whichever day was typed.
            form.week.data, form.week.raw_data = monday, [monday.isoformat()]
            try:
                found = free_slots.free_slots(
                    db.session, client.id, form.staff_id.data, form.length.data, start, end,
                    now=clock.now())
                searched = True
            except DomainError as error:
                if not put_on_form(form, error, RENAMES):
                    flash(describe(error), "error")
                status = error.status
                found = []
            rooms = {r.id: r.name for r in db.session.query(Room)}
            for slot in found:
                days.setdefault(slot.starts_at.date(), []).append(
                    {"slot": slot, "room": rooms.get(slot.room_id, "")})
        elif status == 200:
            status = 422
    if refused is not None and not put_on_form(form, refused, RENAMES):
        flash(describe(refused, what=_("Not booked")), "error")
    staff = db.session.get(Staff, form.staff_id.data) if form.staff_id.data else None
    previous = monday - timedelta(days=7) if monday else None
    following = monday + timedelta(days=7) if monday else None
    return render_template(
        "clients/find_time.html", client=client, form=form, days=days, searched=searched,
        monday=monday, previous=previous, following=following, staff=staff,
        intake=bool(form.intake.data), step=3 if form.intake.data else None), status


@bp.route("/clients/<int:client_id>/find-a-time", methods=["GET", "POST"])
@page_roles(*COORDINATORS)
def find(client_id: int):
    """Free times where the client, the clinician and a room are all free, for one week;
    a POST books one of them. (One rule for both, so an id out of range is a 404 for each.)"""
    if request.method == "POST":
        return _book(client_id)
    client = get_or_404(db.session, Client, client_id, "client")
    page = _page(client, search_form(client))
    log_page_read([client.id], "free_slots")
    return page


def _again(client: Client, form: BookForm) -> tuple[SearchForm, bool]:
    """The search the booked time came from, to show again beside a refusal."""
    args = {"staff_id": form.staff_id.data, "length": form.length.data,
            "kind": form.kind.data, "intake": form.intake.data or ""}
    with suppress(ValueError):
        args["week"] = datetime.fromisoformat(form.starts_at.data or "").date().isoformat()
    return search_form(client, MultiDict(args))


def _posted(form: BookForm) -> dict:
    """The hidden fields as the service takes them; InvalidField when one was tampered with."""
    try:
        starts_at = datetime.fromisoformat(form.starts_at.data or "")
    except ValueError:
        raise InvalidField("starts_at", _("Not a time; search again.")) from None
    if starts_at.tzinfo is None:
        raise InvalidField("starts_at", _("Not a time with its UTC offset; search again."))
    values = {}
    for name in ("staff_id", "room_id", "length"):
        try:
            values[name] = optional_id(form[name].data)
        except ValueError:
            values[name] = None
        if values[name] is None:
            raise InvalidField(name, _("Not a valid choice; search again."))
    return {"starts_at": starts_at, "staff_id": values["staff_id"],
            "room_id": values["room_id"], "duration_minutes": values["length"],
            "kind": form.kind.data, "weekly": form.repeat.data == "weekly"}


def _book(client_id: int):
    """Book a found time once, or every week as a one-seat series the client is enrolled in."""
    client = get_or_404(db.session, Client, client_id, "client")
    form = BookForm()
    if not form.validate_on_submit():
        flash(_("That time could not be read; search again."), "error")
        return _page(client, _again(client, form), 422)
    try:
        values = _posted(form)
        first = free_slots.book_slot(
            db.session, page_actor(), client_id=client.id, now=clock.now(),
            horizon_days=current_app.config["SESSION_HORIZON_DAYS"],
            title=str(KIND_LABELS.get(values["kind"], _("Individual therapy"))), **values)
    except DomainError as error:
        db.session.rollback()
        return _page(client, _again(client, form), error.status, refused=error)
    tz = day_sheet.program_zone(db.session, client.program_id)
    when = local(first.starts_at, "short_day_date_time", tz)
    people = ", ".join(s.name for s in first.facilitators)
    db.session.commit()
    if values["weekly"]:
        flash(_("%(name)s booked every week with %(people)s from %(when)s.", name=client.name,
                people=people, when=when), "success")
    else:
        flash(_("%(name)s booked with %(people)s on %(when)s.", name=client.name, people=people,
                when=when), "success")
    if form.intake.data:
        return redirect(url_for("client_pages.intake_enrol", client_id=client.id), code=303)
    return redirect(url_for("client_pages.detail", client_id=client.id), code=303)
