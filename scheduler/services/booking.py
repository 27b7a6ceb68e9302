"""Booking clients into sessions: seats, the first-come waitlist, enrolments and discharge."""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import joinedload

from scheduler.feeds import tokens as feed_tokens
from scheduler.i18n import gettext as _
from scheduler.models import Booking, Client, Enrollment, Session, SessionSeries
from scheduler.services import audit, episodes, one_to_one, scope, webhooks
from scheduler.services.audit import Actor
from scheduler.services.conflicts import Clash, ConflictDetected, Slot, client_clashes
from scheduler.services.errors import InvalidField, NotFound, StateConflict, no_such
from scheduler.services.locks import begin_write, lock_rows
from scheduler.services.lookup import MAX_ID, get_or_404, get_referenced
from scheduler.services.overrides import Override, reason_of
from scheduler.services.wording import day_words, session_words

DISCHARGED = "Client discharged"
AUDITED = ("session_id", "client_id", "enrollment_id", "status", "cancel_reason",
           "override_reason")


@dataclass
class EnrollmentResult:
    enrollment: Enrollment
    booked: int = 0
    waitlisted: int = 0
    skipped: list[Clash] = field(default_factory=list)


def counts(db: DbSession, session_ids) -> dict[int, tuple[int, int]]:
    """(booked, waitlisted) per session id, in one query."""
    ids = list(session_ids)
    result = {sid: (0, 0) for sid in ids}
    if not ids:
        return result
    rows = db.execute(
        select(
            Booking.session_id,
            func.sum(case((Booking.status == "booked", 1), else_=0)),
            func.sum(case((Booking.status == "waitlisted", 1), else_=0)),
        )
        .where(Booking.session_id.in_(ids), Booking.status.in_(("booked", "waitlisted")))
        .group_by(Booking.session_id)
    )
    for sid, booked, waitlisted in rows:
        result[sid] = (int(booked or 0), int(waitlisted or 0))
    return result


def waitlist_position(db: DbSession, booking: Booking) -> int | None:
    """1 for the next in line; None when the booking is not waitlisted."""
    if booking.status != "waitlisted":
        return None
    ahead = db.execute(
        select(func.count(Booking.id)).where(
            Booking.session_id == booking.session_id,
            Booking.status == "waitlisted",
            or_(
                Booking.waitlisted_at < booking.waitlisted_at,
                and_(Booking.waitlisted_at == booking.waitlisted_at, Booking.id < booking.id),
            ),
        )
    ).scalar_one()
    return ahead + 1


def _check_bookable(session: Session, now: datetime) -> None:
    if session.status != "scheduled":
        raise InvalidField(
            "session_id", _("%(session)s was cancelled; book another.",
                            session=session_words(session)),
            location="path"
        )
    if session.starts_at <= now:
        raise InvalidField(
            "session_id", _("%(session)s has already started.",
                            session=session_words(session)), location="path"
        )


def free_seats_of(db: DbSession, sessions) -> dict[int, int]:
    """Seats left in each session: its capacity less the clients booked, never below zero.

    The one count of seats: booking, enrolment, waitlist promotion and walk-ins all ask it,
    under the sessions' row locks, so none of them can disagree about a full session.
    """
    sessions = list(sessions)
    tally = counts(db, [s.id for s in sessions])
    return {s.id: max(s.capacity - tally[s.id][0], 0) for s in sessions}


def free_seats_of_series(db: DbSession, series_list, now: datetime) -> dict[int, int | None]:
    """The fewest seats left in any of each series' sessions still ahead (free_seats_of), by
    series id: what enrolling now would find at its fullest. None for a series with no session
    ahead. Two queries, however many series."""
    series_list = list(series_list)
    result: dict[int, int | None] = {s.id: None for s in series_list}
    if not series_list:
        return result
    ahead = list(db.scalars(select(Session).where(
        Session.series_id.in_(result), Session.status == "scheduled", Session.starts_at > now)))
    free = free_seats_of(db, ahead)
    for session in ahead:
        series_id = session.series_id
        assert series_id is not None  # selected by series
        known = result[series_id]
        result[series_id] = free[session.id] if known is None else min(known, free[session.id])
    return result


def free_seats(db: DbSession, session: Session) -> int:
    """Seats left in one session (free_seats_of)."""
    return free_seats_of(db, [session])[session.id]


