"""Every FHIR resource the API emits, checked twice and by neither of our own hands:

- fhir.resources' R4B models (pydantic): structure, types, cardinality, unknown elements;
- FHIR.js (npm "fhir", node) against R4 4.0.1's structure definitions and value sets: elements
  R4 does not define, and coded values (Appointment.status, Slot.status …) outside their sets;

and the status codes against R4's value sets here too, because fhir.resources accepts any code.
`assert_valid` takes resources or Bundles (each entry is checked too).
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from fhir.resources.R4B import get_fhir_model_class

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "js" / "fhir_validate.cjs"
VALIDATOR = ROOT / ".cache" / "node" / "node_modules" / "fhir"

# R4 (4.0.1) required bindings for what we emit.
VALUE_SETS = {
    ("Appointment", "status"): {"proposed", "pending", "booked", "arrived", "fulfilled",
                                "cancelled", "noshow", "entered-in-error", "checked-in",
                                "waitlist"},
    ("Appointment.participant", "status"): {"accepted", "declined", "tentative",
                                            "needs-action"},
    ("Appointment.participant", "required"): {"required", "optional", "information-only"},
    ("Slot", "status"): {"busy", "free", "busy-unavailable", "busy-tentative",
                         "entered-in-error"},
    ("Patient", "gender"): {"male", "female", "other", "unknown"},
    ("Location", "status"): {"active", "suspended", "inactive"},
    ("Location", "mode"): {"instance", "kind"},
    ("Bundle", "type"): {"document", "message", "transaction", "transaction-response", "batch",
                         "batch-response", "history", "searchset", "collection"},
    ("OperationOutcome.issue", "severity"): {"fatal", "error", "warning", "information"},
}


def _resources(item: dict) -> list[dict]:
    found = [item]
    if item.get("resourceType") == "Bundle":
        for entry in item.get("entry", []):
            if "resource" in entry:
                found += _resources(entry["resource"])
    return found


def _codes(resource: dict) -> list[str]:
    problems = []
    kind = resource["resourceType"]
    for (path, element), allowed in VALUE_SETS.items():
        owner, _, child = path.partition(".")
        if owner != kind:
            continue
        holders = resource.get(child, []) if child else [resource]
        for holder in holders if isinstance(holders, list) else [holders]:
            if element in holder and holder[element] not in allowed:
                problems.append(f"{kind} {path}.{element} = {holder[element]!r} is not in R4's "
                                "value set")
    return problems


def _fhirjs_errors(resources: list[dict]) -> list[list[str]] | None:
    if shutil.which("node") is None or not VALIDATOR.exists():
        message = "node or FHIR.js is missing: run `make node-deps`"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run the FHIR.js check", pytrace=False)
        return None
    run = subprocess.run(["node", str(SCRIPT)], input=json.dumps(resources), text=True,
                         capture_output=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def assert_valid(*items: dict) -> None:
    """Fail naming each resource and what both validators and the value sets say of it."""
    resources = [resource for item in items for resource in _resources(item)]
    failures = []
    for resource in resources:
        kind = resource.get("resourceType")
        try:
            get_fhir_model_class(kind).model_validate(resource)
        except Exception as error:  # noqa: BLE001 - pydantic's or an unknown type's
            failures.append(f"fhir.resources R4B: {kind}/{resource.get('id')}: {error}")
        failures += _codes(resource)
    # Bundles go whole: FHIR.js walks into their entries.
    checked = _fhirjs_errors(list(items))
    if checked is None:
        pytest.skip("node or FHIR.js is missing: run `make node-deps`")
    for item, errors in zip(items, checked, strict=True):
        if errors:
            failures.append(f"FHIR.js R4: {item.get('resourceType')}/{item.get('id')}: "
                            + "; ".join(errors[:10]))
    assert not failures, "\n".join(failures)
