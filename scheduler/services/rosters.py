"""Who is in a session or a series: the roster, the waitlist in queue order, the enrolments."""

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from scheduler.models import Booking, Client, Enrollment


def session_roster(db: DbSession, session_id: int) -> tuple[list[Client], list[Client]]:
    """(booked clients by name, waitlisted clients first come first served), two queries."""
    booked = db.scalars(
        select(Client).join(Booking, Booking.client_id == Client.id)
        .where(Booking.session_id == session_id, Booking.status == "booked")
        .order_by(Client.name, Client.id)
    ).all()
    waiting = db.scalars(
        select(Client).join(Booking, Booking.client_id == Client.id)
        .where(Booking.session_id == session_id, Booking.status == "waitlisted")
        .order_by(Booking.waitlisted_at, Booking.id)
    ).all()
    return list(booked), list(waiting)


def series_enrollments(db: DbSession, series_id: int) -> list[tuple[Enrollment, Client]]:
    """The series' active enrolments with their clients, by client name."""
    return list(db.execute(
        select(Enrollment, Client).join(Client, Client.id == Enrollment.client_id)
        .where(Enrollment.series_id == series_id, Enrollment.status == "active")
        .order_by(Client.name, Enrollment.id)
    ).tuples())


def enrollable(program_id: int):
    """Whom a coordinator may enrol: the program's active clients (a query, to search)."""
    return select(Client).where(Client.program_id == program_id, Client.status == "active")


def enrollable_clients(db: DbSession, program_id: int) -> list[Client]:
    """Active clients of the program, by name: whom a coordinator may enrol."""
    return list(db.scalars(enrollable(program_id).order_by(Client.name, Client.id)))
