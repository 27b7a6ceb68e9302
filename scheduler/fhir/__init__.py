"""FHIR R4 (4.0.1) under /fhir/R4: what a recipient's EHR, billing or referral system reads.

Every answer is application/fhir+json; every refusal an OperationOutcome. System clients
authenticate with OAuth2 client credentials (services/fhir_auth.py); what they see of a client
is bounded by that client's Part 2 consent (services/consents.py), and every disclosure is
logged (services/disclosures.py). Resources that hold no client data (Slot, Schedule,
Location, HealthcareService, Practitioner, the CapabilityStatement) need no consent.
"""

from flask import Blueprint, Flask

BASE = "/fhir/R4"
bp = Blueprint("fhir", __name__, url_prefix=BASE)


def register_fhir(app: Flask) -> None:
    """Mount /fhir/R4 with its OperationOutcome error handling."""
    from scheduler.extensions import csrf
    from scheduler.fhir import errors, views  # noqa: F401  (both set bp up when imported)

    # FHIR clients hold no cookie: a cross-site form cannot act as one.
    csrf.exempt(bp)
    app.register_blueprint(bp)