def _seat(db: DbSession, session: Session, booking: Booking, now: datetime,
          free: int | None = None) -> None:
    """Give the booking a seat if one is free (`free`, when the caller counted), else the end
    of the queue."""
    if (free_seats(db, session) if free is None else free) > 0:
        booking.status, booking.booked_at, booking.waitlisted_at = "booked", now, None
    else:
        # Join the end of the line as the session lock orders it: `now` was read before the
        # lock (and may come from another machine's clock), so it alone could jump the queue.
        tail = db.scalar(
            select(func.max(Booking.waitlisted_at)).where(Booking.session_id == session.id)
        )
        queued_at = now if tail is None else max(now, tail + timedelta(microseconds=1))
        booking.status, booking.waitlisted_at = "waitlisted", queued_at
    booking.cancelled_at = booking.cancel_reason = None


def _locked(db: DbSession, model, entity_id, *options):
    """The row, read and locked in one statement (lock_rows and a get in one), or None."""
    if isinstance(entity_id, bool) or not isinstance(entity_id, int):
        return None
    if not 0 < entity_id <= MAX_ID:
        return None
    begin_write(db)  # SQLite: the database's write lock; FOR UPDATE is not rendered there
    row = db.scalar(
        select(model).where(model.id == entity_id).options(*options)
        .with_for_update(of=model).execution_options(populate_existing=True)
    )
    # Another site's record is as good as missing to a scoped coordinator.
    return row if row is not None and scope.allows(db, row) else None


def _slot(session: Session) -> Slot:
    return Slot(session.starts_at, session.ends_at, session.id)


def book_client(
    db: DbSession,
    actor: Actor,
    session_id: int,
    client_id: int,
    *,
    now: datetime,
    override: Override | None = None,
) -> tuple[Booking, bool]:
    """Book a client into one session, or queue them; (booking, created). Repeats are no-ops."""
    override_reason = reason_of(override)
    # Session first, then client: every booking path locks in this order.
    session = _locked(db, Session, session_id)
    if session is None:
        raise NotFound("session", session_id)
    client = _locked(db, Client, client_id, joinedload(Client.program))
    if client is None:
        raise InvalidField("client_id", no_such("client", client_id))
    _check_bookable(session, now)
    existing = db.scalar(
        select(Booking).where(Booking.session_id == session_id, Booking.client_id == client_id)
    )
    if existing is not None and existing.status in ("booked", "waitlisted"):
        return existing, False
    one_to_one.check_session_free_for(db, session, client)
    clashes = client_clashes(db, client, [_slot(session)])
    if clashes and override_reason is None:
        raise ConflictDetected(clashes)
    before = audit.snapshot(existing, AUDITED) if existing is not None else None
    booking = existing or Booking(session_id=session_id, client_id=client_id)
    booking.enrollment_id = None  # a single booking, even where an enrolment once held it
    _seat(db, session, booking, now)
    booking.override_reason = override_reason if clashes else None
    db.add(booking)
    db.flush()
    after = audit.snapshot(booking, AUDITED)
    if clashes:
        after["overridden_conflicts"] = [c.as_dict() for c in clashes]
    audit.record(db, actor, "book", "booking", booking.id, before, after, reason=override_reason)
    webhooks.emit(db, "booking.created", appointments=[(booking.id, client_id)], at=now)
    return booking, existing is None


def cancel_booking(
    db: DbSession, actor: Actor, booking_id: int, *, now: datetime, reason: str | None = None
) -> tuple[Booking, list[Booking]]:
    """Cancel a booking; a freed seat goes to the first waitlisted client who can take it."""
    booking = get_or_404(db, Booking, booking_id, "booking")
    lock_rows(db, Session, [booking.session_id])
    db.refresh(booking)
    if booking.status == "cancelled":
        return booking, []
    if booking.session.starts_at <= now:
        # What happened at a past session is attendance's to record, not a cancelled booking.
        raise StateConflict(
            _("%(session)s has already started; record attendance instead.",
              session=session_words(booking.session))
        )
    before = audit.snapshot(booking, AUDITED)
    freed = booking.status == "booked"
    booking.status, booking.cancelled_at = "cancelled", now
    booking.cancel_reason = reason
    booking.waitlisted_at = None
    db.flush()
    audit.record(db, actor, "cancel", "booking", booking.id, before,
                 audit.snapshot(booking, AUDITED), reason=reason)
    webhooks.emit(db, "booking.cancelled", appointments=[(booking.id, booking.client_id)],
                  at=now)
    promoted = promote_waitlist(db, actor, booking.session, now=now) if freed else []
    return booking, promoted


