"""What the planner is told about a clinic: the options a client can take, and why not others.

The clinic clock is Tue 16 Feb 2027 (tests/conftest.py); proposals here start Mon 1 Mar, when
the factory's evening group (Mon, Wed, Thu 18:00–21:00, New York) begins.
"""

from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest
from sqlalchemy import event

from scheduler.extensions import db as _db
from scheduler.services import availability, booking, closures, plans, sessions
from scheduler.services.errors import InvalidField
from scheduler.services.planner import gather
from tests.helpers import ACTOR

MONDAY = date(2027, 3, 1)


def problem(db, program, *clients, weeks=2, make_up=False, now):
    return gather.for_clients(db, program.id, [c.id for c in clients], first_day=MONDAY,
                              weeks=weeks, now=now, make_up=make_up)


def in_ny(day: int, hour: int, minute: int = 0) -> datetime:
    """A March 2027 wall time in New York (EST until the 14th) as UTC."""
    offset = 5 if day < 14 else 4
    return datetime(2027, 3, day, hour + offset, minute, tzinfo=UTC)


def plan(db, client, **kw):
    values = dict(start_date=MONDAY, weekly_hours_target=Decimal(9))
    values.update(kw)
    made = plans.create_plan(db, ACTOR, client.id, **values)
    db.commit()
    return made


def weekly(db, client, windows):
    availability.set_client_windows(
        db, ACTOR, client.id,
        [{"weekday": d, "start": time.fromisoformat(s), "end": time.fromisoformat(e),
          "label": label} for d, s, e, label in windows])
    db.commit()


@pytest.fixture
def clinic(make):
    program = make.program()
    therapist = make.staff(name="Dana Reyes")
    group_room = make.room(name="Group room", capacity=14)
    return {"program": program, "therapist": therapist, "group_room": group_room}


def test_a_group_that_clashes_with_the_clients_job_is_refused_naming_the_job(db, make, clinic,
                                                                             now):
    program = clinic["program"]
    evenings = make.series(program, title="Relapse prevention", room_id=clinic["group_room"].id,
                           facilitator_ids=[clinic["therapist"].id])
    mornings = make.series(program, title="Morning skills", start_time=time(9, 0),
                           rrule="FREQ=WEEKLY;BYDAY=TU,FR", facilitator_ids=[])
    jordan = make.client(program, name="Jordan Lee")
    weekly(db, jordan, [(1, "08:00", "17:00", "work")])

    found = problem(db, program, jordan, now=now)

    option = found.group(f"g:{evenings.id}:0")
    assert [o.span.day for o in option.occurrences] == [date(2027, 3, 1), date(2027, 3, 3),
                                                        date(2027, 3, 4)]
    assert option.minutes == 3 * 180 and option.staff_ids == (clinic["therapist"].id,)
    assert option.room_id == clinic["group_room"].id
    assert found.weeks == [MONDAY, date(2027, 3, 8)]
    person = found.clients[0]
    assert person.group_keys == [f"g:{evenings.id}:0", f"g:{evenings.id}:1"]
    assert person.refused[f"g:{mornings.id}:0"] == (
        "Jordan Lee is unavailable Tue 08:00–17:00 (work)")
    assert person.unavailable[0].label == "work"
    # The group's facilitator is known to the solver with the evenings they are busy.
    assert found.staff[clinic["therapist"].id].name == "Dana Reyes"
    assert len(found.staff[clinic["therapist"].id].busy) == 6


def test_groups_already_taken_are_refused_and_booked_hours_count(db, make, clinic, now):
    program = clinic["program"]
    evenings = make.series(program, title="Relapse prevention")
    tuesdays = make.series(program, title="Family group", start_time=time(18, 30),
                           rrule="FREQ=WEEKLY;BYDAY=TU")
    other_mondays = make.series(program, title="Early recovery", start_time=time(19, 0),
                                rrule="FREQ=WEEKLY;BYDAY=MO")
    jordan = make.client(program, name="Jordan Lee")
    booking.enroll_client(db, ACTOR, evenings.id, jordan.id, now=now, start_date=MONDAY)
    db.commit()

    found = problem(db, program, jordan, now=now)

    person = found.clients[0]
    assert person.refused[f"g:{evenings.id}:0"] == (
        "Jordan Lee is already enrolled in Relapse prevention")
    assert person.refused[f"g:{other_mondays.id}:1"].startswith(
        "Jordan Lee is already booked into Relapse prevention (Mon 2027-03-08 18:00–21:00")
    assert person.group_keys == [f"g:{tuesdays.id}:0", f"g:{tuesdays.id}:1"]
    assert [(span.day, kind) for span, kind in person.booked][:2] == [
        (date(2027, 3, 1), "group"), (date(2027, 3, 3), "group")]
    assert sum(span.minutes for span, _ in person.booked) == 6 * 180


