"""A deterministic demo clinic: two programs, group tracks, individual therapy, logins."""

import random
from datetime import datetime, time, timedelta
from typing import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DbSession

from scheduler.models import Program
from scheduler.services import (
    accounts,
    booking,
    clients,
    plans,
    programs,
    rooms,
    series,
    staff,
)
from scheduler.services.audit import Actor
from scheduler.services.recurrence import zone

DEMO_PASSWORD = "demo-password"
DEMO_TZ = "America/New_York"
ADDRESS = "200 Main Street, Suite 200, Springfield"
FIRST = ["Alex", "Jordan", "Sam", "Taylor", "Casey", "Riley", "Morgan", "Jamie", "Avery",
         "Quinn", "Drew", "Reese", "Cameron", "Dakota", "Hayden", "Parker", "Rowan", "Skyler"]
LAST = ["Rivera", "Nguyen", "Patel", "Okafor", "Kowalski", "Haddad", "Larsen", "Moreau",
        "Tanaka", "Silva", "Brennan", "Fischer", "Mensah", "Duarte", "Novak", "Ibrahim"]
STAFF = [
    ("Dana Whitfield", "therapist", "LCSW"),
    ("Marcus Bell", "therapist", "LPC"),
    ("Priya Raman", "therapist", "PsyD"),
    ("Elena Sokolova", "counselor", "CADC"),
    ("Tom Becker", "counselor", "LADC"),
    ("Grace Obi", "medical", "MD"),
    ("Luis Ortega", "peer_support", "CPRS"),
]
ROOMS = [("Group Room A", 14), ("Group Room B", 12), ("Family Room", 6),
         ("Office 1", 2), ("Office 2", 2), ("Office 3", 2)]
# (program index, title, BYDAY, start, room index, facilitator indexes)
GROUP_TRACKS = [
    (0, "Evening group track", "MO,WE,TH", time(18, 0), 0, (0, 3)),
    (0, "Morning group track", "TU,TH,FR", time(9, 0), 1, (1, 4)),
    (1, "Afternoon group track", "MO,TU,TH", time(15, 30), 1, (2, 6)),
]
# Between the morning track (ends 12:00) and the afternoon track (starts 15:30).
INDIVIDUAL_SLOTS = [time(12, 30), time(13, 30), time(14, 30)]


def has_data(db: DbSession) -> bool:
    return bool(db.scalar(select(func.count(Program.id))))


def plan_size(n_clients: int) -> int:
    return 4 + len(GROUP_TRACKS) + 2 * n_clients


