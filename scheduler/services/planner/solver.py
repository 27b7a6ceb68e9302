"""The planner's CP-SAT model: the best proposal for one client or a cohort (issue 18).

Decisions are booleans: take group option g (every occurrence of it) for client c, take
appointment option o for c, and (only where appointments that overlap may use different rooms)
put a taken appointment in room r. Everything the issue calls hard is a constraint; everything
else is an objective, solved LEXICOGRAPHICALLY in four stages: each stage optimises its level,
then that level is held at the value found (and the answer kept as the next stage's hint)
before the next starts, so no amount of a lower level can ever buy back a higher one.

  1. requirement shortfall: sessions short of the plan phase's per-kind requirements, then
     fairness (cohorts only): the worst client's share of the hours they could get alone;
  2. target hours: client-weeks short of their target, then total minutes short of the weekly
     targets (the main stage: the Solution's objective and bound are the minutes, with the
     weeks met held);
  3. continuity and trips: distinct group series and therapists per client, then new days;
  4. minutes above target, then minutes outside the client's preferred times.

Levels that share a stage are combined with weights proven to keep them in order (a level's
weight exceeds the most that everything below it can add up to); each stage also looks one
level ahead the same way, so a stage cut short never throws away the next level for nothing.

The search starts from first fit (greedy.py) and a few sound variants of it, the best on the
first levels, and falls back to that answer if CP-SAT finds nothing in time: a proposal is
never worse than first fit. Between stages 1 and 2 the hours are re-placed around what stage 1
chose (one way completing whole weeks first), for the same reason: on a 240-client cohort
CP-SAT makes only a few neighbourhood moves per stage, so the start decides much of the answer.

Determinism: CP-SAT's interleaved search is deterministic whatever the number of workers, and
each stage stops on a deterministic time limit (DETERMINISTIC_PER_SECOND of its share of the
limit), so the same input gives the same proposal unless the machine is so slow or loaded that
the wall limit strikes first (a large cohort on a busy machine).
"""

import time as timer
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

from ortools.sat.python import cp_model

from scheduler.services.planner import greedy
from scheduler.services.planner.problem import (
    AppointmentOption,
    ClientPlan,
    ClientProblem,
    GroupOption,
    PlacedAppointment,
    Problem,
    Solution,
    Span,
)
from scheduler.services.planner.windows import minutes_inside, within_windows

# Two cores on the reference machine; interleaved search keeps answers identical for any count.
DEFAULT_WORKERS = 2
LARGE_MODEL = 4000  # variables
# A stage's search stops on CP-SAT's deterministic clock (work done, the same on every run)
# before the wall clock, so a search cut short still gives the same answer every time. A
# second of wall time bought 0.3-0.4 deterministic seconds on a small cohort with this 2-core
# machine under a load of 8 (and about 0.1 on a 240-client cohort, where the wall clock
# then ends the search first); a quarter keeps small cohorts reproducible even so.
DETERMINISTIC_PER_SECOND = 0.25
LP_SUBSOLVERS = ("default_lp", "max_lp", "reduced_costs", "pseudo_costs", "quick_restart")
# Coverage is a fraction; the model needs integers. 1/10,000 is finer than a minute of 9 hours.
COVERAGE_SCALE = 10_000

LinearExpr = cp_model.LinearExprT
# An objective level and a proven upper bound on its value (all levels are >= 0).
Level = tuple[LinearExpr, int]
# Weighted levels stay below this, so CP-SAT's objective (and its LP, in doubles) is exact.
EXACT = 2**53


def lexicographic(levels: Sequence[Level]) -> Level:
    """One objective that orders answers exactly as the levels do, first level first: each
    level's weight exceeds the most that all the levels after it can add up to."""
    weights = [1] * len(levels)
    for i in range(len(levels) - 2, -1, -1):
        weights[i] = weights[i + 1] * (levels[i + 1][1] + 1)
    most = sum(w * m for w, (_, m) in zip(weights, levels, strict=True))
    expr = cp_model.LinearExpr.weighted_sum([e for e, _ in levels], weights)
    return expr, most


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
    events.sort()
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
        chosen = [variables[i] for i in sorted(current)]
        if capacity == 1:
            # CP-SAT's own at-most-one: with presolve off (large cohorts) a linear "<= 1" stays a
            # general linear constraint, slower to propagate and to copy into every LNS
            # neighbourhood.
            model.add_at_most_one(chosen)
        else:
            model.add(cp_model.LinearExpr.sum(chosen) <= capacity)


