"""Benchmark: the weekly-hours report for 1,000 clients over 26 weeks, against one SQL query.

Run from the repository root:

    .venv/bin/python bench/reports.py                       # SQLite (a file in a temp dir)
    .venv/bin/python bench/reports.py --database-url postgresql://postgres@127.0.0.1:5432/db

A fresh database is built by the Alembic migrations (a new SQLite file, or a throwaway schema in
the given PostgreSQL database, dropped at the end; nothing else there is touched). One program
(level 2.1, adult: a 9-hour weekly target; America/New_York, so the period crosses the March DST
change) gets 14 rooms, 14 clinicians and 40 series of three 3-hour sessions a week (MO,WE,TH or
TU,TH,FR at 09:00, 12:30 or 18:00) over 26 weeks, made through the services. 1,000 clients, 25
a series, are then written with bulk Core inserts, with their bookings and one attendance row
per booking (~78,000): mostly present, some late (shorter minutes, a reason), some left early,
some absent (0 minutes, a reason). Around it, what a real program has: a few clients admitted
part-way through (no bookings before), a few discharged part-way (later bookings cancelled, no
attendance), a holiday closure (that Monday's sessions cancelled, attendance
"cancelled_by_clinic"), and a treatment plan for a quarter of the clients (two phases with their
own targets; some with a superseded earlier version, some ended part-way) so the plan-target
path is taken. On PostgreSQL the tables are VACUUMed and ANALYZEd after the load, as autovacuum
would have done on a live database; SQLite is left as the app leaves it.

  - ours: scheduler.services.reports.weekly_hours(db.session, program, first, last) for the 26
    weeks (one row per client per week of their stay, with the target);
  - the baseline: one hand-written SQL query per dialect (text()) giving the same scheduled
    and attended hours per client and week: the weeks' UTC bounds computed in Python as a VALUES
    list, each session of the period put in its week once (a MATERIALIZED CTE, so SQLite 3.35+
    and PostgreSQL 12+), then bookings joined to that and to their attendance, and summed.

Before timing, every (client, week) with any hours is checked to carry the same scheduled and
attended hours in both; a difference stops the benchmark. Each is run once to warm up, then
--repeats times, each time on a fresh ORM session; best and median are printed. The report
endpoint, GET /api/v1/reports/weekly-hours through the Flask test client with a coordinator's
bearer token (JSON serialisation included, no HTTP), is timed the same way as a secondary
figure. Target: the report under 300 ms on SQLite and on PostgreSQL. When it is missed, or with
--profile, one run is profiled (cProfile plus each SQL statement's time).
"""

import argparse
import cProfile
import io
import os
import pstats
import random
import statistics
import sys
import tempfile
import time as timer
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from sqlalchemy import event, insert, select, text, update  # noqa: E402

from bench.support import (  # noqa: E402
    database_url_argument,
    describe,
    fresh_database,
    make_app,
    migrate_to_head,
)
from scheduler import clock  # noqa: E402
from scheduler.extensions import db  # noqa: E402
from scheduler.models import (  # noqa: E402
    Attendance,
    Booking,
    Client,
    PlanPhase,
    Session,
    TreatmentPlan,
)
from scheduler.services import accounts, programs, rooms, series, staff  # noqa: E402
from scheduler.services.audit import Actor  # noqa: E402
from scheduler.services.reports import weekly_hours, weeks_between  # noqa: E402

