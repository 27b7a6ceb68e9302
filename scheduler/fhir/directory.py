"""What the directory resources share: read by id, search a name, answer a page.

Practitioner, Location and HealthcareService hold no client data, so they need only a live
token (any scope) and no consent. Inactive rows are shown (active false, or status inactive):
an Appointment of last year may still point at a room since closed.
"""

from flask import Response
from sqlalchemy import Select, func, select

from scheduler.extensions import db
from scheduler.fhir.responses import operation_outcome

# The words every directory resource's CapabilityStatement entry starts with.
NO_CONSENT = ("Holds no client data: any live access token may read it (no particular scope, "
              "no consent). Inactive rows are included, marked so.")


def not_found(kind: str, resource_id: str) -> Response:
    return operation_outcome(404, f"There is no {kind} {resource_id[:64]!r} here.")


def page_of(query: Select, order, count: int, offset: int) -> tuple[list, int]:
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.session.scalars(query.order_by(*order).offset(offset).limit(count)).all()
    return list(rows), total
