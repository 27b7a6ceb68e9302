"""The planner's CP-SAT model: the best proposal for one client or a cohort (issue 18).

Decisions are booleans: take group option g (every occurrence of it) for client c, take
appointment option o for c, and put a taken appointment in room r. Everything the issue calls
hard is a constraint; everything else is an objective, solved LEXICOGRAPHICALLY in stages:
each stage optimises one level, then its value is fixed as a constraint (and its answer kept as a
hint) before the next level starts, so no weight can ever trade a level for a lower one.

  1. requirement shortfall: sessions short of the plan phase's per-kind requirements;
  2. fairness (cohorts only): the worst client's share of the hours they could get alone;
  3. target hours: total minutes short of the weekly targets (the main stage: its objective and
     bound are what the Solution reports, in minutes);
  4. continuity and trips: distinct group series and therapists per client, then distinct
     days a week (one weighted stage; the weight is a proven bound on the days term);
  5. minutes above target;
  6. minutes outside the client's preferred times.

Determinism: CP-SAT's interleaved search is deterministic whatever the number of workers, and
each stage stops on a deterministic time limit equal to its wall budget, so the same input gives
the same proposal unless the machine is so loaded that the wall limit strikes first.
"""

import time as timer
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from zoneinfo import ZoneInfo

from ortools.sat.python import cp_model

from scheduler.services.planner.problem import (
    AppointmentOption,
    ClientPlan,
    ClientProblem,
    GroupOption,
    PlacedAppointment,
    Problem,
    Solution,
    Span,
    Window,
)

# Two cores on the reference machine; interleaved search keeps answers identical for any count.
DEFAULT_WORKERS = 2
# Coverage is a fraction; the model needs integers. 1/10,000 is finer than a minute of 9 hours.
COVERAGE_SCALE = 10_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

LinearExpr = cp_model.LinearExprT


def local_minutes(span: Span | tuple[int, int], zone: ZoneInfo) -> tuple[datetime, datetime]:
    start, end = (span.start, span.end) if isinstance(span, Span) else span
    return (
        (EPOCH + timedelta(minutes=start)).astimezone(zone),
        (EPOCH + timedelta(minutes=end)).astimezone(zone),
    )


def _window_minutes(window: Window) -> tuple[int, int]:
    end = window.end.hour * 60 + window.end.minute
    if window.end == clock_time(0, 0):
        end = 24 * 60  # a window ending at midnight runs to the end of the day
    return window.start.hour * 60 + window.start.minute, end


def minutes_inside(span: Span, windows: Sequence[Window], zone: ZoneInfo) -> int:
    """How many of the span's minutes fall inside the weekly local windows."""
    start, end = local_minutes(span, zone)
    inside = 0
    day = start.date()
    while datetime.combine(day, clock_time(0, 0), zone) < end:
        for window in windows:
            if window.weekday != day.weekday():
                continue
            lo, hi = _window_minutes(window)
            w_start = datetime.combine(day, clock_time(0, 0), zone) + timedelta(minutes=lo)
            w_end = datetime.combine(day, clock_time(0, 0), zone) + timedelta(minutes=hi)
            overlap = (min(end, w_end) - max(start, w_start)).total_seconds() // 60
            inside += max(int(overlap), 0)
        day += timedelta(days=1)
    return inside


def within_windows(span: Span, windows: Sequence[Window], zone: ZoneInfo) -> bool:
    return minutes_inside(span, windows, zone) >= span.minutes