N_CLIENTS = 1000
N_SERIES = 40
WEEKS = 26
REPEATS = 5
TARGET_MS = 300.0
TZ_NAME = "America/New_York"
TZ = ZoneInfo(TZ_NAME)
# A Sunday: the series start the next day and run 26 whole Monday-to-Sunday weeks.
NOW = datetime(2027, 1, 3, 12, 0, tzinfo=UTC)
FIRST_MONDAY = date(2027, 1, 4)
LAST_DAY = FIRST_MONDAY + timedelta(days=WEEKS * 7 - 1)
CLOSURE_DAY = date(2027, 5, 31)  # Memorial Day: the Monday sessions are cancelled
PATTERNS = ("MO,WE,TH", "TU,TH,FR")
START_TIMES = (time(9, 0), time(12, 30), time(18, 0))
DURATION = 180
# Both patterns meet on Thursdays, so each start time needs its own room and clinician per series.
N_ROOMS = N_STAFF = -(-N_SERIES // len(START_TIMES))
KINDS = ("education", "behavioral", "peer_support", "education")
ACTOR = Actor.system("bench")


# --- data --------------------------------------------------------------------------------------


def seed_structure() -> tuple[int, list[int]]:
    """Program, rooms, staff and the 40 series with their 26 weeks of sessions, via services."""
    s = db.session
    program = programs.create_program(
        s, ACTOR, name="Bench Program", level_of_care="2.1", population="adult",
        timezone=TZ_NAME, address="200 Main Street",
    )
    room_rows = [rooms.create_room(s, ACTOR, name=f"Room {i + 1}", capacity=30)
                 for i in range(N_ROOMS)]
    staff_rows = [staff.create_staff(s, ACTOR, name=f"Clinician {i + 1}", role="therapist",
                                     email=f"staff{i + 1}@bench.test")
                  for i in range(N_STAFF)]
    series_ids = []
    for i in range(N_SERIES):
        slot, lane = i % len(START_TIMES), i // len(START_TIMES)
        row, _ = series.create_series(
            s, ACTOR, now=NOW, horizon_days=WEEKS * 7 + 2, program_id=program.id,
            kind=KINDS[i % len(KINDS)], title=f"Group {i + 1}", timezone=TZ_NAME,
            start_date=FIRST_MONDAY, end_date=LAST_DAY, start_time=START_TIMES[slot],
            duration_minutes=DURATION, rrule=f"FREQ=WEEKLY;BYDAY={PATTERNS[lane % 2]}",
            capacity=25, room_id=room_rows[lane].id, facilitator_ids=[staff_rows[lane].id],
        )
        series_ids.append(row.id)
    s.commit()
    return program.id, series_ids


def seed_people(program_id: int, series_ids: list[int]) -> dict:
    """Clients, bookings, attendance and plans by bulk Core inserts; returns the counts."""
    rng = random.Random(2027)
    s = db.session
    sessions = s.execute(
        select(Session.id, Session.series_id, Session.starts_at, Session.ends_at)
        .order_by(Session.series_id, Session.starts_at)
    ).all()
    closed = _close_the_holiday(s, sessions)
    clients = _insert_clients(s, program_id)
    booking_rows, bookings = _insert_bookings(s, sessions, series_ids, clients)
    attendance_rows = _insert_attendance(s, sessions, bookings, closed, rng)
    plan_rows = _insert_plans(s, clients)

    user = accounts.create_user(s, ACTOR, email="coordinator@bench.test", role="coordinator")
    token, _ = accounts.issue_api_token(s, user, NOW, ttl_hours=24 * 365)
    s.commit()
    if db.engine.dialect.name == "postgresql":
        # VACUUM as well: the first reads of 150,000 fresh rows would otherwise set their hint
        # bits (writes) inside the timed runs, while autovacuum competes for the two cores.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in ("sessions", "bookings", "attendance", "clients", "treatment_plans",
                          "plan_phases"):
                conn.exec_driver_sql(f"VACUUM ANALYZE {table}")
    return {
        "sessions": len(sessions), "closed": len(closed), "clients": len(clients),
        "bookings": len(booking_rows), "attendance": len(attendance_rows),
        "plans": sum(1 for p in plan_rows if p["status"] == "active"), "token": token,
    }


def _close_the_holiday(s, sessions) -> set[int]:
    """Cancel the holiday Monday's sessions as a closure would; their ids."""
    closed = [sid for sid, _, start, _ in sessions if start.astimezone(TZ).date() == CLOSURE_DAY]
    if closed:
        s.execute(update(Session).where(Session.id.in_(closed)).values(
            status="cancelled", cancelled_by="closure", cancel_reason="Memorial Day"))
    return set(closed)


