"""Benchmark: reading the planner's Problem for a cohort of 240 new admissions at once.

Run from the repository root:

    .venv/bin/python bench/proposal_gather.py                       # SQLite (a temp file)
    .venv/bin/python bench/proposal_gather.py --database-url postgresql://postgres@127.0.0.1:5432/db

A fresh database is built by the Alembic migrations (a new SQLite file, or a throwaway schema in
the given PostgreSQL database, dropped at the end) and seeded through the services as issue 18's
bench cohort: one site (America/New_York) with 11 rooms (5 group rooms, 6 offices), 12
clinicians with working hours (a day team 08:00–17:00 and an evening team 12:00–21:00, Monday
to Friday), 30 group series (morning, afternoon and evening bands, Mon/Wed/Fri or Tue/Thu, three
hours each) with their sessions materialized, and 240 new admissions, admitted over the week
before and the first week of the proposal, whose weekly unavailability follows how they live: a
day shift, an evening shift, school hours, or none. Every client has a plan with a 9 h weekly
target; every second one also a weekly individual session with a primary therapist, every
sixth a weekly case-management session left to whoever is free, every fifth three groups a
week.

It then times `planner.gather.for_clients` in-process (no HTTP), counting SQL statements:

  - the baseline: one client alone (the fixed cost of any proposal);
  - the cohort: all 240 clients over 4 weeks, one call, as POST .../schedule-proposals does;
  - the same 240 clients one call each, to show what a per-client cost would add up to;

and checks that the cohort's Problem says for each client exactly what their own call says.
When `scheduler/services/planner/solver.py` exists, the cohort's Problem is also solved.

Targets (2 cores): the 240-client gather in under 2 s on SQLite and on PostgreSQL, in a number of
SQL statements that does not grow with the cohort (at most a few more than one client's); the
solve as well, under 15 s all told (issue 18).
"""

import argparse
import cProfile
import importlib.util
import inspect
import io
import os
import pstats
import statistics
import sys
import tempfile
import time as timer
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from sqlalchemy import event  # noqa: E402

from bench.support import (  # noqa: E402
    database_url_argument,
    describe,
    fresh_database,
    make_app,
    migrate_to_head,
)
from scheduler.extensions import db  # noqa: E402
from scheduler.services import (  # noqa: E402
    availability,
    clients,
    plans,
    programs,
    rooms,
    series,
    staff,
)
from scheduler.services.audit import Actor  # noqa: E402
from scheduler.services.planner import gather  # noqa: E402

TZ_NAME = "America/New_York"
N_CLIENTS = 240
WEEKS = 4
GROUP_ROOMS = 5
OFFICES = 6
BANDS = ((time(9, 0), "Morning"), (time(13, 0), "Afternoon"), (time(18, 0), "Evening"))
PATTERNS = ("MO,WE,FR", "TU,TH")
TOPICS = ("relapse prevention", "coping skills", "early recovery", "mindfulness",
          "family systems", "anger management", "life skills", "trauma-informed care",
          "process group", "healthy relationships")
DAY_TEAM = ("therapist", "therapist", "therapist", "counselor", "counselor", "medical")
EVENING_TEAM = ("therapist", "therapist", "counselor", "counselor", "peer_support", "other")
# How the clients live: the weekly windows they cannot come in, in rotation.
ROUTINES = (
    ("day shift", [(d, time(7, 0), time(15, 30)) for d in range(5)]),
    ("evening shift", [(d, time(15, 0), time(23, 0)) for d in range(1, 6)]),
    ("school", [(d, time(8, 0), time(15, 0)) for d in range(5)]),
    (None, []),
)
REPEATS = 3
TARGET_SECONDS = 2.0
TARGET_SOLVE_SECONDS = 15.0
ACTOR = Actor.system("bench")


# --- seeding -----------------------------------------------------------------------------------