def add_at_most_one_at_a_time(
    model: cp_model.CpModel, items: Iterable[tuple[cp_model.IntVar, Sequence[tuple[int, int]]]],
    capacity: int = 1,
) -> None:
    """At most `capacity` of the chosen items cover any instant.

    Overlapping intervals always share a start point, so checking every start point where two or
    more items meet is exact; a point where nothing overlaps adds nothing, which keeps the model
    lean (hourly appointments that merely touch never meet).
    """
    events: list[tuple[int, int, int]] = []  # (time, +1 start / -1 end, item index)
    variables: list[cp_model.IntVar] = []
    for index, (var, intervals) in enumerate(items):
        variables.append(var)
        for start, end in intervals:
            if end > start:
                events.append((start, 1, index))
                events.append((end, -1, index))
    # Ends before starts at the same instant: touching intervals do not overlap.
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    active: dict[int, int] = defaultdict(int)
    last: frozenset[int] | None = None
    position = 0
    while position < len(events):
        instant = events[position][0]
        started = False
        while position < len(events) and events[position][0] == instant:
            _, delta, index = events[position]
            active[index] += delta
            if active[index] == 0:
                del active[index]
            started = started or delta > 0
            position += 1
        if not started or len(active) <= capacity:
            continue
        current = frozenset(active)
        if current == last:
            continue
        last = current
        model.add(sum(variables[i] for i in sorted(current)) <= capacity)


@dataclass
class _ClientVars:
    client: ClientProblem
    groups: dict[str, cp_model.IntVar] = field(default_factory=dict)
    appointments: dict[str, tuple[AppointmentOption, cp_model.IntVar]] = field(
        default_factory=dict)
    rooms: dict[str, list[tuple[int, cp_model.IntVar]]] = field(default_factory=dict)
    # (week, kind) -> (sessions required, sessions already booked, one-to-one, staff or None)
    requirements: dict[tuple[int, str], tuple[int, int, bool, int | None]] = field(
        default_factory=dict)
    planned: list[LinearExpr] = field(default_factory=list)
    planned_max: list[int] = field(default_factory=list)
    covered: dict[int, cp_model.IntVar] = field(default_factory=dict)
    requirement_slack: dict[tuple[int, str], cp_model.IntVar] = field(default_factory=dict)
    counted: dict[tuple[int, str], LinearExpr] = field(default_factory=dict)


def _merged_requirements(
    client: ClientProblem,
) -> dict[tuple[int, str], tuple[int, int, bool, int | None]]:
    """One requirement per week and kind: duplicates (two plan rows for one kind) take the larger
    count rather than adding up, since a phase names each kind once."""
    merged: dict[tuple[int, str], tuple[int, int, bool, int | None]] = {}
    for req in client.requirements:
        key = (req.week, req.kind)
        sessions, _, one_to_one, staff_id = merged.get(key, (0, 0, req.one_to_one, None))
        merged[key] = (max(sessions, req.sessions), 0, one_to_one or req.one_to_one,
                       staff_id if staff_id is not None else req.staff_id)
    for span, kind in client.booked:
        key = (span.week, kind)
        if key in merged:
            sessions, done, one_to_one, staff_id = merged[key]
            merged[key] = (sessions, done + 1, one_to_one, staff_id)
    return merged