def test_a_full_group_is_offered_but_a_waitlisted_place_is_not_a_seat(db, make, clinic, now):
    program = clinic["program"]
    small = make.series(program, title="Small group", capacity=2,
                        rrule="FREQ=WEEKLY;BYDAY=MO")
    others = [make.client(program) for _ in range(3)]
    first = problem(db, program, others[0], weeks=1, now=now)
    session_id = first.group(f"g:{small.id}:0").occurrences[0].session_id
    for person in others:
        booking.book_client(db, ACTOR, session_id, person.id, now=now)
    db.commit()
    newcomer = make.client(program, name="Sam Novak")

    found = problem(db, program, newcomer, now=now)

    full = found.group(f"g:{small.id}:0").occurrences[0]
    assert (full.capacity, full.booked, full.seats_free) == (2, 2, 0)
    assert found.group(f"g:{small.id}:1").occurrences[0].seats_free == 2
    # Seats are the solver's to share: the full week is still the client's to consider.
    assert f"g:{small.id}:0" in found.clients[0].group_keys
    # The third client, waitlisted, holds no seat but may not be offered the session again.
    queued = problem(db, program, others[2], now=now).clients[0]
    assert queued.refused[f"g:{small.id}:0"].endswith("is already on the waitlist for "
                                                      "Small group, Mon 1 Mar")


def test_a_session_cancelled_by_a_closure_is_not_offered(db, make, clinic, now):
    program = clinic["program"]
    evenings = make.series(program, title="Relapse prevention")
    closures.create_closure(db, ACTOR, program, starts_on=date(2027, 3, 3),
                            ends_on=date(2027, 3, 3), reason="Snow", now=now,
                            public_name="Clinic")
    db.commit()
    jordan = make.client(program)

    found = problem(db, program, jordan, now=now)

    days = [o.span.day for o in found.group(f"g:{evenings.id}:0").occurrences]
    assert days == [date(2027, 3, 1), date(2027, 3, 4)]
    assert found.closed_days == {date(2027, 3, 3): "closed: Snow"}
    assert found.clients[0].closed_days == {date(2027, 3, 3): "closed: Snow"}


def test_a_week_outside_the_plan_has_no_target_and_nothing_to_take(db, make, clinic, now):
    program = clinic["program"]
    evenings = make.series(program, title="Relapse prevention")
    jordan = make.client(program)
    plan(db, jordan, end_date=date(2027, 3, 10), phases=[
        {"first_week": 1, "last_week": None,
         "requirements": [{"kind": "group", "sessions_per_week": 3}]}])

    person = problem(db, program, jordan, weeks=3, now=now).clients[0]

    assert person.targets == [540, 540, None]
    assert [(r.week, r.kind, r.sessions, r.one_to_one) for r in person.requirements] == [
        (0, "group", 3, False), (1, "group", 3, False)]
    # Week 1 has Wednesday in the plan but Thursday after it: the week's bundle is refused.
    assert person.group_keys == [f"g:{evenings.id}:0"]
    assert person.refused[f"g:{evenings.id}:1"] == "the plan ends Wed 10 Mar"
    assert person.closed_days[date(2027, 3, 11)] == "the plan ends Wed 10 Mar"


def test_targets_come_from_the_phase_else_the_plan_else_the_program(db, make, clinic, now):
    program = clinic["program"]  # level 2.1, adults: 9 hours a week
    phased = make.client(program)
    plan(db, phased, weekly_hours_target=Decimal(6), phases=[
        {"first_week": 1, "last_week": 1, "weekly_hours_target": Decimal("12.5")},
        {"first_week": 2, "last_week": None}])
    planless = make.client(program)

    found = problem(db, program, phased, planless, now=now)

    assert [c.targets for c in found.clients] == [[750, 360], [540, 540]]
    late = make.client(program, admitted_on=date(2027, 3, 8))
    assert problem(db, program, late, now=now).clients[0].targets == [None, 540]


