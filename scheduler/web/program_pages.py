"""Setup pages for programs: a level of care for one population, at one site, in one zone.

Coordinators and admins (as POST/PATCH /api/v1/programs); everything goes through
services/programs.py, which audits it and holds the zone, country and group-size rules.
"""

from flask import Blueprint, render_template, request
from sqlalchemy import select
from wtforms import BooleanField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from scheduler.extensions import db
from scheduler.i18n import gettext as _
from scheduler.i18n import lazy_gettext as _l
from scheduler.models import Program
from scheduler.models.users import COORDINATORS
from scheduler.services import programs, scope
from scheduler.services.lookup import get_or_404
from scheduler.web.access import page_actor, page_roles
from scheduler.web.form_fields import Hours, PageForm, WholeNumber
from scheduler.web.setup_forms import (
    SiteField,
    add_from_form,
    offer_sites,
    save_from_form,
    site_names,
)

bp = Blueprint("program_pages", __name__)

LEVEL_WORDS = {"1": _l("Level 1 (outpatient)"), "2.1": _l("Level 2.1 (intensive outpatient)"),
               "2.5": _l("Level 2.5 (partial hospitalisation)")}
POPULATION_WORDS = {"adult": _l("Adults"), "adolescent": _l("Adolescents")}
PRIVACY_WORDS = {"private": _l("Private: “Appointment” and the street address"),
                 "standard": _l("Standard: the kind of session"),
                 "full": _l("Full: the series title and the facilitators")}


def _choices(words: dict) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in words.items()]


def _count(label, top: int, default: int, description):
    # The API's ranges (api/programs.py ProgramFields).
    return WholeNumber(label, default=default, description=description, validators=[
        InputRequired(_l("Give a number from 1 to %(top)d.", top=top)),
        NumberRange(1, top, _l("Give a number from 1 to %(top)d.", top=top))])


class ProgramForm(PageForm):
    name = StringField(_l("Name"), validators=[DataRequired(_l("Give the program a name.")),
                                           Length(max=200)])
    level_of_care = SelectField(_l("Level of care (ASAM)"), choices=_choices(LEVEL_WORDS),
                                default="2.1")
    population = SelectField(_l("Who it serves"), choices=_choices(POPULATION_WORDS),
                             default="adult")
    timezone = StringField(_l("Time zone"), default="America/New_York", validators=[
        DataRequired(_l("Give the program's time zone, such as America/New_York.")),
        Length(max=64)], description=_l("An IANA name such as America/Chicago."))
    country = StringField(_l("Country"), default="US", validators=[
        DataRequired(_l("Give a two-letter country code, such as US.")), Length(max=2)],
        description=_l("Two letters: series warn about sessions on its public holidays."))
    address = StringField(_l("Address"), validators=[Optional(), Length(max=300)])
    min_weekly_hours = Hours(_l("Weekly hours each client needs"), places=2, validators=[
        Optional(), NumberRange(0, 80, _l("Between 0 and 80 hours."))],
        description=_l("Empty: the level's default (2.1 adult 9, adolescent 6; 2.5 20; "
                       "level 1 none)."))
    min_group_size = WholeNumber(_l("Smallest group"), validators=[
        Optional(), NumberRange(1, 500, _l("At least 1 client, or empty for no minimum."))],
        description=_l("The planner leaves no group it fills below this. Empty: no minimum."))
    absence_streak_alert = _count(_l("Absences in a row before follow-up"), 20, 2,
                                  _l("Unexcused, in a row: the client goes on the follow-up "
                                     "list."))
    discharge_review_streak = _count(_l("Absences in a row before a discharge review"), 50, 3,
                                     _l("Unexcused, in a row."))
    discharge_review_absences = _count(_l("Absences before a discharge review"), 200, 6,
                                       _l("More unexcused absences than this within the weeks "
                                          "below also call for one."))
    discharge_review_weeks = _count(_l("Within weeks"), 52, 12,
                                    _l("The window for the count above."))
    feed_privacy = SelectField(_l("What calendar feeds say"), choices=_choices(PRIVACY_WORDS),
                               default="private")
    is_active = BooleanField(_l("Running"), default=True)


class NewProgramForm(ProgramForm):
    site_id = SiteField()


def _values(form: ProgramForm) -> dict:
    return {
        "name": form.name.data.strip(), "level_of_care": form.level_of_care.data,
        "population": form.population.data, "timezone": form.timezone.data.strip(),
        "country": form.country.data.strip(),
        "address": (form.address.data or "").strip() or None,
        "min_weekly_hours": form.min_weekly_hours.data,
        "min_group_size": form.min_group_size.data,
        "absence_streak_alert": form.absence_streak_alert.data,
        "discharge_review_streak": form.discharge_review_streak.data,
        "discharge_review_absences": form.discharge_review_absences.data,
        "discharge_review_weeks": form.discharge_review_weeks.data,
        "feed_privacy": form.feed_privacy.data, "is_active": bool(form.is_active.data),
    }


def _list_page(form: NewProgramForm, status: int = 200):
    show_site = offer_sites(form.site_id)
    rows = list(db.session.scalars(select(Program).where(scope.sites_filter(Program.site_id))
                                   .order_by(Program.is_active.desc(), Program.name,
                                             Program.id)))
    return render_template("setup/programs.html", programs=rows, form=form,
                           show_site=show_site, sites=site_names(p.site_id for p in rows),
                           levels=LEVEL_WORDS), status


@bp.get("/programs")
@page_roles(*COORDINATORS)
def index():
    """Programs with their site, level of care, zone and country, and the form to add one."""
    return _list_page(NewProgramForm(formdata=None))


@bp.post("/programs")
@page_roles(*COORDINATORS)
def add():
    form = NewProgramForm()
    return add_from_form(form, lambda: programs.create_program(
        db.session, page_actor(), site_id=form.site_id.data, **_values(form)), _list_page)


@bp.route("/programs/<int:program_id>/edit", methods=["GET", "POST"])
@page_roles(*COORDINATORS)
def edit(program_id: int):
    """Change a program's settings; it stays at its site."""
    program = get_or_404(db.session, Program, program_id, "program")
    site = site_names([program.site_id]).get(program.site_id)
    if request.method == "GET":
        form = ProgramForm(obj=program)
        form.min_weekly_hours.data = program.min_weekly_hours_override
    else:
        form = ProgramForm()

    def page(status: int):
        return render_template("setup/program_edit.html", form=form, program=program,
                               site=site), status

    return save_from_form(
        form, lambda: programs.update_program(db.session, page_actor(), program, _values(form)),
        page, lambda _result: _("%(name)s saved.", name=program.name))
