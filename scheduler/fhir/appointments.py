"""Appointment: one per booking (Appointment/{booking_id}), only under the client's consent.

What a recipient sees (42 CFR Part 2, invariant 9):
- Only clients whose live consent names the caller's recipient and covers "appointments";
  anyone else is absent from searches, and a read by id answers 404 as for a missing booking.
- Never another client: a group session's Appointment lists its one client, the facilitators
  and the room. The group itself is the linked Slot, which holds no client data.
- Nothing that names addiction treatment: the description is the session's kind ("Group
  session"), never the series title, which a clinic writes freely ("Relapse prevention").
  Cancellation reasons are coded; the free text a coordinator typed is never sent.
- Attendance is a scope of its own. checked-in, fulfilled and noshow say whether the client
  came, so they are shown only when the consent also covers "attendance"; without it an
  attended or missed booking reads as booked (or cancelled, when the booking or the session
  was), which is what the appointments scope alone discloses.

Every Appointment returned is logged (services/disclosures.py) under the consent that allowed
it, and under the attendance consent too when its status came from attendance.
"""

from datetime import datetime
from urllib.parse import urlencode

from flask import request, url_for
from sqlalchemy import and_, any_, case, func, literal, or_, select, type_coerce, union
from sqlalchemy.orm import selectinload

from scheduler import clock
from scheduler.extensions import db
from scheduler.fhir import access, ids, metadata, search
from scheduler.fhir.blueprint import bp
from scheduler.fhir.responses import instant, operation_outcome, resource, searchset
from scheduler.models import Booking, Program, Session
from scheduler.models.attendance import Attendance
from scheduler.models.types import UTCDateTime
from scheduler.services import consents
from scheduler.services.attendance import ATTENDED
from scheduler.services.booking import DISCHARGED

SCOPE = "system/Appointment.read"
STATUSES = ("booked", "cancelled", "checked-in", "fulfilled", "noshow", "waitlist")
ABSENT = ("absent_excused", "absent_unexcused")
# Attendance marks that mean the appointment did not happen, though nobody cancelled the
# booking: the clinic called it off for this client, or the client was on leave.
CALLED_OFF = ("cancelled_by_clinic", "leave_of_absence")
KIND_WORDS = {"group": "Group session", "individual": "Individual session",
              "behavioral": "Skills session", "family": "Family session",
              "education": "Education session", "medical": "Medical appointment",
              "peer_support": "Peer support session", "assessment": "Assessment",
              "case_management": "Case management"}
SESSION_KIND_SYSTEM = "https://iop-scheduler.org/fhir/CodeSystem/session-kind"
CANCEL_SYSTEM = "http://terminology.hl7.org/CodeSystem/appointment-cancellation-reason"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
SEARCH = (("patient", "reference", "The client: Patient/{id}. Only clients whose consent "
                                   "names this recipient and covers appointments appear."),
          ("date", "date", "When the session starts; prefixes eq, ge, le, gt, lt. A value "
                           "without an offset is wall-clock time where the session meets."),
          ("status", "token", "booked, waitlist, checked-in, fulfilled, noshow or cancelled "
                              "(comma-separated for any of them)."),
          ("_lastUpdated", "date", "When the appointment last changed; prefixes ge, le, gt, "
                                   "lt, eq."),
          ("_count", "number", f"Results per page, at most {search.MAX_COUNT}; follow the "
                               "Bundle's next link for the rest."))

metadata.declare(
    "Appointment", ("read", "search-type"), search=SEARCH,
    documentation=(
        "One Appointment per booking, for clients whose live consent names the calling "
        "recipient and covers appointments; others are absent from searches and a read answers "
        "404. A group session's Appointment lists only its own client (the group is the "
        "linked Slot). checked-in, fulfilled and noshow reveal attendance, so they appear only "
        "when the consent also covers attendance; otherwise such a booking reads as booked. "
        "Waitlisted clients are participants with status tentative: the seat is not theirs "
        "yet, and a freed seat books them without asking. Each Appointment returned is logged "
        "in the client's accounting of disclosures."))