@dataclass
class _ClientVars:
    client: ClientProblem
    groups: dict[str, cp_model.IntVar] = field(default_factory=dict)
    appointments: dict[str, tuple[AppointmentOption, cp_model.IntVar]] = field(
        default_factory=dict)
    free_rooms: dict[str, tuple[int, ...]] = field(default_factory=dict)
    # (week, kind) -> (sessions required, sessions already booked, one-to-one, staff or None)
    requirements: dict[tuple[int, str], tuple[int, int, bool, int | None]] = field(
        default_factory=dict)
    planned: list[LinearExpr] = field(default_factory=list)
    planned_max: list[int] = field(default_factory=list)
    covered: dict[int, cp_model.IntVar] = field(default_factory=dict)
    met: dict[int, cp_model.IntVar] = field(default_factory=dict)
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
        # Appointment clusters: (entries, their common rooms, or per-room choices if mixed).
        self.room_clusters: list[tuple[
            list[tuple[int, int, str, AppointmentOption, cp_model.IntVar]], tuple[int, ...],
            dict[tuple[int, str], list[tuple[int, cp_model.IntVar]]] | None]] = []

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
                cv.free_rooms[option.key] = tuple(self._free_rooms(option))
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
            # Defined exactly (not just bounded) so that every stage's answer, handed on as the
            # next stage's hint, carries the true coverage rather than whatever was free.
            covered = model.new_int_var(0, target, f"cov{cv.client.client_id}_{week}")
            model.add_min_equality(covered, [expr, target])
            cv.covered[week] = covered
            # Met exactly when the week reaches its target, for the same reason.
            met = model.new_bool_var(f"met{cv.client.client_id}_{week}")
            model.add(covered >= target).only_enforce_if(met)
            model.add(covered <= target - 1).only_enforce_if(~met)
            cv.met[week] = met
        for req_key, (sessions, done, _, _) in cv.requirements.items():
            short = sessions - done
            if short <= 0:
                continue
            week, kind = req_key
            slack = model.new_int_var(0, short, f"req{cv.client.client_id}_{week}_{kind}")
            terms = counted.get(req_key, [])
            achieved = cp_model.LinearExpr.weighted_sum(
                [v for _, v in terms], [n for n, _ in terms])
            model.add_max_equality(slack, [short - achieved, 0])
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
        entries: list[tuple[int, int, str, AppointmentOption, cp_model.IntVar]] = []
        for ci, cv in enumerate(self.clients):
            for key, (option, var) in cv.appointments.items():
                by_staff[option.staff_id].append((var, [(option.span.start, option.span.end)]))
                entries.append((option.span.start, ci, key, option, var))
        for staff_id in sorted(by_staff):
            add_at_most_one_at_a_time(self.model, by_staff[staff_id])
        self._room_constraints(sorted(entries, key=lambda e: (e[0], e[1], e[2])))

    def _room_constraints(
        self, entries: list[tuple[int, int, str, AppointmentOption, cp_model.IntVar]],
    ) -> None:
        """Rooms for appointments, without a boolean per appointment and room where possible.

        Where every appointment in a cluster of overlapping ones may use the same rooms, at
        most that many at any instant is exact: intervals can then always be given rooms by
        start time afterwards (interval partitioning). Only a cluster mixing room sets needs
        the full assignment model.
        """
        model = self.model
        clusters: list[list[tuple[int, int, str, AppointmentOption, cp_model.IntVar]]] = []
        reach = None
        for entry in entries:
            if reach is None or entry[0] >= reach:
                clusters.append([])
                reach = entry[3].span.end
            clusters[-1].append(entry)
            reach = max(reach, entry[3].span.end)
        self.room_clusters = []
        for cluster in clusters:
            sets = {self.clients[ci].free_rooms[key] for _, ci, key, _, _ in cluster}
            items = [(var, [(o.span.start, o.span.end)]) for _, _, _, o, var in cluster]
            if len(sets) == 1:
                rooms = next(iter(sets))
                add_at_most_one_at_a_time(model, items, capacity=len(rooms))
                self.room_clusters.append((cluster, rooms, None))
                continue
            choices: dict[tuple[int, str], list[tuple[int, cp_model.IntVar]]] = {}
            by_room: dict[int, list[tuple[cp_model.IntVar, list[tuple[int, int]]]]] = (
                defaultdict(list))
            for _, ci, key, option, var in cluster:
                free = self.clients[ci].free_rooms[key]
                if len(free) == 1:
                    pairs = [(free[0], var)]
                else:
                    pairs = [(r, model.new_bool_var(f"r{ci}_{key}_{r}")) for r in free]
                    model.add(cp_model.LinearExpr.sum([v for _, v in pairs]) == var)
                choices[(ci, key)] = pairs
                for room_id, room_var in pairs:
                    by_room[room_id].append((room_var, [(option.span.start, option.span.end)]))
            for room_id in sorted(by_room):
                add_at_most_one_at_a_time(model, by_room[room_id])
            self.room_clusters.append((cluster, (), choices))

    def rooms_chosen(self, solver: cp_model.CpSolver) -> dict[tuple[int, str], int]:
        """The room of every chosen appointment, by (client index, option key)."""
        chosen: dict[tuple[int, str], int] = {}
        for cluster, rooms, choices in self.room_clusters:
            if choices is not None:
                for (ci, key), pairs in choices.items():
                    for room_id, var in pairs:
                        if solver.boolean_value(var):
                            chosen[(ci, key)] = room_id
                continue
            free_at: dict[int, int] = {room_id: 0 for room_id in rooms}  # room -> busy until
            for _, ci, key, option, var in cluster:  # sorted by start
                if not solver.boolean_value(var):
                    continue
                room_id = next(r for r in rooms if free_at[r] <= option.span.start)
                free_at[room_id] = option.span.end
                chosen[(ci, key)] = room_id
        return chosen

    # ---- the objective levels ----------------------------------------------------------------

    def requirement_shortfall(self) -> Level:
        slacks = [s for cv in self.clients for s in cv.requirement_slack.values()]
        return cp_model.LinearExpr.sum(slacks), sum(int(v.proto.domain[-1]) for v in slacks)

    def total_shortfall(self) -> Level:
        """Minutes short of target, as target minus covered (covered never exceeds target)."""
        total = 0
        covered: list[cp_model.IntVar] = []
        for cv in self.clients:
            for week, var in cv.covered.items():
                target = cv.client.targets[week]
                assert target is not None
                total += target
                covered.append(var)
        return total - cp_model.LinearExpr.sum(covered), total

    def weeks_unmet(self) -> Level:
        """Client-weeks short of their target: the issue's first objective counts weeks met
        before minutes, so a plan never spreads a small shortfall over many weeks to save a
        few minutes in total."""
        met = [var for cv in self.clients for var in cv.met.values()]
        return len(met) - cp_model.LinearExpr.sum(met), len(met)

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

    def continuity_and_days(self) -> Level:
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
        weight = len(days) + 1
        return (cp_model.LinearExpr.weighted_sum(distinct + days,
                                                 [weight] * len(distinct) + [1] * len(days)),
                weight * len(distinct) + len(days))

    def over_target(self) -> Level:
        terms = []
        most = 0
        for ci, cv in enumerate(self.clients):
            for week, expr in enumerate(cv.planned):
                target = cv.client.targets[week] if week < len(cv.client.targets) else None
                if target is None or isinstance(expr, int):
                    continue
                over = self.model.new_int_var(
                    0, max(cv.planned_max[week] - target, 0), f"over{ci}_{week}")
                self.model.add_max_equality(over, [expr - target, 0])
                terms.append(over)
                most += max(cv.planned_max[week] - target, 0)
        return cp_model.LinearExpr.sum(terms), most

    def over_then_preferred(self) -> Level:
        """Minutes above target, then minutes outside preferred times, in one stage: a minute
        over target outweighs every preferred minute there is (their proven total + 1)."""
        return lexicographic([self.over_target(), self.outside_preferred()])

    def outside_preferred(self) -> Level:
        terms: list[LinearExpr] = []
        most = 0
        for cv in self.clients:
            preferred = cv.client.preferred
            if not preferred:
                continue
            for key, var in cv.groups.items():
                spans = [o.span for o in self.groups[key].occurrences]
                outside = sum(s.minutes - minutes_inside(s, preferred, self.zone) for s in spans)
                if outside:
                    terms.append(outside * var)
                    most += outside
            for option, var in cv.appointments.values():
                span = option.span
                outside = span.minutes - minutes_inside(span, preferred, self.zone)
                if outside:
                    terms.append(outside * var)
                    most += outside
        return cp_model.LinearExpr.sum(terms), most


