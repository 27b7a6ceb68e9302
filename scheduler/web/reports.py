"""Report pages: hours against target, attendance rates and census for a period, and the
follow-up list. The numbers come straight from services.reports; CSV files from the API."""

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from babel.numbers import format_decimal
from flask import Blueprint, render_template
from flask_login import current_user
from sqlalchemy import select

from scheduler import clock
from scheduler.extensions import db
from scheduler.i18n import current_language, local
from scheduler.i18n import gettext as _
from scheduler.i18n import lazy_gettext as _l
from scheduler.models import Client, Program
from scheduler.models.users import COORDINATORS, STAFF
from scheduler.services import caseload, day_sheet, reports
from scheduler.services import programs as programs_service
from scheduler.services.access_log import client_ids_of
from scheduler.services.errors import DomainError, InvalidField
from scheduler.web import query_args
from scheduler.web.access import caseload_within, log_page_read, page_roles
from scheduler.web.charts import Bar, hours_chart, hours_text
from scheduler.web.refusals import describe
from scheduler.web.site_filter import site_choice

bp = Blueprint("report_pages", __name__)
bp.add_app_template_filter(hours_text, "hours_text")


def percent(value) -> str:
    """A rate as the language writes it, one decimal: 87.5% in English, 87,5% in Spanish."""
    return format_decimal(value, format="0.0", locale=current_language()) + "%"


bp.add_app_template_filter(percent, "percent")

# The census covers at most this many days (the service's limit), so the page's range does too.
MAX_DAYS = reports.MAX_DAYS
DEFAULT_WEEKS = 4
# The service names its fields as the API does.
FIELD_LABELS = {"from": _l("From"), "to": _l("To"), "program_id": _l("Program")}
# A session's status in the census (models.sessions).
SESSION_STATUS = {"scheduled": _l("scheduled"), "cancelled": _l("cancelled")}


def _programs_and_sites(context: dict) -> Program | None:
    """Put in `context` the sites shown (my sites unless the address asks for others) and
    their programs; return the program the address asks for. When the address is refused,
    the page still offers my sites' programs, with the reason."""
    context["sites"] = site_choice(asked=False)
    context["programs"] = programs_service.active_programs(db.session, context["sites"].site_ids)
    chosen = query_args.row_arg("program", Program, "program")
    sites = site_choice(chosen)
    if chosen is not None and sites.site_ids is not None and chosen.site_id not in sites.site_ids:
        raise query_args.BadQuery("program", _("it is not at the site shown."))
    context["sites"] = sites
    context["programs"] = programs_service.active_programs(db.session, sites.site_ids)
    return chosen


def _program_choice(programs: list[Program], chosen: Program | None) -> int | None:
    """The program asked for, else the first one."""
    if chosen is None and programs:
        return programs[0].id
    return chosen.id if chosen is not None else None


def _client_names(program_id: int) -> dict[int, str]:
    """Names of the program's clients in one query, for every table on the page."""
    return dict(db.session.execute(
        select(Client.id, Client.name).where(Client.program_id == program_id)).all())


def _week_summary(rows: list[reports.WeekHours]) -> list[dict]:
    """Per week: clients counted, hours attended in total and per client, target, met."""
    weeks: dict[date, dict] = {}
    for row in rows:
        week = weeks.setdefault(row.week_start, {
            "week_start": row.week_start, "clients": 0, "attended": Decimal(0),
            "scheduled": Decimal(0), "targets": Decimal(0), "with_target": 0, "met": 0})
        week["clients"] += 1
        week["attended"] += row.attended_hours
        week["scheduled"] += row.scheduled_hours
        if row.target_hours is not None:
            week["targets"] += row.target_hours
            week["with_target"] += 1
            week["met"] += bool(row.met)
    out = []
    for week in sorted(weeks.values(), key=lambda w: w["week_start"]):
        n = week["clients"]
        week["average"] = (week["attended"] / n).quantize(Decimal("0.01")) if n else Decimal(0)
        week["average_target"] = ((week["targets"] / week["with_target"]).quantize(
            Decimal("0.01")) if week["with_target"] else None)
        out.append(week)
    return out


def _by_client(rows: list[reports.WeekHours]) -> dict[int, dict[date, reports.WeekHours]]:
    table: dict[int, dict[date, reports.WeekHours]] = defaultdict(dict)
    for row in rows:
        table[row.client_id][row.week_start] = row
    return table


def _csv_link(name: str, **params) -> str:
    return f"/api/v1/reports/{name}?" + urlencode({**params, "format": "csv"})


