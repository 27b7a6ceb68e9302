"""Mounts /fhir/R4: every resource module and the error handlers register on the blueprint
when imported, here, before the app factory registers it."""

from flask import Flask

from scheduler.extensions import csrf
from scheduler.fhir import (  # noqa: F401  (each sets its routes up on bp when imported)
    appointments,
    auth,
    bulk_publish,
    errors,
    healthcare_services,
    locations,
    metadata,
    patients,
    practitioners,
    schedules,
    slots,
)
from scheduler.fhir.blueprint import bp


def register(app: Flask) -> None:
    # FHIR clients hold no cookie: a cross-site form cannot act as one.
    csrf.exempt(bp)
    app.register_blueprint(bp)
