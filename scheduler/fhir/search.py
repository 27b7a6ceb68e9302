"""Reading a FHIR search's query string, and answering it as a paged searchset Bundle.

Unknown parameters are refused (400, naming them) rather than ignored: a filter the server
silently dropped would hand back more than the caller asked for. Pages are `_count` long
(at most MAX_COUNT) in a stable order by id; the `next` link carries `_offset`.
"""

from datetime import date
from urllib.parse import urlencode

from flask import request, url_for
from sqlalchemy import ColumnElement

from scheduler.fhir.responses import resource, searchset
from scheduler.services.errors import InvalidField
from scheduler.services.search import MAX_QUERY
from scheduler.services.text import text_problem

DEFAULT_COUNT = 50
MAX_COUNT = 200
# Keeps OFFSET within what any database takes, far past any clinic's rows.
MAX_OFFSET = 10_000_000
PAGING = ("_count", "_offset")
# Asked by some clients and harmless: every answer here is JSON.
TOLERATED = ("_format",)


class BadParameter(InvalidField):
    """A search parameter this server does not take, or a value it cannot read: 400."""

    status = 400

    def __init__(self, name: str, message: str):
        super().__init__(name, message, location="query")


def parameters(kind: str, supported: tuple[str, ...]) -> dict[str, list[str]]:
    """The query's parameters (each with its values), refusing what `kind` does not support."""
    found: dict[str, list[str]] = {}
    for name, values in request.args.lists():
        if name not in supported and name not in PAGING and name not in TOLERATED:
            listed = ", ".join(supported) or "none"
            raise BadParameter(name, f"{kind} cannot be searched by {name!r}; its search "
                                     f"parameters are {listed}, with _count.")
        for value in values:
            problem = text_problem(value, multiline=False)
            if problem:
                raise BadParameter(name, problem)
            if len(value) > MAX_QUERY * 2:
                raise BadParameter(name, f"Must be at most {MAX_QUERY * 2} characters.")
        found[name] = values
    return found


def _whole(params: dict[str, list[str]], name: str, default: int, most: int) -> int:
    values = params.get(name)
    if not values:
        return default
    if len(values) > 1:
        raise BadParameter(name, "Give it once.")
    value = values[0]
    if not value.isdigit() or len(value) > 9 or int(value) > most:
        raise BadParameter(name, f"Must be a whole number from 0 to {most}.")
    return int(value)


def count_and_offset(params: dict[str, list[str]]) -> tuple[int, int]:
    return (_whole(params, "_count", DEFAULT_COUNT, MAX_COUNT),
            _whole(params, "_offset", 0, MAX_OFFSET))


def one(params: dict[str, list[str]], name: str) -> str | None:
    """A parameter given at most once (FHIR ORs commas within one; we do not)."""
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise BadParameter(name, "Give it once.")
    if not values[0].strip():
        raise BadParameter(name, "Must not be empty.")
    return values[0]


def token_boolean(params: dict[str, list[str]], name: str) -> bool | None:
    value = one(params, name)
    if value is None:
        return None
    if value not in ("true", "false"):
        raise BadParameter(name, "Must be true or false.")
    return value == "true"


DATE_PREFIXES = ("eq", "ne", "lt", "le", "gt", "ge")


def date_conditions(params: dict[str, list[str]], name: str, column) -> list[ColumnElement]:
    """`name=[prefix]YYYY-MM-DD`, each value one condition (repeat it for a range)."""
    conditions = []
    for value in params.get(name, []):
        prefix, day = (value[:2], value[2:]) if value[:2] in DATE_PREFIXES else ("eq", value)
        try:
            if len(day) != 10:
                raise ValueError
            wanted = date.fromisoformat(day)
        except ValueError:
            raise BadParameter(name, "Must be a full date, YYYY-MM-DD, optionally after eq, "
                                     "ne, lt, le, gt or ge (birthdate=ge1980-01-01).") from None
        conditions.append({"eq": column == wanted, "ne": column != wanted,
                           "lt": column < wanted, "le": column <= wanted,
                           "gt": column > wanted, "ge": column >= wanted}[prefix])
    return conditions


def base_url() -> str:
    return url_for("fhir.metadata", _external=True).removesuffix("/metadata")


def bundle(entries: list[dict], *, total: int, count: int, offset: int):
    """The searchset answer, with a `next` link while more matches remain."""
    next_url = None
    if offset + len(entries) < total and count > 0:
        kept = [(k, v) for k, v in request.args.items(multi=True) if k != "_offset"]
        next_url = (f"{request.base_url}?"
                    + urlencode([*kept, ("_offset", str(offset + count))]))
    return resource(searchset(entries, self_url=request.url, next_url=next_url, total=total,
                              base=base_url()))