class _Builder:
    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.zone = ZoneInfo(problem.timezone)
        self.model = cp_model.CpModel()
        self.clients: list[_ClientVars] = []
        self.weeks = len(problem.weeks)
        self.groups = {g.key: g for g in problem.groups}

    # ---- which options a client may take at all -------------------------------------------

    def _clashes_with_booked(self, client: ClientProblem, spans: Iterable[Span]) -> bool:
        return any(s.overlaps(b) for s in spans for b, _ in client.booked)

    def _group_allowed(self, client: ClientProblem, group: GroupOption) -> bool:
        if not group.occurrences:
            return False
        spans = [o.span for o in group.occurrences]
        if any(o.seats_free <= 0 for o in group.occurrences):
            return False
        if any(not 0 <= s.week < self.weeks for s in spans):
            return False
        if self._clashes_with_booked(client, spans):
            return False
        if any(s.day in client.closed_days or s.day in self.problem.closed_days for s in spans):
            return False
        return not any(minutes_inside(s, client.unavailable, self.zone) for s in spans)

    def _appointment_allowed(self, client: ClientProblem, option: AppointmentOption) -> bool:
        span = option.span
        if span.minutes <= 0 or not 0 <= span.week < self.weeks:
            return False
        if self._clashes_with_booked(client, [span]):
            return False
        if span.day in client.closed_days or span.day in self.problem.closed_days:
            return False
        if minutes_inside(span, client.unavailable, self.zone):
            return False
        staff = self.problem.staff.get(option.staff_id)
        if staff is not None:
            if any(span.overlaps(b) for b in staff.busy):
                return False
            if staff.working_hours and not within_windows(span, staff.working_hours, self.zone):
                return False
        return bool(self._free_rooms(option))

    def _free_rooms(self, option: AppointmentOption) -> list[int]:
        free = []
        for room_id in option.room_ids:
            room = self.problem.rooms.get(room_id)
            if room is None or not any(option.span.overlaps(b) for b in room.busy):
                free.append(room_id)
        return free

    # ---- the model ---------------------------------------------------------------------------

    def build(self) -> None:
        model = self.model
        for ci, client in enumerate(self.problem.clients):
            cv = _ClientVars(client=client, requirements=_merged_requirements(client))
            for key in sorted(set(client.group_keys)):
                group = self.groups.get(key)
                if group is not None and self._group_allowed(client, group):
                    cv.groups[key] = model.new_bool_var(f"x{ci}_{key}")
            for option in client.appointments:
                req = cv.requirements.get((option.span.week, option.kind))
                if req is None or not req[2]:
                    continue  # appointments only where the phase requires that kind
                if req[3] is not None and option.staff_id != req[3]:
                    continue
                if option.key in cv.appointments or not self._appointment_allowed(client, option):
                    continue
                var = model.new_bool_var(f"a{ci}_{option.key}")
                cv.appointments[option.key] = (option, var)
                rooms = self._free_rooms(option)
                if len(rooms) == 1:
                    cv.rooms[option.key] = [(rooms[0], var)]
                else:
                    choices = [(r, model.new_bool_var(f"r{ci}_{option.key}_{r}")) for r in rooms]
                    model.add(sum(v for _, v in choices) == var)
                    cv.rooms[option.key] = choices
            self.clients.append(cv)
            self._client_constraints(cv)
        self._seat_constraints()
        self._staff_and_room_constraints()

    def _client_constraints(self, cv: _ClientVars) -> None:
        model = self.model
        items: list[tuple[cp_model.IntVar, list[tuple[int, int]]]] = []
        for key, var in cv.groups.items():
            items.append((var, [(o.span.start, o.span.end) for o in self.groups[key].occurrences]))
        for option, var in cv.appointments.values():
            items.append((var, [(option.span.start, option.span.end)]))
        add_at_most_one_at_a_time(model, items)

        # Appointments: never more than the phase asks for, less what is already booked.
        by_req: dict[tuple[int, str], list[cp_model.IntVar]] = defaultdict(list)
        for option, var in cv.appointments.values():
            by_req[(option.span.week, option.kind)].append(var)
        for req_key, variables in by_req.items():
            sessions, done, _, _ = cv.requirements[req_key]
            model.add(sum(variables) <= max(sessions - done, 0))

        # Minutes planned each week, and what counts towards each requirement.
        planned: list[list[tuple[int, cp_model.IntVar]]] = [[] for _ in range(self.weeks)]
        counted: dict[tuple[int, str], list[tuple[int, cp_model.IntVar]]] = defaultdict(list)
        for group_key, var in cv.groups.items():
            group = self.groups[group_key]
            per_week: dict[int, int] = defaultdict(int)
            for occ in group.occurrences:
                planned[occ.span.week].append((occ.span.minutes, var))
                per_week[occ.span.week] += 1
            for week, count in per_week.items():
                counted[(week, group.kind)].append((count, var))
        for option, var in cv.appointments.values():
            planned[option.span.week].append((option.span.minutes, var))
            counted[(option.span.week, option.kind)].append((1, var))
        booked_minutes = [0] * self.weeks
        for span, _ in cv.client.booked:
            if 0 <= span.week < self.weeks:
                booked_minutes[span.week] += span.minutes
        for week in range(self.weeks):
            expr = booked_minutes[week] + sum(m * v for m, v in planned[week])
            cv.planned.append(expr)
            cv.planned_max.append(booked_minutes[week] + sum(m for m, _ in planned[week]))
            target = cv.client.targets[week] if week < len(cv.client.targets) else None
            if target is None or target <= 0:
                continue
            covered = model.new_int_var(0, target, f"cov{cv.client.client_id}_{week}")
            model.add(covered <= expr)
            cv.covered[week] = covered
        for req_key, (sessions, done, _, _) in cv.requirements.items():
            short = sessions - done
            if short <= 0:
                continue
            week, kind = req_key
            slack = model.new_int_var(0, short, f"req{cv.client.client_id}_{week}_{kind}")
            terms = counted.get(req_key, [])
            achieved = cp_model.LinearExpr.weighted_sum(
                [v for _, v in terms], [n for n, _ in terms])
            model.add(slack + achieved >= short)
            cv.requirement_slack[req_key] = slack
            cv.counted[req_key] = achieved

    def _seat_constraints(self) -> None:
        model = self.model
        takers: dict[int, list[cp_model.IntVar]] = defaultdict(list)
        occurrences = {}
        for cv in self.clients:
            for key, var in cv.groups.items():
                for occ in self.groups[key].occurrences:
                    takers[occ.session_id].append(var)
                    occurrences[occ.session_id] = occ
        minimum = self.problem.min_group_size
        for session_id, variables in sorted(takers.items()):
            occ = occurrences[session_id]
            added = sum(variables)
            if len(variables) > occ.seats_free:
                model.add(added <= occ.seats_free)
            if minimum is None or occ.booked >= minimum:
                continue
            if occ.booked + min(len(variables), occ.seats_free) < minimum:
                for var in variables:  # even everyone who could come would leave it too small
                    model.add(var == 0)
                continue
            # Anyone added means enough are added: the proposal never fills a group it cannot
            # bring up to the program's minimum.
            opened = model.new_bool_var(f"open{session_id}")
            model.add(added <= len(variables) * opened)
            model.add(added >= (minimum - occ.booked) * opened)

    def _staff_and_room_constraints(self) -> None:
        by_staff: dict[int, list[tuple[cp_model.IntVar, list[tuple[int, int]]]]] = defaultdict(
            list)
        by_room: dict[int, list[tuple[cp_model.IntVar, list[tuple[int, int]]]]] = defaultdict(
            list)
        for cv in self.clients:
            for key, (option, var) in cv.appointments.items():
                interval = [(option.span.start, option.span.end)]
                by_staff[option.staff_id].append((var, interval))
                for room_id, room_var in cv.rooms[key]:
                    by_room[room_id].append((room_var, interval))
        for staff_id in sorted(by_staff):
            add_at_most_one_at_a_time(self.model, by_staff[staff_id])
        for room_id in sorted(by_room):
            add_at_most_one_at_a_time(self.model, by_room[room_id])

    # ---- the objective levels ----------------------------------------------------------------

    def requirement_shortfall(self) -> LinearExpr:
        return sum(s for cv in self.clients for s in cv.requirement_slack.values())

    def total_shortfall(self) -> LinearExpr:
        """Minutes short of target, as target minus covered (covered never exceeds target)."""
        total = 0
        covered: list[cp_model.IntVar] = []
        for cv in self.clients:
            for week, var in cv.covered.items():
                target = cv.client.targets[week]
                assert target is not None
                total += target
                covered.append(var)
        return total - sum(covered)

    def fairness(self, reach: dict[int, int]) -> cp_model.IntVar | None:
        """The worst client's coverage, as a share of what they could reach alone (`reach`,
        minutes per client): a client whose own week leaves room for 3 hours is not the
        yardstick for everyone else."""
        candidates = [cv for cv in self.clients if cv.covered and reach.get(cv.client.client_id)]
        if len(candidates) < 2:
            return None
        worst = self.model.new_int_var(0, COVERAGE_SCALE, "worst")
        for cv in candidates:
            self.model.add(
                worst * reach[cv.client.client_id] <= COVERAGE_SCALE * sum(cv.covered.values()))
        return worst

    def continuity_and_days(self) -> LinearExpr:
        model = self.model
        distinct: list[cp_model.IntVar] = []
        days: list[cp_model.IntVar] = []
        for ci, cv in enumerate(self.clients):
            series: dict[int, list[cp_model.IntVar]] = defaultdict(list)
            for key, var in cv.groups.items():
                series[self.groups[key].series_id].append(var)
            staff: dict[int, list[cp_model.IntVar]] = defaultdict(list)
            for option, var in cv.appointments.values():
                staff[option.staff_id].append(var)
            for prefix, table in (("s", series), ("t", staff)):
                for ident, variables in sorted(table.items()):
                    used = model.new_bool_var(f"use{prefix}{ci}_{ident}")
                    model.add_max_equality(used, variables)
                    distinct.append(used)
            # Days that already have a session are trips made anyway: only new days count.
            booked_days = {span.day for span, _ in cv.client.booked}
            # A set per day: a group meeting twice on one day is still one trip.
            by_day: dict[date, dict[int, cp_model.IntVar]] = defaultdict(dict)
            for key, var in cv.groups.items():
                for occ in self.groups[key].occurrences:
                    if occ.span.day not in booked_days:
                        by_day[occ.span.day][var.index] = var
            for option, var in cv.appointments.values():
                if option.span.day not in booked_days:
                    by_day[option.span.day][var.index] = var
            for day, day_vars in sorted(by_day.items()):
                trip = model.new_bool_var(f"day{ci}_{day.isoformat()}")
                model.add_max_equality(trip, [day_vars[i] for i in sorted(day_vars)])
                days.append(trip)
        # Lexicographic inside one stage: every day saved is worth less than one series or
        # therapist fewer, since all the day terms together can never exceed len(days).
        return (len(days) + 1) * sum(distinct) + sum(days)

    def over_target(self) -> LinearExpr:
        terms = []
        for ci, cv in enumerate(self.clients):
            for week, expr in enumerate(cv.planned):
                target = cv.client.targets[week] if week < len(cv.client.targets) else None
                if target is None or isinstance(expr, int):
                    continue
                over = self.model.new_int_var(
                    0, max(cv.planned_max[week] - target, 0), f"over{ci}_{week}")
                self.model.add(over >= expr - target)
                terms.append(over)
        return sum(terms)

    def outside_preferred(self) -> LinearExpr:
        terms: list[LinearExpr] = []
        for cv in self.clients:
            preferred = cv.client.preferred
            if not preferred:
                continue
            for key, var in cv.groups.items():
                spans = [o.span for o in self.groups[key].occurrences]
                outside = sum(s.minutes - minutes_inside(s, preferred, self.zone) for s in spans)
                if outside:
                    terms.append(outside * var)
            for option, var in cv.appointments.values():
                span = option.span
                outside = span.minutes - minutes_inside(span, preferred, self.zone)
                if outside:
                    terms.append(outside * var)
        return sum(terms)


