"""GET /fhir/R4/metadata: the CapabilityStatement, saying exactly what this server supports."""

from scheduler.fhir import bp
from scheduler.fhir.responses import resource

FHIR_VERSION = "4.0.1"


@bp.get("/metadata")
def metadata():
    # Filled in as resources land: each lists its interactions and search parameters here.
    return resource({"resourceType": "CapabilityStatement", "status": "active",
                     "date": "2026-12-07", "kind": "instance", "fhirVersion": FHIR_VERSION,
                     "format": ["application/fhir+json"],
                     "rest": [{"mode": "server", "resource": []}]})