def seed(now: datetime, first_day: date) -> tuple[int, list[int]]:
    """The bench cohort's site, through the services. Returns (program id, client ids)."""
    s = db.session
    tz = ZoneInfo(TZ_NAME)
    today = now.astimezone(tz).date()
    program = programs.create_program(
        s, ACTOR, name="Bench IOP", level_of_care="2.1", population="adult",
        timezone=TZ_NAME, address="200 Main Street, Suite 200")
    group_rooms = [rooms.create_room(s, ACTOR, name=f"Group room {i + 1}", capacity=14)
                   for i in range(GROUP_ROOMS)]
    for i in range(OFFICES):
        rooms.create_room(s, ACTOR, name=f"Office {i + 1}", capacity=2)
    team = []
    for shift, roles, opens, closes in (("Day", DAY_TEAM, time(8), time(17)),
                                        ("Evening", EVENING_TEAM, time(12), time(21))):
        for i, role in enumerate(roles):
            person = staff.create_staff(s, ACTOR, name=f"{shift} {role} {i + 1}", role=role,
                                        email=f"{shift.lower()}{i + 1}@bench.test")
            availability.set_working_hours(s, ACTOR, person.id, [
                {"weekday": d, "start": opens, "end": closes} for d in range(5)])
            team.append(person)
    day, evening = team[:len(DAY_TEAM)], team[len(DAY_TEAM):]
    # Five groups at once in each band and pattern, each in its own room with its own lead;
    # each lead's working hours cover their band.
    leads = {time(9, 0): day[:5], time(13, 0): day[5:] + evening[:4], time(18, 0): evening[:5]}
    horizon = (first_day - today).days + 7 * (WEEKS + 1)
    n = 0
    for start, band in BANDS:
        for pattern in PATTERNS:
            for room, lead in zip(group_rooms, leads[start], strict=True):
                series.create_series(
                    s, ACTOR, now=now, horizon_days=horizon, program_id=program.id,
                    kind="group", title=f"{band} {TOPICS[n % len(TOPICS)]} {n // 10 + 1}",
                    timezone=TZ_NAME, start_date=today, start_time=start,
                    duration_minutes=180, rrule=f"FREQ=WEEKLY;BYDAY={pattern}", capacity=12,
                    room_id=room.id, facilitator_ids=[lead.id])
                n += 1
    therapists = [p for p in team if p.role == "therapist"]
    ids = []
    for i in range(N_CLIENTS):
        # Admitted over the week before the proposal and its first week: new admissions.
        admitted = first_day + timedelta(days=i % 14 - 7)
        person = clients.create_client(s, ACTOR, name=f"Client {i + 1}", program_id=program.id,
                                       admitted_on=admitted)
        label, windows = ROUTINES[i % len(ROUTINES)]
        availability.set_client_windows(s, ACTOR, person.id, [
            {"weekday": d, "start": a, "end": b, "label": label} for d, a, b in windows])
        requirements = []
        if i % 2 == 0:
            requirements.append({"kind": "individual", "sessions_per_week": 1})
        if i % 6 == 1:
            requirements.append({"kind": "case_management", "sessions_per_week": 1})
        if i % 5 == 2:
            requirements.append({"kind": "group", "sessions_per_week": 3})
        plans.create_plan(
            s, ACTOR, person.id, start_date=admitted, weekly_hours_target=Decimal(9),
            primary_therapist_id=therapists[i % len(therapists)].id if i % 2 == 0 else None,
            phases=[{"first_week": 1, "requirements": requirements}] if requirements else None)
        ids.append(person.id)
    s.commit()
    return program.id, ids


# --- measuring ---------------------------------------------------------------------------------


@contextmanager
def counting():
    """Counts the SQL statements sent inside the block: yields a one-item list."""
    seen = [0]

    def count(*_args):
        seen[0] += 1

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def timed(call, repeats: int):
    """(median wall seconds, median CPU seconds of this process, statements of one run, the
    last result). The session's identity map is emptied before each run so no run rides on
    rows an earlier one read. CPU time is shown too because the machine may be shared: it is
    all of the work on SQLite, and all but the server's on PostgreSQL."""
    walls, cpus, statements, result = [], [], 0, None
    for _ in range(repeats):
        db.session.expire_all()
        db.session.expunge_all()
        with counting() as seen:
            started, cpu = timer.perf_counter(), timer.process_time()
            result = call()
            walls.append(timer.perf_counter() - started)
            cpus.append(timer.process_time() - cpu)
        statements = seen[0]
    return statistics.median(walls), statistics.median(cpus), statements, result


def line(label: str, wall: float, cpu: float, statements: int,
         base: tuple[float, int] | None) -> None:
    ratio = ""
    if base is not None:
        ratio = (f"   {wall / base[0]:6.1f}× the time, {statements / base[1]:6.1f}× the "
                 f"statements of one client")
    print(f"  {label:<32} {wall * 1000:8.1f} ms (CPU {cpu * 1000:7.1f} ms) {statements:6d} "
          f"statements{ratio}")


def same_as_alone(cohort, alone: dict) -> list[str]:
    """Where the cohort's Problem tells a client something their own gather does not."""
    problems = []
    for person in cohort.clients:
        own = alone[person.client_id]
        for field in ("targets", "group_keys", "refused", "appointments", "closed_days",
                      "requirements", "unavailable", "booked"):
            if getattr(person, field) != getattr(own, field):
                problems.append(f"{person.name}: {field} differs")
    return problems


def profile(call) -> None:
    db.session.expire_all()
    db.session.expunge_all()
    profiler = cProfile.Profile()
    profiler.enable()
    call()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(25)
    print("\nWhere the cohort's gather spends its time (cProfile, by own time):")
    print(out.getvalue())


