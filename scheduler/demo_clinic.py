"""A deterministic demo clinic: two sites, two programs, group tracks, individual therapy,
logins.

The programs run at Downtown; Riverside, across town, has its own "Group Room B" and an office,
and one peer-support worker works at both. Past SITE_CLIENTS clients the clinic grows by whole
sites, as a provider with many locations does: Downtown is made through the services, and every
further site is a copy of it with its own site row, programs, rooms, staff, clients, sessions
and bookings, written with bulk inserts. A copy is valid because Downtown is, and sites share
no room, staff or client.
"""

import random
from collections.abc import Callable
from datetime import date, datetime, time, timedelta

from sqlalchemy import JSON, func, insert, select
from sqlalchemy.orm import Session as DbSession

from scheduler.extensions import db as _db
from scheduler.models import Booking, Program, Session
from scheduler.models.attendance import REASON_CODES
from scheduler.services import (
    accounts,
    attendance,
    availability,
    booking,
    clients,
    episodes,
    plans,
    programs,
    rooms,
    series,
    sites,
    staff,
)
from scheduler.services.audit import Actor
from scheduler.services.recurrence import zone

DEMO_PASSWORD = "demo-password"
DEMO_TZ = "America/New_York"
ADDRESS = "200 Main Street, Suite 200, Springfield"
SITE = "Downtown"
# The second site: rooms of the same names as Downtown's, no program yet.
ANNEX = ("Riverside", "45 River Road, Springfield")
ANNEX_ROOMS = [("Group Room B", 10), ("Office 1", 2)]
# Staff (by index) who also work at the second site.
ANNEX_STAFF = (6,)
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


# Weeks before this one the clinic has already run, with attendance taken: reports, hours
# charts and the follow-up list have something to show.
HISTORY_WEEKS = 4
# Of 100 booked places in a past week (Medicare-style IOPs see 80-90% attendance).
ATTENDANCE_MIX = (("present", 80), ("late", 6), ("left_early", 4), ("absent_excused", 5),
                  ("absent_unexcused", 5))
# Two adult tracks and one adolescent track of 12 seats each: 36 clients fill a site.
SITE_CLIENTS = 36
# Copied per site, parents first. Logins, tokens, feeds, the audit trail and job history are
# not: they belong to people and events, and the copies are made in one bulk step.
SITE_TABLES = ("sites", "programs", "rooms", "staff", "staff_sites", "clients", "session_series",
               "series_facilitators", "enrollments", "sessions", "session_facilitators",
               "bookings", "attendance", "treatment_plans", "plan_phases", "plan_requirements",
               "episodes")
# Rows of these tables are copied only when they belong to the first site (not Riverside's).
SITE_KEYED = {"sites": "id", "rooms": "site_id", "staff_sites": "site_id"}
# Rows that belong to one client: a partly filled last site leaves out the clients it lacks.
CLIENT_KEYED = {"clients": "id", "enrollments": "client_id", "bookings": "client_id",
                "attendance": "client_id", "treatment_plans": "client_id",
                "episodes": "client_id"}
# The follow-up list has something to show in each program, on purpose rather than by chance:
# unexcused absences in a row (two call for a call, three for a discharge review), a
# certification falling due, an intake left after its first step, and a returning client.
FOLLOW_UP_ROLES = ("streak", "review", "paperwork", "readmitted")
FORCED_ABSENCES = {"streak": 2, "review": 3}
# Certified this many days ago: due (every 60 days) within the list's two weeks.
CERTIFIED_DAYS_AGO = 50
INSERT_CHUNK = 5000


