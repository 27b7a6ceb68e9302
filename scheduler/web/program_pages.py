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

LEVEL_WORDS = {"1": "Level 1 (outpatient)", "2.1": "Level 2.1 (intensive outpatient)",
               "2.5": "Level 2.5 (partial hospitalisation)"}
POPULATION_WORDS = {"adult": "Adults", "adolescent": "Adolescents"}
PRIVACY_WORDS = {"private": "Private: “Appointment” and the street address",
                 "standard": "Standard: the kind of session",
                 "full": "Full: the series title and the facilitators"}


def _choices(words: dict) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in words.items()]


def _count(label: str, top: int, default: int, description: str):
    # The API's ranges (api/programs.py ProgramFields).
    return WholeNumber(label, default=default, description=description, validators=[
        InputRequired(f"Give a number from 1 to {top}."),
        NumberRange(1, top, f"Give a number from 1 to {top}.")])


class ProgramForm(PageForm):
    name = StringField("Name", validators=[DataRequired("Give the program a name."),
                                           Length(max=200)])
    level_of_care = SelectField("Level of care (ASAM)", choices=_choices(LEVEL_WORDS),
                                default="2.1")
    population = SelectField("Who it serves", choices=_choices(POPULATION_WORDS),
                             default="adult")
    timezone = StringField("Time zone", default="America/New_York", validators=[
        DataRequired("Give the program's time zone, such as America/New_York."),
        Length(max=64)], description="An IANA name such as America/Chicago.")
    country = StringField("Country", default="US", validators=[
        DataRequired("Give a two-letter country code, such as US."), Length(max=2)],
        description="Two letters: series warn about sessions on its public holidays.")
    address = StringField("Address", validators=[Optional(), Length(max=300)])
    min_weekly_hours = Hours("Weekly hours each client needs", places=2, validators=[
        Optional(), NumberRange(0, 80, "Between 0 and 80 hours.")],
        description="Empty: the level's default (2.1 adult 9, adolescent 6; 2.5 20; "
                    "level 1 none).")
    min_group_size = WholeNumber("Smallest group", validators=[
        Optional(), NumberRange(1, 500, "At least 1 client, or empty for no minimum.")],
        description="The planner leaves no group it fills below this. Empty: no minimum.")
    absence_streak_alert = _count("Absences in a row before follow-up", 20, 2,
                                  "Unexcused, in a row: the client goes on the follow-up list.")
    discharge_review_streak = _count("Absences in a row before a discharge review", 50, 3,
                                     "Unexcused, in a row.")
    discharge_review_absences = _count("Absences before a discharge review", 200, 6,
                                       "More unexcused absences than this within the weeks "
                                       "below also call for one.")
    discharge_review_weeks = _count("Within weeks", 52, 12, "The window for the count above.")
    feed_privacy = SelectField("What calendar feeds say", choices=_choices(PRIVACY_WORDS),
                               default="private")
    is_active = BooleanField("Running", default=True)


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
        page, lambda _: f"{program.name} saved.")
