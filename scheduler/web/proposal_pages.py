""""Suggest a schedule": the planner's proposal for one client as a page, accepted in one click.

Reached from the client's page, from intake step 3 (the same form, carrying `intake`) and from
the follow-up list ("Suggest make-up" for a week that can still be met). Each form post makes a
proposal through services.proposals and redirects to its page; the page shows the proposed
weeks as a small calendar with hours against the target and the reason for any shortfall, and
Accept books all of it or, when the world changed since, nothing. The rules (weeks, dates,
seats, expiry) live in the service; this module only turns its answer into words.

"Suggest schedules" (from the Clients list and intake step 3) plans several of a program's
clients at once, with the new admissions that have nothing booked ahead ticked. Its proposal
page lists each client's weeks met and hours and how full each group gets, and Accept books
every client or nobody.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from babel.dates import format_date
from babel.numbers import format_decimal, format_percent
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from wtforms import DateField, HiddenField, SelectMultipleField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, NumberRange, StopValidation, ValidationError

from scheduler import clock
from scheduler.extensions import db
from scheduler.i18n import current_language, local, ngettext
from scheduler.i18n import gettext as _
from scheduler.i18n import lazy_gettext as _l
from scheduler.models import Client, Program
from scheduler.models.users import COORDINATORS
from scheduler.services import day_sheet, programs, proposals, scope
from scheduler.services.errors import DomainError
from scheduler.services.lookup import get_or_404
from scheduler.services.proposals import DEFAULT_WEEKS, MAX_WEEKS, MIN_WEEKS
from scheduler.web import query_args
from scheduler.web.access import log_page_read, page_actor, page_roles
from scheduler.web.form_fields import PageForm, WholeNumber, in_range, optional_id, put_on_form
from scheduler.web.labels import KIND_LABELS
from scheduler.web.refusals import describe

bp = Blueprint("proposal_pages", __name__)

# The service's names for its inputs, as these pages' forms call them.
RENAMES = {"from": "from_date", "from_date": "from_date", "weeks": "weeks",
           "week_start": "week_start", "client_ids": "client_ids"}
LABELS = {"from": _l("From"), "from_date": _l("From"), "weeks": _l("Weeks"),
          "week_start": _l("Week of"), "client_ids": _l("Clients")}
# Said when the weeks asked for are out of range.
WEEKS_RANGE = _l("Enter a number of weeks from %(min)d to %(max)d.", min=MIN_WEEKS, max=MAX_WEEKS)


# ---------------------------------------------------------------- forms


class WeeksForm(PageForm):
    """From which day, for how many weeks: what every "Suggest" form asks."""

    from_date = DateField(_l("From"), validators=[InputRequired(_l("Enter the first day.")),
                                                  in_range])
    weeks = WholeNumber(_l("Weeks"), default=DEFAULT_WEEKS, validators=[
        InputRequired(WEEKS_RANGE),
        NumberRange(min=MIN_WEEKS, max=MAX_WEEKS, message=WEEKS_RANGE)])


class SuggestForm(WeeksForm):
    """One client's weeks; intake step 3 sends `intake` along."""

    intake = HiddenField()


class ListedClients(SelectMultipleField):
    """The clients the page lists, by id; anything else (a client discharged or moved since
    the page was loaded, a made-up id) is refused in words."""

    def process_formdata(self, valuelist):
        try:
            self.data = [optional_id(value) for value in valuelist]
        except (TypeError, ValueError):
            self.data = []
            raise ValueError(_("Choose from the clients listed.")) from None

    def pre_validate(self, form):
        listed = {choice.value for choice in self.choices or ()}
        if any(value not in listed for value in self.data or ()):
            raise ValidationError(_("Choose from the clients listed: someone may have been "
                                    "discharged or moved since the page was loaded."))


def _someone_ticked(form, field) -> None:
    if not field.data and not field.errors:
        raise StopValidation(_("Tick at least one client."))


class CohortForm(WeeksForm):
    """Several of a program's clients, planned together so that seats are shared fairly."""

    client_ids = ListedClients(_l("Clients"), coerce=optional_id, validators=[_someone_ticked])


class MakeUpForm(PageForm):
    """The week whose shortfall the make-up sessions should close (its Monday)."""

    week_start = DateField(_l("Week of"), validators=[InputRequired(_l("Enter the week.")),
                                                       in_range])


