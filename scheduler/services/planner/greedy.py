"""The baseline issue 18 measures CP-SAT against: first fit, in order of start time.

Each client in turn, in the Problem's order, walks their options (group options and the
appointments their plan requires) by start time and takes each one that fits what is left:
seats, their own time, the clinician, a room. A group is taken only while its week is short of
target or of a requirement of its kind; an appointment only while its requirement is short.
Nothing is ever undone to make room for a better choice later, which is the point of a
baseline. The one repair: a group the whole cohort left below the program's minimum size is
given up afterwards, since no first-fit order can know who else will join it.
"""

import time as timer
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

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

Interval = tuple[int, int]


def _clash(interval: Interval, taken: list[Interval]) -> bool:
    return any(interval[0] < end and start < interval[1] for start, end in taken)


@dataclass
class _State:
    """One client's walk so far: sessions still needed, time taken, minutes per week."""

    planned: list[int]
    mine: list[Interval]
    needs: dict[tuple[int, str], int] = field(default_factory=dict)
    staff_for: dict[tuple[int, str], int | None] = field(default_factory=dict)
    one_to_one: dict[tuple[int, str], bool] = field(default_factory=dict)


class _Greedy:
    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.zone = ZoneInfo(problem.timezone)
        self.groups = {g.key: g for g in problem.groups}
        self.weeks = len(problem.weeks)
        self.added: Counter[int] = Counter()  # seats given per session
        self.staff_taken: dict[int, list[Interval]] = defaultdict(list)
        self.room_taken: dict[int, list[Interval]] = defaultdict(list)
        self.chosen: dict[int, list[str]] = {}
        self.placed: dict[int, list[PlacedAppointment]] = {}
        self.states: dict[int, _State] = {}

    def _open_day(self, client: ClientProblem, span: Span) -> bool:
        return (span.day not in client.closed_days and span.day not in self.problem.closed_days
                and 0 <= span.week < self.weeks
                and not minutes_inside(span, client.unavailable, self.zone))

    def _group_fits(self, client: ClientProblem, group: GroupOption, mine: list[Interval]) -> bool:
        if not group.occurrences:
            return False
        for occ in group.occurrences:
            interval = (occ.span.start, occ.span.end)
            if self.added[occ.session_id] >= occ.seats_free or _clash(interval, mine):
                return False
            if not self._open_day(client, occ.span):
                return False
        return True

    def _room_for(self, client: ClientProblem, option: AppointmentOption,
                  mine: list[Interval]) -> int | None:
        span = option.span
        interval = (span.start, span.end)
        if span.minutes <= 0 or _clash(interval, mine) or not self._open_day(client, span):
            return None
        staff = self.problem.staff.get(option.staff_id)
        if _clash(interval, self.staff_taken[option.staff_id]):
            return None
        if staff is not None:
            if _clash(interval, [(b.start, b.end) for b in staff.busy]):
                return None
            if staff.working_hours and not within_windows(span, staff.working_hours, self.zone):
                return None
        for room_id in option.room_ids:
            room = self.problem.rooms.get(room_id)
            busy = [(b.start, b.end) for b in room.busy] if room else []
            if not _clash(interval, busy + self.room_taken[room_id]):
                return room_id
        return None

    def _walk(self, client: ClientProblem, state: "_State", phase: str, largest_first: bool,
              ) -> list[tuple[tuple[int, int], str, GroupOption | AppointmentOption]]:
        walk: list[tuple[tuple[int, int], str, GroupOption | AppointmentOption]] = []
        if phase in ("all", "groups"):
            for key in sorted(set(client.group_keys)):
                group = self.groups.get(key)
                if group is not None and group.occurrences:
                    first = min(o.span.start for o in group.occurrences)
                    walk.append(((-group.minutes if largest_first else 0, first), key, group))
        if phase in ("all", "appointments"):
            for option in client.appointments:
                req = (option.span.week, option.kind)
                if state.one_to_one.get(req) and state.staff_for.get(req) in (None,
                                                                             option.staff_id):
                    walk.append(((0, option.span.start), option.key, option))
        walk.sort(key=lambda item: (item[0], item[1]))
        return walk

    def _state(self, client: ClientProblem) -> "_State":
        state = self.states.get(client.client_id)
        if state is not None:
            return state
        state = _State(planned=[0] * self.weeks,
                       mine=[(s.start, s.end) for s, _ in client.booked])
        for req in client.requirements:
            key = (req.week, req.kind)
            state.needs[key] = max(state.needs.get(key, 0), req.sessions)
            state.staff_for[key] = state.staff_for.get(key) or req.staff_id
            state.one_to_one[key] = state.one_to_one.get(key, False) or req.one_to_one
        for span, kind in client.booked:
            if (span.week, kind) in state.needs:
                state.needs[(span.week, kind)] -= 1
            if 0 <= span.week < self.weeks:
                state.planned[span.week] += span.minutes
        self.states[client.client_id] = state
        self.chosen[client.client_id] = []
        self.placed[client.client_id] = []
        return state

    def place(self, client: ClientProblem, phase: str = "all",
              largest_first: bool = False) -> None:
        """Walk the client's options (all, or only "groups" or "appointments") by start time,
        or largest group first, taking each that fits while the week or requirement is short."""
        state = self._state(client)
        needs, mine, planned = state.needs, state.mine, state.planned

        def short(week: int) -> bool:
            target = client.targets[week] if week < len(client.targets) else None
            return target is not None and planned[week] < target

        chosen = self.chosen[client.client_id]
        placed = self.placed[client.client_id]
        for _, _, item in self._walk(client, state, phase, largest_first):
            if isinstance(item, GroupOption):
                weeks = {o.span.week for o in item.occurrences}
                wanted = any(short(w) or needs.get((w, item.kind), 0) > 0 for w in weeks)
                if not wanted or not self._group_fits(client, item, mine):
                    continue
                chosen.append(item.key)
                for occ in item.occurrences:
                    self.added[occ.session_id] += 1
                    mine.append((occ.span.start, occ.span.end))
                    planned[occ.span.week] += occ.span.minutes
                    if (occ.span.week, item.kind) in needs:
                        needs[(occ.span.week, item.kind)] -= 1
            else:
                key = (item.span.week, item.kind)
                if needs.get(key, 0) <= 0:
                    continue
                room_id = self._room_for(client, item, mine)
                if room_id is None:
                    continue
                placed.append(PlacedAppointment(option=item, room_id=room_id))
                interval = (item.span.start, item.span.end)
                mine.append(interval)
                self.staff_taken[item.staff_id].append(interval)
                self.room_taken[room_id].append(interval)
                planned[item.span.week] += item.span.minutes
                needs[key] -= 1

    def complete_week(self, client: ClientProblem, week: int, limit: int = 2000) -> bool:
        """Take groups of this week only if together they bring the week to its target, the
        fewest minutes that do (a small search, largest first); otherwise take none, leaving
        the seats to a client whose week they do complete."""
        target = client.targets[week] if week < len(client.targets) else None
        state = self._state(client)
        if target is None or state.planned[week] >= target:
            return False
        need = target - state.planned[week]
        options: list[tuple[int, list[Interval], GroupOption]] = []
        for _, _, item in self._walk(client, state, "groups", largest_first=True):
            assert isinstance(item, GroupOption)
            if all(o.span.week == week for o in item.occurrences) and self._group_fits(
                    client, item, state.mine):
                options.append((sum(o.span.minutes for o in item.occurrences),
                                [(o.span.start, o.span.end) for o in item.occurrences], item))
        best: list[GroupOption] | None = None
        best_minutes = sum(m for m, _, _ in options) + 1
        taken: list[GroupOption] = []
        mine: list[Interval] = []
        nodes = 0

        def search(i: int, minutes: int) -> None:
            nonlocal best, best_minutes, nodes
            nodes += 1
            if minutes >= need:
                if minutes < best_minutes:
                    best, best_minutes = list(taken), minutes
                return
            if i == len(options) or nodes > limit or minutes >= best_minutes:
                return
            length, intervals, item = options[i]
            if not any(_clash(interval, mine) for interval in intervals):
                taken.append(item)
                mine.extend(intervals)
                search(i + 1, minutes + length)
                taken.pop()
                del mine[len(mine) - len(intervals):]
            search(i + 1, minutes)

        search(0, 0)
        if best is None:
            return False
        for item in best:
            self.chosen[client.client_id].append(item.key)
            for occ in item.occurrences:
                self.added[occ.session_id] += 1
                state.mine.append((occ.span.start, occ.span.end))
                state.planned[week] += occ.span.minutes
                if (week, item.kind) in state.needs:
                    state.needs[(week, item.kind)] -= 1
        return True

    def drop_small_groups(self) -> None:
        minimum = self.problem.min_group_size
        if minimum is None:
            return
        while True:
            small = set()
            for group in self.problem.groups:
                for occ in group.occurrences:
                    taken = self.added[occ.session_id]
                    if taken and occ.booked + taken < minimum:
                        small.add(occ.session_id)
            if not small:
                return
            for keys in self.chosen.values():
                for key in list(keys):
                    group = self.groups[key]
                    if any(o.session_id in small for o in group.occurrences):
                        keys.remove(key)
                        for occ in group.occurrences:
                            self.added[occ.session_id] -= 1

    def plan(self, client: ClientProblem) -> ClientPlan:
        planned = [0] * self.weeks
        counts: Counter[tuple[int, str]] = Counter()
        for span, kind in client.booked:
            if 0 <= span.week < self.weeks:
                planned[span.week] += span.minutes
            counts[(span.week, kind)] += 1
        keys = self.chosen[client.client_id]
        for key in keys:
            group = self.groups[key]
            for occ in group.occurrences:
                planned[occ.span.week] += occ.span.minutes
                counts[(occ.span.week, group.kind)] += 1
        for placed in self.placed[client.client_id]:
            planned[placed.option.span.week] += placed.option.span.minutes
            counts[(placed.option.span.week, placed.option.kind)] += 1
        required: dict[tuple[int, str], int] = {}
        for req in client.requirements:
            required[(req.week, req.kind)] = max(required.get((req.week, req.kind), 0),
                                                 req.sessions)
        short = [(week, kind, sessions - counts[(week, kind)])
                 for (week, kind), sessions in sorted(required.items())
                 if sessions > counts[(week, kind)]]
        keys.sort(key=lambda k: (self.groups[k].occurrences[0].span.start, k))
        return ClientPlan(client_id=client.client_id, group_keys=keys,
                          appointments=self.placed[client.client_id], planned=planned,
                          short_requirements=short)


