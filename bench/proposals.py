"""Benchmark: a cohort of 240 new admissions planned by CP-SAT and by the greedy baseline.

Run from the repository root:

    .venv/bin/python bench/proposals.py                 # 240 clients, 14 s for CP-SAT
    .venv/bin/python bench/proposals.py --seconds 10 --clients 120 --seed 7

No database: a deterministic generator (seeded random) builds the planner's Problem directly,
the plain data gather.py would read for one site:

  - 30 group series over mornings, afternoons, evenings and Saturday (3-hour IOP groups, 90-minute
    skills groups, an hour of education), 8 to 14 seats, many already partly booked, each in one
    of six group rooms with one facilitator;
  - 12 clinicians: eight on 09:00-17:00, four on 12:00-20:00 (two of those also Saturday
    mornings), some with time off over the holidays, and six offices for individual sessions;
  - four weeks from Monday 14 December, with the program closed on Christmas Day and New Year's
    Day;
  - 240 clients with the unavailability of real routines (day shift, evening shift, school hours,
    childcare, weekend work, or none), weekly targets of 9 hours (6 for adolescents), a weekly
    individual session with a primary therapist for about half of them, some admitted a week or
    two late or leaving before the fourth week, some with preferred times and an intake
    appointment already booked.

Appointment options are what gather offers: hourly starts inside the therapist's working hours,
free for the client, the therapist and at least one office.

The same Problem is then solved by greedy (first fit, in order of start time) and by CP-SAT
(`solve`, --seconds), and an independent checker (bench/proposal_check.py, which imports no
planner code beyond the plain data) counts hard-constraint violations in both. For each it
prints client-weeks meeting target, total shortfall hours, requirement sessions short, the worst
client's coverage, seconds and status, then CP-SAT's ratios to greedy. Last, a single client's
proposal is timed (one client alone, as the API's per-client proposal asks).

Targets (2 cores): the cohort solved in under 15 s; at least 10% more client-weeks met than
greedy (or all of them); 0 violations; a single client in under 1 s.
"""

import argparse
import os
import random
import statistics
import sys
import time as timer
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.proposal_check import violations  # noqa: E402
from scheduler.services.planner import greedy, solver  # noqa: E402
from scheduler.services.planner.problem import (  # noqa: E402
    AppointmentOption,
    ClientProblem,
    GroupOption,
    Occurrence,
    Problem,
    Requirement,
    RoomFacts,
    Solution,
    Span,
    StaffFacts,
    Window,
)

TZ_NAME = "America/New_York"
ZONE = ZoneInfo(TZ_NAME)
FIRST_MONDAY = date(2026, 12, 14)
WEEKS = 4
CLIENTS = 240
CLINICIANS = 12
SECONDS = 14.0
CLOSED = {date(2026, 12, 25): "Christmas Day", date(2027, 1, 1): "New Year's Day"}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# (title, kind, weekdays, start, minutes): the site's 30 series.
SERIES = (
    ("Morning IOP A", "group", (0, 2, 4), time(9, 0), 180),
    ("Morning IOP B", "group", (0, 2, 4), time(9, 0), 180),
    ("Morning IOP C", "group", (1, 3, 4), time(9, 0), 180),
    ("Morning IOP D", "group", (0, 1, 3), time(9, 30), 180),
    ("Morning process group", "group", (1, 3), time(9, 0), 180),
    ("Midday relapse prevention", "group", (0, 2), time(11, 0), 180),
    ("Afternoon IOP A", "group", (0, 2, 3), time(13, 0), 180),
    ("Afternoon IOP B", "group", (1, 2, 3), time(13, 0), 180),
    ("Afternoon IOP C", "group", (0, 1, 3), time(13, 30), 180),
    ("Afternoon women's group", "group", (1, 3), time(13, 0), 180),
    ("Early evening IOP", "group", (0, 2, 3), time(16, 0), 180),
    ("Evening IOP A", "group", (0, 1, 3), time(18, 0), 180),
    ("Evening IOP B", "group", (0, 2, 3), time(18, 0), 180),
    ("Evening IOP C", "group", (1, 2, 3), time(18, 0), 180),
    ("Evening IOP D", "group", (0, 1, 2), time(18, 0), 180),
    ("Evening relapse prevention", "group", (1, 3), time(18, 30), 180),
    ("Evening men's group", "group", (0, 2), time(18, 0), 180),
    ("Saturday IOP A", "group", (5,), time(9, 0), 180),
    ("Saturday IOP B", "group", (5,), time(13, 0), 180),
    ("Saturday family group", "family", (5,), time(10, 0), 120),
    ("DBT skills morning", "behavioral", (1, 4), time(12, 30), 90),
    ("DBT skills evening", "behavioral", (0, 3), time(17, 0), 90),
    ("CBT skills", "behavioral", (2,), time(16, 30), 90),
    ("CBT skills Saturday", "behavioral", (5,), time(12, 30), 90),
    ("Seeking Safety", "behavioral", (1,), time(16, 0), 90),
    ("Life skills", "education", (4,), time(13, 0), 60),
    ("Recovery education", "education", (2,), time(12, 0), 60),
    ("Recovery education evening", "education", (4,), time(17, 30), 60),
    ("Peer recovery circle", "peer_support", (4,), time(18, 0), 120),
    ("Peer recovery Saturday", "peer_support", (5,), time(15, 0), 120),
)
FIRST = ("Jordan", "Dana", "Alex", "Sam", "Riley", "Casey", "Morgan", "Taylor", "Jamie", "Avery",
         "Quinn", "Rowan", "Harper", "Emerson", "Skyler", "Reese", "Parker", "Drew", "Kai", "Noa")
