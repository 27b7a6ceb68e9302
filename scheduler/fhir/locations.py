"""Location: a site (Location/site-<id>) and its rooms (Location/<room id>, partOf the site).

Searches list sites first, then rooms, each by id, so paging is stable. Virtual sessions have
no room, and so no Location.
"""

from sqlalchemy import select

from scheduler.extensions import db
from scheduler.fhir import ids, search
from scheduler.fhir.access import require_scope
from scheduler.fhir.blueprint import bp
from scheduler.fhir.directory import COUNT, NO_CONSENT, bundle, next_url, not_found, total_of
from scheduler.fhir.metadata import declare
from scheduler.fhir.responses import instant, resource
from scheduler.models import Room, Site
from scheduler.services.lookup import find
from scheduler.services.search import filtered

PHYSICAL_TYPES = "http://terminology.hl7.org/CodeSystem/location-physical-type"
SEARCH = (("name", "string", "Each word typed begins the name or one of its words, ignoring "
                             "case."),
          ("status", "token", "active or inactive."),
          ("partof", "reference", "Location/site-<id>: the rooms of that site."), COUNT)

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
        raise search.BadSearch("partof", "Must be Location/site-<id>: only sites hold rooms.")
    return site_id


@bp.get("/Location")
@require_scope(None)
def search_locations():
    search.refuse_unknown(tuple(name for name, _, _ in SEARCH))
    size = search.count()
    # Where the last page stopped: (1, site id) among the sites, (2, room id) among the rooms.
    kind, last = search.cursor((int, int)) or (1, 0)
    name = search.one("name")
    status = search.one("status")
    if status not in (None, "active", "inactive"):
        raise search.BadSearch("status", "must be active or inactive.")
    site_id = _partof(search.one("partof"))
    sites = filtered(select(Site), Site.name, name)
    rooms = filtered(select(Room), Room.name, name)
    if status is not None:
        sites = sites.where(Site.is_active.is_(status == "active"))
        rooms = rooms.where(Room.is_active.is_(status == "active"))
    if site_id is not None:
        rooms = rooms.where(Room.site_id == site_id)
    # A partof search asks for rooms only: a site is part of nothing.
    listed: list[tuple[int, object]] = []
    if site_id is None and kind == 1:
        listed += [(1, row) for row in db.session.scalars(
            sites.where(Site.id > last).order_by(Site.id).limit(size + 1))]
    if len(listed) <= size:
        listed += [(2, row) for row in db.session.scalars(
            rooms.where(Room.id > (last if kind == 2 else 0)).order_by(Room.id)
            .limit(size + 1 - len(listed)))]
    more = len(listed) > size
    listed = listed[:size]
    total = (0 if site_id is not None else total_of(sites)) + total_of(rooms)
    entries = [site_location(row) if rank == 1 else room_location(row)  # type: ignore[arg-type]
               for rank, row in listed]
    following = next_url("fhir.search_locations", listed[-1][0],
                         listed[-1][1].id) if more else None  # type: ignore[attr-defined]
    return bundle(entries, total, following)