class AcceptForm(PageForm):
    intake = HiddenField()


def first_monday(program_id: int) -> date:
    """The program's today when it is a Monday, else the next Monday: whole weeks, so each
    week's planned hours compare with the whole week's target."""
    today = day_sheet.program_today(db.session, clock.now(), program_id)
    return today + timedelta(days=(7 - today.weekday()) % 7)


def blank_form(client: Client, intake: bool = False) -> SuggestForm:
    """The form as the client's page and intake step 3 show it."""
    return SuggestForm(formdata=None, from_date=first_monday(client.program_id),
                       weeks=DEFAULT_WEEKS, intake="1" if intake else "")


# ---------------------------------------------------------------- making a proposal


def _suggest_page(client: Client, form: SuggestForm, status: int = 200):
    intake = bool(form.intake.data)
    return render_template("proposals/suggest.html", client=client, form=form, intake=intake,
                           step=3 if intake else None), status


def _to_proposal(proposal, intake: bool):
    return redirect(url_for(".show", proposal_id=proposal.id, intake="1" if intake else None),
                    code=303)


@bp.route("/clients/<int:client_id>/suggest-schedule", methods=["GET", "POST"])
@page_roles(*COORDINATORS)
def suggest(client_id: int):
    """The form alone (GET), or a new proposal for the client's weeks (POST) and its page."""
    client = get_or_404(db.session, Client, client_id, "client")
    if request.method == "GET":
        form = blank_form(client, intake=query_args.choice_arg("intake", ("1",)) is not None)
        from_date = query_args.date_arg("from")
        weeks = query_args.number_arg("weeks", MAX_WEEKS)
        if from_date is not None:
            form.from_date.data = from_date
        if weeks is not None:
            form.weeks.data = weeks
        return _suggest_page(client, form)
    form = SuggestForm()
    if not form.validate_on_submit():
        return _suggest_page(client, form, 422)
    try:
        proposal = proposals.propose_for_client(
            db.session, page_actor(), client.id, from_date=form.from_date.data,
            weeks=form.weeks.data, now=clock.now(), **proposals.limits(current_app.config))
    except DomainError as error:
        db.session.rollback()
        if not put_on_form(form, error, RENAMES):
            flash(describe(error, LABELS, what=_("No schedule suggested")), "error")
        return _suggest_page(client, form, error.status)
    db.session.commit()
    return _to_proposal(proposal, bool(form.intake.data))


@bp.post("/clients/<int:client_id>/suggest-make-up")
@page_roles(*COORDINATORS)
def suggest_make_up(client_id: int):
    """Sessions that close one week's shortfall, as a proposal (from the follow-up list)."""
    client = get_or_404(db.session, Client, client_id, "client")
    form = MakeUpForm()
    status = 422
    if form.validate_on_submit():
        try:
            proposal = proposals.propose_make_up(
                db.session, page_actor(), client.id, week_start=form.week_start.data,
                now=clock.now(), **proposals.limits(current_app.config))
        except DomainError as error:
            db.session.rollback()
            if not put_on_form(form, error, RENAMES):
                flash(describe(error, LABELS, what=_("No make-up suggested")), "error")
            status = error.status
        else:
            db.session.commit()
            return _to_proposal(proposal, False)
    return render_template("proposals/make_up.html", client=client, form=form), status


# ---------------------------------------------------------------- a cohort


def _cohort_page(program: Program, form: CohortForm, new: list[Client], rest: list[Client],
                 status: int = 200):
    active = programs.active_programs(db.session)
    if request.method == "GET":
        log_page_read([c.id for c in new + rest], "cohort_suggest")
    ticked = set(form.client_ids.data or ())
    return render_template("proposals/cohort_suggest.html", program=program, form=form,
                           new=new, rest=rest, ticked=ticked, programs=active), status


def _cohort_form(program: Program, posted: bool) -> tuple[CohortForm, list, list]:
    """The form, and the clients it lists: as posted, or as the page first shows it (the
    clients with nothing booked ahead ticked, from the first Monday, for DEFAULT_WEEKS)."""
    new, rest = proposals.cohort_candidates(db.session, program.id, clock.now())
    form = CohortForm() if posted else CohortForm(
        formdata=None, from_date=first_monday(program.id), weeks=DEFAULT_WEEKS,
        client_ids=[c.id for c in new])
    form.client_ids.choices = [SelectChoice(c.id, c.name) for c in new + rest]
    return form, new, rest