def _later(first, second):
    """The later of two instants, either of which may be NULL (SQL has no portable GREATEST
    that ignores NULLs: PostgreSQL's does, SQLite's max() does not)."""
    return case((second.is_(None), first), (first.is_(None), second),
                (first >= second, first), else_=second)


def _columns(now: datetime):
    """The FHIR status and lastUpdated of a booking as SQL, so a search filters on exactly what
    the answer shows: one rule for both."""
    shows_attendance = Booking.client_id.in_(access.consented_client_ids("attendance"))
    came = and_(shows_attendance, Attendance.status.in_(ATTENDED))
    over = or_(Attendance.status == "left_early", Session.ends_at <= now)
    status = case(
        (or_(Booking.status == "cancelled", Session.status == "cancelled"), "cancelled"),
        (Booking.status == "waitlisted", "waitlist"),
        (and_(came, over), "fulfilled"),
        (came, "checked-in"),
        (and_(shows_attendance, Attendance.status.in_(ABSENT)), "noshow"),
        (and_(shows_attendance, Attendance.status.in_(CALLED_OFF)), "cancelled"),
        else_="booked")
    # An attended booking turns fulfilled when its session ends: that is when it changed.
    ended = case((and_(came, Session.ends_at <= now), Session.ends_at), else_=None)
    marked = case((shows_attendance, Attendance.updated_at), else_=None)
    updated = _later(_later(_later(Booking.updated_at, Session.updated_at), marked), ended)
    return (status.label("fhir_status"),
            # Read back as an instant: SQLite hands back the CASE's text otherwise.
            type_coerce(updated, UTCDateTime()).label("last_updated"),
            case((shows_attendance, literal(True)), else_=literal(False)).label("attendance"))


def _query(now: datetime):
    status, updated, attendance = _columns(now)
    return (select(Booking, Session, Attendance, Program.site_id, status, updated, attendance)
            .join(Session, Session.id == Booking.session_id)
            .join(Program, Program.id == Session.program_id)
            .outerjoin(Attendance, Attendance.booking_id == Booking.id)
            .where(Booking.client_id.in_(access.consented_client_ids("appointments")))
            # A page's facilitators in one query, not one per row.
            .options(selectinload(Session.facilitators)), status, updated)


def _changed_since(since: datetime, now: datetime):
    """The ids of the bookings whose lastUpdated (_columns) can be at or after `since`: each
    of the instants it is the latest of, read from its own index. A superset (it ignores
    consent to attendance and whether the client came); the exact condition decides."""
    return union(
        select(Booking.id).where(Booking.updated_at >= since),
        select(Booking.id).join(Session, Session.id == Booking.session_id)
        .where(Session.updated_at >= since),
        select(Attendance.booking_id).where(Attendance.updated_at >= since),
        # An attended booking turns fulfilled when its session ends, not when a row changes.
        select(Booking.id).join(Session, Session.id == Booking.session_id)
        .where(Session.ends_at >= since, Session.ends_at <= now))


@bp.get("/Appointment/<booking_id>")
@access.require_scope(SCOPE)
def read_appointment(booking_id: str):
    number = ids.number(booking_id)
    query, _, _ = _query(clock.now())
    row = db.session.execute(query.where(Booking.id == number)).first() if number else None
    shown = _disclosed([row]) if row is not None else []
    if not shown:
        # The same words for a booking that does not exist and one the consent does not cover.
        return operation_outcome(404, f"Appointment/{booking_id[:40]} is not known here.")
    db.session.commit()
    return resource(shown[0])


