"""The pages' query-string values, read in one place.

A page never ignores what the address asks for: a malformed value answers 400 and one that
names no row 404, each an HTML page (or the page itself with the message) naming the field
in the words the page's form uses. Text the clinic cannot keep (NUL, control characters) is
refused before any view runs, so it never reaches a query.
"""

from datetime import date

from flask import request

from scheduler.extensions import db
from scheduler.services import dates, scope
from scheduler.services.errors import DomainError
from scheduler.services.lookup import MAX_ID
from scheduler.services.text import text_problem

# Query names as the pages' forms label them.
LABELS = {
    "q": "Name", "program": "Program", "room": "Room", "staff": "Staff member",
    "status": "Status", "week": "Week of", "day": "Day", "from": "From", "to": "To",
    "client": "Client id", "user": "User", "action": "Action", "page": "Page",
    "assessment": "Assessment", "next": "Page to return to", "email": "Email",
    "role": "Role", "room_q": "Find a room", "staff_q": "Find a staff member",
    "client_q": "Find a client", "site": "Site",
}


class BadQuery(DomainError):
    """A query value a page cannot use: 400 when malformed, 404 when it names nothing."""

    def __init__(self, name: str, message: str, status: int = 400):
        self.name = name
        self.label = LABELS.get(name, "A value in the address")
        super().__init__(f"{self.label}: {message}")
        self.status = status


def refuse_unusable_text() -> None:
    """Every query name and value on a page is one line of text the clinic can keep."""
    for name, value in request.args.items(multi=True):
        if text_problem(name, multiline=False):
            raise BadQuery("", "it holds characters no page can use.")
        problem = text_problem(value, multiline=False)
        if problem:
            raise BadQuery(name, problem)


def _raw(name: str) -> str:
    return (request.args.get(name) or "").strip()


def _whole_number(name: str, raw: str) -> int:
    # isdigit() alone takes "²" and other digits int() refuses.
    if not (raw.isascii() and raw.isdigit()):
        raise BadQuery(name, "must be a whole number such as 12.")
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
        raise BadQuery(name, f"must be a whole number from 1 to {upper}.")
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
        raise BadQuery(name, f"there is no such {what}.", 404)
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
        raise BadQuery(name, "must be a date like 2027-02-01.") from None
    if not dates.in_calendar(day):
        raise BadQuery(name, f"must be {dates.BETWEEN}.")
    return day


def choice_arg(name: str, choices) -> str | None:
    raw = _raw(name)
    if not raw:
        return None
    if raw not in choices:
        raise BadQuery(name, f"must be one of {', '.join(choices)}.")
    return raw


def text_arg(name: str, max_length: int) -> str | None:
    raw = _raw(name)
    if len(raw) > max_length:
        raise BadQuery(name, f"must be at most {max_length} characters.")
    return raw or None