@bp.get("/suggest-schedules")
@page_roles(*COORDINATORS)
def cohort_start():
    """The chosen program's page (the only or first one when none is named)."""
    # The first program of my sites when none is named.
    program = query_args.row_arg("program", Program, "program") or next(
        iter(programs.active_programs(db.session, scope.my_site_ids(db.session, current_user))),
        None) or next(iter(programs.active_programs(db.session)), None)
    if program is None:
        flash(_("There is no program to suggest schedules for yet."), "error")
        return redirect(url_for("client_pages.index"), code=303)
    return redirect(url_for(".cohort_suggest", program_id=program.id), code=303)


@bp.route("/programs/<int:program_id>/suggest-schedules", methods=["GET", "POST"])
@page_roles(*COORDINATORS)
def cohort_suggest(program_id: int):
    """The program's admitted clients with nothing booked ahead, ticked, and the rest to tick
    (GET); one proposal for all the ticked clients at once (POST) and its page."""
    program = get_or_404(db.session, Program, program_id, "program")
    if request.method == "GET":
        form, new, rest = _cohort_form(program, posted=False)
        return _cohort_page(program, form, new, rest)
    form, new, rest = _cohort_form(program, posted=True)
    if not form.validate_on_submit():
        return _cohort_page(program, form, new, rest, 422)
    try:
        proposal = proposals.propose_for_program(
            db.session, page_actor(), program.id, client_ids=form.client_ids.data,
            from_date=form.from_date.data, weeks=form.weeks.data, now=clock.now(),
            **proposals.limits(current_app.config))
    except DomainError as error:
        db.session.rollback()
        if not put_on_form(form, error, RENAMES):
            flash(describe(error, LABELS, what=_("No schedules suggested")), "error")
        return _cohort_page(program, form, new, rest, error.status)
    db.session.commit()
    return _to_proposal(proposal, False)


# ---------------------------------------------------------------- the proposal in words


@dataclass
class Item:
    starts: datetime
    ends: datetime
    title: str
    kind: str
    new: bool


@dataclass
class Day:
    day: date
    items: list[Item] = field(default_factory=list)


@dataclass
class Week:
    week_start: date
    planned: Decimal
    target: Decimal | None
    met: bool | None
    days: list[Day]
    short: list[dict]


def _when(text: str, tz) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(tz)


def _hours(value) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _weeks(body: dict, tz) -> list[Week]:
    """One row per proposed week, a column per day, the proposal's and the client's existing
    sessions in it, and the shortfalls the planner explained for that week."""
    by_day: dict[date, list[Item]] = defaultdict(list)
    for entry in body.get("calendar") or ():
        starts = _when(entry["starts_at"], tz)
        by_day[starts.date()].append(Item(starts, _when(entry["ends_at"], tz), entry["title"],
                                          entry.get("kind") or "", bool(entry.get("new"))))
    short: dict[date, list[dict]] = defaultdict(list)
    for entry in body.get("unmet") or ():
        short[date.fromisoformat(entry["week_start"])].append(entry)
    weeks = []
    for row in body.get("weekly") or ():
        monday = date.fromisoformat(row["week_start"])
        days = [Day(monday + timedelta(days=n),
                    sorted(by_day.get(monday + timedelta(days=n), []), key=lambda i: i.starts))
                for n in range(7)]
        weeks.append(Week(monday, _hours(row.get("planned_hours")) or Decimal(0),
                          _hours(row.get("target_hours")), row.get("met"), days,
                          short.get(monday, [])))
    return weeks


def _seconds_text(seconds) -> str:
    value = float(seconds or 0)
    return format_decimal(value, format="0.0" if value < 1 else "0", locale=current_language())


def solver_words(solver: dict | None) -> str:
    """What the planner's status means for the person reading the schedule."""
    solver = solver or {}
    status = str(solver.get("status") or "").upper()
    if status == "OPTIMAL":
        return _("Best possible schedule (proven).")
    seconds = _seconds_text(solver.get("seconds"))
    if status == "FEASIBLE":
        return _("Good schedule found in %(seconds)s s (may not be the best).", seconds=seconds)
    if status == "INFEASIBLE":
        return _("No schedule can meet every rule; what is shown is all that fits.")
    return _("The planner found no schedule in %(seconds)s s; what is shown is all that fits.",
             seconds=seconds)