@bp.get("/Appointment")
@access.require_scope(SCOPE)
def search_appointments():
    search.refuse_unknown(tuple(name for name, _, _ in SEARCH))
    page_size = search.count()
    after = search.cursor((datetime, int))
    now = clock.now()
    query, status, updated = _query(now)
    for raw in search.values("patient"):
        query = query.where(Booking.client_id == search.reference_id("patient", raw, "Patient"))
    zones = search.zones()
    for bound in search.date_bounds("date"):
        query = query.where(bound.condition(Session.starts_at, Session.timezone, zones))
    changes = search.date_bounds("_lastUpdated")
    for bound in changes:
        # An instant of change has no "where the session meets": wall-clock means UTC here.
        query = query.where(bound.condition(updated, literal("UTC"), ["UTC"]))
    lowers = [lower for lower in (bound.lower_instant() for bound in changes) if lower]
    if lowers:
        # No index holds the computed instant, so the exact condition above alone read every
        # consented client's bookings. A lower bound (ge, gt, eq) first narrows to the bookings
        # that can have changed since it, from index ranges; the exact condition stays on top,
        # so the answer is the same. EXPLAIN ANALYZE on the 4-million-booking bench (a page
        # of 50): since 11:00 today 10.5 s -> 20 ms; since midnight 13.1 s -> 0.9 s (0.13 s
        # of it without JIT, which compiles this query for 0.9 s); six days back, 139,000
        # candidates, 17 s -> 2.2 s (1.7 s without JIT). An upper bound alone (le, lt) still
        # reads every consented client's bookings: most of them match it anyway.
        changed = _changed_since(max(lowers), now)
        if db.session.get_bind().dialect.name == "postgresql":
            # = ANY(ARRAY(…)): the candidates are gathered once, then their bookings read by
            # primary key; as IN (…) PostgreSQL guessed too many and read all of bookings.
            query = query.where(Booking.id == any_(func.array(changed.scalar_subquery())))
        else:
            query = query.where(Booking.id.in_(changed))
    wanted = search.codes("status", STATUSES)
    if wanted:
        # With patient or date the rows are few already (under 0.4 s on the bench). A status
        # alone that few bookings hold (noshow, waitlist) reads every consented client's
        # bookings in start order to find them: 8-12 s on the bench, no index holds it.
        query = query.where(status.in_(wanted))
    query = (query.where(search.keyset_after((Session.starts_at, Booking.id), after))
             .order_by(Session.starts_at, Booking.id).limit(page_size + 1))
    rows = db.session.execute(query).all()
    more = len(rows) > page_size
    rows = rows[:page_size]
    entries = _disclosed(rows)
    db.session.commit()
    next_url = None
    if more:
        last = rows[-1]
        next_url = search.next_link(_page_url, search.encode_cursor(
            last.Session.starts_at.isoformat(), last.Booking.id))
    return resource(searchset(entries, self_url=_self_url(), next_url=next_url, base=_base()))


def _base() -> str:
    return url_for("fhir.metadata", _external=True).removesuffix("/metadata")


def _page_url(args) -> str:
    return url_for("fhir.search_appointments", _external=True) + "?" + urlencode(args)


def _self_url() -> str:
    return request.url


def _disclosed(rows) -> list[dict]:
    """The Appointments of these rows whose consent still holds, each logged as disclosed.

    The consents are asked again for the page's clients (one query a scope, through
    services/consents.py): a consent revoked between the search and now leaves its client's
    rows out rather than sends them unlogged.
    """
    clients = {row.Booking.client_id for row in rows}
    recipient_id, now = access.current_client().recipient_id, clock.now()
    allowed = consents.live_for_clients(db.session, clients, recipient_id, "appointments", now)
    attending = {row.Booking.client_id for row in rows if _from_attendance(row)}
    attendance = consents.live_for_clients(db.session, attending, recipient_id, "attendance",
                                           now)
    shown = []
    for row in rows:
        client_id = row.Booking.client_id
        if client_id not in allowed:
            continue
        from_attendance = _from_attendance(row)
        if from_attendance and client_id not in attendance:
            continue
        what = ids.appointment(row.Booking.id)
        access.disclose(allowed[client_id], "appointments", what)
        if from_attendance:
            access.disclose(attendance[client_id], "attendance", what)
        shown.append(appointment(row))
    return shown