def _insert_clients(s, program_id: int) -> list[tuple]:
    """Most admitted before the period; 1 in 25 part-way through, 1 in 30 discharged.
    Returns (id, admitted_on, discharged_on) in creation order."""
    client_rows = []
    for k in range(N_CLIENTS):
        admitted = FIRST_MONDAY - timedelta(days=1 + k % 90)
        discharged = None
        if k % 25 == 7:
            admitted = FIRST_MONDAY + timedelta(days=7 * (2 + k % 10) + k % 5)
        elif k % 30 == 11:
            discharged = FIRST_MONDAY + timedelta(days=7 * (12 + k % 8) + k % 4)
        client_rows.append({
            "name": f"Client {k + 1}", "program_id": program_id, "admitted_on": admitted,
            "discharged_on": discharged, "status": "discharged" if discharged else "active",
            "checkin_failed_attempts": 0, "created_at": NOW, "updated_at": NOW,
        })
    s.execute(insert(Client), client_rows)
    ids = dict(s.execute(select(Client.name, Client.id)).all())
    return [(ids[row["name"]], row["admitted_on"], row["discharged_on"]) for row in client_rows]


def _insert_bookings(s, sessions, series_ids: list[int], clients: list[tuple]):
    """Each client in one series (25 a series), every session of their stay. Returns the rows
    and the (id, session id, client id) of those still booked."""
    by_series: dict[int, list] = {}
    for sid, series_id, start, end in sessions:
        by_series.setdefault(series_id, []).append((sid, start, end))
    booking_rows = []
    for k, (client_id, admitted, discharged) in enumerate(clients):
        for sid, start, _ in by_series[series_ids[k % N_SERIES]]:
            day = start.astimezone(TZ).date()
            if day < admitted:
                continue
            gone = discharged is not None and day > discharged
            booking_rows.append({
                "session_id": sid, "client_id": client_id,
                "status": "cancelled" if gone else "booked", "waitlisted_at": None,
                "booked_at": NOW, "cancelled_at": NOW if gone else None,
                "cancel_reason": "Discharged" if gone else None,
                "created_at": NOW, "updated_at": NOW,
            })
    s.execute(insert(Booking), booking_rows)
    bookings = s.execute(
        select(Booking.id, Booking.session_id, Booking.client_id)
        .where(Booking.status == "booked")
    ).all()
    return booking_rows, bookings


def _insert_attendance(s, sessions, bookings, closed: set[int], rng: random.Random) -> list:
    """One row per kept booking; mostly present, then late, left early, absent."""
    times = {sid: (start, end) for sid, _, start, end in sessions}
    attendance_rows = []
    for booking_id, sid, client_id in bookings:
        start, end = times[sid]
        row = {"booking_id": booking_id, "session_id": sid, "client_id": client_id,
               "reason_code": None, "arrived_at": None, "left_at": None, "method": "roster",
               "note": None, "recorded_at": end, "updated_at": end}
        # Drawn for every row, closed or not, so the same seed gives the same outcomes.
        roll = rng.random()
        if sid in closed:
            row.update(status="cancelled_by_clinic", minutes_attended=0)
        else:
            row.update(_attendance_outcome(roll, start, rng))
        attendance_rows.append(row)
    s.execute(insert(Attendance), attendance_rows)
    return attendance_rows


def _attendance_outcome(roll: float, start: datetime, rng: random.Random) -> dict:
    """80 % present, 8 % late, 4 % left early, 3 % excused and 5 % unexcused absences."""
    if roll < 0.80:
        return {"status": "present", "arrived_at": start, "minutes_attended": DURATION}
    if roll < 0.88:
        late = rng.choice((10, 20, 30, 45, 60))
        return {"status": "late", "arrived_at": start + timedelta(minutes=late),
                "minutes_attended": DURATION - late, "reason_code": "transport",
                "method": "kiosk"}
    if roll < 0.92:
        stay = rng.choice((60, 90, 120, 150))
        return {"status": "left_early", "arrived_at": start,
                "left_at": start + timedelta(minutes=stay), "minutes_attended": stay,
                "reason_code": "work"}
    if roll < 0.95:
        return {"status": "absent_excused", "minutes_attended": 0, "reason_code": "illness"}
    return {"status": "absent_unexcused", "minutes_attended": 0, "reason_code": "no_call"}