def _days_text(text) -> str:
    if isinstance(text, list | tuple):
        return ", ".join(str(part) for part in text)
    return str(text or "")


def _enrolment_line(entry: dict) -> str:
    """ "Relapse prevention — Mondays at 18:00, 4 sessions, 3 seats free" """
    sessions = entry.get("sessions") or 0
    seats = entry.get("seats_free")
    parts = [ngettext("%(num)d session", "%(num)d sessions", sessions)]
    if seats is not None:
        parts.append(_("no seat free") if seats == 0 else
                     ngettext("%(num)d seat free", "%(num)d seats free", seats))
    meets = _days_text(entry.get("meets"))
    head = f"{entry['title']} — {meets}" if meets else entry["title"]
    return f"{head}, {', '.join(parts)}"


def _session_line(entry: dict, tz) -> str:
    starts, ends = _when(entry["starts_at"], tz), _when(entry["ends_at"], tz)
    seats = entry.get("seats_free")
    free = "" if seats is None else (", " + (_("no seat free") if seats == 0 else ngettext(
        "%(num)d seat free", "%(num)d seats free", seats)))
    return (f"{entry['title']} — {local(starts, 'short_day_time')}–"
            f"{local(ends, 'time')}{free}")


def _appointment_line(entry: dict, tz) -> dict:
    starts, ends = _when(entry["starts_at"], tz), _when(entry["ends_at"], tz)
    return {"when": f"{local(starts, 'short_day_time')}–{local(ends, 'time')}",
            "kind": KIND_LABELS.get(entry.get("kind") or "", entry.get("kind") or ""),
            "staff": entry.get("staff_name") or "", "room": entry.get("room_name") or ""}


def _refusal(refusal: DomainError | None) -> dict:
    """What a refused accept shows: a lost race lists every change
    (ProposalConflict.conflicts); other refusals (expired, accepted already) are one
    sentence."""
    if refusal is None:
        return {"refusal": None, "refusal_changes": False}
    conflicts = getattr(refusal, "conflicts", None)
    if conflicts:
        return {"refusal": [_conflict_words(c) for c in conflicts], "refusal_changes": True}
    return {"refusal": [describe(refusal, LABELS)], "refusal_changes": False}


def _conflict_words(conflict) -> str:
    text = conflict.get("detail") if isinstance(conflict, dict) else conflict
    text = str(text or _("Something changed."))
    return text if text.endswith(".") else text + "."


def booked_words(client: Client, body: dict) -> str:
    """The flash after accepting: every series by name with its sessions, then the rest."""
    parts = [f"{e['title']} ({_('%(num)d sessions', num=e.get('sessions') or 0)})"
             for e in body.get("enrollments") or ()]
    singles = len(body.get("sessions") or ())
    if singles:
        parts.append(ngettext("%(num)d single session", "%(num)d single sessions", singles))
    appointments = body.get("appointments") or ()
    if appointments:
        people = ", ".join(dict.fromkeys(a.get("staff_name") or "" for a in appointments
                                         if a.get("staff_name")))
        with_whom = " " + _("with %(people)s", people=people) if people else ""
        parts.append(ngettext("%(num)d appointment", "%(num)d appointments", len(appointments))
                     + with_whom)
    if not parts:
        return _("Nothing new to book for %(name)s: the schedule already stands.",
                 name=client.name)
    listed = parts[0] if len(parts) == 1 else _("%(first)s and %(last)s",
                                                first=", ".join(parts[:-1]), last=parts[-1])
    return _("%(name)s booked: %(what)s.", name=client.name, what=listed)


