"""The alerts page: what needs a call today, and (for admins) each break of the glass."""

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from scheduler import clock
from scheduler.extensions import db
from scheduler.i18n import gettext as _
from scheduler.i18n import lazy_gettext as _l
from scheduler.models import Alert
from scheduler.models.users import STAFF
from scheduler.services import alerts
from scheduler.web.access import caseload_within, log_page_read, page_actor, page_roles
from scheduler.web.form_fields import PageForm

bp = Blueprint("alert_pages", __name__)

# The newest alerts a page shows; older ones stay in the API's pages.
SHOWN = 200
KIND_LABELS = {"absence_streak": _l("Missed sessions in a row"),
               "below_target": _l("Hours below target this week"),
               "break_glass": _l("Broke the glass"),
               "webhook_disabled": _l("Webhook endpoint disabled")}


def _visible(open_only: bool):
    return alerts.visible(current_user.role, caseload_within(), open_only)


@bp.get("/alerts")
@page_roles(*STAFF)
def index():
    """Open alerts, newest first (every alert with ?all=1): admins see break-the-glass ones
    too, a clinician only their caseload's."""
    show_all = request.args.get("all") == "1"
    shown = alerts.lines(db.session, _visible(not show_all), SHOWN)
    log_page_read([line.alert.client_id for line in shown
                   if line.alert.client_id is not None], "alerts")
    return render_template("alerts/index.html", lines=shown, show_all=show_all,
                           labels=KIND_LABELS, zone=ZoneInfo, parse=datetime.fromisoformat,
                           shown_at_most=SHOWN,
                           is_admin=current_user.role == "admin",
                           caseload_only=current_user.role == "clinician")


@bp.post("/alerts/<int:alert_id>/acknowledge")
@page_roles(*STAFF)
def acknowledge(alert_id: int):
    """Mark an alert handled; one the user does not see on the page is 404."""
    if not PageForm().validate_on_submit():
        abort(400)
    alert = alerts.acknowledge(db.session, page_actor(), alert_id, clock.now(),
                               seen=_visible(open_only=False))
    db.session.commit()
    (line,) = alerts.lines(db.session, _visible(open_only=False)
                           .where(Alert.id == alert.id), 1)
    about = line.client_name or _("endpoint #%(id)s", id=(alert.detail or {}).get("endpoint_id"))
    flash(_("%(kind)s: %(about)s, acknowledged.", kind=KIND_LABELS[alert.kind], about=about),
          "success")
    back = {"all": "1"} if request.form.get("all") == "1" else {}
    return redirect(url_for(".index", **back), code=303)
