"""The /fhir/R4 routes: each module registers its own on the blueprint when imported."""

import scheduler.fhir.appointments  # noqa: F401
import scheduler.fhir.bulk_publish  # noqa: F401
import scheduler.fhir.schedules  # noqa: F401
import scheduler.fhir.slots  # noqa: F401
from scheduler.fhir import metadata  # noqa: F401