def _from_attendance(row) -> bool:
    """Whether the row's status came from its attendance mark (so the attendance consent
    disclosed it too)."""
    return bool(row.attendance) and row.Attendance is not None and (
        row.fhir_status in ("checked-in", "fulfilled", "noshow")
        or (row.fhir_status == "cancelled" and row.Attendance.status in CALLED_OFF
            and row.Booking.status != "cancelled" and row.Session.status != "cancelled"))


def appointment(row) -> dict:
    """The Appointment of one booking row (Booking, Session, Attendance, site, status …)."""
    booking, session, status = row.Booking, row.Session, row.fhir_status
    cancelled_session = session.status == "cancelled"
    body: dict = {
        "resourceType": "Appointment", "id": str(booking.id),
        "meta": {"lastUpdated": instant(row.last_updated)},
        "status": status,
    }
    if status == "cancelled":
        body["cancelationReason"] = _cancel_reason(row)
    body.update({
        "serviceType": [{"coding": [{"system": SESSION_KIND_SYSTEM, "code": session.kind,
                                     "display": KIND_WORDS.get(session.kind, "Session")}]}],
        "description": KIND_WORDS.get(session.kind, "Session"),
        "slot": [{"reference": ids.slot(session.id)}],
        "start": instant(session.starts_at),
        "end": instant(session.ends_at),
        "minutesDuration": max(1, int((session.ends_at - session.starts_at).total_seconds()
                                      // 60)),
        "created": instant(booking.created_at),
        "participant": _participants(row, cancelled_session),
    })
    return body


def _participants(row, cancelled_session: bool) -> list[dict]:
    booking, session = row.Booking, row.Session
    if booking.status == "cancelled" or row.fhir_status == "cancelled":
        client_status = "declined"
    elif booking.status == "waitlisted":
        # R4: tentative is "accepted … requires further processing"; the client asked for the
        # seat and a freed one books them without asking, so nothing awaits their action.
        client_status = "tentative"
    else:
        client_status = "accepted"
    staff_status = "declined" if cancelled_session else "accepted"
    people = [{"actor": {"reference": ids.patient(booking.client_id)}, "required": "required",
               "status": client_status}]
    for index, member in enumerate(session.facilitators):
        people.append({
            "type": [{"coding": [{"system": PARTICIPATION, "code": "PPRF" if index == 0
                                  else "SPRF",
                                  "display": "primary performer" if index == 0
                                  else "secondary performer"}]}],
            "actor": {"reference": ids.practitioner(member.id)},
            "required": "required", "status": staff_status})
    place = (ids.room_location(session.room_id) if session.room_id is not None
             else None if session.video_url else ids.site_location(row.site_id))
    if place is not None:
        people.append({"actor": {"reference": place}, "required": "required",
                       "status": staff_status})
    return people


def _cancel_reason(row) -> dict:
    """A coded reason, never the free text staff typed (it may say anything about anyone)."""
    booking, session, mark = row.Booking, row.Session, row.Attendance
    if session.status == "cancelled":
        code, text = "prov", ("The program was closed that day." if session.cancelled_by ==
                              "closure" else "The clinic cancelled the session.")
    elif booking.status == "cancelled":
        if booking.cancel_reason == DISCHARGED:
            code, text = "prov-dch", "The client was discharged."
        else:
            code, text = "other", "The booking was cancelled."
    elif mark is not None and mark.status == "leave_of_absence":
        code, text = "pat", "The client was on leave."
    else:
        code, text = "prov", "The clinic cancelled the appointment."
    displays = {"prov": "Provider", "prov-dch": "Provider: Discharged", "pat": "Patient",
                "other": "Other"}
    return {"coding": [{"system": CANCEL_SYSTEM, "code": code, "display": displays[code]}],
            "text": text}