def promote_waitlist(
    db: DbSession, actor: Actor, session: Session, *, now: datetime
) -> list[Booking]:
    """Fill free seats from the queue in order, passing over clients who now have a clash."""
    if session.status != "scheduled" or session.starts_at <= now:
        return []
    free = free_seats(db, session)
    promoted: list[Booking] = []
    if free <= 0:
        return promoted
    queue = db.scalars(
        select(Booking)
        .where(Booking.session_id == session.id, Booking.status == "waitlisted")
        .order_by(Booking.waitlisted_at, Booking.id)
    ).all()
    for candidate in queue:
        if free <= 0:
            break
        lock_rows(db, Client, [candidate.client_id])
        if client_clashes(db, candidate.client, [_slot(session)]):
            continue
        before = audit.snapshot(candidate, AUDITED)
        candidate.status, candidate.booked_at, candidate.waitlisted_at = "booked", now, None
        db.flush()
        audit.record(db, actor, "promote", "booking", candidate.id, before,
                     audit.snapshot(candidate, AUDITED), reason="A seat became free.")
        promoted.append(candidate)
        free -= 1
    webhooks.emit(db, "waitlist.promoted", appointments=webhooks.appointments_of(promoted),
                  at=now)
    return promoted


def _local_bounds(tz: ZoneInfo, start: date, end: date | None) -> tuple[datetime, datetime | None]:
    lo = datetime.combine(start, time.min, tzinfo=tz)
    hi = datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz) if end else None
    return lo, hi


def enroll_client(
    db: DbSession,
    actor: Actor,
    series_id: int,
    client_id: int,
    *,
    now: datetime,
    start_date: date | None = None,
    end_date: date | None = None,
    skip_conflicting: bool = False,
    override: Override | None = None,
) -> EnrollmentResult:
    """Enrol a client in a series: every occurrence in range is booked, or none is."""
    override_reason = reason_of(override)
    series = get_or_404(db, SessionSeries, series_id, "series")
    client = get_referenced(db, Client, client_id, "client_id", "client")
    tz = ZoneInfo(series.timezone)
    today = now.astimezone(tz).date()
    start_date = start_date or max(series.start_date, today)
    end_date = end_date if end_date is not None else series.end_date
    if start_date < series.start_date:
        raise InvalidField("start_date",
                           _("is before the series starts (%(day)s).",
                             day=day_words(series.start_date)))
    if series.end_date is not None and start_date > series.end_date:
        raise InvalidField("start_date",
                           _("is after the series ends (%(day)s).",
                             day=day_words(series.end_date)))
    if end_date is not None and series.end_date is not None and end_date > series.end_date:
        raise InvalidField("end_date", _("is after the series ends (%(day)s).",
                                         day=day_words(series.end_date)))
    if end_date is not None and end_date < start_date:
        raise InvalidField("end_date", _("must not be before the first day."))

    lo, hi = _local_bounds(tz, start_date, end_date)
    query = select(Session).where(
        Session.series_id == series.id,
        Session.status == "scheduled",
        Session.starts_at > max(now, lo),
    )
    if hi is not None:
        query = query.where(Session.starts_at < hi)
    sessions = list(db.scalars(query.order_by(Session.starts_at)))
    lock_rows(db, Session, [s.id for s in sessions])
    lock_rows(db, Client, [client.id])
    # Under the sessions' locks, so two coordinators cannot both take a free one-to-one slot.
    one_to_one.check_free_for(db, series, client, start_date, end_date)

    same = select(Enrollment).where(
        Enrollment.series_id == series.id,
        Enrollment.client_id == client.id,
        Enrollment.status == "active",
        or_(Enrollment.end_date.is_(None), Enrollment.end_date >= start_date),
    )
    if end_date is not None:
        same = same.where(Enrollment.start_date <= end_date)
    overlapping = db.scalar(same)
    if overlapping is not None:
        raise StateConflict(
            _("%(name)s is already enrolled in %(title)s from %(day)s.", name=client.name,
              title=series.title, day=day_words(overlapping.start_date))
        )

    held = set(
        db.scalars(
            select(Booking.session_id).where(
                Booking.client_id == client.id,
                Booking.session_id.in_([s.id for s in sessions]),
                Booking.status.in_(("booked", "waitlisted")),
            )
        )
    )
    wanted = [s for s in sessions if s.id not in held]
    clashes = client_clashes(db, client, [_slot(s) for s in wanted])
    clashing_ids = {c.slot.session_id for c in clashes}
    if clashes and override_reason is None and not skip_conflicting:
        raise ConflictDetected(clashes)

    enrollment = Enrollment(
        client_id=client.id, series_id=series.id, start_date=start_date, end_date=end_date
    )
    db.add(enrollment)
    db.flush()
    result = EnrollmentResult(enrollment)
    skip = clashing_ids if (clashes and override_reason is None) else set()
    result.skipped = [c for c in clashes if c.slot.session_id in skip]
    overridden = ({sid: override_reason for sid in clashing_ids if sid is not None}
                  if override_reason else {})
    _book_for_enrollment(db, actor, [s for s in wanted if s.id not in skip], client, enrollment,
                         now, result, overridden)
    audit.record(
        db, actor, "enroll", "enrollment", enrollment.id,
        after={
            "client_id": client.id, "series_id": series.id,
            "start_date": start_date.isoformat(),
            "end_date": end_date.isoformat() if end_date else None,
            "booked": result.booked, "waitlisted": result.waitlisted,
            "skipped_session_ids": sorted(skip),
            "overridden_conflicts": [c.as_dict() for c in clashes] if override_reason else [],
        },
        reason=override_reason,
    )
    return result