def seed(
    db: DbSession,
    *,
    n_clients: int,
    weeks: int,
    now: datetime,
    progress: Callable[[int], None] = lambda n: None,
) -> list[tuple[str, str]]:
    """Create the clinic through the same services the API uses; returns (role, email) logins.

    Series are open-ended, as a running program's are: `weeks` sets how far ahead sessions
    are made now, and the horizon job keeps them rolling.
    """
    actor = Actor.system("seed-demo")
    rng = random.Random(2027)
    tz = zone(DEMO_TZ)
    monday = now.astimezone(tz).date() - timedelta(days=now.astimezone(tz).weekday())
    # Whole weeks from this Monday, so `--weeks 2` means this week and next.
    until = datetime.combine(monday + timedelta(weeks=weeks), time.min, tzinfo=tz)

    adult = programs.create_program(
        db, actor, name="Evening Program (adults)", level_of_care="2.1",
        population="adult", timezone=DEMO_TZ, address=ADDRESS,
    )
    teen = programs.create_program(
        db, actor, name="Afternoon Program (adolescents)", level_of_care="2.1",
        population="adolescent", timezone=DEMO_TZ, address=ADDRESS,
    )
    progress(1)
    room_rows = [rooms.create_room(db, actor, name=n, capacity=c) for n, c in ROOMS]
    staff_rows = [
        staff.create_staff(db, actor, name=n, role=r, credentials=c,
                           email=n.split()[0].lower() + "@demo.clinic")
        for n, r, c in STAFF
    ]
    progress(1)
    program_rows = (adult, teen)
    tracks = {adult.id: [], teen.id: []}
    for prog, title, days, start, room, facilitators in GROUP_TRACKS:
        made, _ = series.create_series(
            db, actor, now=now, horizon_days=0,
            program_id=program_rows[prog].id, kind="group", title=title,
            timezone=DEMO_TZ, start_date=monday, start_time=start, duration_minutes=180,
            rrule=f"FREQ=WEEKLY;BYDAY={days}", capacity=12,
            room_id=room_rows[room].id,
            facilitator_ids=[staff_rows[i].id for i in facilitators],
        )
        series.materialize(db, made, until)
        tracks[program_rows[prog].id].append(made)
        progress(1)

    therapists = [s for s in staff_rows if s.role == "therapist"]
    offices = [r for r in room_rows if r.name.startswith("Office")]
    client_rows = []
    slot = 0
    for i in range(n_clients):
        name = f"{FIRST[i % len(FIRST)]} {LAST[(i * 7 + i // len(FIRST)) % len(LAST)]}"
        program = adult if i % 3 else teen
        client = clients.create_client(
            db, actor, name=name, program_id=program.id,
            admitted_on=monday - timedelta(days=rng.randint(0, 42)),
            email=f"client{i + 1}@example.org",
        )
        client_rows.append(client)
        progress(1)
        # Individual therapy: one weekly hour per client, spread so no therapist or office clashes.
        therapist = therapists[slot % len(therapists)]
        office = offices[(slot % len(therapists)) % len(offices)]
        weekday = ["MO", "TU", "WE", "TH", "FR"][(slot // len(therapists)) % 5]
        hour = INDIVIDUAL_SLOTS[(slot // (len(therapists) * 5)) % len(INDIVIDUAL_SLOTS)]
        made, _ = series.create_series(
            db, actor, now=now, horizon_days=0,
            program_id=program.id, kind="individual", title="Individual therapy",
            timezone=DEMO_TZ, start_date=monday, start_time=hour, duration_minutes=50,
            rrule=f"FREQ=WEEKLY;BYDAY={weekday}", capacity=1,
            room_id=office.id, facilitator_ids=[therapist.id],
        )
        series.materialize(db, made, until)
        # Each client joins one group track of their program and their own weekly hour.
        program_tracks = tracks[program.id]
        for enrolled in (program_tracks[i % len(program_tracks)], made):
            booking.enroll_client(db, actor, enrolled.id, client.id, now=now,
                                  start_date=max(monday, client.admitted_on))
        # A tapering plan as IOPs write them: the program's minimum hours, then a step down.
        plans.create_plan(
            db, actor, client.id, start_date=client.admitted_on,
            primary_therapist_id=therapist.id, goals=["Stay in recovery", "Keep working"],
            weekly_hours_target=None, phases=[
                {"name": "Intensive", "first_week": 1, "last_week": 8, "requirements": [
                    {"kind": "group", "sessions_per_week": 3},
                    {"kind": "individual", "sessions_per_week": 1}]},
                {"name": "Step down", "first_week": 9, "last_week": None,
                 "weekly_hours_target": 6, "requirements": [
                     {"kind": "group", "sessions_per_week": 2},
                     {"kind": "individual", "sessions_per_week": 1}]}])
        slot += 1
        progress(1)

    logins = [
        ("admin", "admin@demo.clinic", {}),
        ("coordinator", "coordinator@demo.clinic", {"staff_id": staff_rows[3].id}),
        ("clinician", "clinician@demo.clinic", {"staff_id": staff_rows[0].id}),
        ("client", "client@demo.clinic", {"client_id": client_rows[0].id}),
    ]
    for role, email, links in logins:
        accounts.create_user(db, actor, email=email, role=role, password=DEMO_PASSWORD, **links)
    progress(1)
    return [(role, email) for role, email, _ in logins]