@dataclass
class _Stage:
    name: str
    status: str
    objective: float | None
    bound: float | None


class _Runner:
    """Runs the stages in order, fixing each optimum (or best found) before the next.

    Each stage starts from the previous stage's answer as a hint, so a stage cut short still
    returns something at least as good as the level before it fixed. Its deterministic limit
    is its share of the whole time limit (the same on every run); its wall limit is up to
    twice its share of what is left (once on a large cohort), so a slow stage cannot starve
    the ones after it.
    """

    def __init__(self, model: cp_model.CpModel, seconds: float, left: float, seed: int,
                 workers: int, shares: Sequence[float]) -> None:
        self.model = model
        self.seconds = seconds
        self.deadline = timer.perf_counter() + max(left, 0.05)
        self.seed = seed
        self.workers = workers
        self.shares = list(shares)
        self.solver: cp_model.CpSolver | None = None
        self.results: list[_Stage] = []

    def minimise(self, name: str, objective: LinearExpr,
                 hold: Sequence[LinearExpr] | None = None) -> bool:
        """Minimise, then hold each of `hold` (default: the objective) at the value found."""
        share = self.shares.pop(0) if self.shares else 1.0
        if isinstance(objective, int):
            self.results.append(_Stage(name, "OPTIMAL", float(objective), float(objective)))
            return True
        left = self.deadline - timer.perf_counter()
        # A large cohort's stages stop on the wall clock anyway (see DETERMINISTIC_PER_SECOND):
        # there each keeps to its own share.
        stretch = 1.0 if len(self.model.proto.variables) > LARGE_MODEL else 2.0
        budget = max(min(stretch * left * share / (share + sum(self.shares)), left), 0.05)
        self.model.minimize(objective)
        solver = cp_model.CpSolver()
        params = solver.parameters
        params.random_seed = self.seed
        params.num_workers = self.workers
        params.interleave_search = True  # deterministic, see the module docstring
        # Symmetry detection and probing cost seconds of presolve on a cohort, every stage, and
        # bought nothing measurable on bench/proposals.py: the hint already starts the search.
        params.symmetry_level = 0
        params.cp_model_probing_level = 0
        if len(self.model.proto.variables) > LARGE_MODEL:
            # On a cohort the LP workers' first task alone outlasts a stage's budget (seconds
            # on bench/proposals.py), and interleaved search waits for it, so the neighbourhood
            # searches that improve the hint never get a turn. Small models keep them: there
            # the LP proves optimality quickly.
            params.ignore_subsolvers.extend(LP_SUBSOLVERS)
            # Presolve took about half of each stage's budget there and is repeated every
            # stage; without it all four stages finish within the bench's 14 s and the hours
            # short fell from 2,130 to 1,310 (bench/proposals.py, a loaded 2-core machine).
            params.cp_model_presolve = False
        params.max_time_in_seconds = budget
        params.max_deterministic_time = max(self.seconds * share, 0.05) * DETERMINISTIC_PER_SECOND
        status = solver.solve(self.model)
        self.model.clear_objective()
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            self.results.append(_Stage(name, solver.status_name(status), None, None))
            return False
        # From the solution itself: on a large cohort (interleaved search, a hint, no LP
        # workers) CP-SAT 9.15 was seen reporting an objective_value of another solution than
        # the one it returned (245,820 against 132,750 minutes).
        value = int(solver.value(objective))
        self.results.append(_Stage(name, solver.status_name(status), float(value),
                                   float(solver.best_objective_bound)))
        # Fix this level before the next one; the answer found is a hint that satisfies it.
        # Levels are held one by one (not as the weighted sum, whose coefficients reach 1e12
        # and slowed presolve to a crawl): the same thing once a stage is optimal.
        for expr in (objective,) if hold is None else hold:
            self.model.add(expr <= int(solver.value(expr)))
        self.hint(list(solver.response_proto.solution))
        self.solver = solver
        return True

    def hint(self, solution: list[int], indices: list[int] | None = None) -> None:
        self.model.clear_hints()
        hint = self.model.proto.solution_hint
        hint.vars.extend(range(len(solution)) if indices is None else indices)
        hint.values.extend(solution)