@dataclass
class _Stage:
    name: str
    status: str
    objective: float | None
    bound: float | None


class _Runner:
    """Runs the stages in order, fixing each optimum (or best found) before the next."""

    def __init__(self, model: cp_model.CpModel, seconds: float, seed: int, workers: int,
                 stages: int) -> None:
        self.model = model
        self.deadline = timer.perf_counter() + max(seconds, 0.05)
        self.seed = seed
        self.workers = workers
        self.stages_left = stages
        self.solver: cp_model.CpSolver | None = None
        self.results: list[_Stage] = []

    def minimise(self, name: str, objective: LinearExpr, maximise: bool = False) -> bool:
        self.stages_left -= 1
        if isinstance(objective, int):
            self.results.append(_Stage(name, "OPTIMAL", float(objective), float(objective)))
            return True
        budget = max((self.deadline - timer.perf_counter()) / (self.stages_left + 1), 0.02)
        if maximise:
            self.model.maximize(objective)
        else:
            self.model.minimize(objective)
        solver = cp_model.CpSolver()
        params = solver.parameters
        params.random_seed = self.seed
        params.num_workers = self.workers
        params.interleave_search = True
        params.max_time_in_seconds = budget
        params.max_deterministic_time = budget
        status = solver.solve(self.model)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            self.results.append(_Stage(name, solver.status_name(status), None, None))
            self.model.clear_objective()
            return False
        value = round(solver.objective_value)
        self.results.append(_Stage(name, solver.status_name(status), float(value),
                                   float(solver.best_objective_bound)))
        self.model.clear_objective()
        # Fix this level before the next one; the answer found is a hint that satisfies it.
        if maximise:
            self.model.add(objective >= value)
        else:
            self.model.add(objective <= value)
        self._hint(solver)
        self.solver = solver
        return True

    def _hint(self, solver: cp_model.CpSolver) -> None:
        self.model.clear_hints()
        solution = list(solver.response_proto.solution)
        hint = self.model.proto.solution_hint
        hint.vars.extend(range(len(solution)))
        hint.values.extend(solution)