def _book_for_enrollment(db, actor, sessions, client, enrollment, now, result,
                         override_reasons: dict[int, str]) -> None:
    """Book the client into these sessions (locked by the caller), one seat count and one write
    for all: an enrolment books months of sessions at once."""
    if not sessions:
        return
    ids = [s.id for s in sessions]
    earlier = {b.session_id: b for b in db.scalars(
        select(Booking).where(Booking.client_id == client.id, Booking.session_id.in_(ids)))}
    free = free_seats_of(db, sessions)
    made = []
    for session in sessions:
        booking = earlier.get(session.id)
        before = audit.snapshot(booking, AUDITED) if booking is not None else None
        booking = booking or Booking(session_id=session.id, client_id=client.id)
        booking.enrollment_id = enrollment.id
        _seat(db, session, booking, now, free[session.id])
        booking.override_reason = override_reasons.get(session.id)
        db.add(booking)
        made.append((booking, before))
    db.flush()
    for booking, before in made:
        audit.record(db, actor, "book", "booking", booking.id, before,
                     audit.snapshot(booking, AUDITED), reason=booking.override_reason)
        if booking.status == "booked":
            result.booked += 1
        else:
            result.waitlisted += 1
    webhooks.emit(db, "booking.created",
                  appointments=webhooks.appointments_of(b for b, _ in made), at=now)


def book_enrolled(db: DbSession, series: SessionSeries, session_ids, *, now: datetime) -> int:
    """Book a series' enrolled clients into its newly made occurrences; returns seats taken."""
    session_ids = list(session_ids)
    if not session_ids:
        return 0
    enrollments = list(
        db.scalars(
            select(Enrollment).where(
                Enrollment.series_id == series.id, Enrollment.status == "active"
            ).order_by(Enrollment.id)
        )
    )
    if not enrollments:
        return 0
    actor = Actor.system("horizon")
    tz = ZoneInfo(series.timezone)
    sessions = list(
        db.scalars(select(Session).where(Session.id.in_(session_ids)).order_by(Session.starts_at))
    )
    lock_rows(db, Session, [s.id for s in sessions])
    taken = 0
    for enrollment in enrollments:
        client = enrollment.client
        mine = [
            s for s in sessions
            if s.status == "scheduled" and s.starts_at > now
            and enrollment.start_date <= s.starts_at.astimezone(tz).date()
            and (enrollment.end_date is None
                 or s.starts_at.astimezone(tz).date() <= enrollment.end_date)
        ]
        if not mine:
            continue
        lock_rows(db, Client, [client.id])
        clashing = {c.slot.session_id for c in client_clashes(db, client, [_slot(s) for s in mine])}
        result = EnrollmentResult(enrollment)
        # A clashing session is left for the coordinator on the follow-up list, not double-booked.
        _book_for_enrollment(db, actor, [s for s in mine if s.id not in clashing], client,
                             enrollment, now, result, {})
        taken += result.booked + result.waitlisted
    return taken


