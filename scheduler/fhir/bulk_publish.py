"""$bulk-publish: open group seats as SMART Scheduling Links publishes them, for referral
partners looking for room (https://github.com/smart-on-fhir/smart-scheduling-links).

GET /fhir/R4/$bulk-publish is the manifest; it links three NDJSON files (one resource a line,
application/fhir+ndjson): the sites with room (Location), the group series there (Schedule)
and their free sessions ahead (Slot, with the free seats).

Public, with no token: it holds no client data. It says only where and when a group meets and
how many seats are left, which is what a clinic advertises anyway. To keep it that way:
- only series that seat more than one (services/one_to_one.py's rule): a one-to-one time is
  about one person and never appears;
- a Schedule's only actor is its site's Location (no staff, no program), and it carries the
  session kind, never the series title;
- Locations are sites, by name and address; rooms stay inside.
"""

import json
from datetime import datetime

from flask import Response, current_app, request, url_for
from sqlalchemy import and_, exists, select

from scheduler import clock
from scheduler.extensions import db
from scheduler.fhir import ids, metadata, search
from scheduler.fhir.appointments import KIND_WORDS, SESSION_KIND_SYSTEM
from scheduler.fhir.blueprint import bp
from scheduler.fhir.responses import instant, resource
from scheduler.fhir.slots import FREE_SEATS, booked_count
from scheduler.models import Program, Session, SessionSeries, Site
from scheduler.services.one_to_one import ONE_SEAT

NDJSON = "application/fhir+ndjson"
CAPACITY = "http://fhir-registry.smarthealthit.org/StructureDefinition/slot-capacity"
OPERATION = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/bulk-publish"
# Rows read from the database at a time while the Slot file streams.
CHUNK = 1000
FILES = (("Location", "fhir.bulk_locations"), ("Schedule", "fhir.bulk_schedules"),
         ("Slot", "fhir.bulk_slots"))

metadata.declare_system_operation("bulk-publish", OPERATION)


def _open_series(now: datetime):
    """Active series that seat more than one, with a session ahead that has a seat left."""
    free = and_(Session.series_id == SessionSeries.id, Session.status == "scheduled",
                Session.starts_at > now, Session.capacity != ONE_SEAT,
                Session.capacity - booked_count() > 0)
    return (SessionSeries.status == "active", SessionSeries.capacity != ONE_SEAT,
            exists(select(Session.id).where(free).correlate(SessionSeries)))


@bp.get("/$bulk-publish")
def bulk_publish():
    """The manifest: when, what was asked, and the three files."""
    return resource({
        "transactionTime": instant(clock.now()),
        "request": request.url,
        "output": [{"type": kind, "url": url_for(endpoint, _external=True)}
                   for kind, endpoint in FILES],
        "error": [],
    })


def _ndjson(lines) -> Response:
    return Response(lines, content_type=f"{NDJSON}; charset=utf-8")


def _line(item: dict) -> str:
    return json.dumps(item, separators=(",", ":"), ensure_ascii=False) + "\n"


@bp.get("/$bulk-publish/Location.ndjson")
def bulk_locations():
    now = clock.now()
    sites = db.session.scalars(
        select(Site).where(Site.is_active.is_(True), Site.id.in_(
            select(Program.site_id).join(SessionSeries, SessionSeries.program_id == Program.id)
            .where(*_open_series(now))))
        .order_by(Site.id)).all()
    return _ndjson(_line(site_location(site)) for site in sites)


def site_location(site: Site) -> dict:
    body: dict = {"resourceType": "Location", "id": f"site-{site.id}", "status": "active",
                  "name": site.name, "mode": "instance"}
    if site.address:
        body["address"] = {"text": site.address, "line": [site.address]}
    return body


@bp.get("/$bulk-publish/Schedule.ndjson")
def bulk_schedules():
    now = clock.now()
    rows = db.session.execute(
        select(SessionSeries.id, SessionSeries.kind, Program.site_id)
        .join(Program, Program.id == SessionSeries.program_id)
        .where(*_open_series(now)).order_by(SessionSeries.id)).all()
    return _ndjson(_line({
        "resourceType": "Schedule", "id": f"series-{row.id}",
        "serviceType": [{"coding": [{"system": SESSION_KIND_SYSTEM, "code": row.kind,
                                     "display": KIND_WORDS.get(row.kind, "Session")}]}],
        "actor": [{"reference": ids.site_location(row.site_id)}]}) for row in rows)


@bp.get("/$bulk-publish/Slot.ndjson")
def bulk_slots():
    """Free sessions ahead of the open series, streamed a chunk at a time by (start, id).

    Each chunk is read in an app context of its own, opened and closed within one step of the
    stream: the file may be large (a network's weeks of groups), so it is never held whole,
    and no database session stays open while the client reads slowly.
    """
    now = clock.now()
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def lines():
        after: tuple | None = None
        while True:
            with app.app_context():
                rows = _free_slots(now, after)
            for row in rows:
                yield _line({
                    "resourceType": "Slot", "id": str(row.id),
                    "extension": [{"url": CAPACITY, "valueInteger": int(row.free)},
                                  {"url": FREE_SEATS, "valueInteger": int(row.free)}],
                    "schedule": {"reference": ids.series_schedule(row.series_id)},
                    "status": "free", "start": instant(row.starts_at),
                    "end": instant(row.ends_at)})
            if len(rows) < CHUNK:
                return
            after = (rows[-1].starts_at, rows[-1].id)

    return _ndjson(lines())


def _free_slots(now: datetime, after: tuple | None) -> list:
    """One chunk of free sessions of open series, after `after` in (start, id) order."""
    free = Session.capacity - booked_count()
    query = (select(Session.id, Session.series_id, Session.starts_at, Session.ends_at,
                    free.label("free"))
             .join(SessionSeries, SessionSeries.id == Session.series_id)
             .where(SessionSeries.status == "active", SessionSeries.capacity != ONE_SEAT,
                    Session.capacity != ONE_SEAT, Session.status == "scheduled",
                    Session.starts_at > now, free > 0,
                    search.keyset_after((Session.starts_at, Session.id), after)))
    return list(db.session.execute(query.order_by(Session.starts_at, Session.id)
                                   .limit(CHUNK)).all())
