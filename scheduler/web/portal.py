"""The client's own pages, phone-first: upcoming sessions, hours this week, the calendar
link and self check-in with the room's code."""

import re
from datetime import timedelta

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from scheduler import clock, rate_limits
from scheduler.extensions import db
from scheduler.feeds import tokens
from scheduler.feeds.links import links_for
from scheduler.i18n import gettext as _
from scheduler.i18n import lazy_gettext as _l
from scheduler.models import Client
from scheduler.services import attendance, client_access, day_sheet, kiosk, reports
from scheduler.services.errors import DomainError, InvalidField
from scheduler.web import consent_pages
from scheduler.web import kiosk as kiosk_pages
from scheduler.web.access import log_page_read, page_actor, page_roles
from scheduler.web.clinician import FIELD_LABELS
from scheduler.web.refusals import beside_fields, describe

bp = Blueprint("portal", __name__)

CODE = re.compile(r"^\d{6}$")
# The fields a self check-in names, in the words of the /me form.
PORTAL_LABELS = {**FIELD_LABELS, "code": _l("Code")}


def _week_hours(client: Client, today):
    """This week's row of the weekly-hours report for the client, or None before admission."""
    monday = today - timedelta(days=today.weekday())
    rows = reports.weekly_hours(db.session, client.program_id, monday, monday,
                                client_id=client.id)
    return rows[0] if rows else None


def _upcoming(client: Client, now, tz):
    """The schedule: what /me lists, and all its offline copy holds."""
    # Cancelled and moved sessions stay in the list for a while, where the client knew them.
    return sorted(
        [*day_sheet.upcoming_for_client(db.session, client.id, now, tz),
         *day_sheet.recent_changes_for_client(db.session, client.id, now, tz)],
        key=lambda item: (item.starts, item.session.id))


def _home(status: int = 200, links: dict | None = None):
    client = db.session.get(Client, current_user.client_id)
    tz = day_sheet.program_zone(db.session, client.program_id)
    now = clock.now()
    access = client_access.of(db.session, client.id)
    return render_template(
        "portal/home.html", client=client, tz=tz,
        upcoming=_upcoming(client, now, tz),
        waitlist=day_sheet.waitlist_for_client(db.session, client.id, now, tz),
        hours=_week_hours(client, now.astimezone(tz).date()),
        # Whom the client agreed to share with, and what went: their accounting (§2.24).
        sharing=consent_pages.sharing_of(client), kind_words=consent_pages.KIND_FOR_CLIENT,
        links=links, has_feed=links is not None or access.has_feed,
        # A returning client's old link stopped at discharge: say so, in the clinic's day.
        feed_stopped_on=(access.feed_stopped.at.astimezone(tz).date()
                         if access.feed_stopped and links is None else None),
    ), status


@bp.get("/me")
@page_roles("client")
def home():
    """The client's start page; their own look at their record is logged like anyone's."""
    page = _home()
    log_page_read([current_user.client_id], "portal")
    return page


@bp.get("/me/offline")
@page_roles("client")
def offline():
    """The copy of the schedule the phone shows when it is offline (static/js/offline-worker.js
    keeps it in the browser's Cache Storage, where it outlives the login).

    A page of its own rather than a copy of /me: /me also holds the check-in and PIN forms with
    their CSRF token, the signed-in email, whom the client shares with and what went, and right
    after POST /me/feed the one-time calendar link. Rendered here without any of those, nothing
    but the schedule can reach the cache, whatever /me shows later.
    """
    if request.headers.get("Sec-Fetch-Mode") == "navigate":
        # Opened by hand, its "offline" banner would be wrong: online, the live page is the one.
        return redirect(url_for(".home"))
    client = db.session.get(Client, current_user.client_id)
    tz = day_sheet.program_zone(db.session, client.program_id)
    now = clock.now()
    page = render_template(
        "portal/offline.html", upcoming=_upcoming(client, now, tz),
        waitlist=day_sheet.waitlist_for_client(db.session, client.id, now, tz),
        as_of=now.astimezone(tz).replace(microsecond=0))
    log_page_read([client.id], "portal_offline")
    # The worker's Cache Storage keeps it; the HTTP cache and any proxy ask again each time
    # (a shared cache never: it is private).
    return page, 200, {"Cache-Control": "private, no-cache"}


@bp.post("/me/feed")
@page_roles("client")
def feed():
    """Make (or replace) the client's calendar link and show it this once."""
    token = tokens.issue(db.session, page_actor(), "client", current_user.client_id, clock.now())
    db.session.commit()
    # Rendered, not redirected: the token must not travel in the (signed, unencrypted) cookie.
    page, status = _home(201, links=links_for(token))
    # The secret link is in this page alone: no cache may keep a copy of it.
    return page, status, {"Cache-Control": "no-store"}


@bp.post("/me/checkin")
@rate_limits.self_checkin
@page_roles("client")
def checkin():
    """Self check-in with the six digits shown in the room."""
    code = (request.form.get("code") or "").strip()
    try:
        if not CODE.match(code):
            raise InvalidField("code", _("enter the six digits shown in the room."), "form")
        outcome = attendance.self_check_in(
            db.session, page_actor(), current_user.client_id, code, now=clock.now(),
            secret=current_app.config["SECRET_KEY"],
            policy=attendance.Policy.from_config(current_app.config),
        )
    except DomainError as error:
        db.session.rollback()
        if not beside_fields(error, PORTAL_LABELS, ("code",)):
            flash(describe(error, PORTAL_LABELS), "error")
        return _home(error.status)
    # Kept either way: a wrong code must count towards the pause even though it fails.
    db.session.commit()
    if outcome.error is not None:
        if not beside_fields(outcome.error, PORTAL_LABELS, ("code",)):
            flash(describe(outcome.error, PORTAL_LABELS), "error")
        page, status = _home(outcome.error.status)
        headers = getattr(outcome.error, "headers", None) or {}
        return page, status, headers
    row = outcome.attendance
    flash(_("You are checked in (late). Welcome!") if row.status == "late"
          else _("You are checked in (present). Welcome!"), "success")
    return redirect(url_for(".home"), code=303)


@bp.post("/me/kiosk-pin")
@rate_limits.kiosk_pin_change
@page_roles("client")
def change_pin():
    """The client sets or changes their own check-in PIN; with one set, only after giving it."""
    try:
        pin, current = kiosk_pages.read_pin_form(with_current=True)
        refusal = kiosk.change_own_pin(db.session, page_actor(), current_user.client_id,
                                       current, pin, now=clock.now())
    except DomainError as error:
        db.session.rollback()
        refusal = error
    else:
        # Kept either way: a wrong current PIN must count towards the pause.
        db.session.commit()
    if refusal is not None:
        kiosk_pages.show_pin_refusal(refusal)
        page, status = _home(refusal.status)
        return page, status, getattr(refusal, "headers", None) or {}
    flash(_("Your check-in PIN is changed."), "success")
    return redirect(url_for(".home") + "#kiosk-pin", code=303)
