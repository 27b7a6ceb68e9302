"""GET /fhir/R4/metadata: the CapabilityStatement, saying exactly what this server supports.

Each resource module declares what it serves with `declare` when imported, beside its routes,
so the statement cannot drift from them.
"""

from dataclasses import dataclass, field

from flask import url_for

from scheduler.fhir.blueprint import bp
from scheduler.fhir.responses import resource

FHIR_VERSION = "4.0.1"
RELEASED = "2026-12-07"


@dataclass
class Declared:
    kind: str
    interactions: tuple[str, ...]
    # (name, FHIR search param type, what it does)
    search: tuple[tuple[str, str, str], ...] = ()
    operations: tuple[tuple[str, str], ...] = ()  # (name, definition canonical)
    documentation: str = ""
    extra: dict = field(default_factory=dict)


DECLARED: dict[str, Declared] = {}
# Operations on the whole system (e.g. $bulk-publish): (name, definition canonical).
SYSTEM_OPERATIONS: dict[str, str] = {}


def declare(kind: str, interactions: tuple[str, ...], *, search=(), operations=(),
            documentation: str = "", **extra) -> None:
    DECLARED[kind] = Declared(kind, interactions, tuple(search), tuple(operations),
                              documentation, extra)


def declare_system_operation(name: str, definition: str) -> None:
    SYSTEM_OPERATIONS[name] = definition


def _resource_entry(item: Declared) -> dict:
    entry: dict = {"type": item.kind,
                   "interaction": [{"code": code} for code in item.interactions]}
    if item.documentation:
        entry["documentation"] = item.documentation
    if item.search:
        entry["searchParam"] = [{"name": name, "type": kind, "documentation": words}
                                for name, kind, words in item.search]
    if item.operations:
        entry["operation"] = [{"name": name, "definition": definition}
                              for name, definition in item.operations]
    entry.update(item.extra)
    return entry


@bp.get("/metadata")
def metadata():
    rest: dict = {"mode": "server",
                  "resource": [_resource_entry(DECLARED[kind]) for kind in sorted(DECLARED)]}
    security = _security()
    if security:
        rest["security"] = security
    if SYSTEM_OPERATIONS:
        rest["operation"] = [{"name": name, "definition": definition}
                             for name, definition in sorted(SYSTEM_OPERATIONS.items())]
    return resource({"resourceType": "CapabilityStatement", "status": "active",
                     "date": RELEASED, "kind": "instance", "fhirVersion": FHIR_VERSION,
                     "format": ["application/fhir+json"],
                     "implementation": {"description": "IOP Scheduler",
                                        "url": url_for("fhir.metadata", _external=True)
                                        .removesuffix("/metadata")},
                     "rest": [rest]})


def _security() -> dict | None:
    """The token endpoint, once it exists (fhir/auth.py names itself fhir.token)."""
    try:
        token_url = url_for("fhir.token", _external=True)
    except Exception:  # noqa: BLE001 - werkzeug's BuildError: no token route yet
        return None
    return {"service": [{"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                "code": "SMART-on-FHIR"}]}],
            "extension": [{"url": "http://fhir-registry.smarthealthit.org/StructureDefinition/"
                                  "oauth-uris",
                           "extension": [{"url": "token", "valueUri": token_url}]}]}
