"""HealthcareService: a program (e.g. an evening adult IOP), where it runs, and its level of
care. A referral (POST /Patient) names one."""

from scheduler.fhir import directory, ids
from scheduler.fhir.access import require_scope
from scheduler.fhir.blueprint import bp
from scheduler.fhir.directory import COUNT, NO_CONSENT
from scheduler.fhir.metadata import declare
from scheduler.fhir.responses import instant
from scheduler.models import Program

SEARCH = (("name", "string", "Each word typed begins the name or one of its words, ignoring "
                             "case."),
          ("active", "token", "true or false: whether it takes clients."), COUNT)
LEVEL_WORDS = {"1": "ASAM level 1 (outpatient)", "2.1": "ASAM level 2.1 (intensive outpatient)",
               "2.5": "ASAM level 2.5 (partial hospitalization)"}

declare("HealthcareService", ("read", "search-type"), search=SEARCH,
        documentation=NO_CONSENT + " A program; a referral (Patient create) names one.")


def healthcare_service(program: Program) -> dict:
    return {"resourceType": "HealthcareService", "id": str(program.id),
            "meta": {"lastUpdated": instant(program.updated_at)},
            "active": program.is_active, "name": program.name,
            "location": [{"reference": ids.site_location(program.site_id)}],
            "characteristic": [{"text": LEVEL_WORDS.get(program.level_of_care,
                                                        program.level_of_care)},
                               {"text": f"{program.population.capitalize()}s"}]}


@bp.get("/HealthcareService/<resource_id>")
@require_scope(None)
def read_healthcare_service(resource_id: str):
    return directory.read(Program, "HealthcareService", resource_id, healthcare_service)


@bp.get("/HealthcareService")
@require_scope(None)
def search_healthcare_services():
    return directory.search_named(Program, Program.name, Program.is_active,
                                  "fhir.search_healthcare_services", healthcare_service,
                                  tuple(name for name, _, _ in SEARCH))