def _best_fill(items: list[tuple[int, list[tuple[int, int]], str | None]], need: int,
               caps: dict[str, int], limit: int = 5000) -> tuple[int, int]:
    """The most minutes, up to `need`, that non-overlapping items give: a small search.

    Items are (minutes, intervals, capped kind or None), largest first. The search stops at
    `need` (more is worth nothing) or after `limit` nodes. Answers the best found and a
    proven ceiling (the same, unless the search was cut short).
    """
    suffix = [0] * (len(items) + 1)
    for i in range(len(items) - 1, -1, -1):
        suffix[i] = suffix[i + 1] + items[i][0]
    best = 0
    nodes = 0
    taken: list[tuple[int, int]] = []

    def dfs(i: int, total: int) -> None:
        nonlocal best, nodes
        nodes += 1
        best = max(best, total)
        if best >= need or nodes > limit or i == len(items) or total + suffix[i] <= best:
            return
        minutes, intervals, kind = items[i]
        free = kind is None or caps.get(kind, 0) > 0
        if free and not any(a < e and s < b for a, b in intervals for s, e in taken):
            taken.extend(intervals)
            if kind is not None:
                caps[kind] -= 1
            dfs(i + 1, total + minutes)
            if kind is not None:
                caps[kind] += 1
            del taken[len(taken) - len(intervals):]
        dfs(i + 1, total)

    dfs(0, 0)
    best = min(best, need)
    # A search cut short still gives a sound ceiling: all the options' minutes.
    return best, best if best >= need or nodes <= limit else min(need, suffix[0])


