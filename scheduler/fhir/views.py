"""The /fhir/R4 routes: each module registers its own on the blueprint when imported."""

from scheduler.fhir import (  # noqa: F401  (each declares itself and adds its routes)
    auth,
    healthcare_services,
    locations,
    metadata,
    patients,
    practitioners,
)