def _reach(builder: _Builder, seed: int, workers: int, seconds: float) -> dict[int, int]:
    """What each client could reach alone: a copy of their options without the cohort's
    sharing of seats, therapists and rooms. Clients are independent there, so one small model
    of all of them gives every client's own best at once."""
    alone = Problem(
        program_id=builder.problem.program_id, timezone=builder.problem.timezone,
        first_day=builder.problem.first_day, last_day=builder.problem.last_day,
        weeks=builder.problem.weeks, groups=builder.problem.groups, clients=[],
        staff=builder.problem.staff, rooms=builder.problem.rooms, min_group_size=None,
        closed_days=builder.problem.closed_days)
    reach: dict[int, int] = {}
    sub = _Builder(alone)
    model = sub.model
    for ci, cv in enumerate(builder.clients):
        if not cv.covered:
            continue
        copy = _ClientVars(client=cv.client, requirements=cv.requirements)
        for key in cv.groups:
            copy.groups[key] = model.new_bool_var(f"x{ci}_{key}")
        for key, (option, _) in cv.appointments.items():
            var = model.new_bool_var(f"a{ci}_{key}")
            copy.appointments[key] = (option, var)
            copy.rooms[key] = [(r, var) for r, _ in cv.rooms[key][:1]]
        sub.clients.append(copy)
        sub._client_constraints(copy)
    runner = _Runner(model, seconds, seed, workers, 1)
    if not runner.minimise("reach", sub.total_shortfall()) or runner.solver is None:
        # Unknown reach: fall back to the targets themselves, plain worst-coverage fairness.
        for cv in builder.clients:
            reach[cv.client.client_id] = sum(t or 0 for t in cv.client.targets)
        return reach
    for copy in sub.clients:
        reach[copy.client.client_id] = sum(
            runner.solver.value(v) for v in copy.covered.values())
    return reach


