"""FHIR R4 (4.0.1) under /fhir/R4: what a recipient's EHR, billing or referral system reads.

Every answer is application/fhir+json; every refusal an OperationOutcome. System clients
authenticate with OAuth2 client credentials (services/fhir_auth.py); what they see of a client
is bounded by that client's Part 2 consent (services/consents.py), and every disclosure is
logged (services/disclosures.py). Resources that hold no client data (Slot, Schedule,
Location, HealthcareService, Practitioner, the CapabilityStatement) need no consent.

The blueprint is in blueprint.py and views.py mounts it with every resource module, so that
importing this package (for BASE, or ids.py from the services) loads no view.
"""

BASE = "/fhir/R4"