LAST = ("Lee", "Ruiz", "Okafor", "Nguyen", "Patel", "Kowalski", "Haddad", "Silva", "Brooks",
        "Moreau", "Ibrahim", "Novak", "Chen", "Walsh", "Diaz", "Sato")
CLINICIAN_NAMES = ("Dana Ruiz", "Sam Okafor", "Priya Patel", "Lena Novak", "Marcus Brooks",
                   "Ines Silva", "Tom Walsh", "Aisha Haddad", "Chen Wei", "Rosa Diaz",
                   "Omar Ibrahim", "Kate Moreau")
# Routine: (share of clients, weekly windows as (weekdays, start, end), label)
ROUTINES = (
    (0.33, ((range(5), time(7, 0), time(17, 30)),), "works a day shift"),
    (0.14, ((range(5), time(14, 0), time(23, 0)),), "works an evening shift"),
    (0.14, ((range(5), time(7, 30), time(15, 30)),), "is at school"),
    (0.15, ((range(5), time(7, 0), time(9, 0)), (range(5), time(14, 30), time(19, 30))),
     "has childcare"),
    (0.12, ((range(4, 7), time(8, 0), time(20, 0)),), "works weekends"),
    (0.12, (), "has no fixed commitments"),
)


def minute(day: date, at: time) -> int:
    return int((datetime.combine(day, at, ZONE) - EPOCH).total_seconds() // 60)


def span(day: date, at: time, minutes: int) -> Span:
    start = minute(day, at)
    return Span(start, start + minutes, day, (day - FIRST_MONDAY).days // 7)


def days() -> list[date]:
    return [FIRST_MONDAY + timedelta(days=i) for i in range(7 * WEEKS)]


def window_covers(windows: list[Window], s: Span) -> bool:
    """Whether any weekly window overlaps the span (same-day spans only, as here)."""
    local_start = (EPOCH + timedelta(minutes=s.start)).astimezone(ZONE)
    local_end = (EPOCH + timedelta(minutes=s.end)).astimezone(ZONE)
    for w in windows:
        if w.weekday != s.day.weekday():
            continue
        if local_start.time() < w.end and w.start < local_end.time():
            return True
    return False


def generate(n_clients: int, seed: int) -> Problem:  # noqa: C901 - a generator, read top down
    rnd = random.Random(seed)
    rooms = {i: RoomFacts(i, f"Group room {'ABCDEF'[i - 1]}", 14, []) for i in range(1, 7)}
    offices = list(range(7, 13))
    for i in offices:
        rooms[i] = RoomFacts(i, f"Office {i - 6}", 3, [])
    staff: dict[int, StaffFacts] = {}
    for i, name in enumerate(CLINICIAN_NAMES[:CLINICIANS], start=101):
        late = i - 101 >= 8
        hours = [Window(d, time(12, 0) if late else time(9, 0), time(20, 0) if late
                        else time(17, 0)) for d in range(5)]
        if late and i % 2:
            hours.append(Window(5, time(9, 0), time(13, 0)))
        staff[i] = StaffFacts(i, name, [], hours)
    # Holiday time off: two clinicians off the week after Christmas, three on Christmas Eve.
    off = rnd.sample(sorted(staff), 5)
    for staff_id in off[:2]:
        for d in range(4):
            day = date(2026, 12, 28) + timedelta(days=d)
            staff[staff_id].busy.append(span(day, time(0, 0), 24 * 60))
    for staff_id in off[2:]:
        staff[staff_id].busy.append(span(date(2026, 12, 24), time(12, 0), 12 * 60))

    groups: list[GroupOption] = []
    session_id = 1000
    room_cycle = 0
    for series_id, (title, kind, weekdays, start, minutes) in enumerate(SERIES, start=1):
        capacity = rnd.randint(11, 14) if minutes >= 180 else rnd.randint(8, 12)
        partly = rnd.random() < 0.4
        facilitator = rnd.choice(sorted(staff))
        room_id = room_cycle % 6 + 1
        room_cycle += 1
        by_week: dict[int, list[Occurrence]] = {}
        for day in days():
            if day.weekday() not in weekdays or day in CLOSED:
                continue
            s = span(day, start, minutes)
            booked = rnd.randint(1, capacity // 3) if partly else 0
            session_id += 1
            by_week.setdefault(s.week, []).append(Occurrence(session_id, s, capacity, booked))
            staff[facilitator].busy.append(s)
            rooms[room_id].busy.append(s)
        for week, occs in sorted(by_week.items()):
            groups.append(GroupOption(f"g:{series_id}:{week}", series_id, title, kind, week,
                                      tuple(occs), (facilitator,), room_id))

    clients: list[ClientProblem] = []
    for n in range(n_clients):
        client_id = 5000 + n
        name = f"{rnd.choice(FIRST)} {rnd.choice(LAST)}"
        pick = rnd.random()
        routine = ROUTINES[-1]
        for r in ROUTINES:
            if pick < r[0]:
                routine = r
                break
            pick -= r[0]
        _, windows_spec, label = routine
        unavailable = [Window(d, a, b, f"{name} {label}, {DAY_NAMES[d]} {a:%H:%M}–{b:%H:%M}")
                       for ds, a, b in windows_spec for d in ds]
        adolescent = label == "is at school"
        target = 360 if adolescent else 540
        targets: list[int | None] = [target] * WEEKS
        closed_days = dict(CLOSED)
        late = rnd.random()
        if late < 0.08:  # admitted in the second week
            targets[0] = None
            admitted = FIRST_MONDAY + timedelta(days=7)
            for d in days()[:7]:
                closed_days[d] = f"{name} is admitted on {admitted:%a} {admitted.day} {admitted:%b}"
        elif late < 0.14:  # the plan ends after three weeks
            targets[3] = None
            end = FIRST_MONDAY + timedelta(days=20)
            for d in days()[21:]:
                closed_days[d] = f"the plan ends {end:%a} {end.day} {end:%b}"
        preferred: list[Window] = []
        if rnd.random() < 0.3:
            if label == "works a day shift":
                preferred = [Window(d, time(18, 0), time(21, 30)) for d in range(5)]
            else:
                preferred = [Window(d, time(9, 0), time(14, 0)) for d in range(6)]
        booked: list[tuple[Span, str]] = []
        requirements: list[Requirement] = []
        therapist = None
        if rnd.random() < 0.5:
            therapist = rnd.choice(sorted(staff))
            for week in range(WEEKS):
                if targets[week] is not None:
                    requirements.append(Requirement(week, "individual", 1, True, therapist))
        if rnd.random() < 0.2:
            for week in range(WEEKS):
                if targets[week] is not None:
                    requirements.append(Requirement(week, "behavioral", 1, False))
        if rnd.random() < 0.2:
            # An intake assessment already booked in the first week they attend.
            week = 0 if targets[0] is not None else 1
            for tries in range(20):
                day = FIRST_MONDAY + timedelta(days=7 * week + tries % 5)
                s = span(day, time(8 + tries % 10, 0), 60)
                if not window_covers(unavailable, s):
                    booked.append((s, "assessment"))
                    break
        clients.append(ClientProblem(
            client_id=client_id, name=name, targets=targets, booked=booked,
            unavailable=unavailable, preferred=preferred, requirements=requirements,
            group_keys=[], appointments=[], closed_days=closed_days,
            primary_therapist_id=therapist))

    problem = Problem(program_id=1, timezone=TZ_NAME, first_day=days()[0], last_day=days()[-1],
                      weeks=[FIRST_MONDAY + timedelta(days=7 * w) for w in range(WEEKS)],
                      groups=groups, clients=clients, staff=staff, rooms=rooms,
                      min_group_size=4, closed_days=dict(CLOSED))
    for client in clients:
        gather_options(problem, client, offices)
    return problem


def gather_options(problem: Problem, client: ClientProblem, offices: list[int]) -> None:
    """What gather.py does for one client: the options that fit their life, and why not."""
    def fits(s: Span) -> str | None:
        if s.day in client.closed_days:
            return client.closed_days[s.day]
        for w in client.unavailable:
            if window_covers([w], s):
                return w.label or f"{client.name} is unavailable"
        if any(s.overlaps(b) for b, _ in client.booked):
            return f"{client.name} already has a session then"
        return None

    for group in problem.groups:
        reasons = [r for o in group.occurrences if (r := fits(o.span))]
        if reasons:
            client.refused[group.key] = reasons[0]
        else:
            client.group_keys.append(group.key)
    if client.primary_therapist_id is None:
        return
    therapist = problem.staff[client.primary_therapist_id]
    for day in days():
        for w in therapist.working_hours:
            if w.weekday != day.weekday():
                continue
            hour = w.start.hour
            while hour + 1 <= w.end.hour:
                s = span(day, time(hour, 0), 60)
                hour += 1
                if fits(s) or any(s.overlaps(b) for b in therapist.busy):
                    continue
                free = tuple(r for r in offices
                             if not any(s.overlaps(b) for b in problem.rooms[r].busy))
                if free:
                    client.appointments.append(AppointmentOption(
                        f"a:individual:{therapist.staff_id}:{s.start}", "individual",
                        therapist.staff_id, s, free))


def figures(problem: Problem, solution: Solution) -> dict[str, float]:
    met = weeks = 0
    short = 0
    worst = 1.0
    sessions_short = 0
    for client in problem.clients:
        plan = solution.plans[client.client_id]
        covered = total = 0
        for week, target in enumerate(client.targets):
            if target is None:
                continue
            weeks += 1
            met += plan.planned[week] >= target
            short += max(target - plan.planned[week], 0)
            covered += min(plan.planned[week], target)
            total += target
        if total:
            worst = min(worst, covered / total)
        sessions_short += sum(n for _, _, n in plan.short_requirements)
    return {"met": met, "weeks": weeks, "short_hours": short / 60, "worst": worst,
            "sessions_short": sessions_short, "seconds": solution.seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=CLIENTS)
    parser.add_argument("--seconds", type=float, default=SECONDS,
                        help="CP-SAT's time limit for the cohort (default %(default)s)")
    parser.add_argument("--seed", type=int, default=18, help="the generator's seed")
    parser.add_argument("--workers", type=int, default=None, help="CP-SAT workers")
    args = parser.parse_args()

    started = timer.perf_counter()
    problem = generate(args.clients, args.seed)
    n_groups = len(problem.groups)
    n_options = sum(len(c.group_keys) + len(c.appointments) for c in problem.clients)
    print(f"Proposal benchmark: {len(problem.clients)} clients, {len(SERIES)} series "
          f"({n_groups} series-weeks), {len(problem.staff)} clinicians, {len(problem.rooms)} "
          f"rooms, {WEEKS} weeks; {n_options} client options "
          f"(generated in {timer.perf_counter() - started:.2f} s)")

    base = greedy.solve(problem)
    best = solver.solve(problem, seconds=args.seconds, workers=args.workers)
    rows = []
    for label, solution in (("greedy (first fit)", base), ("CP-SAT", best)):
        f = figures(problem, solution)
        f["violations"] = len(violations(problem, solution))
        rows.append((label, solution.status, f))
    print(f"  {'':20} {'weeks met':>13} {'short h':>9} {'req. short':>10} {'worst':>7} "
          f"{'seconds':>8} {'violations':>10}  status")
    for label, status, f in rows:
        print(f"  {label:20} {f['met']:>5.0f} of {f['weeks']:<5.0f} {f['short_hours']:>9.1f} "
              f"{f['sessions_short']:>10.0f} {f['worst']:>7.1%} {f['seconds']:>8.2f} "
              f"{f['violations']:>10.0f}  {status}")
    g, c = rows[0][2], rows[1][2]
    gain = c["met"] / g["met"] if g["met"] else float("inf")
    print(f"  ratio CP-SAT / greedy: weeks met {gain:.2f}×, shortfall "
          f"{(c['short_hours'] / g['short_hours']) if g['short_hours'] else 0:.2f}×, "
          f"seconds {c['seconds'] / max(g['seconds'], 1e-9):.0f}×")
    if best.objective is not None and best.bound is not None:
        print(f"  CP-SAT shortfall objective {best.objective / 60:.1f} h, bound "
              f"{best.bound / 60:.1f} h")

    single = []
    for client in problem.clients[:10]:
        one = replace(problem, clients=[client])
        single.append(solver.solve(one, seconds=args.seconds, workers=args.workers).seconds)
    print(f"  single client (10 of them alone): median {statistics.median(single):.3f} s, "
          f"max {max(single):.3f} s")

    ok_time = c["seconds"] < 15
    ok_gain = c["met"] >= 1.1 * g["met"] or c["met"] == c["weeks"]
    ok_sound = g["violations"] == 0 and c["violations"] == 0
    ok_single = max(single) < 1
    print(f"  target cohort < 15 s:                  {'met' if ok_time else 'MISSED'}")
    print(f"  target >= 10% more weeks met (or all): {'met' if ok_gain else 'MISSED'}")
    print(f"  target 0 violations:                   {'met' if ok_sound else 'MISSED'}")
    print(f"  target single client < 1 s:            {'met' if ok_single else 'MISSED'}")
    for label, solution in (("greedy", base), ("CP-SAT", best)):
        for line in violations(problem, solution)[:5]:
            print(f"    {label}: {line}")
    return 0 if ok_sound else 1


if __name__ == "__main__":
    sys.exit(main())
