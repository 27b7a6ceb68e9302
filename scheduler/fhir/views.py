"""The /fhir/R4 routes: each module registers its own on the blueprint when imported."""

from scheduler.fhir import metadata  # noqa: F401