def _insert_plans(s, clients: list[tuple]) -> list[dict]:
    """Plans for a quarter of the clients: 12 h for the first 6 plan weeks, then 6 h; some
    replaced an earlier (superseded, 15 h) version; some ended part-way (program default
    after)."""
    plan_rows, phase_specs = [], []
    for k, (client_id, admitted, _) in enumerate(clients):
        if k % 4 != 1:
            continue
        version = 1
        if k % 20 == 1:
            plan_rows.append({"client_id": client_id, "version": 1, "status": "superseded",
                              "start_date": admitted, "weekly_hours_target": 15,
                              "created_at": NOW})
            phase_specs.append([])
            version = 2
        start = max(admitted, FIRST_MONDAY - timedelta(days=k % 21))
        end = FIRST_MONDAY + timedelta(days=7 * 15 + 2) if k % 40 == 9 else None
        plan_rows.append({"client_id": client_id, "version": version, "status": "active",
                          "start_date": start, "end_date": end, "weekly_hours_target": 9,
                          "created_at": NOW})
        phase_specs.append([("Intensive", 1, 6, 12), ("Step-down", 7, None, 6)])
    s.execute(insert(TreatmentPlan), plan_rows)
    plan_ids = s.execute(
        select(TreatmentPlan.id).order_by(TreatmentPlan.client_id, TreatmentPlan.version)
    ).scalars().all()
    phase_rows = [
        {"plan_id": plan_id, "position": i + 1, "name": name, "first_week": first,
         "last_week": last, "weekly_hours_target": target}
        for plan_id, specs in zip(plan_ids, phase_specs, strict=True)
        for i, (name, first, last, target) in enumerate(specs)
    ]
    s.execute(insert(PlanPhase), phase_rows)
    return plan_rows


# --- baseline ----------------------------------------------------------------------------------


def baseline_sql(dialect: str, first: date, last: date) -> str:
    """One query: the weeks as a VALUES list of UTC bounds, bookings of the program's clients
    joined to their sessions and attendance, summed per client and week."""
    weeks = []
    monday = first - timedelta(days=first.weekday())
    while monday <= last:
        lo = datetime.combine(monday, time.min, tzinfo=TZ).astimezone(UTC)
        hi = datetime.combine(monday + timedelta(days=7), time.min,
                              tzinfo=TZ).astimezone(UTC)
        weeks.append((monday, lo, hi))
        monday += timedelta(days=7)
    if dialect == "postgresql":
        values = ", ".join(
            f"(DATE '{m:%Y-%m-%d}', TIMESTAMPTZ '{lo:%Y-%m-%d %H:%M:%S}+00', "
            f"TIMESTAMPTZ '{hi:%Y-%m-%d %H:%M:%S}+00')" for m, lo, hi in weeks
        )
        period_lo = f"TIMESTAMPTZ '{weeks[0][1]:%Y-%m-%d %H:%M:%S}+00'"
        period_hi = f"TIMESTAMPTZ '{weeks[-1][2]:%Y-%m-%d %H:%M:%S}+00'"
        minutes = "EXTRACT(EPOCH FROM s.ends_at - s.starts_at) / 60"
        hours = "ROUND(CAST({} AS NUMERIC) / 60, 2)"
    else:
        # SQLite keeps instants as naive UTC text in SQLAlchemy's format; compare as text.
        values = ", ".join(
            f"('{m:%Y-%m-%d}', '{lo:%Y-%m-%d %H:%M:%S}.000000', "
            f"'{hi:%Y-%m-%d %H:%M:%S}.000000')" for m, lo, hi in weeks
        )
        period_lo = f"'{weeks[0][1]:%Y-%m-%d %H:%M:%S}.000000'"
        period_hi = f"'{weeks[-1][2]:%Y-%m-%d %H:%M:%S}.000000'"
        minutes = "(julianday(s.ends_at) - julianday(s.starts_at)) * 1440"
        hours = "ROUND({} / 60.0, 2)"
    scheduled = ("SUM(CASE WHEN b.status = 'booked' AND sw.status = 'scheduled' "
                 "THEN sw.minutes END)")
    # Sessions are put in their week once (a few thousand rows, by the starts_at index), then
    # bookings join that by id; MATERIALIZED keeps SQLite from flattening it back into a
    # weeks × bookings range join. A booking's attendance row carries the same client.
    return f"""
        WITH weeks (week_start, lo, hi) AS (VALUES {values}),
        session_weeks AS MATERIALIZED (
            SELECT s.id, s.status, w.week_start, {minutes} AS minutes
            FROM sessions s
            JOIN weeks w ON s.starts_at >= w.lo AND s.starts_at < w.hi
            WHERE s.starts_at >= {period_lo} AND s.starts_at < {period_hi}
        )
        SELECT b.client_id, sw.week_start,
               {hours.format(scheduled)} AS scheduled_hours,
               {hours.format("SUM(a.minutes_attended)")} AS attended_hours
        FROM bookings b
        JOIN clients c ON c.id = b.client_id
        JOIN session_weeks sw ON sw.id = b.session_id
        LEFT JOIN attendance a ON a.booking_id = b.id
        WHERE c.program_id = :program_id
        GROUP BY b.client_id, sw.week_start
        ORDER BY b.client_id, sw.week_start
    """


