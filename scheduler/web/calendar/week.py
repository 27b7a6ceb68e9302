"""The week calendar, filtered by program, room or staff member."""

from datetime import timedelta

from flask import render_template, request, url_for

from scheduler import clock
from scheduler.extensions import db
from scheduler.i18n import gettext as _
from scheduler.models import Program, Room, Staff
from scheduler.models.users import COORDINATORS
from scheduler.services import day_sheet, week_view
from scheduler.web import query_args
from scheduler.web.access import page_roles
from scheduler.web.calendar.blueprint import bp
from scheduler.web.calendar.forms import WeekFilterForm
from scheduler.web.calendar.pickers import (
    offer_rooms,
    offer_staff,
    program_choices,
    with_none,
)
from scheduler.web.site_filter import site_choice


@bp.get("/week")
@page_roles(*COORDINATORS)
def week():
    """The week calendar, filtered by program, room or staff member."""
    # A filter naming nothing is a 404; one the picker does not offer, the week with a message.
    program = query_args.row_arg("program", Program, "program")
    program_id = program.id if program is not None else None
    query_args.id_arg("room", Room, "room")
    query_args.id_arg("staff", Staff, "staff member")
    # My sites unless the address asks for others: a network's week is too big to show whole.
    sites = site_choice(program)
    form = WeekFilterForm(request.args)
    form.program.choices = with_none(_("All programs"), program_choices(sites.site_ids))
    # A provider of many clinics has thousands of rooms and staff: offer the program's (else
    # the sites'), and of those the matches of a search.
    rooms, staff = week_view.rooms_and_staff_queries(program_id, sites.site_ids)
    offer_rooms(form.room, _("All rooms"), rooms)
    offer_staff(form.staff, _("All staff"), staff)
    valid = form.validate()
    # A bad filter shows this week unfiltered, with the field's message, as a 400.
    chosen = dict(program=form.program.data, room=form.room.data,
                  staff=form.staff.data) if valid else {}
    chosen.update(sites.args)
    tz = day_sheet.program_zone(db.session, chosen.get("program"))
    today = clock.now().astimezone(tz).date()
    monday = week_view.monday_of((form.week.data if valid else None) or today)
    days = week_view.week(db.session, monday, tz, program_id=chosen.get("program"),
                          room_id=chosen.get("room"), staff_id=chosen.get("staff"),
                          site_ids=sites.site_ids)
    if valid and form.week.data is None:
        form.week.data = monday  # the picker shows which week this is
    return render_template(
        "calendar/week.html", form=form, sites=sites, days=days, monday=monday, today=today, tz=tz,
        previous_url=url_for("calendar.week", week=monday - timedelta(days=7), **chosen),
        next_url=url_for("calendar.week", week=monday + timedelta(days=7), **chosen),
        this_week_url=url_for("calendar.week", **chosen),
    ), 200 if valid else 400
