"""Slot: one per session (Slot/{session_id}), free or busy, with its free seats. No client data,
so no consent: a Slot never says who sits in it.

- free: a group session ahead, not cancelled, with a seat left;
- busy: full, already started, or one-to-one (a one-to-one session is about one person, so
  its Slot says only that the time is taken: never whose, never how many seats);
- busy-unavailable: cancelled. R4 keeps entered-in-error for a Slot made by mistake; a
  cancelled session was real, and its time simply cannot be booked.

A series' sessions belong to its Schedule (Schedule/series-{id}); a one-off session to its
first facilitator's (Schedule/practitioner-{id}). A one-off with no facilitator has no Schedule
to hang from, so it is no Slot (Slot.schedule is required).
"""

from datetime import datetime
from urllib.parse import urlencode

from flask import request, url_for
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import selectinload

from scheduler import clock
from scheduler.extensions import db
from scheduler.fhir import access, ids, metadata, search
from scheduler.fhir.appointments import KIND_WORDS, SESSION_KIND_SYSTEM
from scheduler.fhir.blueprint import bp
from scheduler.fhir.responses import instant, operation_outcome, resource, searchset
from scheduler.models import Booking, Session
from scheduler.models.sessions import session_facilitators
from scheduler.services.one_to_one import ONE_SEAT

SCOPE = "system/Slot.read"
FREE_SEATS = "https://iop-scheduler.org/fhir/StructureDefinition/free-seats"
STATUSES = ("busy", "busy-unavailable", "free")
SEARCH = (("schedule", "reference", "Schedule/series-{id} or Schedule/practitioner-{id}."),
          ("start", "date", "When the session starts; prefixes eq, ge, le, gt, lt. A value "
                            "without an offset is wall-clock time where the session meets."),
          ("status", "token", "free, busy or busy-unavailable (comma-separated for any)."),
          ("_count", "number", f"Results per page, at most {search.MAX_COUNT}; follow the "
                               "Bundle's next link for the rest."))

metadata.declare(
    "Slot", ("read", "search-type"), search=SEARCH,
    documentation=(
        "One Slot per session. free: a group session ahead with a seat left; busy: full, "
        "started, or one-to-one (which never says whose); busy-unavailable: cancelled. A "
        f"group session's free seats are the extension {FREE_SEATS} (valueInteger). Slots "
        "hold no client data."))


def booked_count():
    """Seats taken, per session row: a count on (session_id, status), the bookings index."""
    return (select(func.count(Booking.id))
            .where(Booking.session_id == Session.id, Booking.status == "booked")
            .correlate(Session).scalar_subquery())


def first_facilitator():
    """The facilitator whose Schedule a one-off session's Slot belongs to: the lowest id, as
    Session.facilitators orders them."""
    return (select(func.min(session_facilitators.c.staff_id))
            .where(session_facilitators.c.session_id == Session.id)
            .correlate(Session).scalar_subquery())


def _columns(now: datetime):
    free = Session.capacity - booked_count()
    status = case(
        (Session.status == "cancelled", "busy-unavailable"),
        (and_(Session.capacity != ONE_SEAT, Session.starts_at > now, free > 0), "free"),
        else_="busy")
    return status.label("slot_status"), free.label("free_seats"), \
        first_facilitator().label("owner_id")


def _query(now: datetime):
    status, free, owner = _columns(now)
    query = (select(Session, status, free, owner)
             .where(or_(Session.series_id.is_not(None), owner.is_not(None)))
             .options(selectinload(Session.facilitators)))
    return query, status


@bp.get("/Slot/<session_id>")
@access.require_scope(SCOPE)
def read_slot(session_id: str):
    number = ids.number(session_id)
    query, _ = _query(clock.now())
    row = db.session.execute(query.where(Session.id == number)).first() if number else None
    if row is None:
        return operation_outcome(404, f"Slot/{session_id[:40]} is not known here.")
    return resource(slot(row))


@bp.get("/Slot")
@access.require_scope(SCOPE)
def search_slots():
    search.refuse_unknown(tuple(name for name, _, _ in SEARCH))
    page_size = search.count()
    after = search.cursor((datetime, int))
    query, status = _query(clock.now())
    for raw in search.values("schedule"):
        query = query.where(schedule_condition("schedule", raw))
    zones = search.zones()
    for bound in search.date_bounds("start"):
        query = query.where(bound.condition(Session.starts_at, Session.timezone, zones))
    wanted = search.codes("status", STATUSES)
    if wanted:
        query = query.where(status.in_(wanted))
    query = (query.where(search.keyset_after((Session.starts_at, Session.id), after))
             .order_by(Session.starts_at, Session.id).limit(page_size + 1))
    rows = db.session.execute(query).all()
    more = len(rows) > page_size
    rows = rows[:page_size]
    next_url = None
    if more:
        last = rows[-1].Session
        next_url = search.next_link(
            lambda args: url_for("fhir.search_slots", _external=True) + "?" + urlencode(args),
            search.encode_cursor(last.starts_at.isoformat(), last.id))
    base = url_for("fhir.metadata", _external=True).removesuffix("/metadata")
    return resource(searchset([slot(row) for row in rows], self_url=request.url,
                              next_url=next_url, base=base))


def schedule_condition(name: str, raw: str):
    """The sessions of one Schedule reference; anything else is refused naming `name`."""
    text = raw.removeprefix("Schedule/")
    series_id = ids.parse_prefixed(text, "series")
    if series_id is not None:
        return Session.series_id == series_id
    staff_id = ids.parse_prefixed(text, "practitioner")
    if staff_id is not None:
        # Their sessions through the staff_id index first, then the one-offs they lead first.
        led = select(session_facilitators.c.session_id).where(
            session_facilitators.c.staff_id == staff_id)
        return and_(Session.id.in_(led), Session.series_id.is_(None),
                    first_facilitator() == staff_id)
    raise search.BadSearch(name, "must name a Schedule such as Schedule/series-3 or "
                             "Schedule/practitioner-7.")


def slot(row) -> dict:
    """The Slot of one session row (Session, slot_status, free_seats, owner_id)."""
    session = row.Session
    schedule = (ids.series_schedule(session.series_id) if session.series_id is not None
                else ids.practitioner_schedule(row.owner_id))
    body: dict = {"resourceType": "Slot", "id": str(session.id),
                  "meta": {"lastUpdated": instant(session.updated_at)}}
    if session.capacity != ONE_SEAT:
        # How many may still join: the one number a referral partner needs, and no one's name.
        body["extension"] = [{"url": FREE_SEATS, "valueInteger": max(int(row.free_seats), 0)}]
    body.update({
        "serviceType": [{"coding": [{"system": SESSION_KIND_SYSTEM, "code": session.kind,
                                     "display": KIND_WORDS.get(session.kind, "Session")}]}],
        "schedule": {"reference": schedule},
        "status": row.slot_status,
        "start": instant(session.starts_at),
        "end": instant(session.ends_at),
    })
    return body