def run_baseline(program_id: int, first: date, last: date) -> list:
    sql = baseline_sql(db.engine.dialect.name, first, last)
    return db.session.execute(text(sql), {"program_id": program_id}).all()


# --- checks and timing -------------------------------------------------------------------------


def as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def compare(ours: list, base: list) -> list[str]:
    """Differences in scheduled/attended hours for any (client, week) with hours in either."""
    mine = {(r.client_id, r.week_start): (float(r.scheduled_hours), float(r.attended_hours))
            for r in ours}
    theirs = {(cid, as_date(week)): (float(sch or 0), float(att or 0))
              for cid, week, sch, att in base}
    problems = []
    for key in sorted(set(mine) | set(theirs)):
        a, b = mine.get(key, (0.0, 0.0)), theirs.get(key, (0.0, 0.0))
        if abs(a[0] - b[0]) > 1e-9 or abs(a[1] - b[1]) > 1e-9:
            problems.append(f"client {key[0]} week {key[1]}: ours scheduled/attended "
                            f"{a[0]}/{a[1]} h, baseline {b[0]}/{b[1]} h")
    return problems


def timed(call, repeats: int) -> tuple[list[float], object]:
    """One warm-up, then `repeats` timed calls, each on a fresh ORM session; ms and last result."""
    result = None
    samples = []
    for i in range(repeats + 1):
        db.session.remove()
        started = timer.perf_counter()
        result = call()
        took = (timer.perf_counter() - started) * 1000
        if i:
            samples.append(took)
    db.session.remove()
    return samples, result


def profile_once(program_id: int) -> None:
    """cProfile of one report, with every SQL statement's own time."""
    statements = []

    @event.listens_for(db.engine, "before_cursor_execute")
    def _before(conn, cursor, statement, params, context, executemany):
        conn.info["bench_started"] = timer.perf_counter()

    @event.listens_for(db.engine, "after_cursor_execute")
    def _after(conn, cursor, statement, params, context, executemany):
        statements.append((timer.perf_counter() - conn.info.pop("bench_started"),
                           " ".join(statement.split())))

    db.session.remove()
    profile = cProfile.Profile()
    started = timer.perf_counter()
    profile.enable()
    weekly_hours(db.session, program_id, FIRST_MONDAY, LAST_DAY)
    profile.disable()
    wall = (timer.perf_counter() - started) * 1000
    event.remove(db.engine, "before_cursor_execute", _before)
    event.remove(db.engine, "after_cursor_execute", _after)
    db.session.remove()
    in_sql = sum(t for t, _ in statements) * 1000
    print(f"\nProfile of one report (cProfile on: {wall:.0f} ms; {len(statements)} SQL "
          f"statements executing for {in_sql:.0f} ms, cursor execute only, rows fetched after):")
    for took, statement in statements:
        print(f"    {took * 1000:8.1f} ms  {statement[:110]}")
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("cumulative").print_stats(25)
    out.write("--- by function in scheduler/ (cumulative) ---\n")
    stats.sort_stats("cumulative").print_stats("scheduler/", 15)
    out.write("--- by own time ---\n")
    stats.sort_stats("tottime").print_stats(15)
    print(out.getvalue())


def line(label: str, samples: list[float]) -> str:
    return f"  {label:<34} {min(samples):8.1f} ms / {statistics.median(samples):8.1f} ms"