def _reach(builder: _Builder) -> tuple[dict[int, int], int]:
    """What each client could reach alone, in minutes towards their targets: their own options
    without the cohort's sharing of seats, therapists and rooms.

    Also a proven lower bound on the cohort's minutes short, week by week the weaker of two
    ceilings on the minutes covered: every client's own reach (no one does better with others
    around), and what is booked plus every free seat-minute anyone could use plus every
    appointment hour the plans allow.
    """
    reach: dict[int, int] = {}
    targets = [0] * builder.weeks
    alone = [0] * builder.weeks
    supply = [0] * builder.weeks
    seats: dict[int, tuple[int, int, int, set[int]]] = {}  # session: week, minutes, free, who
    for ci, cv in enumerate(builder.clients):
        booked = [0] * builder.weeks
        for span, _ in cv.client.booked:
            if 0 <= span.week < builder.weeks:
                booked[span.week] += span.minutes
        for key in cv.groups:
            for occ in builder.groups[key].occurrences:
                who: set[int] = set()
                seats.setdefault(occ.session_id, (occ.span.week, occ.span.minutes,
                                                  occ.seats_free, who))[3].add(ci)
        total = 0
        for week in cv.covered:
            target = cv.client.targets[week] or 0
            items: list[tuple[int, list[tuple[int, int]], str | None]] = []
            for key in cv.groups:
                occs = [o for o in builder.groups[key].occurrences if o.span.week == week]
                if occs:
                    items.append((sum(o.span.minutes for o in occs),
                                  [(o.span.start, o.span.end) for o in occs], None))
            caps: dict[str, int] = {}
            longest: dict[str, int] = {}
            for option, _ in cv.appointments.values():
                if option.span.week == week:
                    sessions, done, _, _ = cv.requirements[(week, option.kind)]
                    caps[option.kind] = max(sessions - done, 0)
                    longest[option.kind] = max(longest.get(option.kind, 0), option.span.minutes)
                    items.append((option.span.minutes, [(option.span.start, option.span.end)],
                                  option.kind))
            items.sort(key=lambda item: (-item[0], item[1]))
            best, ceiling = _best_fill(items, target - booked[week], caps)
            total += min(booked[week] + best, target)
            targets[week] += target
            alone[week] += min(booked[week] + ceiling, target)
            supply[week] += min(booked[week], target) + sum(
                caps[k] * longest[k] for k in caps)
        reach[cv.client.client_id] = total
    for week, minutes, free, takers in seats.values():
        if 0 <= week < builder.weeks:
            supply[week] += minutes * min(free, len(takers))
    floor = sum(t - min(a, s) for t, a, s in zip(targets, alone, supply, strict=True))
    return reach, max(floor, 0)


def _first_fit_score(builder: _Builder, answer: Solution,
                     reach: dict[int, int]) -> tuple[int, float, int, int]:
    """A first-fit answer's value on the first levels: sessions short, worst share, weeks
    short of target, minutes short (smaller is better)."""
    short = minutes = unmet = 0
    worst = 1.0
    for cv in builder.clients:
        plan = answer.plans[cv.client.client_id]
        short += sum(n for _, _, n in plan.short_requirements)
        covered = 0
        for week in cv.covered:
            target = cv.client.targets[week] or 0
            covered += min(plan.planned[week], target)
            minutes += max(target - plan.planned[week], 0)
            unmet += plan.planned[week] < target
        if reach.get(cv.client.client_id):
            worst = min(worst, covered / reach[cv.client.client_id])
    return short, -worst, unmet, minutes


