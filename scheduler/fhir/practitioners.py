"""Practitioner: a staff member (therapist, counselor, nurse, physician …), by name only.

Staff emails and phone numbers stay inside the clinic; the recipient needs who, not how to
reach them at home. Credentials (e.g. "LCSW") are shown as a qualification's text.
"""

from scheduler.fhir import directory
from scheduler.fhir.access import require_scope
from scheduler.fhir.blueprint import bp
from scheduler.fhir.directory import COUNT, NO_CONSENT
from scheduler.fhir.metadata import declare
from scheduler.fhir.responses import instant
from scheduler.models import Staff

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
    return directory.read(Staff, "Practitioner", resource_id, practitioner)


@bp.get("/Practitioner")
@require_scope(None)
def search_practitioners():
    return directory.search_named(Staff, Staff.name, Staff.is_active, "fhir.search_practitioners",
                                  practitioner, tuple(name for name, _, _ in SEARCH))