@bp.get("/reports")
@page_roles(*COORDINATORS)
def index():
    """Weekly hours (table and chart), attendance rates and census for a program and period."""
    now = clock.now()
    today = day_sheet.program_today(db.session, now)
    monday = today - timedelta(days=today.weekday())
    context: dict = {"program_id": None, "error": None,
                     "first": monday - timedelta(weeks=DEFAULT_WEEKS - 1),
                     "last": monday + timedelta(days=6)}
    try:
        chosen = _programs_and_sites(context)
        context["program_id"] = _program_choice(context["programs"], chosen)
        # The default period is the last weeks on the program's own calendar.
        today = day_sheet.program_today(db.session, now, context["program_id"])
        monday = today - timedelta(days=today.weekday())
        context["first"] = monday - timedelta(weeks=DEFAULT_WEEKS - 1)
        context["last"] = monday + timedelta(days=6)
        context["first"] = first = query_args.date_arg("from") or context["first"]
        context["last"] = last = query_args.date_arg("to") or context["last"]
        if context["program_id"] is not None:
            context.update(_report(context["program_id"], first, last, now))
    except DomainError as error:
        db.session.rollback()
        context["error"] = describe(error, FIELD_LABELS)
        return render_template("reports/index.html", **context), error.status
    return render_template("reports/index.html", **context)


def _several_stays(rates) -> set[int]:
    seen: set[int] = set()
    twice: set[int] = set()
    for row in rates:
        (twice if row.client_id in seen else seen).add(row.client_id)
    return twice


def _report(program_id: int, first: date, last: date, now) -> dict:
    """Everything the page shows for one program and period: three reports, one name lookup."""
    if (last - first).days + 1 > MAX_DAYS:
        raise InvalidField("to", _("the page covers at most %(count)s days.", count=MAX_DAYS),
                           "query")
    hours = reports.weekly_hours(db.session, program_id, first, last)
    rates = reports.attendance_rates(db.session, program_id, first, last, "client", now)
    census = reports.census(db.session, program_id, first, last)
    log_page_read(client_ids_of(hours + rates), "reports")
    tz = day_sheet.program_zone(db.session, program_id)
    summary = _week_summary(hours)
    names = _client_names(program_id)
    by_client = _by_client(hours)
    params = {"program_id": program_id, "from": first.isoformat(), "to": last.isoformat()}
    return {
        "weeks": summary,
        "hours_clients": sorted(by_client, key=lambda cid: (names.get(cid, ""), cid)),
        "by_client": by_client,
        "names": names,
        "rates": rates,
        # A client re-admitted within the period has a row per stay: those rows say which.
        "several_stays": _several_stays(rates),
        "census": [(row, row.session.starts_at.astimezone(tz)) for row in census],
        "session_status": SESSION_STATUS,
        "chart": hours_chart(
            [Bar(local(w["week_start"], "day_month"), w["average"], w["average_target"])
             for w in summary],
            _("Average hours attended per client each week, against the average target"),
            "program-hours", value_label=_("attended per client on average")),
        "csv": {
            "weekly_hours": _csv_link("weekly-hours", **params),
            "weekly_hours_names": _csv_link("weekly-hours", names=1, **params),
            "attendance_rates": _csv_link("attendance-rates", by="client", **params),
            "attendance_rates_names": _csv_link("attendance-rates", by="client", names=1,
                                                **params),
            "census": _csv_link("census", **params),
        },
    }


@bp.get("/follow-up")
@page_roles(*STAFF)
def follow_up():
    """Who needs a call: absence runs, discharge reviews, paperwork due, unfinished intakes,
    hours below target."""
    context: dict = {"program_id": None, "error": None,
                     "caseload_only": caseload.held_to_caseload(current_user)}
    try:
        chosen = _programs_and_sites(context)
        program_id = context["program_id"] = _program_choice(context["programs"], chosen)
        if program_id is not None:
            now = clock.now()
            # A clinician's list holds their caseload only.
            within = caseload_within()
            rows = reports.follow_up(db.session, program_id, now, within=within)
            below = reports.below_target(db.session, program_id, now, within=within)
            log_page_read(client_ids_of(rows + below), "follow_up")
            tz = day_sheet.program_zone(db.session, program_id)
            context.update(
                names=_client_names(program_id), tz=tz,
                streaks=[r for r in rows if "absence_streak" in r.reasons],
                reviews=[r for r in rows if "discharge_review" in r.reasons],
                paperwork=[r for r in rows if r.certification_due or r.review_due],
                unfinished=[r for r in rows if "intake_unfinished" in r.reasons],
                below=below, today=now.astimezone(tz).date(),
                # Make-up proposals book sessions: coordinators' work, as on the client page.
                may_suggest=current_user.role in COORDINATORS,
                csv={"follow_up": _csv_link("follow-up", program_id=program_id),
                     "follow_up_names": _csv_link("follow-up", names=1, program_id=program_id),
                     "below_target": _csv_link("below-target", program_id=program_id),
                     "below_target_names": _csv_link("below-target", names=1,
                                                     program_id=program_id)},
            )
    except DomainError as error:
        db.session.rollback()
        context["error"] = describe(error, FIELD_LABELS)
        return render_template("reports/follow_up.html", **context), error.status
    return render_template("reports/follow_up.html", **context)
