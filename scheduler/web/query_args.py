"""The pages' query-string values, read in one place.

A page never ignores what the address asks for: a malformed value answers 400 and one that
names no row 404, each an HTML page (or the page itself with the message) naming the field
in the words the page's form uses. Text the clinic cannot keep (NUL, control characters) is
refused before any view runs, so it never reaches a query.
"""

from datetime import date

from flask import request

from scheduler.extensions import db
from scheduler.i18n import gettext as _
from scheduler.i18n import lazy_gettext as _l
from scheduler.services import dates, scope
from scheduler.services.errors import DomainError
from scheduler.services.lookup import MAX_ID
from scheduler.services.text import text_problem

# Query names as the pages' forms label them.
LABELS = {
    "q": _l("Name"), "program": _l("Program"), "room": _l("Room"), "staff": _l("Staff member"),
    "status": _l("Status"), "week": _l("Week of"), "day": _l("Day"), "from": _l("From"),
    "to": _l("To"), "client": _l("Client id"), "user": _l("User"), "action": _l("Action"),
    "page": _l("Page"), "assessment": _l("Assessment"), "next": _l("Page to return to"),
    "email": _l("Email"), "role": _l("Role"), "room_q": _l("Find a room"),
    "staff_q": _l("Find a staff member"), "client_q": _l("Find a client"), "site": _l("Site"),
}
# What an id in the address names, in "there is no such …".
WHAT_WORDS = {"program": _l("program"), "room": _l("room"), "staff member": _l("staff member"),
              "user": _l("user"), "assessment": _l("assessment")}


class BadQuery(DomainError):
    """A query value a page cannot use: 400 when malformed, 404 when it names nothing."""

    def __init__(self, name: str, message: str, status: int = 400):
        self.name = name
        self.label = str(LABELS.get(name) or _("A value in the address"))
        super().__init__(f"{self.label}: {message}")
        self.status = status


def refuse_unusable_text() -> None:
    """Every query name and value on a page is one line of text the clinic can keep."""
    for name, value in request.args.items(multi=True):
        if text_problem(name, multiline=False):
            raise BadQuery("", _("it holds characters no page can use."))
        problem = text_problem(value, multiline=False)
        if problem:
            raise BadQuery(name, problem)


def _raw(name: str) -> str:
    return (request.args.get(name) or "").strip()


def _whole_number(name: str, raw: str) -> int:
    # isdigit() alone takes "²" and other digits int() refuses.
    if not (raw.isascii() and raw.isdigit()):
        raise BadQuery(name, _("must be a whole number such as 12."))
    digits = raw.lstrip("0")
    # int() refuses more than 4300 digits; anything past 19 is past every limit here anyway.
    return int(digits or "0") if len(digits) <= 19 else 2**63


def number_arg(name: str, upper: int) -> int | None:
    """A whole number from 1 to `upper`; None when not given."""
    raw = _raw(name)
    if not raw:
        return None
    number = _whole_number(name, raw)
    if not 0 < number <= upper:
        raise BadQuery(name, _("must be a whole number from 1 to %(most)s.", most=upper))
    return number


def row_arg(name: str, model, what: str):
    """The row a query id names; None when not given, 404 when it names none."""
    raw = _raw(name)
    if not raw:
        return None
    number = _whole_number(name, raw)
    row = db.session.get(model, number) if 0 < number <= MAX_ID else None
    # Another site's record is as good as missing to a coordinator scoped to other sites.
    if row is None or not scope.allows(db.session, row):
        raise BadQuery(name, _("there is no such %(what)s.", what=WHAT_WORDS.get(what, what)),
                       404)
    return row


def id_arg(name: str, model, what: str) -> int | None:
    row = row_arg(name, model, what)
    return row.id if row is not None else None


def date_arg(name: str) -> date | None:
    """A date a clinic can mean (the forms' bounds); None when not given."""
    raw = _raw(name)
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise BadQuery(name, _("must be a date like 2027-02-01.")) from None
    if not dates.in_calendar(day):
        raise BadQuery(name, _("must be between %(first)s and %(last)s.",
                               first=dates.EARLIEST_DATE, last=dates.LATEST_DATE))
    return day


def choice_arg(name: str, choices) -> str | None:
    raw = _raw(name)
    if not raw:
        return None
    if raw not in choices:
        raise BadQuery(name, _("must be one of %(choices)s.", choices=", ".join(choices)))
    return raw


def text_arg(name: str, max_length: int) -> str | None:
    raw = _raw(name)
    if len(raw) > max_length:
        raise BadQuery(name, _("must be at most %(count)s characters.", count=max_length))
    return raw or None
