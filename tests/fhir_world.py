"""A small clinic for the FHIR scheduling tests: one evening group, its clients in every state,
a recipient with consents, and FHIR tokens made directly (services/recipients.create_fhir_client
and services/fhir_auth.issue), as the token endpoint would.

The clinic's clock stands at Tue 16 February 2027 12:00 UTC (07:00 in New York). The group
meets Mon, Wed and Thu 18:00-21:00 New York (23:00-02:00 UTC) from Mon 8 February, 3 seats.
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select

from scheduler import clock
from scheduler.models import Booking, Session
from scheduler.services import (
    attendance,
    booking,
    consents,
    fhir_auth,
    recipients,
    sessions,
)
from tests.helpers import ACTOR

FHIR = "/fhir/R4"
NOW = datetime(2027, 2, 16, 12, 0, tzinfo=UTC)
SET_UP = datetime(2027, 2, 1, 12, 0, tzinfo=UTC)
ALL_SCOPES = ["system/Appointment.read", "system/Slot.read"]


@dataclass
class World:
    program: object
    room: object
    dana: object
    eli: object
    series: object
    sessions: dict  # "mon8", "wed10" … by day
    people: dict  # avery, blake, casey, dylan
    kipu: object
    billing: object
    bookings: dict = field(default_factory=dict)  # (person, session key) -> booking id
    consents: dict = field(default_factory=dict)
    one_offs: dict = field(default_factory=dict)


def token(db, recipient, scopes=None, at=None) -> dict:
    """Bearer headers for a new API client of the recipient."""
    row, _secret = recipients.create_fhir_client(db, ACTOR, recipient,
                                                 scopes=scopes or ALL_SCOPES)
    issued = fhir_auth.issue(db, row, scopes or ALL_SCOPES, at or clock.now())
    db.commit()
    return {"Authorization": f"Bearer {issued.access_token}"}


def consent(db, world, person, scope, recipient=None, **kw) -> object:
    fields = dict(recipient_id=(recipient or world.kipu).id, purpose="Coordination of care",
                  scope=scope, signed_on=date(2027, 2, 1), expires_on=date(2027, 8, 1),
                  now=NOW)
    fields.update(kw)
    row = consents.record(db, ACTOR, world.people[person], **fields)
    db.commit()
    return row


def _mark(db, world, key, records, at):
    with clock.frozen(at):
        attendance.record_roster(db, ACTOR, "coordinator", world.sessions[key].id, records,
                                 now=at, policy=attendance.Policy())
        db.commit()


def build(db, make) -> World:
    with clock.frozen(SET_UP):
        program = make.program(name="Evening IOP", timezone="America/New_York")
        room = make.room(name="Room B")
        dana, eli = make.staff(name="Dana Reyes"), make.staff(name="Eli Park")
        series = make.series(program, title="Relapse prevention group", capacity=3,
                             room_id=room.id, facilitator_ids=[dana.id, eli.id],
                             start_date=date(2027, 2, 8), end_date=date(2027, 3, 31),
                             now=SET_UP)
        people = {name: make.client(program, name=full) for name, full in (
            ("avery", "Avery Stone"), ("blake", "Blake Moss"), ("casey", "Casey Lind"),
            ("dylan", "Dylan Frost"))}
        kipu = recipients.create_recipient(db, ACTOR, name="Kipu EHR", kind="ehr")
        billing = recipients.create_recipient(db, ACTOR, name="Claims Co", kind="billing")
        db.commit()
        by_day = {}
        for row in db.scalars(select(Session).where(Session.series_id == series.id)
                              .order_by(Session.starts_at)):
            local = row.starts_at.astimezone(program_zone()).date()
            if local.month == 2:  # February's: "mon8" … "fri26"
                by_day[f"{local:%a}{local.day}".lower()] = row
        world = World(program, room, dana, eli, series, by_day, people, kipu, billing)

        def book(person, key):
            held, _ = booking.book_client(db, ACTOR, world.sessions[key].id,
                                          people[person].id, now=SET_UP)
            db.commit()
            world.bookings[(person, key)] = held.id
            return held

        for key in ("mon8", "wed10", "thu11", "mon15", "wed17", "thu18", "mon22"):
            book("avery", key)
        for key in ("mon8", "mon15", "wed17"):
            book("blake", key)
        book("casey", "wed17")
        book("dylan", "wed17")  # the fourth for three seats: waitlisted
        # Avery's individual session, under way now (07:00-08:30 New York), and a late one-off
        # that starts on the 19th in New York but the 20th in UTC.
        for key, start, minutes in (("now", NOW - timedelta(minutes=30), 90),
                                    ("late", datetime(2027, 2, 20, 1, 0, tzinfo=UTC), 60)):
            one = sessions.create_one_off(db, ACTOR, now=SET_UP, program_id=program.id,
                                          kind="individual", starts_at=start,
                                          ends_at=start + timedelta(minutes=minutes),
                                          facilitator_ids=[dana.id],
                                          client_id=people["avery"].id)
            db.commit()
            world.one_offs[key] = one
            world.bookings[("avery", key)] = db.scalar(
                select(Booking.id).where(Booking.session_id == one.id))
    s = world.sessions
    _mark(db, world, "mon8", [{"client_id": people["avery"].id, "status": "present"},
                              {"client_id": people["blake"].id, "status": "late",
                               "reason_code": "transport",
                               "arrived_at": s["mon8"].starts_at + timedelta(minutes=20)}],
          s["mon8"].ends_at + timedelta(hours=1))
    _mark(db, world, "wed10", [{"client_id": people["avery"].id, "status": "absent_unexcused",
                                "reason_code": "no_call"}], s["wed10"].ends_at)
    _mark(db, world, "thu11", [{"client_id": people["avery"].id,
                                "status": "cancelled_by_clinic"}], s["thu11"].ends_at)
    _mark(db, world, "mon15", [{"client_id": people["blake"].id, "status": "left_early",
                                "left_at": s["mon15"].ends_at - timedelta(minutes=30)}],
          s["mon15"].ends_at)
    with clock.frozen(NOW):
        attendance.record_roster(db, ACTOR, "coordinator", world.one_offs["now"].id,
                                 [{"client_id": people["avery"].id, "status": "present"}],
                                 now=NOW, policy=attendance.Policy())
        booking.cancel_booking(db, ACTOR, world.bookings[("avery", "thu18")], now=NOW,
                               reason="Avery's sister is in hospital")
        sessions.change_session(db, ACTOR, s["mon22"], {"status": "cancelled"},
                                reason="Dana is at a training with Blake's counselor")
        db.commit()
    return world


def program_zone():
    from zoneinfo import ZoneInfo
    return ZoneInfo("America/New_York")


def local(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=program_zone())