def _first_fit(builder: _Builder, reach: dict[int, int]) -> Solution:
    """The baseline's answer as a first hint: CP-SAT starts from a sound proposal, so even a
    cohort cut short by the time limit is never worse than first fit."""
    answer = greedy.solve(builder.problem)
    if len(builder.clients) > 1:
        # Variants, each still first fit: every appointment before any group, the largest
        # group first, the clients with the fewest options first. Which one wins depends on
        # the cohort; trying them costs a fraction of a second.
        constrained = _most_constrained_first(builder)
        best = _first_fit_score(builder, answer, reach)
        for order, appointments_first in ((None, True), (constrained, True),
                                          (constrained, False)):
            other = greedy.solve(builder.problem, order, appointments_first=appointments_first,
                                 largest_first=True)
            score = _first_fit_score(builder, other, reach)
            if score < best:
                answer, best = other, score
        # Then the winner's appointments and required-kind groups kept, the hours placed
        # afresh with the most constrained clients first: on bench/proposals.py this alone
        # took the hours short from 1,680 to 1,320 with fewer requirement sessions short.
        other = greedy.extend(builder.problem, answer, constrained, keep=_counts_for_requirement)
        score = _first_fit_score(builder, other, reach)
        if score < best:
            answer, best = other, score
        # A few rounds of the same with the least covered clients (for their reach) first:
        # each round lets the ones the last left short choose before the others.
        for _ in range(FIRST_FIT_ROUNDS):
            other = greedy.extend(builder.problem, answer, _least_covered_first(
                builder, answer, reach), keep=_counts_for_requirement)
            score = _first_fit_score(builder, other, reach)
            if score < best:
                answer, best = other, score
    return answer


def _keeps_share(builder: _Builder, answer: Solution, reach: dict[int, int],
                 worst: int) -> bool:
    """Whether every client's coverage keeps the worst share held (as the model says it)."""
    for cv in builder.clients:
        if not cv.covered or not reach.get(cv.client.client_id):
            continue
        plan = answer.plans[cv.client.client_id]
        covered = sum(min(plan.planned[w], cv.client.targets[w] or 0) for w in cv.covered)
        if worst * reach[cv.client.client_id] > COVERAGE_SCALE * covered:
            return False
    return True


def _least_covered_first(builder: _Builder, answer: Solution,
                         reach: dict[int, int]) -> list[ClientProblem]:
    share = {}
    for cv in builder.clients:
        plan = answer.plans[cv.client.client_id]
        covered = sum(min(plan.planned[w], cv.client.targets[w] or 0) for w in cv.covered)
        share[cv.client.client_id] = covered / max(reach.get(cv.client.client_id, 0), 1)
    return sorted(builder.problem.clients, key=lambda c: share.get(c.client_id, 0.0))


def _counts_for_requirement(client: ClientProblem, group: GroupOption) -> bool:
    weeks = {o.span.week for o in group.occurrences}
    return any(r.kind == group.kind and r.week in weeks for r in client.requirements)


def _most_constrained_first(builder: _Builder) -> list[ClientProblem]:
    options = {cv.client.client_id: len(cv.groups) + len(cv.appointments)
               for cv in builder.clients}
    return sorted(builder.problem.clients, key=lambda c: options.get(c.client_id, 0))


def _decisions(builder: _Builder, answer: Solution) -> dict[int, int]:
    """An answer as a hint: the decisions only (variable index -> value); CP-SAT completes the
    rest (coverage, slack, days), which the model defines exactly from them."""
    values: dict[int, int] = {}
    rooms: dict[tuple[int, str], int] = {}
    for ci, cv in enumerate(builder.clients):
        plan = answer.plans.get(cv.client.client_id)
        chosen = set(plan.group_keys) if plan else set()
        for key, var in cv.groups.items():
            values[var.index] = int(key in chosen)
        placed = {p.option.key: p.room_id for p in plan.appointments} if plan else {}
        for key, (_, var) in cv.appointments.items():
            values[var.index] = int(key in placed)
            if key in placed:
                rooms[(ci, key)] = placed[key]
    for _, _, choices in builder.room_clusters:
        for entry, pairs in (choices or {}).items():
            for room_id, var in pairs:
                values[var.index] = int(rooms.get(entry) == room_id)
    return values


# Shares of the time limit per stage (of what is left when each starts): the levels that
# decide hours get most of it; the tie-breaking levels are quick from a good hint.
SHARES = (0.3, 0.5, 0.12, 0.08)
WRAP_UP = 0.04
FIRST_FIT_ROUNDS = 3