# --- main --------------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="run against PostgreSQL (a database of yours; "
                        "the run uses and drops its own schema in it)")
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--profile", action="store_true",
                        help="print a profile of one report even when on target")
    parser.add_argument("--strict", action="store_true",
                        help="exit with status 2 when the target is missed")
    args = parser.parse_args(argv)
    base_url = database_url_argument(parser, args)

    print(f"Weekly-hours report, {N_CLIENTS:,} clients × {WEEKS} weeks, on {describe(base_url)}")
    print("  ours:     scheduler.services.reports.weekly_hours (rows with targets)")
    print("  baseline: one hand-written SQL query (weeks as VALUES of UTC bounds, joined and "
          "summed)")
    with clock.frozen(NOW), tempfile.TemporaryDirectory(prefix="bench-reports-") as workdir, \
            fresh_database(base_url, workdir, "reports") as url:
        app = make_app(url)
        with app.app_context():
            started = timer.perf_counter()
            migrate_to_head()
            program_id, series_ids = seed_structure()
            counts = seed_people(program_id, series_ids)
            db.session.remove()
            print(f"  seeded in {timer.perf_counter() - started:.1f} s: {counts['sessions']:,} "
                  f"sessions ({counts['closed']} closed for a holiday), {counts['clients']:,} "
                  f"clients, {counts['bookings']:,} bookings, {counts['attendance']:,} "
                  f"attendance rows, {counts['plans']} active plans")

            ours_ms, ours = timed(
                lambda: weekly_hours(db.session, program_id, FIRST_MONDAY, LAST_DAY),
                args.repeats)
            base_ms, base = timed(lambda: run_baseline(program_id, FIRST_MONDAY, LAST_DAY),
                                  args.repeats)
            problems = compare(ours, base)
            expected_weeks = len(weeks_between(TZ, FIRST_MONDAY, LAST_DAY))
            if expected_weeks != WEEKS:
                problems.append(f"the report covers {expected_weeks} weeks, not {WEEKS}")
            if problems:
                print(f"MISMATCH in {len(problems)} (client, week) rows; the first:")
                for problem in problems[:10]:
                    print(f"    {problem}")
                return 1
            with_hours = sum(1 for r in ours if r.scheduled_hours or r.attended_hours)
            own_target = sum(1 for r in ours if r.target_hours is not None
                             and r.target_hours != 9)

            client = app.test_client()
            headers = {"Authorization": f"Bearer {counts['token']}"}
            path = (f"/api/v1/reports/weekly-hours?program_id={program_id}"
                    f"&from={FIRST_MONDAY}&to={LAST_DAY}")

            def fetch():
                response = client.get(path, headers=headers)
                if response.status_code != 200:
                    raise SystemExit(f"GET {path} answered {response.status_code}: "
                                     f"{response.get_data(as_text=True)[:300]}")
                return response.get_json()["items"]

            http_ms, items = timed(fetch, args.repeats)
            if len(items) != len(ours):
                print(f"MISMATCH: the endpoint gave {len(items)} rows, the service {len(ours)}.")
                return 1

            best, best_base = min(ours_ms), min(base_ms)
            print()
            print(f"  attendance rows            {counts['attendance']:>10,}")
            print(f"  report rows (ours)         {len(ours):>10,}  ({with_hours:,} with hours, "
                  f"{own_target:,} with a plan's own target)")
            print(f"  baseline rows              {len(base):>10,}  (same hours for every "
                  f"client and week: checked)")
            print(f"  {'':<34} {'best':>11} / {'median':>11}   ({args.repeats} runs)")
            print(line("ours (weekly_hours)", ours_ms))
            print(line("baseline (one SQL query)", base_ms))
            medians = statistics.median(ours_ms) / statistics.median(base_ms)
            print(f"  ratio ours / baseline              {best / best_base:8.2f}x     "
                  f"(median / median {medians:.2f}x)")
            print(line("GET /api/v1/reports/weekly-hours", http_ms))
            on_target = best < TARGET_MS
            print(f"  target < {TARGET_MS:.0f} ms:            {'met' if on_target else 'MISSED'} "
                  f"({best:.0f} ms best)")
            if args.profile or not on_target:
                profile_once(program_id)
            db.session.remove()
            db.engine.dispose()
    return 2 if args.strict and not on_target else 0


if __name__ == "__main__":
    sys.exit(main())
