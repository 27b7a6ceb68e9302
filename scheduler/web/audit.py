"""The audit page: admins search who changed or read what, and the search is itself logged."""

from contextlib import suppress
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, render_template, request, url_for
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Optional

from scheduler.extensions import db
from scheduler.i18n import lazy_gettext as _l
from scheduler.models import User
from scheduler.services import audit, audit_words, day_sheet
from scheduler.services import users as logins_admin
from scheduler.services.access_log import record_access
from scheduler.services.errors import InvalidField
from scheduler.services.lookup import MAX_ID
from scheduler.web import query_args
from scheduler.web.access import page_actor, page_roles
from scheduler.web.calendar.pickers import PICKER_LIMIT, Search, with_none
from scheduler.web.form_fields import PickerField, PlainForm, optional_id
from scheduler.web.refusals import describe

bp = Blueprint("audit_pages", __name__)

PER_PAGE = 50
FIELD_LABELS = {"client": _l("Client id"), "user": _l("User"), "action": _l("Action"),
                "from": _l("From"), "to": _l("To"), "page": _l("Page")}


def _at_midnight(day: date | None, tz: ZoneInfo) -> datetime | None:
    # The form's days are the clinic's days, as the times shown are the clinic's times.
    return datetime.combine(day, time(), tz) if day else None


def _filters() -> dict:
    """The form's filters, checked; a bad one raises BadQuery or InvalidField naming it."""
    given = {
        # Any id a client could have: the access log keeps denied looks at ids no row has.
        "client": query_args.number_arg("client", MAX_ID),
        "user": query_args.id_arg("user", User, "user"),
        "action": query_args.text_arg("action", 64),
        "from": query_args.date_arg("from"), "to": query_args.date_arg("to"),
        "page": query_args.number_arg("page", 1_000_000) or 1,
    }
    if given["from"] and given["to"] and given["to"] < given["from"]:
        raise InvalidField("to", str(_l("must not be before From.")), "query")
    return given


class UserPicker(PlainForm):
    user = PickerField(_l("User"), validators=[Optional()])


def _user_picker() -> UserPicker:
    """The user filter as a picker: the first logins whose email holds what was typed (the
    logins list's own search, which the combobox asks too), and the one chosen."""
    form = UserPicker(formdata=None)
    picker = form.user
    with suppress(ValueError):
        picker.data = optional_id(request.args.get("user"))
    term = query_args.text_arg("user_q", 254)
    found, total = logins_admin.list_logins(db.session, "admin",
                                           logins_admin.LoginFilter(email=term),
                                           offset=0, limit=PICKER_LIMIT)
    rows = list(found)
    held = db.session.get(User, picker.data) if picker.data is not None else None
    if held is not None and held not in rows:
        rows.insert(0, held)
    picker.choices = with_none(str(_l("Anyone")), [SelectChoice(u.id, u.email) for u in rows])
    picker.search = Search(param="user_q", what=str(_l("a user")), api=url_for("users.Logins"),
                           term=term, more=total > PICKER_LIMIT, api_query="email")
    return form


def _page_url(page: int) -> str:
    """This search's address at another page."""
    return url_for(".index", **{**request.args.to_dict(), "page": page})


@bp.get("/audit")
@page_roles("admin")
def index():
    """Audit and access events, newest first, filtered by client, user, action and dates."""
    tz = day_sheet.program_zone(db.session)
    context = {"pickers": _user_picker(), "actions": audit.ACTIONS, "events": [], "total": 0,
               "error": None, "args": request.args, "page": 1, "pages": 1, "zone": tz.key}
    try:
        given = _filters()
        where = audit.EventFilter(
            entity_type="client" if given["client"] else None, entity_id=given["client"],
            actor_user_id=given["user"], action=given["action"], as_filed_today=True,
            occurred_from=_at_midnight(given["from"], tz),
            # "To" is a whole day, as the form's date input means it.
            occurred_before=_at_midnight(given["to"] + timedelta(days=1), tz)
            if given["to"] else None)
        events, total = audit.search(db.session, where, offset=(given["page"] - 1) * PER_PAGE,
                                     limit=PER_PAGE)
        words = audit_words.describe(db.session, events)
        record_access(db.session, page_actor(), [None], "audit_events", entity_type="audit_log",
                      via="page", detail={"filters": {k: v.isoformat() if isinstance(v, date)
                                                      else v for k, v in given.items() if v}})
        # The page names the clients its events are about: a look at who they are.
        record_access(db.session, page_actor(), [w.client_id for w in words if w.client_id],
                      "audit_events", via="page")
    except (InvalidField, query_args.BadQuery) as error:
        context["error"] = describe(error, FIELD_LABELS)
        return render_template("audit/index.html", **context), error.status
    pages = max(1, -(-total // PER_PAGE))
    shown = [(e, w, e.occurred_at.astimezone(tz)) for e, w in zip(events, words, strict=True)]
    context.update(events=shown, total=total, page=given["page"], pages=pages,
                   prev_url=_page_url(given["page"] - 1) if given["page"] > 1 else None,
                   next_url=_page_url(given["page"] + 1) if given["page"] < pages else None)
    return render_template("audit/index.html", **context)