def test_the_primary_therapists_time_off_and_hours_remove_appointment_options(db, make, clinic,
                                                                              now):
    program, therapist = clinic["program"], clinic["therapist"]
    make.staff(name="Another Clinician")
    office = make.room(name="Office", capacity=2)
    availability.set_working_hours(db, ACTOR, therapist.id, [
        {"weekday": 0, "start": time(9), "end": time(12)},
        {"weekday": 1, "start": time(9), "end": time(12)}])
    availability.add_time_off(db, ACTOR, therapist.id, in_ny(2, 0), in_ny(3, 0), "Training")
    jordan = make.client(program)
    plan(db, jordan, primary_therapist_id=therapist.id, phases=[
        {"first_week": 1, "last_week": 1,
         "requirements": [{"kind": "individual", "sessions_per_week": 1}]}])

    found = problem(db, program, jordan, now=now)

    person = found.clients[0]
    assert [(r.week, r.kind, r.one_to_one, r.staff_id) for r in person.requirements] == [
        (0, "individual", True, therapist.id)]
    assert person.primary_therapist_id == therapist.id
    times = [(a.staff_id, a.span.day, a.span.minutes) for a in person.appointments]
    # Monday 09:00, 10:00 and 11:00 only: Tuesday is time off, other days outside hours, and
    # the second week has no requirement.
    assert times == [(therapist.id, date(2027, 3, 1), 60)] * 3
    assert [a.span.start for a in person.appointments] == [
        gather.minute(in_ny(1, h)) for h in (9, 10, 11)]
    assert person.appointments[0].room_ids == (office.id, clinic["group_room"].id)
    assert person.appointments[0].key == f"a:individual:{therapist.id}:" \
                                         f"{gather.minute(in_ny(1, 9))}"
    facts = found.staff[therapist.id]
    assert facts.working_hours[0].weekday == 0 and len(facts.working_hours) == 2
    assert [(s.day, s.minutes) for s in facts.busy] == [(date(2027, 3, 2), 24 * 60)]
    assert set(found.rooms) == {office.id, clinic["group_room"].id}


def test_a_fully_booked_therapist_is_named_for_the_week(db, make, clinic, now):
    program, therapist = clinic["program"], clinic["therapist"]
    make.room(name="Office", capacity=2)
    availability.add_time_off(db, ACTOR, therapist.id, in_ny(1, 0), in_ny(8, 0), "Holiday")
    jordan = make.client(program)
    plan(db, jordan, primary_therapist_id=therapist.id, phases=[
        {"first_week": 1, "requirements": [{"kind": "individual", "sessions_per_week": 1}]}])

    person = problem(db, program, jordan, now=now).clients[0]

    assert {a.span.week for a in person.appointments} == {1}
    assert person.refused["a:individual:week:0"] == (
        "Dana Reyes, the primary therapist, has no free hour that week")
    # Hourly starts over the clinic's day, spread and capped.
    assert len(person.appointments) == gather.MAX_APPOINTMENT_OPTIONS
    assert len({a.span.day for a in person.appointments}) == 6


def test_rooms_in_use_are_not_offered(db, make, clinic, now):
    program, therapist = clinic["program"], clinic["therapist"]
    office = make.room(name="Office", capacity=2)
    colleague = make.staff(name="Kim Ortiz")
    availability.set_working_hours(db, ACTOR, therapist.id, [
        {"weekday": 0, "start": time(9), "end": time(11)}])
    sessions.create_one_off(db, ACTOR, now=now, program_id=program.id, kind="individual",
                            starts_at=in_ny(1, 9), ends_at=in_ny(1, 10), capacity=1,
                            room_id=office.id, facilitator_ids=[colleague.id])
    db.commit()
    jordan = make.client(program)
    plan(db, jordan, primary_therapist_id=therapist.id, phases=[
        {"first_week": 1, "last_week": 1,
         "requirements": [{"kind": "individual", "sessions_per_week": 1}]}])

    found = problem(db, program, jordan, now=now)

    rooms = [a.room_ids for a in found.clients[0].appointments]
    assert rooms == [(clinic["group_room"].id,), (office.id, clinic["group_room"].id)]
    assert [(s.day, s.minutes) for s in found.rooms[office.id].busy] == [(MONDAY, 60)]