def _page(proposal, status: int = 200, refusal: DomainError | None = None,
          intake: bool = False):
    client = get_or_404(db.session, Client, proposal.client_id, "client")
    program = db.session.get(Program, proposal.program_id)
    tz = day_sheet.program_zone(db.session, proposal.program_id)
    now = clock.now()
    body = proposal.body or {}
    weeks = _weeks(body, tz)
    return render_template(
        "proposals/show.html", proposal=proposal, client=client, program=program, tz=tz,
        weeks=weeks, state=proposals.status_of(proposal, now),
        met_weeks=sum(1 for w in weeks if w.met), target_weeks=sum(
            1 for w in weeks if w.target is not None),
        solver=solver_words(body.get("solver")),
        enrolments=[_enrolment_line(e) for e in body.get("enrollments") or ()],
        sessions=[_session_line(s, tz) for s in body.get("sessions") or ()],
        appointments=[_appointment_line(a, tz) for a in body.get("appointments") or ()],
        expires=proposals.clock_words(proposal.expires_at, tz, now),
        accepted=proposal.accepted_at.astimezone(tz) if proposal.accepted_at else None,
        **_refusal(refusal),
        # Make-up weeks are asked for by their Monday; the proposal starts on today at the
        # earliest.
        again_week=proposal.from_date - timedelta(days=proposal.from_date.weekday()),
        again_from=max(proposal.from_date, now.astimezone(tz).date()),
        intake=intake, step=3 if intake else None, kind_labels=KIND_LABELS), status


# ---------------------------------------------------------------- a cohort's proposal in words


@dataclass
class CohortRow:
    client_id: int
    name: str
    met: int
    target_weeks: int
    planned: Decimal
    target: Decimal | None
    coverage: float | None
    why: str | None
    books: str


def _books_words(entry: dict) -> str:
    """ "Relapse prevention (12 sessions), 4 appointments" """
    parts = [f"{e['title']} ("
             f"{ngettext('%(num)d session', '%(num)d sessions', e.get('sessions') or 0)})"
             for e in entry.get("enrollments") or ()]
    appointments = len(entry.get("appointments") or ())
    if appointments:
        parts.append(ngettext("%(num)d appointment", "%(num)d appointments", appointments))
    return ", ".join(parts)


def _cohort_rows(body: dict) -> list[CohortRow]:
    rows = []
    for entry in body.get("clients") or ():
        weekly = entry.get("weekly") or ()
        targets = [_hours(w.get("target_hours")) for w in weekly]
        shortfalls = entry.get("unmet") or ()
        rows.append(CohortRow(
            client_id=entry["client_id"], name=entry.get("name") or _("A client"),
            met=sum(1 for w in weekly if w.get("met")),
            target_weeks=sum(1 for t in targets if t is not None),
            planned=sum((_hours(w.get("planned_hours")) or Decimal(0) for w in weekly),
                        Decimal(0)),
            target=(sum((t for t in targets if t is not None), Decimal(0))
                    if any(t is not None for t in targets) else None),
            coverage=entry.get("coverage"),
            why=shortfalls[0].get("why") if shortfalls else None,
            books=_books_words(entry)))
    return rows


def _percent(share: float) -> str:
    return format_percent(min(int(share * 100), 100) / 100, locale=current_language())


def worst_words(rows: list[CohortRow]) -> str:
    """The fairness the planner aims at, in one sentence: how the worst-off client fares."""
    measured = [r for r in rows if r.coverage is not None]
    if not measured:
        return _("No client's plan sets weekly hours, so every client gets what fits.")
    worst = min(measured, key=lambda r: (r.coverage, r.name))
    if worst.coverage >= 1:
        return _("Every client gets all of their target hours.")
    if worst.coverage <= 0:
        return _("The worst-off client, %(name)s, gets none of their target hours.",
                 name=worst.name)
    return _("The worst-off client, %(name)s, gets %(share)s of their target hours.",
             name=worst.name, share=_percent(worst.coverage))


def _day_month(day: date) -> str:
    """"7 Dec", "7 dic"."""
    return format_date(day, "d MMM", locale=current_language())


def _group_line(entry: dict) -> str:
    """ "Relapse prevention, week of 7 Dec: 4 added, 10 of 12 seats" """
    monday = date.fromisoformat(entry["week_start"])
    return _("%(title)s, week of %(day)s: %(added)s added, %(size)s of %(capacity)s seats",
             title=entry["title"], day=_day_month(monday), added=entry["added"],
             size=entry["size"], capacity=entry["capacity"])


