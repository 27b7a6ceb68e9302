"""Location: a site (Location/site-<id>) and its rooms (Location/<room id>, partOf the site).

Searches list sites first, then rooms, each by id, so paging is stable. Virtual sessions have
no room, and so no Location.
"""

from sqlalchemy import select

from scheduler.extensions import db
from scheduler.fhir import bp, ids
from scheduler.fhir.access import require_scope
from scheduler.fhir.directory import NO_CONSENT, not_found, page_of
from scheduler.fhir.metadata import declare
from scheduler.fhir.responses import instant, resource
from scheduler.fhir.search import BadParameter, bundle, count_and_offset, one, parameters
from scheduler.models import Room, Site
from scheduler.services.lookup import find
from scheduler.services.search import filtered

PHYSICAL_TYPES = "http://terminology.hl7.org/CodeSystem/location-physical-type"
SEARCH = (("name", "string", "Each word typed begins the name or one of its words, ignoring "
                             "case."),
          ("status", "token", "active or inactive."),
          ("partof", "reference", "Location/site-<id>: the rooms of that site."))

declare("Location", ("read", "search-type"), search=SEARCH,
        documentation=NO_CONSENT + " Sites are Location/site-<id>; rooms are Location/<id>, "
                                   "partOf their site.")


def _status(active: bool) -> str:
    return "active" if active else "inactive"


def _physical(code: str, words: str) -> dict:
    return {"coding": [{"system": PHYSICAL_TYPES, "code": code, "display": words}]}


def site_location(site: Site) -> dict:
    body: dict = {"resourceType": "Location", "id": f"site-{site.id}",
                  "meta": {"lastUpdated": instant(site.updated_at)},
                  "status": _status(site.is_active), "name": site.name, "mode": "instance",
                  "physicalType": _physical("si", "Site")}
    if site.address:
        body["address"] = {"text": site.address}
    return body


def room_location(room: Room) -> dict:
    body: dict = {"resourceType": "Location", "id": str(room.id),
                  "meta": {"lastUpdated": instant(room.updated_at)},
                  "status": _status(room.is_active), "name": room.name, "mode": "instance",
                  "physicalType": _physical("ro", "Room"),
                  "partOf": {"reference": ids.site_location(room.site_id)}}
    if room.location:
        body["description"] = room.location
    return body


@bp.get("/Location/<resource_id>")
@require_scope(None)
def read_location(resource_id: str):
    site_id = ids.parse_prefixed(resource_id, "site")
    if site_id is not None:
        site = find(db.session, Site, site_id)
        return resource(site_location(site)) if site else not_found("Location", resource_id)
    room = find(db.session, Room, ids.number(resource_id))
    return resource(room_location(room)) if room else not_found("Location", resource_id)


def _partof(value: str | None) -> int | None:
    if value is None:
        return None
    site_id = ids.parse_prefixed(value.removeprefix("Location/"), "site")
    if site_id is None:
        raise BadParameter("partof", "Must be Location/site-<id>: only sites hold rooms.")
    return site_id


@bp.get("/Location")
@require_scope(None)
def search_locations():
    params = parameters("Location", tuple(name for name, _, _ in SEARCH))
    count, offset = count_and_offset(params)
    name = one(params, "name")
    status = one(params, "status")
    if status not in (None, "active", "inactive"):
        raise BadParameter("status", "Must be active or inactive.")
    site_id = _partof(one(params, "partof"))
    sites = filtered(select(Site), Site.name, name)
    rooms = filtered(select(Room), Room.name, name)
    if status is not None:
        sites = sites.where(Site.is_active.is_(status == "active"))
        rooms = rooms.where(Room.is_active.is_(status == "active"))
    if site_id is not None:
        rooms = rooms.where(Room.site_id == site_id)
    # A partof search asks for rooms only: a site is part of nothing.
    site_rows, site_total = (page_of(sites, (Site.id,), count, offset) if site_id is None
                             else ([], 0))
    room_offset = max(0, offset - site_total)
    room_rows, room_total = page_of(rooms, (Room.id,), max(0, count - len(site_rows)),
                                    room_offset)
    entries = [site_location(row) for row in site_rows] + [room_location(row)
                                                           for row in room_rows]
    return bundle(entries, total=site_total + room_total, count=count, offset=offset)