def discharge_client(
    db: DbSession,
    actor: Actor,
    client_id: int,
    discharged_on: date,
    *,
    now: datetime,
    reason: str | None = None,
) -> tuple[Client, int]:
    """Discharge: enrolments end, later bookings cancelled, waitlists move up; one transaction."""
    client = get_or_404(db, Client, client_id, "client")
    if discharged_on < client.admitted_on:
        raise InvalidField(
            "date", _("is before %(name)s was admitted (%(day)s).",
                      name=client.name, day=day_words(client.admitted_on)))
    tz = ZoneInfo(client.program.timezone)
    after_day = datetime.combine(discharged_on + timedelta(days=1), time.min, tzinfo=tz)
    cutoff = max(now, after_day)
    bookings = list(
        db.scalars(
            select(Booking)
            .join(Session, Session.id == Booking.session_id)
            .where(
                Booking.client_id == client.id,
                Booking.status.in_(("booked", "waitlisted")),
                Session.starts_at >= cutoff,
            )
        )
    )
    lock_rows(db, Session, [b.session_id for b in bookings])
    lock_rows(db, Client, [client.id])
    before = audit.snapshot(client, ("status", "discharged_on"))
    freed_sessions = []
    for booking in bookings:
        was = audit.snapshot(booking, AUDITED)
        if booking.status == "booked":
            freed_sessions.append(booking.session)
        booking.status, booking.cancelled_at = "cancelled", now
        booking.waitlisted_at = None
        booking.cancel_reason = DISCHARGED
        db.flush()
        audit.record(db, actor, "cancel", "booking", booking.id, was,
                     audit.snapshot(booking, AUDITED), reason=DISCHARGED)
    for enrollment in db.scalars(
        select(Enrollment).where(Enrollment.client_id == client.id, Enrollment.status == "active")
    ):
        enrollment.status = "ended"
        enrollment.ended_reason = DISCHARGED
        if enrollment.end_date is None or enrollment.end_date > discharged_on:
            enrollment.end_date = max(discharged_on, enrollment.start_date)
    episodes.close(db, actor, client, discharged_on, reason)
    db.flush()
    audit.record(db, actor, "discharge", "client", client.id, before,
                 audit.snapshot(client, ("status", "discharged_on")), reason=reason)
    # At once, even for a discharge dated ahead: the clinic stops vouching for the link when it
    # decides the discharge; the last few sessions stay on the portal and in the reminders.
    feed_tokens.revoke(db, actor, "client", client.id, now, reason=DISCHARGED)
    webhooks.emit(db, "booking.cancelled", appointments=webhooks.appointments_of(bookings),
                  at=now)
    for session in freed_sessions:
        promote_waitlist(db, actor, session, now=now)
    return client, len(bookings)


def check_capacity(db: DbSession, series: SessionSeries, capacity: int, now: datetime) -> None:
    """Refuse a smaller capacity that would leave a future session overbooked."""
    sessions = list(
        db.scalars(
            select(Session.id).where(
                Session.series_id == series.id,
                Session.status == "scheduled",
                Session.starts_at > now,
                Session.is_overridden.is_(False),
            )
        )
    )
    tally = counts(db, sessions)
    over = [(sid, booked) for sid, (booked, _) in tally.items() if booked > capacity]
    if over:
        sid, booked = max(over, key=lambda item: item[1])
        fullest = db.get(Session, sid)
        assert fullest is not None  # one of the series' sessions, just counted
        raise InvalidField(
            "capacity",
            _("%(session)s already has %(booked)s clients booked; cancel "
              "bookings before lowering the capacity to %(capacity)s.",
              session=session_words(fullest), booked=booked, capacity=capacity),
        )


def fill_freed_seats(db: DbSession, actor: Actor, series: SessionSeries, now: datetime) -> int:
    """After a capacity rise, promote waitlisted clients into the new seats."""
    queued = list(
        db.scalars(
            select(Session)
            .where(
                Session.series_id == series.id,
                Session.status == "scheduled",
                Session.starts_at > now,
                Session.id.in_(
                    select(Booking.session_id).where(Booking.status == "waitlisted")
                ),
            )
            .order_by(Session.id)
        )
    )
    lock_rows(db, Session, [s.id for s in queued])
    return sum(len(promote_waitlist(db, actor, s, now=now)) for s in queued)
