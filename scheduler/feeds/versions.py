"""Feed versions: every write that could change a feed moves its version, removals included.

The ORM hooks watch sessions, bookings and what a feed shows of programs, rooms, staff and
clients, so no service has to remember to call anything. The one write that bypasses the ORM,
bulk materialisation of a series' occurrences, calls `sessions_added` itself.
"""

from datetime import datetime, timedelta

from sqlalchemy import and_, event, func, inspect, or_, select, true, update
from sqlalchemy.orm import Session as OrmSession

from scheduler import clock
from scheduler.models import (
    Booking,
    Client,
    FeedVersion,
    Program,
    Room,
    Session,
    Staff,
    User,
    session_facilitators,
)

# Attributes whose change alters what some feed shows.
SESSION_SHOWN = ("starts_at", "ends_at", "status", "room_id", "title", "kind", "video_url",
                 "facilitators", "program_id")
BOOKING_SHOWN = ("status", "session_id", "client_id")
# A change to these alters many feeds at once; they are rare, so every feed moves on.
EVERYWHERE = {
    Program: ("name", "address", "timezone", "feed_privacy"),
    Room: ("name",),
    Staff: ("name",),
}
CLIENT_SHOWN = ("feed_alarm_minutes", "language")
_PENDING = "feed_owners"
_EVERY_FEED = ("*", 0)


def whole_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def current(db: OrmSession, kind: str, owner_id: int, now: datetime) -> FeedVersion:
    """The feed's version row, made at version 1 the first time a feed is handed out."""
    row = db.get(FeedVersion, (kind, owner_id))
    if row is None:
        row = FeedVersion(owner_kind=kind, owner_id=owner_id, version=1,
                          changed_at=whole_second(now))
        db.add(row)
        db.flush()
    return row


def bump(db_or_conn, owners: set[tuple[str, int]], now: datetime) -> None:
    """Move these feeds on; `changed_at` rises by at least a second so validators never tie."""
    if not owners:
        return
    if _EVERY_FEED in owners:
        which = true()
    else:
        by_kind: dict[str, set[int]] = {}
        for kind, owner_id in owners:
            if owner_id is not None:
                by_kind.setdefault(kind, set()).add(owner_id)
        if not by_kind:
            return
        which = or_(*(
            and_(FeedVersion.owner_kind == kind, FeedVersion.owner_id.in_(sorted(ids)))
            for kind, ids in sorted(by_kind.items())
        ))
    latest = db_or_conn.execute(select(func.max(FeedVersion.changed_at)).where(which)).scalar()
    if latest is None:
        return  # none of these feeds has been handed out yet
    stamp = max(whole_second(now), latest + timedelta(seconds=1))
    db_or_conn.execute(
        update(FeedVersion).where(which)
        .values(version=FeedVersion.version + 1, changed_at=stamp)
        .execution_options(synchronize_session=False)
    )


def sessions_added(db: OrmSession, program_id: int, room_id: int | None,
                   staff_ids, now: datetime) -> None:
    """New occurrences written in bulk show in the program's, the room's and the staff's feeds."""
    owners = {("program", program_id)} | {("staff", s) for s in staff_ids}
    if room_id is not None:
        owners.add(("room", room_id))
    bump(db, owners, now)


def _changed(obj, names) -> list:
    """(old, new) values of the named attributes that this flush changes."""
    state = inspect(obj)
    out = []
    for name in names:
        history = state.attrs[name].history
        if history.has_changes():
            out.append(history)
    return out


def _session_owners(obj: Session, whole: bool, pending: set, session_ids: set) -> None:
    if not (whole or _changed(obj, SESSION_SHOWN)):
        return
    state = inspect(obj)
    pending.add(("program", obj.program_id))
    room = state.attrs.room_id.history
    for room_id in [*room.added, *room.unchanged, *room.deleted, obj.room_id]:
        pending.add(("room", room_id))
    people = state.attrs.facilitators.history
    for person in [*people.added, *people.unchanged, *people.deleted]:
        pending.add(("staff", person.id))
    if obj.id is not None:
        session_ids.add(obj.id)


def _collect(db: OrmSession, flush_context, instances) -> None:
    pending: set = db.info.setdefault(_PENDING, set())
    session_ids: set = db.info.setdefault(_PENDING + "_sessions", set())
    for obj in (*db.new, *db.dirty, *db.deleted):
        whole = obj in db.new or obj in db.deleted
        if isinstance(obj, Session):
            _session_owners(obj, whole, pending, session_ids)
        elif isinstance(obj, Booking):
            if whole or _changed(obj, BOOKING_SHOWN):
                pending.add(("client", obj.client_id))
                for old in inspect(obj).attrs.client_id.history.deleted:
                    pending.add(("client", old))
        elif isinstance(obj, Client):
            if not whole and _changed(obj, CLIENT_SHOWN):
                pending.add(("client", obj.id))
        elif isinstance(obj, User):
            # A staff member's calendar speaks their login's language; a login linked to
            # them (or unlinked) changes it too.
            if whole or _changed(obj, ("language", "staff_id")):
                for staff_id in {obj.staff_id, *inspect(obj).attrs.staff_id.history.deleted}:
                    if staff_id is not None:
                        pending.add(("staff", staff_id))
        elif type(obj) in EVERYWHERE and not whole and _changed(obj, EVERYWHERE[type(obj)]):
            pending.add(_EVERY_FEED)


def _apply(db: OrmSession, flush_context) -> None:
    pending: set = db.info.pop(_PENDING, set())
    session_ids: set = db.info.pop(_PENDING + "_sessions", set())
    if not pending and not session_ids:
        return
    conn = db.connection()
    if session_ids and _EVERY_FEED not in pending:
        ids = sorted(session_ids)
        # Clients holding a seat, and whoever runs the session, see it in their feeds.
        for (client_id,) in conn.execute(
            select(Booking.client_id).where(Booking.session_id.in_(ids),
                                            Booking.status == "booked").distinct()
        ):
            pending.add(("client", client_id))
        for (staff_id,) in conn.execute(
            select(session_facilitators.c.staff_id)
            .where(session_facilitators.c.session_id.in_(ids)).distinct()
        ):
            pending.add(("staff", staff_id))
    bump(conn, pending, clock.now())


def install() -> None:
    """Watch every ORM flush; idempotent, so app factories may call it again."""
    if not event.contains(OrmSession, "before_flush", _collect):
        event.listen(OrmSession, "before_flush", _collect)
        event.listen(OrmSession, "after_flush", _apply)