def cohort_booked_words(body: dict) -> str:
    """The flash after accepting a cohort: how many clients, and what they got."""
    clients = body.get("clients") or ()
    booked = [c for c in clients if c.get("enrollments") or c.get("appointments")]
    sessions = sum(e.get("sessions") or 0 for c in clients for e in c.get("enrollments") or ())
    appointments = sum(len(c.get("appointments") or ()) for c in clients)
    if not booked:
        return _("Nothing new to book: no group or appointment fits these clients.")
    what = [ngettext("%(num)d group session", "%(num)d group sessions", sessions)] \
        if sessions else []
    if appointments:
        what.append(ngettext("%(num)d appointment", "%(num)d appointments", appointments))
    text = ngettext("%(num)d client booked: %(what)s.", "%(num)d clients booked: %(what)s.",
                    len(booked), what=_("%(first)s and %(last)s", first=what[0], last=what[1])
                    if len(what) == 2 else what[0])
    left = [c.get("name") or _("A client") for c in clients if c not in booked]
    if left:
        text += " " + _("Nothing fit for %(names)s.", names=", ".join(left))
    return text


def _cohort_page_of(proposal, status: int = 200, refusal: DomainError | None = None):
    program = get_or_404(db.session, Program, proposal.program_id, "program")
    tz = day_sheet.program_zone(db.session, proposal.program_id)
    now = clock.now()
    body = proposal.body or {}
    rows = _cohort_rows(body)
    return render_template(
        "proposals/cohort.html", proposal=proposal, program=program, tz=tz, rows=rows,
        state=proposals.status_of(proposal, now), meet_all=sum(
            1 for r in rows if r.target_weeks and r.met == r.target_weeks),
        measured=sum(1 for r in rows if r.target_weeks), worst=worst_words(rows),
        solver=solver_words(body.get("solver")),
        groups=[_group_line(g) for g in body.get("groups") or ()],
        expires=proposals.clock_words(proposal.expires_at, tz, now),
        accepted=proposal.accepted_at.astimezone(tz) if proposal.accepted_at else None,
        **_refusal(refusal),
        again_from=max(proposal.from_date, now.astimezone(tz).date()),
        again_ids=[r.client_id for r in rows]), status


def _proposal_or_404(proposal_id: int):
    return proposals.get(db.session, proposal_id)  # NotFound: the 404 page


@bp.get("/schedule-proposals/<int:proposal_id>")
@page_roles(*COORDINATORS)
def show(proposal_id: int):
    """The proposed weeks, what accepting books, and Accept."""
    proposal = _proposal_or_404(proposal_id)
    intake = query_args.choice_arg("intake", ("1",)) is not None
    if proposal.kind == "cohort":
        page = _cohort_page_of(proposal)
        log_page_read(list(proposal.client_ids or ()), "schedule_proposal")
        return page
    page = _page(proposal, intake=intake)
    log_page_read([proposal.client_id], "schedule_proposal")
    return page


@bp.post("/schedule-proposals/<int:proposal_id>/accept")
@page_roles(*COORDINATORS)
def accept(proposal_id: int):
    """Book everything the proposal shows in one transaction, or nothing and say why."""
    proposal = _proposal_or_404(proposal_id)
    form = AcceptForm()
    intake = form.intake.data == "1"
    cohort = proposal.kind == "cohort"
    if not form.validate_on_submit():
        flash(_("The form could not be read; open the suggestion again."), "error")
        return _cohort_page_of(proposal, 422) if cohort else _page(proposal, 422)
    try:
        proposals.accept(db.session, page_actor(), proposal.id, now=clock.now())
    except DomainError as error:
        db.session.rollback()
        again = proposals.get(db.session, proposal.id)
        if cohort:
            return _cohort_page_of(again, error.status, refusal=error)
        return _page(again, error.status, refusal=error, intake=intake)
    if cohort:
        message = cohort_booked_words(proposal.body or {})
        program_id = proposal.program_id
        db.session.commit()
        flash(message, "success")
        return redirect(url_for("client_pages.index", program=program_id), code=303)
    client = db.session.get(Client, proposal.client_id)
    message = booked_words(client, proposal.body or {})
    db.session.commit()
    flash(message, "success")
    if intake:
        return redirect(url_for("client_pages.intake_enrol", client_id=client.id), code=303)
    return redirect(url_for("client_pages.detail", client_id=client.id), code=303)
