"""The front-desk kiosk: a tablet signed in as a kiosk (or by staff) where clients check in
with their PIN. It shows the kiosk only: no staff menu, whoever signed it in."""

import re

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from markupsafe import Markup

from scheduler import clock, i18n, rate_limits
from scheduler.extensions import db
from scheduler.i18n import gettext as _
from scheduler.i18n import lazy_gettext as _l
from scheduler.models import Client
from scheduler.models.users import KIOSK_RUNNERS
from scheduler.services import attendance, day_sheet, kiosk
from scheduler.services.errors import DomainError, InvalidField
from scheduler.services.search import MAX_QUERY, text_matches
from scheduler.web import clients, query_args
from scheduler.web.access import page_actor, page_roles
from scheduler.web.clinician import FIELD_LABELS
from scheduler.web.form_fields import optional_id
from scheduler.web.refusals import beside_fields, describe

bp = Blueprint("kiosk_pages", __name__)

PIN = re.compile(r"^\d{4,6}$")
# Names a tablet shows at once; past this the kiosk asks for the first letters.
SHOWN = 30


def display_name(client: Client) -> str:
    """First name and last initial: enough to find oneself, little for onlookers to read."""
    parts = client.name.split()
    first = client.preferred_name or (parts[0] if parts else "")
    initial = f" {parts[-1][0]}." if len(parts) > 1 else ""
    return first + initial


def _page(status: int = 200, headers: dict | None = None):
    """Who may check in now, by first name and initial. A busy hour at a large clinic lists
    more than a tablet can show: then a name search narrows the list. It searches only the
    words shown, on this page, never the clients API (which a kiosk login cannot reach)."""
    arrivals = [(c.id, display_name(c))
                for c in day_sheet.kiosk_arrivals(db.session, clock.now())]
    term = query_args.text_arg("name", MAX_QUERY) if request.method == "GET" else None
    shown = [row for row in arrivals if text_matches(row[1], term)]
    body = render_template("kiosk/index.html", arrivals=shown[:SHOWN],
                           more=len(shown) > SHOWN, term=term or "",
                           searchable=len(arrivals) > SHOWN or bool(term))
    return body, status, headers or {}


@bp.route("/kiosk", methods=["GET", "POST"])
@rate_limits.kiosk_pin
@page_roles(*KIOSK_RUNNERS)
def index():
    """Pick your name, type your PIN, and you are checked in."""
    if request.method == "GET":
        return _page()
    client_id = request.form.get("client_id", type=optional_id)
    pin = (request.form.get("pin") or "").strip()
    try:
        if client_id is None:
            raise InvalidField("client_id", _("choose your name."), "form")
        if not PIN.match(pin):
            raise InvalidField("pin", _("must be 4 to 6 digits."), "form")
        outcome = kiosk.check_in(db.session, page_actor(), client_id, pin, now=clock.now(),
                                 policy=attendance.Policy.from_config(current_app.config))
    except DomainError as error:
        db.session.rollback()
        if not beside_fields(error, KIOSK_LABELS, ("client_id", "pin")):
            flash(describe(error, KIOSK_LABELS), "error")
        return _page(error.status)
    # Kept either way: a wrong PIN must count towards the pause even though it fails.
    db.session.commit()
    if outcome.error is not None:
        if not beside_fields(outcome.error, KIOSK_LABELS, ("client_id", "pin")):
            flash(describe(outcome.error, KIOSK_LABELS), "error")
        return _page(outcome.error.status, getattr(outcome.error, "headers", None))
    # The welcome in the language the person chose, marked as such (the page around it is the
    # tablet's again): the next person at the desk does not inherit this one's choice.
    flash(Markup('<span lang="%s">%s</span>') % (i18n.current_language(),
                                                _("You are checked in. Welcome!")), "success")
    session.pop(i18n.CHOSEN, None)
    return redirect(url_for(".index"), code=303)


# --- setting a client's PIN: the front desk on the client page and at intake --------------------

PIN_LABELS = {"pin": _l("New PIN"), "pin_again": _l("New PIN again"),
              "current_pin": _l("Current PIN")}
# The fields a check-in at the kiosk names, in the words of the kiosk's form.
KIOSK_LABELS = {**FIELD_LABELS, "client_id": _l("Your name"), "pin": _l("PIN")}


def read_pin_form(with_current: bool = False) -> tuple[str, str | None]:
    """The new PIN (typed twice, since it is never shown back) and the current one, if asked.

    A refusal raises InvalidField naming the form's field.
    """
    pin = (request.form.get("pin") or "").strip()
    again = (request.form.get("pin_again") or "").strip()
    current = (request.form.get("current_pin") or "").strip() if with_current else None
    if not PIN.match(pin):
        raise InvalidField("pin", _("must be 4 to 6 digits."), "form")
    if again != pin:
        raise InvalidField("pin_again", _("does not match the new PIN; type it again."), "form")
    if current and not PIN.match(current):
        raise InvalidField("current_pin", _("does not match."), "form")
    return pin, current


def show_pin_refusal(error: DomainError) -> None:
    """Put the refusal next to the PIN form's fields (templates/clients/_kiosk_pin.html)."""
    if isinstance(error, InvalidField):
        g.kiosk_pin_errors = {path: " ".join(messages) for path, messages in error.fields.items()}
    else:
        g.kiosk_pin_errors = {"form": describe(error, PIN_LABELS)}


@bp.post("/clients/<int:client_id>/kiosk-pin")
@rate_limits.kiosk_pin_change
@page_roles(*kiosk.FRONT_DESK)
def set_client_pin(client_id: int):
    """Set or reset a client's kiosk PIN from their page, or at intake's last step."""
    at_intake = request.form.get("back") == "intake"
    try:
        pin, _current = read_pin_form()
        client = kiosk.set_pin(db.session, page_actor(), client_id, pin)
    except DomainError as error:
        db.session.rollback()
        if error.status == 404:
            raise
        if at_intake:
            flash(describe(error, PIN_LABELS, what=_("PIN not set")), "error")
            return redirect(url_for("client_pages.intake_enrol", client_id=client_id), code=303)
        show_pin_refusal(error)
        return clients.detail_page(client_id, error.status)
    db.session.commit()
    flash(_("The kiosk PIN of %(name)s is set. Tell them, or let them type it; it is never "
            "shown again.", name=client.name), "success")
    if at_intake:
        return redirect(url_for("client_pages.intake_enrol", client_id=client_id), code=303)
    return redirect(url_for("client_pages.detail", client_id=client_id) + "#kiosk-pin", code=303)