def solve(problem: Problem, order: Sequence[ClientProblem] | None = None, *,
          appointments_first: bool = False, largest_first: bool = False) -> Solution:
    """First fit: the baseline with no arguments. The CP-SAT model also asks for variants as
    starting points (`order` of clients, every appointment before any group, largest group
    first); each is still first fit, and as sound."""
    started = timer.perf_counter()
    greedy = _Greedy(problem)
    clients = problem.clients if order is None else order
    for client in clients:
        greedy._state(client)
    if appointments_first:
        for client in clients:
            greedy.place(client, "appointments")
        for client in clients:
            greedy.place(client, "groups", largest_first)
    else:
        for client in clients:
            greedy.place(client, "all", largest_first)
    greedy.drop_small_groups()
    plans = {c.client_id: greedy.plan(c) for c in problem.clients}
    return Solution(status="GREEDY", seconds=timer.perf_counter() - started, objective=None,
                    bound=None, plans=plans)


def extend(problem: Problem, solution: Solution, order: Sequence[ClientProblem],
           keep: Callable[[ClientProblem, GroupOption], bool] | None = None,
           whole_weeks: bool = False) -> Solution:
    """Another answer with more added where it still fits: every choice of `solution` kept,
    then each client in `order` walks their options largest group first, as first fit does.

    Adding never undoes a requirement met or lowers anyone's hours, so the CP-SAT model uses
    it between stages: a stage that traded hours away for a requirement (rightly: it ranks
    first) hands the next stage those hours back as a starting point. With `keep`, only the
    groups it accepts are kept and the rest placed afresh (appointments are always kept).
    With `whole_weeks`, the weeks nearest their target are completed first, each only where
    it can be completed (weeks met rank above minutes), before the walk fills in the rest.
    """
    started = timer.perf_counter()
    greedy = _Greedy(problem)
    for client in problem.clients:
        state = greedy._state(client)
        plan = solution.plans.get(client.client_id)
        if plan is None:
            continue
        for key in plan.group_keys:
            group = greedy.groups[key]
            if keep is not None and not keep(client, group):
                continue
            greedy.chosen[client.client_id].append(key)
            for occ in group.occurrences:
                greedy.added[occ.session_id] += 1
                state.mine.append((occ.span.start, occ.span.end))
                if 0 <= occ.span.week < greedy.weeks:
                    state.planned[occ.span.week] += occ.span.minutes
                if (occ.span.week, group.kind) in state.needs:
                    state.needs[(occ.span.week, group.kind)] -= 1
        for placed in plan.appointments:
            option = placed.option
            interval = (option.span.start, option.span.end)
            greedy.placed[client.client_id].append(placed)
            state.mine.append(interval)
            greedy.staff_taken[option.staff_id].append(interval)
            greedy.room_taken[placed.room_id].append(interval)
            if 0 <= option.span.week < greedy.weeks:
                state.planned[option.span.week] += option.span.minutes
            if (option.span.week, option.kind) in state.needs:
                state.needs[(option.span.week, option.kind)] -= 1
    if whole_weeks:
        _complete_weeks(greedy, order)
    for client in order:
        greedy.place(client, "all", largest_first=True)
    greedy.drop_small_groups()
    plans = {c.client_id: greedy.plan(c) for c in problem.clients}
    return Solution(status="GREEDY", seconds=timer.perf_counter() - started, objective=None,
                    bound=None, plans=plans)


def _complete_weeks(greedy: _Greedy, order: Sequence[ClientProblem]) -> None:
    """Complete the weeks nearest their target first, each only where it can be completed:
    the most weeks met for the seats, rather than a few minutes for everyone."""
    # Anyone with nothing at all chooses first: a cohort is fair before it is full.
    for client in order:
        if not any(greedy.states[client.client_id].planned):
            greedy.place(client, "all", largest_first=True)
    short = []
    for rank, client in enumerate(order):
        state = greedy.states[client.client_id]
        for week, target in enumerate(client.targets[:greedy.weeks]):
            if target is not None and state.planned[week] < target:
                short.append((target - state.planned[week], rank, week, client))
    short.sort(key=lambda item: item[:3])
    for _, _, week, client in short:
        greedy.complete_week(client, week)
