"""Practitioner: a staff member (therapist, counselor, nurse, physician …), by name only.

Staff emails and phone numbers stay inside the clinic; the recipient needs who, not how to
reach them at home. Credentials (e.g. "LCSW") are shown as a qualification's text.
"""

from sqlalchemy import select

from scheduler.extensions import db
from scheduler.fhir import ids, search
from scheduler.fhir.access import require_scope
from scheduler.fhir.blueprint import bp
from scheduler.fhir.directory import COUNT, NO_CONSENT, boolean, bundle, not_found, page_by_id
from scheduler.fhir.metadata import declare
from scheduler.fhir.responses import instant, resource
from scheduler.models import Staff
from scheduler.services.lookup import find
from scheduler.services.search import filtered

SEARCH = (("name", "string", "Each word typed begins the name or one of its words, ignoring "
                             "case."),
          ("active", "token", "true or false."), COUNT)

declare("Practitioner", ("read", "search-type"), search=SEARCH,
        documentation=NO_CONSENT + " A staff member; name and credentials only.")


def practitioner(staff: Staff) -> dict:
    body: dict = {"resourceType": "Practitioner", "id": str(staff.id),
                  "meta": {"lastUpdated": instant(staff.updated_at)},
                  "active": staff.is_active, "name": [{"text": staff.name}]}
    if staff.credentials:
        body["qualification"] = [{"code": {"text": staff.credentials}}]
    return body


@bp.get("/Practitioner/<resource_id>")
@require_scope(None)
def read_practitioner(resource_id: str):
    staff = find(db.session, Staff, ids.number(resource_id))
    if staff is None:
        return not_found("Practitioner", resource_id)
    return resource(practitioner(staff))


@bp.get("/Practitioner")
@require_scope(None)
def search_practitioners():
    search.refuse_unknown(tuple(name for name, _, _ in SEARCH))
    query = filtered(select(Staff), Staff.name, search.one("name"))
    active = boolean("active")
    if active is not None:
        query = query.where(Staff.is_active.is_(active))
    rows, total, following = page_by_id(query, Staff.id, "fhir.search_practitioners")
    return bundle([practitioner(row) for row in rows], total, following)