def test_a_make_up_offers_each_session_on_its_own(db, make, clinic, now):
    program = clinic["program"]
    evenings = make.series(program, title="Relapse prevention")
    jordan = make.client(program)

    found = problem(db, program, jordan, weeks=1, make_up=True, now=now)

    assert [len(g.occurrences) for g in found.groups] == [1, 1, 1]
    assert all(g.single and g.series_id == evenings.id for g in found.groups)
    assert found.clients[0].group_keys == [f"s:{g.occurrences[0].session_id}"
                                           for g in found.groups]


def test_nothing_before_now_is_offered(db, make, clinic):
    program = clinic["program"]
    evenings = make.series(program, title="Relapse prevention")
    jordan = make.client(program)
    wednesday_noon = in_ny(3, 12)

    found = gather.for_clients(db, program.id, [jordan.id], first_day=date(2027, 3, 3),
                               weeks=1, now=wednesday_noon)

    assert found.first_day == date(2027, 3, 3) and found.last_day == date(2027, 3, 7)
    days = [o.span.day for o in found.group(f"g:{evenings.id}:0").occurrences]
    assert days == [date(2027, 3, 3), date(2027, 3, 4)]


def test_reading_more_series_asks_the_database_no_more_often(db, make, clinic, now):
    program = clinic["program"]
    therapist = clinic["therapist"]
    jordan = make.client(program)
    plan(db, jordan, primary_therapist_id=therapist.id, phases=[
        {"first_week": 1, "requirements": [{"kind": "individual", "sessions_per_week": 1}]}])
    make.series(program, title="Group 0", facilitator_ids=[therapist.id],
                room_id=clinic["group_room"].id)

    def statements() -> int:
        seen = []
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        event.listen(_db.engine, "before_cursor_execute", listener)
        try:
            db.expire_all()
            problem(db, program, jordan, now=now)
        finally:
            event.remove(_db.engine, "before_cursor_execute", listener)
        return len(seen)

    few = statements()
    for n in range(1, 5):
        colleague = make.staff(name=f"Facilitator {n}")
        make.series(program, title=f"Group {n}", start_time=time(8 + n, 0),
                    rrule="FREQ=WEEKLY;BYDAY=TU", duration_minutes=60,
                    facilitator_ids=[colleague.id],
                    room_id=clinic["group_room"].id)
    assert len(problem(db, program, jordan, now=now).groups) == 10
    assert statements() == few


def test_spans_keep_local_days_and_weeks_across_the_clock_change(db, make, clinic, now):
    program = clinic["program"]
    evenings = make.series(program, title="Relapse prevention", rrule="FREQ=WEEKLY;BYDAY=MO")
    jordan = make.client(program)

    found = problem(db, program, jordan, weeks=3, now=now)

    # New York springs forward on Sun 14 Mar: 18:00 is 23:00 UTC before, 22:00 UTC after.
    spans = [found.group(f"g:{evenings.id}:{w}").occurrences[0].span for w in range(3)]
    assert [(s.day, s.week, s.minutes) for s in spans] == [
        (date(2027, 3, 1), 0, 180), (date(2027, 3, 8), 1, 180), (date(2027, 3, 15), 2, 180)]
    assert spans[2].start - spans[1].start == 7 * 24 * 60 - 60
    assert spans[2].start == gather.minute(datetime(2027, 3, 15, 22, 0, tzinfo=UTC))


def test_a_stranger_or_too_many_weeks_is_refused_naming_the_field(db, make, clinic, now):
    program = clinic["program"]
    elsewhere = make.client(make.program(name="Eastside IOP"), name="Jordan Lee")
    with pytest.raises(InvalidField) as stranger:
        problem(db, program, elsewhere, now=now)
    assert stranger.value.fields == {"client_ids": [f"Jordan Lee is not in {program.name}."]}
    with pytest.raises(InvalidField) as weeks:
        problem(db, program, make.client(program), weeks=13, now=now)
    assert "weeks" in weeks.value.fields
