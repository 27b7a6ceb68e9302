"""How our rows are named in FHIR: one place, so every resource's references agree.

A Patient's id is the client's id (the issue's contract); an Appointment is one booking; a
Slot is one session. Rooms are Locations by their id; a site is a Location too, "site-<id>",
that its rooms are partOf. A Schedule is a series' ("series-<id>") or a practitioner's
("practitioner-<id>"). A HealthcareService is a program.
"""

import re

from scheduler.services.lookup import MAX_ID

ID_PATTERN = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def patient(client_id: int) -> str:
    return f"Patient/{client_id}"


def appointment(booking_id: int) -> str:
    return f"Appointment/{booking_id}"


def slot(session_id: int) -> str:
    return f"Slot/{session_id}"


def practitioner(staff_id: int) -> str:
    return f"Practitioner/{staff_id}"


def room_location(room_id: int) -> str:
    return f"Location/{room_id}"


def site_location(site_id: int) -> str:
    return f"Location/site-{site_id}"


def series_schedule(series_id: int) -> str:
    return f"Schedule/series-{series_id}"


def practitioner_schedule(staff_id: int) -> str:
    return f"Schedule/practitioner-{staff_id}"


def healthcare_service(program_id: int) -> str:
    return f"HealthcareService/{program_id}"


def parse_prefixed(value: str, prefix: str) -> int | None:
    """The number in "<prefix>-<n>" (e.g. site-3), or None; ids no row can have are None too."""
    if not value.startswith(prefix + "-"):
        return None
    return number(value[len(prefix) + 1:])


def number(value: str) -> int | None:
    """A plain positive id that could name a row, or None for anything else (so a read answers
    404, never a 500): keys are PostgreSQL INTEGERs, as services/lookup.MAX_ID says."""
    if not value.isascii() or not value.isdigit() or len(value) > 10:
        return None
    parsed = int(value)
    return parsed if 0 < parsed <= MAX_ID else None