def solve(problem: Problem, *, seconds: float = 10.0, seed: int = 0,
          workers: int | None = None) -> Solution:
    """The best proposal CP-SAT finds within `seconds`; see the module docstring."""
    started = timer.perf_counter()
    workers = workers or DEFAULT_WORKERS
    builder = _Builder(problem)
    builder.build()
    cohort = sum(1 for cv in builder.clients if cv.covered) > 1
    reach, floor = _reach(builder)
    worst = builder.fairness(reach) if cohort else None
    # A little of the limit is kept for reading the answer out (a fifth of a second for 240
    # clients), so the whole call stays inside `seconds`.
    left = seconds * (1 - WRAP_UP) - (timer.perf_counter() - started)
    runner = _Runner(builder.model, seconds, left, seed, workers, SHARES)
    # The first-fit answer is the hint, and the answer if CP-SAT finds nothing better in time.
    latest: Solution | None = _first_fit(builder, reach) if builder.clients else None
    if latest is not None:
        start = _decisions(builder, latest)
        runner.hint(list(start.values()), list(start))
    # Each stage also looks one level ahead, weighted below its own (so still exactly
    # lexicographic): a stage cut short by the time limit then keeps what the next level
    # values instead of trading it away for nothing. Later levels' variables are only made
    # when their stage comes, which keeps the first stages' model small.
    requirements = builder.requirement_shortfall()
    unmet = builder.weeks_unmet()
    shortfall = builder.total_shortfall()
    # Fairness sits above weeks met: the issue's cohort "maximises the worst client's coverage
    # before the total", and weeks met is a total too. Only the worst share is held (a floor
    # under every client), so the weeks-met stage is still free to finish weeks anywhere above
    # it; the other way round, a cohort could meet its most weeks by leaving one client with
    # nothing, which is what fairness forbids.
    first = [requirements]
    if worst is not None:
        first.append((COVERAGE_SCALE - worst, COVERAGE_SCALE))
    objective = lexicographic(first)[0]
    for ahead in ([*first, unmet, shortfall], [*first, unmet]):
        if lexicographic(ahead)[1] < EXACT:
            objective = lexicographic(ahead)[0]
            break
    ok = runner.minimise("requirements and fairness", objective, hold=[e for e, _ in first])
    if ok and runner.solver is not None:
        # Hand the hours stage a fuller start: what the first stage chose, plus whatever still
        # fits (never fewer requirements met, never a lower worst share).
        chosen = Solution("FEASIBLE", 0.0, None, None, _plans(builder, runner.solver))
        order = _most_constrained_first(builder)
        latest = greedy.extend(problem, chosen, order)
        # Or keep only the groups that count towards a requirement and place the hours
        # afresh: often far more hours; and the same completing whole weeks first, where seats
        # allow, since a seat that finishes someone's week is worth more than minutes spread.
        # Each is a start only where it keeps the levels just held (a start that breaks them
        # is no start at all); then the next levels, weeks met and minutes, decide. A better
        # worst share than the one held is worth nothing to the stages that follow.
        held_short = int(runner.solver.value(requirements[0]))
        held_worst = int(runner.solver.value(worst)) if worst is not None else 0
        best = _first_fit_score(builder, latest, reach)[2:]
        for whole_weeks in (False, True):
            afresh = greedy.extend(problem, chosen, order, keep=_counts_for_requirement,
                                   whole_weeks=whole_weeks)
            score = _first_fit_score(builder, afresh, reach)
            if (score[2:] < best and score[0] <= held_short
                    and _keeps_share(builder, afresh, reach, held_worst)):
                latest, best = afresh, score[2:]
        start = _decisions(builder, latest)
        runner.hint(list(start.values()), list(start))
    # Weeks met, then minutes short, in one stage (exact weights, each held on its own after):
    # the minutes are what tells two answers with as many weeks met apart, and a stage of
    # their own would pay presolve and a restart again for nothing.
    hours = lexicographic([unmet, shortfall])
    stages: tuple[tuple[str, Callable[[], LinearExpr], list[LinearExpr] | None], ...] = (
        ("weeks met and shortfall", lambda: hours[0], [unmet[0], shortfall[0]]),
        ("continuity", lambda: builder.continuity_and_days()[0], None),
        ("times", lambda: builder.over_then_preferred()[0], None))
    for name, level, hold in stages:
        if not ok or not runner.minimise(name, level(), hold=hold):
            break
        latest = None  # the solver's answer is now the latest
    statuses = [r.status for r in runner.results]
    status = "OPTIMAL" if ok and all(s == "OPTIMAL" for s in statuses) else "FEASIBLE"
    if latest is not None:
        plans = latest.plans
    elif runner.solver is not None:
        plans = _plans(builder, runner.solver)
    else:  # no decision at all in the model: nothing is worth proposing
        plans = _empty_plans(builder)
    plans = _snug(builder, plans)
    short = sum(max((cv.client.targets[w] or 0) - plans[cv.client.client_id].planned[w], 0)
                for cv in builder.clients for w in cv.covered)
    main = runner.results[1] if len(runner.results) > 1 else None
    # The hours stage bounds weeks-unmet x weight + minutes; with the weeks unmet it held,
    # what is left of that bound is one on the minutes (given the levels above). Without its
    # LP (large cohorts) CP-SAT's own bound is weak; what no client could beat even alone is
    # a sound bound too, and the larger one is reported.
    minutes_bound = 0.0
    if main is not None and main.bound is not None and main.objective is not None:
        weight = shortfall[1] + 1  # minutes short never reach it: the quotient is weeks unmet
        minutes_bound = main.bound - weight * (int(main.objective) // weight)
    bound = max(minutes_bound, float(floor))
    return Solution(status=status, seconds=timer.perf_counter() - started,
                    objective=float(short), bound=min(bound, float(short)), plans=plans)


def _gap(span: Span, others: Iterable[Span]) -> int | None:
    """Minutes between the span and the nearest of the others (None when there are none)."""
    gaps = [max(other.start - span.end, span.start - other.end, 0) for other in others]
    return min(gaps) if gaps else None


def _snug(builder: _Builder, plans: dict[int, ClientPlan]) -> dict[int, ClientPlan]:
    """Move each chosen appointment next to the client's other sessions that day.

    No level of the objective sees the wait between two sessions of one day (a teenager's
    individual hour at 20:00 after a group that ends at 18:30, with 19:00 free), so among the
    answers it ranks equal CP-SAT may pick any. Each appointment may move to another time of
    the same clinician, kind and day that every hard rule allows and that falls no further
    outside the client's preferred times: every level stays exactly as it was (the same day,
    therapist, minutes and requirement), only the wait shrinks.
    """
    groups = builder.groups
    options = {cv.client.client_id: [o for o, _ in cv.appointments.values()]
               for cv in builder.clients}
    clients = {cv.client.client_id: cv.client for cv in builder.clients}
    placed = [(client_id, p) for client_id, plan in plans.items() for p in plan.appointments]
    out = dict(plans)
    for client_id, plan in plans.items():
        client = clients.get(client_id)
        if client is None or not plan.appointments:
            continue
        moved: list[PlacedAppointment] = []
        for index, current in enumerate(plan.appointments):
            option = current.option
            day = option.span.day
            mine = [b for b, _ in client.booked if b.day == day]
            mine += [o.span for key in plan.group_keys for o in groups[key].occurrences
                     if o.span.day == day]
            mine += [p.option.span for p in [*moved, *plan.appointments[index + 1:]]
                     if p.option.span.day == day]
            gap = _gap(option.span, mine)
            if not gap:
                moved.append(current)
                continue
            outside = option.span.minutes - minutes_inside(option.span, client.preferred,
                                                           builder.zone)
            theirs = [p for cid, p in placed if p is not current]
            best: tuple[int, int, PlacedAppointment] | None = None
            for other in options.get(client_id, []):
                span = other.span
                if (other.kind != option.kind or other.staff_id != option.staff_id
                        or span.day != day or span.minutes != option.span.minutes
                        or any(span.overlaps(m) for m in mine)
                        or span.minutes - minutes_inside(span, client.preferred, builder.zone)
                        > outside
                        or not builder._appointment_allowed(client, other)):
                    continue
                if any(p.option.staff_id == other.staff_id and span.overlaps(p.option.span)
                       for p in theirs):
                    continue
                taken = {p.room_id for p in theirs if span.overlaps(p.option.span)}
                rooms = [r for r in builder._free_rooms(other) if r not in taken]
                new_gap = _gap(span, mine)
                if not rooms or new_gap is None or new_gap >= gap:
                    continue
                if best is None or (new_gap, span.start) < best[:2]:
                    best = (new_gap, span.start, PlacedAppointment(other, rooms[0]))
            if best is None:
                moved.append(current)
                continue
            placed = [(cid, best[2] if p is current else p) for cid, p in placed]
            moved.append(best[2])
        out[client_id] = ClientPlan(plan.client_id, plan.group_keys, moved, plan.planned,
                                    plan.short_requirements)
    return out


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
    rooms = builder.rooms_chosen(solver)
    for ci, cv in enumerate(builder.clients):
        keys = [k for k, v in cv.groups.items() if solver.boolean_value(v)]
        keys.sort(key=lambda k: (builder.groups[k].occurrences[0].span.start, k))
        placed = []
        for key, (option, var) in cv.appointments.items():
            if not solver.boolean_value(var):
                continue
            placed.append(PlacedAppointment(option=option, room_id=rooms[(ci, key)]))
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