def solve(problem: Problem, *, seconds: float = 10.0, seed: int = 0,
          workers: int | None = None) -> Solution:
    """The best proposal CP-SAT finds within `seconds`; see the module docstring."""
    started = timer.perf_counter()
    workers = workers or DEFAULT_WORKERS
    builder = _Builder(problem)
    builder.build()
    cohort = sum(1 for cv in builder.clients if cv.covered) > 1
    stages = 6 if cohort else 5
    runner = _Runner(builder.model, seconds, seed, workers, stages)
    worst = None
    if cohort:
        # A tenth of the time for each client's own reach; the cohort's stages get the rest.
        reach = _reach(builder, seed, workers, seconds * 0.1)
        runner.deadline = started + max(seconds, 0.05)
        worst = builder.fairness(reach)
    ok = runner.minimise("requirements", builder.requirement_shortfall())
    if ok and worst is not None:
        ok = runner.minimise("fairness", worst, maximise=True)
    main_index = len(runner.results)
    ok = ok and runner.minimise("shortfall", builder.total_shortfall())
    ok = ok and runner.minimise("continuity", builder.continuity_and_days())
    ok = ok and runner.minimise("over", builder.over_target())
    ok = ok and runner.minimise("preferred", builder.outside_preferred())
    statuses = [r.status for r in runner.results]
    status = "OPTIMAL" if all(s == "OPTIMAL" for s in statuses) else "FEASIBLE"
    main = runner.results[main_index] if len(runner.results) > main_index else None
    if not ok and main is None:
        # The model is always feasible (everyone may take nothing): this is a bug, or a time
        # limit too small to find even that. Propose nothing rather than fail the caller.
        return Solution(status=statuses[-1] if statuses else "UNKNOWN",
                        seconds=timer.perf_counter() - started, objective=None, bound=None,
                        plans=_empty_plans(builder))
    # No solver at all means no objective had a variable in it: nothing is worth proposing.
    plans = _empty_plans(builder) if runner.solver is None else _plans(builder, runner.solver)
    return Solution(status=status, seconds=timer.perf_counter() - started,
                    objective=main.objective if main else None,
                    bound=main.bound if main else None, plans=plans)


