"""What the Patient and directory searches share, on top of fhir/search.py: pages in id order
with a `total`, and true/false parameters.

Practitioner, Location and HealthcareService hold no client data, so they need only a live
token (any scope) and no consent. Inactive rows are shown (active false, or status inactive):
an Appointment of last year may still point at a room since closed.
"""

from urllib.parse import urlencode

from flask import Response, request, url_for
from sqlalchemy import Select, func, select

from scheduler.extensions import db
from scheduler.fhir import ids, search
from scheduler.fhir.responses import operation_outcome, resource, searchset
from scheduler.services.lookup import find
from scheduler.services.search import filtered

# The words every directory resource's CapabilityStatement entry starts with.
NO_CONSENT = ("Holds no client data: any live access token may read it (no particular scope, "
              "no consent). Inactive rows are included, marked so.")
COUNT = ("_count", "number", f"Results per page, at most {search.MAX_COUNT}; follow the "
                             "Bundle's next link for the rest.")


def not_found(kind: str, resource_id: str) -> Response:
    return operation_outcome(404, f"There is no {kind} {resource_id[:64]!r} here.")


def total_of(query: Select) -> int:
    return db.session.scalar(select(func.count()).select_from(query.subquery())) or 0


def next_url(endpoint: str, *cursor_parts) -> str:
    return search.next_link(
        lambda args: url_for(endpoint, _external=True) + "?" + urlencode(args),
        search.encode_cursor(*cursor_parts))


def page_by_id(query: Select, id_column, endpoint: str) -> tuple[list, int, str | None]:
    """A page of `query` in id order after the request's cursor, the search's total, and the
    next link while more remain."""
    size = search.count()
    after = search.cursor((int,))
    total = total_of(query)
    if after is not None:
        query = query.where(id_column > after[0])
    rows = list(db.session.scalars(query.order_by(id_column).limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    return rows, total, next_url(endpoint, rows[-1].id) if more else None


def bundle(entries: list[dict], total: int, following: str | None) -> Response:
    base = url_for("fhir.metadata", _external=True).removesuffix("/metadata")
    return resource(searchset(entries, self_url=request.url, next_url=following, total=total,
                              base=base))


def read(model, kind: str, resource_id: str, build) -> Response:
    """GET <kind>/<id> of a directory resource: the row built as FHIR, or 404."""
    row = find(db.session, model, ids.number(resource_id))
    return not_found(kind, resource_id) if row is None else resource(build(row))


def search_named(model, name_column, active_column, endpoint: str, build,
                 known: tuple[str, ...]) -> Response:
    """A directory search by `name` (the one word-start rule) and `active`, paged by id."""
    search.refuse_unknown(known)
    query = filtered(select(model), name_column, search.one("name"))
    active = boolean("active")
    if active is not None:
        query = query.where(active_column.is_(active))
    rows, total, following = page_by_id(query, model.id, endpoint)
    return bundle([build(row) for row in rows], total, following)


def boolean(name: str) -> bool | None:
    value = search.one(name)
    if value is None:
        return None
    if value not in ("true", "false"):
        raise search.BadSearch(name, "must be true or false.")
    return value == "true"
