"""One-to-one appointments are about a person: what makes a series or session one-to-one, whose
it is, and how many seats a new series gets when nobody says.

The one rule: a series or session is one-to-one when it seats exactly one client. The kind only
suggests the seats (`default_capacity`); what the coordinator saved decides, so a capacity-1
"Medication review" and the weekly individual slot "Find a time" makes are both one-to-one, and a
12-seat "Family" group is not. Everything that asks "is this about one person?" (the week grid,
Today, the session and series pages, intake step 3, enrolment) asks `is_one_to_one`.

Names shown here are for staff pages only: feeds, emails and other clients' pages never call it.
"""

from datetime import date
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY
from sqlalchemy import or_, select
from sqlalchemy.orm import Session as DbSession

from scheduler.i18n import gettext as _
from scheduler.models import Booking, Client, Enrollment, Session, SessionSeries
from scheduler.services.errors import StateConflict
from scheduler.services.recurrence import parse_rrule

# Kinds that are a meeting with one client. "family" is not among them: an IOP's family session
# is usually the multi-family group (several clients with their relatives, one facilitator), and
# seating it at 1 waitlisted the second and third families. A single family's session is still
# made with 1 seat by saying so (or through Find a time), and then it is one-to-one by the rule.
ONE_TO_ONE_KINDS = frozenset({"individual", "medical", "assessment", "case_management"})
# Medicare's limit for group psychotherapy, and what a clinic expects a group to seat.
GROUP_SEATS = 12
# The seats that make a series or session one-to-one (is_one_to_one; group_series in SQL).
ONE_SEAT = 1


def default_capacity(kind: str | None, room_capacity: int | None = None) -> int:
    """Seats for a series or session saved with none: 1 for a one-to-one kind, else 12, and
    never more than the room holds (a small room makes a small group, not a refused form)."""
    seats = 1 if kind in ONE_TO_ONE_KINDS else GROUP_SEATS
    return min(seats, room_capacity) if room_capacity else seats


def is_one_to_one(item: Session | SessionSeries) -> bool:
    """Whether the series or session is about one person: it seats exactly one."""
    return item.capacity == ONE_SEAT


def clients_of_sessions(db: DbSession, sessions) -> dict[int, str]:
    """The booked client's name of each one-to-one session, by session id; one query for all."""
    ids = [s.id for s in sessions if is_one_to_one(s)]
    if not ids:
        return {}
    # The name by a lookup per booking (a handful: one seat each), not a join: PostgreSQL,
    # costing a join for the average session's bookings, would hash every client of a network.
    name = select(Client.name).where(Client.id == Booking.client_id).scalar_subquery()
    rows = db.execute(
        select(Booking.session_id, name)
        .where(Booking.session_id.in_(ids), Booking.status == "booked")
    ).tuples()
    return dict(rows.all())


def _holders(db: DbSession, series_ids, start: date, end: date | None):
    """Active enrolments in the series that cover any day from start to end, with clients."""
    query = (
        select(Enrollment, Client).join(Client, Client.id == Enrollment.client_id)
        .where(Enrollment.series_id.in_(series_ids), Enrollment.status == "active",
               or_(Enrollment.end_date.is_(None), Enrollment.end_date >= start))
    )
    if end is not None:
        query = query.where(Enrollment.start_date <= end)
    return db.execute(query.order_by(Enrollment.start_date, Enrollment.id)).tuples().all()


def owners_of_series(db: DbSession, series_list, today: date) -> dict[int, Client]:
    """Whose each one-to-one series is from today on (its enrolled client), by series id; one
    query. A series nobody holds is free and absent from the answer."""
    ids = [s.id for s in series_list if is_one_to_one(s)]
    if not ids:
        return {}
    owners: dict[int, Client] = {}
    for enrollment, client in _holders(db, ids, today, None):
        owners.setdefault(enrollment.series_id, client)
    return owners


def meets(series: SessionSeries) -> str:
    """"Wednesdays at 12:30": when a series meets, as a coordinator would say it."""
    rule = parse_rrule(series.rrule)
    if rule.byweekday:
        days = ", ".join(f"{date(2027, 3, 1 + d):%A}s" for d in rule.byweekday)  # 1 March 2027
    else:                                                                        # is a Monday
        days = "daily" if rule.freq == DAILY else f"{series.start_date:%A}s"
    return f"{days} at {series.start_time:%H:%M}"


def group_series(db: DbSession, program_id: int) -> list[SessionSeries]:
    """The program's active series that seat more than one, by title: what intake offers to
    join. One-to-one time is found for the client (Find a time), never taken from a list where
    every slot but one is someone else's."""
    return list(db.scalars(
        select(SessionSeries)
        .where(SessionSeries.program_id == program_id, SessionSeries.status == "active",
               SessionSeries.capacity != ONE_SEAT)
        .order_by(SessionSeries.title, SessionSeries.id)))


def check_session_free_for(db: DbSession, session: Session, client: Client) -> None:
    """Refuse a second client in one session of a one-to-one series that belongs to another
    client that day, as enrolment does (check_free_for): the session page says the series
    takes no other client. A one-off session of one seat may still keep a cancellation list."""
    if session.series is None or not is_one_to_one(session.series):
        return
    day = session.starts_at.astimezone(ZoneInfo(session.timezone)).date()
    check_free_for(db, session.series, client, day, day)


def check_free_for(db: DbSession, series: SessionSeries, client: Client, start: date,
                   end: date | None) -> None:
    """Refuse a second client in a one-to-one series that already belongs to another over
    those dates, naming whose it is; queuing them would only waitlist them into someone else's
    appointment week after week."""
    if not is_one_to_one(series):
        return
    for _series_id, holder in _holders(db, [series.id], start, end):
        if holder.id != client.id:
            raise StateConflict(
                _("%(title)s (%(meets)s) is %(name)s's one-to-one appointment, so "
                  "%(name2)s cannot join it. Find %(name2)s a time of their own, "
                  "or end the other enrolment first.",
                  title=series.title, meets=meets(series), name=holder.name, name2=client.name)
            )