def solve(problem) -> None:
    """Solve the cohort's Problem with planner/solver.py, if the solver is there yet."""
    if importlib.util.find_spec("scheduler.services.planner.solver") is None:
        print("  solve: scheduler/services/planner/solver.py is not on this branch yet")
        return
    from scheduler.services.planner import solver

    run = getattr(solver, "solve", None)
    if run is None:
        print("  solve: planner/solver.py has no solve(); not timed")
        return
    kwargs = {}
    if "seconds" in inspect.signature(run).parameters:
        kwargs["seconds"] = TARGET_SOLVE_SECONDS
    started = timer.perf_counter()
    solution = run(problem, **kwargs)
    took = timer.perf_counter() - started
    met = sum(1 for c in problem.clients for w, target in enumerate(c.targets)
              if target is not None and solution.plans[c.client_id].planned[w] >= target)
    weeks = sum(1 for c in problem.clients for t in c.targets if t is not None)
    print(f"  solve (CP-SAT) {took:8.2f} s, status {solution.status}; "
          f"{met} of {weeks} client-weeks reach their target")


# --- main --------------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="run against PostgreSQL (a database of yours; "
                        "the run uses and drops its own schema in it)")
    parser.add_argument("--repeats", type=int, default=REPEATS,
                        help="runs of each measurement (the median is shown)")
    parser.add_argument("--no-solve", action="store_true", help="skip the solve")
    parser.add_argument("--profile", action="store_true",
                        help="profile the cohort's gather (cProfile) even when on target")
    parser.add_argument("--no-singly", action="store_true",
                        help="skip gathering the clients one call each (and the check)")
    parser.add_argument("--strict", action="store_true",
                        help="exit with status 2 when a target is missed")
    args = parser.parse_args(argv)
    base_url = database_url_argument(parser, args)

    now = datetime.now(UTC)
    today = now.astimezone(ZoneInfo(TZ_NAME)).date()
    first_day = today + timedelta(days=7 - today.weekday())  # next Monday
    print(f"Proposal gather benchmark on {describe(base_url)}: {N_CLIENTS} new admissions, "
          f"{len(BANDS) * len(PATTERNS) * GROUP_ROOMS} group series, "
          f"{len(DAY_TEAM) + len(EVENING_TEAM)} clinicians, {WEEKS} weeks from {first_day}")
    with tempfile.TemporaryDirectory(prefix="bench-gather-") as workdir, \
            fresh_database(base_url, workdir, "gather") as url:
        app = make_app(url)
        with app.app_context():
            migrate_to_head()
            started = timer.perf_counter()
            program_id, ids = seed(now, first_day)
            print(f"  seeded in {timer.perf_counter() - started:.1f} s; load average "
                  f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

            def cohort_of(client_ids):
                return lambda: gather.for_clients(db.session, program_id, client_ids,
                                                  first_day=first_day, weeks=WEEKS, now=now)

            # Warm up: imports, mappers, the connection, statement caches.
            cohort_of(ids[:2])()
            one_s, one_cpu, one_n, _ = timed(cohort_of(ids[:1]), args.repeats * 3)
            line("one client (baseline)", one_s, one_cpu, one_n, None)
            all_s, all_cpu, all_n, problem = timed(cohort_of(ids), args.repeats)
            line(f"the cohort of {N_CLIENTS}, one call", all_s, all_cpu, all_n, (one_s, one_n))

            def one_at_a_time():
                return {i: gather.for_clients(db.session, program_id, [i], first_day=first_day,
                                              weeks=WEEKS, now=now).clients[0] for i in ids}

            alone = {}
            if not args.no_singly:
                each_s, each_cpu, each_n, alone = timed(one_at_a_time, 1)
                line(f"the {N_CLIENTS} one call each", each_s, each_cpu, each_n, (one_s, one_n))
            options = sum(len(c.group_keys) + len(c.appointments) for c in problem.clients)
            print(f"  the Problem: {len(problem.groups)} group options, {options} options over "
                  f"{len(problem.clients)} clients ("
                  f"{sum(len(c.appointments) for c in problem.clients)} appointment times), "
                  f"{len(problem.staff)} clinicians, {len(problem.rooms)} rooms")
            differences = same_as_alone(problem, alone) if alone else []
            if not alone:
                verdict = "not checked (--no-singly)"
            elif differences:
                verdict = "; ".join(differences[:5])
            else:
                verdict = "every client's part of the cohort's Problem equals their own gather"
            print(f"  invariant: {verdict}")
            if args.profile or all_s >= TARGET_SECONDS:
                profile(cohort_of(ids))
            if not args.no_solve:
                solve(problem)
            db.session.remove()
            db.engine.dispose()

    on_time = all_s < TARGET_SECONDS
    flat = all_n <= one_n + 10
    print(f"  target cohort gather < {TARGET_SECONDS:.0f} s:              "
          f"{'met' if on_time else 'MISSED'} ({all_s:.2f} s)")
    print(f"  target statements flat in the cohort's size: {'met' if flat else 'MISSED'} "
          f"({all_n} for {N_CLIENTS} clients, {one_n} for one)")
    if differences:
        return 1
    return 2 if args.strict and not (on_time and flat) else 0


if __name__ == "__main__":
    sys.exit(main())
