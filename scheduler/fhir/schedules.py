"""Schedule: a series' (Schedule/series-{id}) and a practitioner's (Schedule/practitioner-{id}).

A series' Schedule holds its sessions' Slots; its actors are the program (HealthcareService),
the room (Location) and the facilitators (Practitioner). A practitioner's holds the Slots of
the one-off sessions they lead first. Neither holds client data, and neither carries the
series title (a clinic's words, which may name the treatment): the kind says what it is.
Read with the Slot scope, as their Slots are.
"""

from urllib.parse import urlencode

from flask import request, url_for
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from scheduler.extensions import db
from scheduler.fhir import access, ids, metadata, search
from scheduler.fhir.appointments import KIND_WORDS, SESSION_KIND_SYSTEM
from scheduler.fhir.blueprint import bp
from scheduler.fhir.responses import instant, operation_outcome, resource, searchset
from scheduler.models import SessionSeries, Staff
from scheduler.models.series import series_facilitators

SCOPE = "system/Slot.read"
SEARCH = (("actor", "reference", "Practitioner/{id}, Location/{room id} or "
                                 "HealthcareService/{program id}."),
          ("_count", "number", f"Results per page, at most {search.MAX_COUNT}; follow the "
                               "Bundle's next link for the rest."))

metadata.declare(
    "Schedule", ("read", "search-type"), search=SEARCH,
    documentation=("Schedule/series-{id} for each series (actors: the program as "
                   "HealthcareService, the room as Location, the facilitators as "
                   "Practitioner) and Schedule/practitioner-{id} for each staff member's "
                   "one-off sessions. Read with the scope system/Slot.read."))


def series_schedule(series: SessionSeries) -> dict:
    actors = [{"reference": ids.healthcare_service(series.program_id)}]
    if series.room_id is not None:
        actors.append({"reference": ids.room_location(series.room_id)})
    actors += [{"reference": ids.practitioner(member.id)} for member in series.facilitators]
    horizon: dict = {"start": series.start_date.isoformat()}
    if series.end_date is not None:
        horizon["end"] = series.end_date.isoformat()
    return {"resourceType": "Schedule", "id": f"series-{series.id}",
            "meta": {"lastUpdated": instant(series.updated_at)},
            "active": series.status == "active",
            "serviceType": [{"coding": [{"system": SESSION_KIND_SYSTEM, "code": series.kind,
                                         "display": KIND_WORDS.get(series.kind, "Session")}]}],
            "actor": actors, "planningHorizon": horizon}


def practitioner_schedule(member: Staff) -> dict:
    return {"resourceType": "Schedule", "id": f"practitioner-{member.id}",
            "meta": {"lastUpdated": instant(member.updated_at)},
            "active": member.is_active,
            "actor": [{"reference": ids.practitioner(member.id)}]}


def _series_query():
    return select(SessionSeries).options(selectinload(SessionSeries.facilitators))


@bp.get("/Schedule/series-<series_id>")
@access.require_scope(SCOPE)
def read_series_schedule(series_id: str):
    number = ids.number(series_id)
    row = db.session.scalar(_series_query().where(SessionSeries.id == number)) \
        if number else None
    if row is None:
        return operation_outcome(404, f"Schedule/series-{series_id[:40]} is not known here.")
    return resource(series_schedule(row))


@bp.get("/Schedule/practitioner-<staff_id>")
@access.require_scope(SCOPE)
def read_practitioner_schedule(staff_id: str):
    number = ids.number(staff_id)
    row = db.session.get(Staff, number) if number else None
    if row is None:
        return operation_outcome(404, f"Schedule/practitioner-{staff_id[:40]} is not known "
                                      "here.")
    return resource(practitioner_schedule(row))


@bp.get("/Schedule")
@access.require_scope(SCOPE)
def search_schedules():
    """Series' Schedules by id, then practitioners' by id; the cursor says which and where."""
    search.refuse_unknown(tuple(name for name, _, _ in SEARCH))
    page_size = search.count()
    after = search.cursor((str, int))
    if after is not None and after[0] not in ("series", "practitioner"):
        raise search.BadSearch("_cursor", "is not a page of this search; follow the next link "
                                      "as given.")
    series_query, staff_query = _series_query(), select(Staff)
    for raw in search.values("actor"):
        series_query, staff_query = _by_actor(raw, series_query, staff_query)
    found: list[dict] = []
    if after is None or after[0] == "series":
        start = after[1] if after else 0
        rows = db.session.scalars(series_query.where(SessionSeries.id > start)
                                  .order_by(SessionSeries.id).limit(page_size + 1)).all()
        found += [series_schedule(row) for row in rows]
    if len(found) <= page_size and staff_query is not None:
        start = after[1] if after and after[0] == "practitioner" else 0
        rows = db.session.scalars(staff_query.where(Staff.id > start).order_by(Staff.id)
                                  .limit(page_size + 1 - len(found))).all()
        found += [practitioner_schedule(row) for row in rows]
    more = len(found) > page_size
    found = found[:page_size]
    next_url = None
    if more:
        kind, _, number = found[-1]["id"].partition("-")
        next_url = search.next_link(
            lambda args: url_for("fhir.search_schedules", _external=True) + "?"
            + urlencode(args), search.encode_cursor(kind, number))
    base = url_for("fhir.metadata", _external=True).removesuffix("/metadata")
    return resource(searchset(found, self_url=request.url, next_url=next_url, base=base))


def _by_actor(raw: str, series_query, staff_query):
    """Narrow both lists to one actor; a practitioner's own Schedule is theirs alone."""
    kind, _, text = raw.partition("/")
    number = ids.number(text)
    if kind not in ("Practitioner", "Location", "HealthcareService") or number is None:
        raise search.BadSearch("actor", "must name a Practitioner, Location or HealthcareService "
                                    "such as Practitioner/7.")
    if kind == "Practitioner":
        led = select(series_facilitators.c.series_id).where(
            series_facilitators.c.staff_id == number)
        return (series_query.where(SessionSeries.id.in_(led)),
                None if staff_query is None else staff_query.where(Staff.id == number))
    if kind == "Location":
        return series_query.where(SessionSeries.room_id == number), None
    return series_query.where(SessionSeries.program_id == number), None