def sites_for(n_clients: int) -> int:
    return -(-n_clients // SITE_CLIENTS)


def plan_size(n_clients: int) -> int:
    return 5 + len(GROUP_TRACKS) + 2 * min(n_clients, SITE_CLIENTS) + sites_for(n_clients) - 1


def follow_up_cast(n_clients: int) -> dict[int, set[str]]:
    """Which clients (by index on the first site) play which follow-up role, per program.

    The last client of a program with two or more is the unfinished intake; the others take
    the roles in turn, so a small demo gives one client several of them.
    """
    members: dict[bool, list[int]] = {}
    for i in range(min(n_clients, SITE_CLIENTS)):
        members.setdefault(_in_adult_program(i), []).append(i)
    cast: dict[int, set[str]] = {}
    for people in members.values():
        if len(people) >= 2:
            cast.setdefault(people[-1], set()).add("unfinished")
            people = people[:-1]
        for k, role in enumerate(FOLLOW_UP_ROLES):
            cast.setdefault(people[k % len(people)], set()).add(role)
    return cast


def _in_adult_program(i: int) -> bool:
    return bool(i % 3)


def _date_of_birth(i: int, today: date, adult: bool) -> date:
    """Adolescents are 14 to 17, adults 22 to 61; spread over the year without the rng, so
    the attendance drawn from it stays as it was."""
    age = 22 + (i * 7) % 40 if adult else 14 + i % 4
    return date(today.year - age - 1, 1 + (i * 5) % 12, 1 + (i * 11) % 28)


def client_name(i: int) -> str:
    return f"{FIRST[i % len(FIRST)]} {LAST[(i * 7 + i // len(FIRST)) % len(LAST)]}"


def seed(
    db: DbSession,
    *,
    n_clients: int,
    weeks: int,
    now: datetime,
    progress: Callable[[int], None] = lambda n: None,
) -> list[tuple[str, str]]:
    """Create the clinic; returns the (role, email) logins, which are all on the first site.

    Series are open-ended, as a running program's are: they began HISTORY_WEEKS ago, with
    attendance taken, and `weeks` sets how far ahead sessions are made now; the horizon job
    keeps them rolling.
    """
    logins = _seed_site(db, n_clients=min(n_clients, SITE_CLIENTS), weeks=weeks, now=now,
                        progress=progress)
    if n_clients > SITE_CLIENTS:
        _copy_site(db, n_clients, progress)
    return logins


def _seed_site(db: DbSession, *, n_clients: int, weeks: int, now: datetime,
               progress: Callable[[int], None]) -> list[tuple[str, str]]:
    """The first site, made through the same services the API uses."""
    actor = Actor.system("seed-demo")
    rng = random.Random(2027)
    tz = zone(DEMO_TZ)
    monday = now.astimezone(tz).date() - timedelta(days=now.astimezone(tz).weekday())
    # Whole weeks from this Monday, so `--weeks 2` means this week and next.
    until = datetime.combine(monday + timedelta(weeks=weeks), time.min, tzinfo=tz)
    first_day = monday - timedelta(weeks=HISTORY_WEEKS)
    # Clients were booked when the program opened; the sessions since have been held.
    opened = datetime.combine(first_day, time.min, tzinfo=tz)

    site = sites.create_site(db, actor, name=SITE, timezone=DEMO_TZ, address=ADDRESS)
    annex = sites.create_site(db, actor, name=ANNEX[0], timezone=DEMO_TZ, address=ANNEX[1])
    adult = programs.create_program(
        db, actor, name="Evening Program (adults)", level_of_care="2.1",
        population="adult", timezone=DEMO_TZ, address=ADDRESS, site_id=site.id,
    )
    teen = programs.create_program(
        db, actor, name="Afternoon Program (adolescents)", level_of_care="2.1",
        population="adolescent", timezone=DEMO_TZ, address=ADDRESS, site_id=site.id,
    )
    progress(1)
    room_rows = [rooms.create_room(db, actor, name=n, capacity=c, site_id=site.id)
                 for n, c in ROOMS]
    for name, capacity in ANNEX_ROOMS:
        rooms.create_room(db, actor, name=name, capacity=capacity, site_id=annex.id,
                          location=ANNEX[1])
    staff_rows = [
        staff.create_staff(db, actor, name=n, role=r, credentials=c,
                           email=n.split()[0].lower() + "@demo.clinic",
                           site_ids=[site.id, annex.id] if i in ANNEX_STAFF else [site.id])
        for i, (n, r, c) in enumerate(STAFF)
    ]
    # Weekday clinic hours (every demo series falls inside them), so "Find a time" and the
    # conflict check have working hours to show.
    for member in staff_rows:
        availability.set_working_hours(db, actor, member.id, [
            {"weekday": day, "start": time(8, 0), "end": time(21, 0)} for day in range(5)])
    progress(1)
    program_rows = (adult, teen)
    tracks = {adult.id: [], teen.id: []}
    for prog, title, days, start, room, facilitators in GROUP_TRACKS:
        made, _ = series.create_series(
            db, actor, now=now, horizon_days=0,
            program_id=program_rows[prog].id, kind="group", title=title,
            timezone=DEMO_TZ, start_date=first_day, start_time=start, duration_minutes=180,
            rrule=f"FREQ=WEEKLY;BYDAY={days}", capacity=12,
            room_id=room_rows[room].id,
            facilitator_ids=[staff_rows[i].id for i in facilitators],
        )
        series.materialize(db, made, until)
        tracks[program_rows[prog].id].append(made)
        progress(1)

    therapists = [s for s in staff_rows if s.role == "therapist"]
    offices = [r for r in room_rows if r.name.startswith("Office")]
    today = now.astimezone(tz).date()
    cast = follow_up_cast(n_clients)
    forced: dict[int, int] = {}
    client_rows = []
    for i in range(n_clients):
        name = client_name(i)
        program = adult if _in_adult_program(i) else teen
        roles = cast.get(i, set())
        admitted_on = monday - timedelta(days=rng.randint(0, 42))
        if roles & {"streak", "review"}:
            # Four weeks in at least, whatever day the demo is seeded: a run of missed sessions
            # needs sessions held before it, and a client admitted last Friday has had two.
            admitted_on = min(admitted_on, monday - timedelta(days=28))
        if "paperwork" in roles:
            admitted_on = today - timedelta(days=CERTIFIED_DAYS_AGO)
        if "unfinished" in roles:
            admitted_on = today
        therapist = therapists[i % len(therapists)]
        details = dict(name=name, program_id=program.id, email=f"client{i + 1}@example.org",
                       date_of_birth=_date_of_birth(i, today, program is adult))
        if "readmitted" in roles:
            client = _returning_client(db, actor, details, admitted_on, therapist.id, opened)
        else:
            client = clients.create_client(db, actor, admitted_on=admitted_on, **details)
        client_rows.append(client)
        progress(1)
        if "unfinished" in roles:
            # Intake step 1 only: admitted and assessed today, no plan and nothing booked.
            plans.record_assessment(db, actor, client.id, assessed_on=today,
                                    clinician_id=therapist.id, recommended_level="2.1",
                                    summary="Intake assessment; plan to follow.")
            # A life to plan around: "Suggest a schedule" at intake step 3 has to fit it.
            label, ends = ("Work", time(17, 0)) if program is adult else ("School", time(15, 0))
            availability.set_client_windows(db, actor, client.id, [
                {"weekday": day, "start": time(8, 0), "end": ends, "label": label}
                for day in range(5)], preferred=[
                {"weekday": day, "start": ends, "end": time(21, 0),
                 "label": f"After {label.lower()}"} for day in range(5)])
            progress(1)
            continue
        absences = max((FORCED_ABSENCES.get(role, 0) for role in roles), default=0)
        if absences:
            forced[client.id] = absences
        # Individual therapy: one weekly hour per client, spread so no therapist or office clashes.
        # Client i takes the i-th slot: therapists first, then weekdays, then hours.
        office = offices[(i % len(therapists)) % len(offices)]
        weekday = ["MO", "TU", "WE", "TH", "FR"][(i // len(therapists)) % 5]
        hour = INDIVIDUAL_SLOTS[(i // (len(therapists) * 5)) % len(INDIVIDUAL_SLOTS)]
        made, _ = series.create_series(
            db, actor, now=now, horizon_days=0,
            program_id=program.id, kind="individual", title="Individual therapy",
            timezone=DEMO_TZ, start_date=first_day, start_time=hour, duration_minutes=50,
            rrule=f"FREQ=WEEKLY;BYDAY={weekday}", capacity=1,
            room_id=office.id, facilitator_ids=[therapist.id],
        )
        series.materialize(db, made, until)
        # Each client joins one group track of their program and their own weekly hour.
        program_tracks = tracks[program.id]
        for enrolled in (program_tracks[i % len(program_tracks)], made):
            booking.enroll_client(db, actor, enrolled.id, client.id, now=opened,
                                  start_date=max(first_day, client.admitted_on))
        # A tapering plan as IOPs write them: the program's minimum hours, then a step down.
        plans.create_plan(
            db, actor, client.id, start_date=client.admitted_on,
            primary_therapist_id=therapist.id, goals=["Stay in recovery", "Keep working"],
            certified_on=client.admitted_on if "paperwork" in roles else None,
            weekly_hours_target=None, phases=[
                {"name": "Intensive", "first_week": 1, "last_week": 8, "requirements": [
                    {"kind": "group", "sessions_per_week": 3},
                    {"kind": "individual", "sessions_per_week": 1}]},
                {"name": "Step down", "first_week": 9, "last_week": None,
                 "weekly_hours_target": 6, "requirements": [
                     {"kind": "group", "sessions_per_week": 2},
                     {"kind": "individual", "sessions_per_week": 1}]}])
        progress(1)

    _take_attendance(db, actor, now, rng, forced)
    progress(1)
    logins = [
        ("admin", "admin@demo.clinic", {}),
        ("coordinator", "coordinator@demo.clinic", {"staff_id": staff_rows[3].id}),
        ("clinician", "clinician@demo.clinic", {"staff_id": staff_rows[0].id}),
        ("client", "client@demo.clinic", {"client_id": client_rows[0].id}),
        # The front desk's tablet: it opens the kiosk and nothing else.
        ("kiosk", "kiosk@demo.clinic", {}),
    ]
    for role, email, links in logins:
        accounts.create_user(db, actor, email=email, role=role, password=DEMO_PASSWORD, **links)
    progress(1)
    return [(role, email) for role, email, _ in logins]


def _returning_client(db: DbSession, actor: Actor, details: dict, admitted_on: date,
                      therapist_id: int, opened: datetime):
    """A client who finished an earlier stay half a year ago and came back on `admitted_on`:
    two episodes on one record, the first with its own plan."""
    first_stay = admitted_on - timedelta(days=180)
    client = clients.create_client(db, actor, admitted_on=first_stay, **details)
    plans.create_plan(db, actor, client.id, start_date=first_stay,
                      primary_therapist_id=therapist_id, goals=["Stay in recovery"])
    booking.discharge_client(db, actor, client.id, first_stay + timedelta(days=90), now=opened,
                             reason="Completed the program")
    episodes.readmit(db, actor, client.id, admitted_on=admitted_on,
                     program_id=details["program_id"])
    return client


def _forced_marks(held, forced: dict[int, int]) -> dict[tuple[int, int], str]:
    """(session, client) marks for the clients whose last sessions are missed on purpose: the
    last n unexcused, the one before attended, so the run is exactly n long."""
    sessions_of: dict[int, list[int]] = {}
    for row in held:
        if row.client_id in forced:
            sessions_of.setdefault(row.client_id, []).append(row.id)
    marks = {}
    for client_id, session_ids in sessions_of.items():
        n = forced[client_id]
        for session_id in session_ids[-n:]:
            marks[(session_id, client_id)] = "absent_unexcused"
        if len(session_ids) > n:
            marks[(session_ids[-n - 1], client_id)] = "present"
    return marks


def _take_attendance(db: DbSession, actor: Actor, now: datetime, rng: random.Random,
                     forced: dict[int, int] | None = None) -> None:
    """Every session held so far gets its roster, marked five minutes after it ended."""
    statuses = [status for status, weight in ATTENDANCE_MIX for _ in range(weight)]
    held = db.execute(
        select(Session.id, Session.starts_at, Session.ends_at, Booking.client_id)
        .join(Booking, Booking.session_id == Session.id)
        .where(Session.ends_at <= now - timedelta(minutes=5), Session.status == "scheduled",
               Booking.status == "booked")
        .order_by(Session.starts_at, Session.id, Booking.client_id)).all()
    by_session: dict[int, list] = {}
    for row in held:
        by_session.setdefault(row.id, []).append(row)
    on_purpose = _forced_marks(held, forced or {})
    for rows in by_session.values():
        records = []
        for row in rows:
            # Drawn for every row, so the other clients' marks do not depend on the cast.
            status = rng.choice(statuses)
            status = on_purpose.get((row.id, row.client_id), status)
            record = {"client_id": row.client_id, "status": status}
            if status in attendance.NEEDS_REASON:
                record["reason_code"] = rng.choice(REASON_CODES)
            if status == "late":
                record["arrived_at"] = row.starts_at + timedelta(minutes=rng.choice((15, 25, 40)))
            if status == "left_early":
                record["left_at"] = row.ends_at - timedelta(minutes=rng.choice((20, 30, 45)))
            records.append(record)
        marked = rows[0].ends_at + timedelta(minutes=5)
        attendance.record_roster(db, actor, "coordinator", rows[0].id, records, now=marked,
                                 policy=attendance.Policy())


def _copy_site(db: DbSession, n_clients: int, progress: Callable[[int], None]) -> None:
    """Sites 2.. as copies of site 1, ids shifted per site; the last may hold fewer clients."""
    db.flush()
    tables = [_db.metadata.tables[name] for name in SITE_TABLES]
    template = {t.name: [dict(row) for row in db.execute(select(t)).mappings()] for t in tables}
    spans = {}
    for t in tables:
        if "id" in t.c:
            ids = [row["id"] for row in template[t.name]]
            spans[t.name] = max(ids) - min(ids) + 1 if ids else 0
    # Each copy is of the first site only; the spans above keep clear of the others' ids.
    first_site = min(row["id"] for row in template["sites"])
    for name, column in SITE_KEYED.items():
        template[name] = [row for row in template[name] if row[column] == first_site]
    template_clients = sorted(row["id"] for row in template["clients"])
    for site in range(1, sites_for(n_clients)):
        size = min(SITE_CLIENTS, n_clients - site * SITE_CLIENTS)
        rows = _site_rows(template, tables, spans, site,
                          {cid: i for i, cid in enumerate(template_clients[:size])})
        for t in tables:
            _bulk_insert(db, t, rows[t.name])
        progress(1)
    if db.get_bind().dialect.name == "postgresql":
        for t in tables:
            if "id" in t.c:
                # Explicit ids leave the sequence behind; the next row made must not collide.
                db.execute(select(func.setval(func.pg_get_serial_sequence(t.name, "id"),
                                              select(func.max(t.c.id)).scalar_subquery())))


def _bulk_insert(db: DbSession, table, rows: list[dict]) -> None:
    """COPY on PostgreSQL (several times faster than batched INSERTs); INSERTs elsewhere."""
    if not rows:
        return
    if db.get_bind().dialect.name != "postgresql":
        for start in range(0, len(rows), INSERT_CHUNK):
            db.execute(insert(table), rows[start:start + INSERT_CHUNK])
        return
    from psycopg.types.json import Jsonb

    columns = [c.name for c in table.columns]
    documents = {c.name for c in table.columns if isinstance(c.type, JSON)}
    names = ", ".join(f'"{name}"' for name in columns)
    with (db.connection().connection.driver_connection.cursor() as cursor,
          cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy):
        for row in rows:
            copy.write_row([Jsonb(row[c]) if c in documents and row[c] is not None
                            else row[c] for c in columns])


def _site_rows(template: dict, tables, spans: dict, site: int, kept_clients: dict) -> dict:
    """The template's rows for one more site: ids and references shifted, names made unique."""
    out = {}
    kept_series = _series_kept(template, kept_clients)
    for t in tables:
        fks = {c.name: next(iter(c.foreign_keys)).column.table.name
               for c in t.columns if c.foreign_keys}
        keyed = CLIENT_KEYED.get(t.name)
        rows = []
        for row in template[t.name]:
            if keyed and row[keyed] not in kept_clients:
                continue
            series_id = row["id"] if t.name == "session_series" else row.get("series_id")
            if series_id is not None and series_id not in kept_series:
                continue
            new = dict(row)
            if "id" in t.c:
                new["id"] = row["id"] + site * spans[t.name]
            for column, parent in fks.items():
                if row[column] is not None and parent in spans:
                    new[column] = row[column] + site * spans[parent]
            _rename(t.name, new, site, kept_clients.get(row.get("id")))
            rows.append(new)
        out[t.name] = rows
    _drop_orphans(out)
    return out


def _series_kept(template: dict, kept_clients) -> set:
    """Group series always; a client's own individual series only with the client."""
    owners: dict[int, set] = {}
    for row in template["enrollments"]:
        owners.setdefault(row["series_id"], set()).add(row["client_id"])
    return {row["id"] for row in template["session_series"]
            if row["kind"] == "group" or owners.get(row["id"], set()) & set(kept_clients)}


def _drop_orphans(rows: dict) -> None:
    """Drop the phases, requirements and session facilitators whose parent was left out."""
    plans = {r["id"] for r in rows["treatment_plans"]}
    rows["plan_phases"] = [r for r in rows["plan_phases"] if r["plan_id"] in plans]
    phases = {r["id"] for r in rows["plan_phases"]}
    rows["plan_requirements"] = [r for r in rows["plan_requirements"] if r["phase_id"] in phases]
    sessions = {r["id"] for r in rows["sessions"]}
    rows["session_facilitators"] = [r for r in rows["session_facilitators"]
                                    if r["session_id"] in sessions]


def _rename(table: str, row: dict, site: int, position: int | None) -> None:
    label = f"site {site + 1}"
    if table == "programs":
        row["name"] = f"{row['name']} — {label}"
    elif table == "sites":
        # Room names are unique per site: each copy keeps its own "Group Room B".
        row["name"] = f"{row['name']} ({label})"
    elif table == "staff" and row.get("email"):
        local, _, domain = row["email"].partition("@")
        row["email"] = f"{local}.site{site + 1}@{domain}"
    elif table == "clients":
        index = site * SITE_CLIENTS + position
        row["name"] = client_name(index)
        row["email"] = f"client{index + 1}@example.org"