def _empty_plans(builder: _Builder) -> dict[int, ClientPlan]:
    plans = {}
    for cv in builder.clients:
        planned = [0] * builder.weeks
        for span, _ in cv.client.booked:
            if 0 <= span.week < builder.weeks:
                planned[span.week] += span.minutes
        short = [(week, kind, max(sessions - done, 0))
                 for (week, kind), (sessions, done, _, _) in sorted(cv.requirements.items())
                 if sessions > done]
        plans[cv.client.client_id] = ClientPlan(cv.client.client_id, [], [], planned, short)
    return plans


def _plans(builder: _Builder, solver: cp_model.CpSolver) -> dict[int, ClientPlan]:
    plans = {}
    for cv in builder.clients:
        keys = [k for k, v in cv.groups.items() if solver.boolean_value(v)]
        keys.sort(key=lambda k: (builder.groups[k].occurrences[0].span.start, k))
        placed = []
        for key, (option, var) in cv.appointments.items():
            if not solver.boolean_value(var):
                continue
            room_id = next(r for r, rv in cv.rooms[key] if solver.boolean_value(rv))
            placed.append(PlacedAppointment(option=option, room_id=room_id))
        placed.sort(key=lambda p: (p.option.span.start, p.option.key))
        planned = [int(solver.value(expr)) if not isinstance(expr, int) else expr
                   for expr in cv.planned]
        # From the counts, not the slack variables: a stage stopped early may leave a slack
        # above the true shortfall.
        short = []
        for (week, kind), (sessions, done, _, _) in sorted(cv.requirements.items()):
            count = cv.counted.get((week, kind), 0)
            value = sessions - done - int(count if isinstance(count, int) else solver.value(count))
            if value > 0:
                short.append((week, kind, value))
        plans[cv.client.client_id] = ClientPlan(
            client_id=cv.client.client_id, group_keys=keys, appointments=placed,
            planned=planned, short_requirements=short)
    return plans
