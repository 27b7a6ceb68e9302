"""/fhir/R4's frame (issue 20): its media type, its refusals as OperationOutcome, and the two
validators every emitted resource goes through (tests/fhir_check.py), which must catch a wrong
resource as surely as they pass a right one."""

import pytest

from tests.fhir_check import assert_valid

FHIR = "/fhir/R4"


def test_the_capability_statement_is_fhir_json_and_valid_r4(client):
    answer = client.get(f"{FHIR}/metadata")
    assert answer.status_code == 200
    assert answer.content_type.startswith("application/fhir+json")
    body = answer.get_json()
    assert (body["resourceType"], body["fhirVersion"]) == ("CapabilityStatement", "4.0.1")
    assert_valid(body)


@pytest.mark.parametrize("method, path, status", [
    ("GET", "/NoSuchType/1", 404),
    ("GET", "", 404),
    ("DELETE", "/metadata", 405),
])
def test_refusals_are_operation_outcomes_with_their_status(client, method, path, status):
    answer = client.open(f"{FHIR}{path}", method=method)
    assert answer.status_code == status
    assert answer.content_type.startswith("application/fhir+json")
    body = answer.get_json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["diagnostics"]
    assert_valid(body)


@pytest.mark.parametrize("resource, complaint", [
    # fhir.resources accepts any code: the value-set check is ours.
    ({"resourceType": "Appointment", "id": "1", "status": "tentative",
      "participant": [{"status": "accepted", "actor": {"reference": "Patient/1"}}]},
     "'tentative' is not in R4's value set"),
    ({"resourceType": "Slot", "id": "2", "status": "open", "schedule": {"reference": "Schedule/1"},
      "start": "2027-03-01T18:00:00Z", "end": "2027-03-01T19:00:00Z"},
     'FHIR.js R4: Bundle/None: Slot.status: Code "open" not found'),
    # An instant without its zone: fhir.resources' R4B model refuses it.
    ({"resourceType": "Appointment", "id": "1", "status": "booked",
      "participant": [{"status": "accepted", "actor": {"reference": "Patient/1"}}],
      "start": "2027-03-01T18:00:00"},
     "Instant value string does not match spec regex"),
    # An element R4 does not define: both refuse it.
    ({"resourceType": "Slot", "id": "2", "status": "free", "schedule": {"reference": "Schedule/1"},
      "start": "2027-03-01T18:00:00Z", "end": "2027-03-01T19:00:00Z", "seats": 4},
     "Unexpected property"),
])
def test_the_validators_refuse_what_r4_does_not_allow(resource, complaint):
    with pytest.raises(AssertionError) as refused:
        assert_valid({"resourceType": "Bundle", "type": "searchset",
                      "entry": [{"resource": resource}]})
    assert complaint in str(refused.value)
