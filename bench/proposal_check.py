"""An independent judge of a planner Solution: every hard rule of issue 18, from the raw facts.

It reads only the plain data of scheduler/services/planner/problem.py and shares no code with
the model (solver.py), the baseline (greedy.py) or the explanations (explain.py), so a bug there
cannot hide itself here. bench/proposals.py and tests/test_planner_solver.py both call it.
`violations` answers a list of sentences; an empty list means the proposal is sound.
"""

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from scheduler.services.planner.problem import (
    AppointmentOption,
    Occurrence,
    Problem,
    Solution,
    Span,
    Window,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _local(minute: int, zone: ZoneInfo) -> datetime:
    return (_EPOCH + timedelta(minutes=minute)).astimezone(zone)


def _window_intervals(span: Span, windows: list[Window], zone: ZoneInfo) -> list[tuple[int, int]]:
    """The weekly windows as absolute minute intervals on the days the span touches."""
    out = []
    first = _local(span.start, zone).date() - timedelta(days=1)
    last = _local(span.end, zone).date()
    day = first
    while day <= last:
        for w in windows:
            if w.weekday != day.weekday():
                continue
            start = datetime.combine(day, w.start, zone)
            end = datetime.combine(day, w.end, zone)
            if end <= start:  # ending at midnight (or past it)
                end += timedelta(days=1)
            out.append((int((start - _EPOCH).total_seconds() // 60),
                        int((end - _EPOCH).total_seconds() // 60)))
        day += timedelta(days=1)
    return out


def _inside(span: Span, windows: list[Window], zone: ZoneInfo) -> bool:
    """Whether the windows cover every minute of the span (they may abut)."""
    covered = sorted(i for i in _window_intervals(span, windows, zone) if _overlap(i, (
        span.start, span.end)))
    reach = span.start
    for start, end in covered:
        if start > reach:
            return False
        reach = max(reach, end)
    return reach >= span.end


def _pairwise_overlaps(items: list[tuple[tuple[int, int], str]]) -> list[tuple[str, str]]:
    items = sorted(items)
    clashes = []
    for i, (a, name_a) in enumerate(items):
        for b, name_b in items[i + 1:]:
            if b[0] >= a[1]:
                break
            clashes.append((name_a, name_b))
    return clashes


def violations(problem: Problem, solution: Solution) -> list[str]:  # noqa: C901
    zone = ZoneInfo(problem.timezone)
    groups = {g.key: g for g in problem.groups}
    clients = {c.client_id: c for c in problem.clients}
    found: list[str] = []
    added: Counter[int] = Counter()
    occurrences: dict[int, Occurrence] = {}
    staff_use: dict[int, list[tuple[tuple[int, int], str]]] = defaultdict(list)
    room_use: dict[int, list[tuple[tuple[int, int], str]]] = defaultdict(list)

    for client_id, plan in solution.plans.items():
        client = clients.get(client_id)
        if client is None:
            found.append(f"a plan for client {client_id}, who is not in the problem")
            continue
        who = client.name
        mine: list[tuple[tuple[int, int], str]] = []
        spans: list[tuple[Span, str]] = []
        seen_sessions: set[int] = set()
        for key in plan.group_keys:
            group = groups.get(key)
            if group is None or key not in client.group_keys:
                found.append(f"{who} given {key}, which is not one of their options")
                continue
            for occ in group.occurrences:
                if occ.session_id in seen_sessions:
                    found.append(f"{who} holds two seats in session {occ.session_id}")
                seen_sessions.add(occ.session_id)
                added[occ.session_id] += 1
                occurrences[occ.session_id] = occ
                spans.append((occ.span, f"{group.title} {occ.span.day}"))
        options = {o.key: o for o in client.appointments}
        requirements: dict[tuple[int, str], tuple[int, int | None]] = {}
        for req in client.requirements:
            if req.one_to_one:
                sessions, staff_id = requirements.get((req.week, req.kind), (0, None))
                requirements[(req.week, req.kind)] = (
                    max(sessions, req.sessions), staff_id if staff_id is not None else req.staff_id)
        booked_kinds = Counter((s.week, kind) for s, kind in client.booked)
        per_requirement: Counter[tuple[int, str]] = Counter()
        for placed in plan.appointments:
            option: AppointmentOption = placed.option
            if options.get(option.key) != option:
                found.append(f"{who} given appointment {option.key}, not one of their options")
                continue
            need = requirements.get((option.span.week, option.kind))
            if need is None:
                found.append(f"{who} given a {option.kind} appointment the plan does not ask for")
            elif need[1] is not None and need[1] != option.staff_id:
                found.append(f"{who}'s {option.kind} appointment is not with their therapist")
            per_requirement[(option.span.week, option.kind)] += 1
            if placed.room_id not in option.room_ids:
                found.append(f"{who}'s appointment {option.key} in a room it may not use")
            interval = (option.span.start, option.span.end)
            staff_use[option.staff_id].append((interval, f"{who} {option.key}"))
            room_use[placed.room_id].append((interval, f"{who} {option.key}"))
            spans.append((option.span, f"appointment {option.key}"))
            staff = problem.staff.get(option.staff_id)
            if staff is not None:
                if any(_overlap(interval, (b.start, b.end)) for b in staff.busy):
                    found.append(f"{who}'s appointment {option.key}: {staff.name} is busy")
                if staff.working_hours and not _inside(option.span, staff.working_hours, zone):
                    found.append(f"{who}'s appointment {option.key}: outside {staff.name}'s hours")
            room = problem.rooms.get(placed.room_id)
            if room is not None and any(_overlap(interval, (b.start, b.end)) for b in room.busy):
                found.append(f"{who}'s appointment {option.key}: {room.name} is busy")
        for key, count in per_requirement.items():
            need = requirements.get(key)
            if need is not None and count > max(need[0] - booked_kinds[key], 0):
                found.append(f"{who} given {count} {key[1]} appointments in week {key[0]}, "
                             f"more than the plan asks")

        for span, name in spans:
            mine.append(((span.start, span.end), name))
            if not 0 <= span.week < len(problem.weeks):
                found.append(f"{who}: {name} outside the proposal's weeks")
            if not problem.first_day <= span.day <= problem.last_day:
                found.append(f"{who}: {name} outside the proposal's days")
            if span.day in client.closed_days or span.day in problem.closed_days:
                found.append(f"{who}: {name} on a closed day")
            if any(_overlap((span.start, span.end), i)
                   for i in _window_intervals(span, client.unavailable, zone)):
                found.append(f"{who}: {name} in their unavailable time")
            for booked, _ in client.booked:
                if _overlap((span.start, span.end), (booked.start, booked.end)):
                    found.append(f"{who}: {name} overlaps an existing booking")
        for a, b in _pairwise_overlaps(mine):
            found.append(f"{who}: {a} overlaps {b}")

        planned = [0] * len(problem.weeks)
        for span, _ in client.booked:
            if 0 <= span.week < len(planned):
                planned[span.week] += span.minutes
        for span, _ in spans:
            if 0 <= span.week < len(planned):
                planned[span.week] += span.minutes
        if list(plan.planned) != planned:
            found.append(f"{who}: planned minutes {plan.planned} but the proposal adds to "
                         f"{planned}")

    for session_id, count in sorted(added.items()):
        occ = occurrences[session_id]
        if count > occ.seats_free:
            found.append(f"session {session_id}: {count} added to {occ.seats_free} free seats")
        minimum = problem.min_group_size
        if minimum is not None and occ.booked + count < minimum:
            found.append(f"session {session_id}: left at {occ.booked + count}, under the "
                         f"minimum {minimum}")
    for kind, uses in (("staff", staff_use), ("room", room_use)):
        for ident, items in sorted(uses.items()):
            for a, b in _pairwise_overlaps(items):
                found.append(f"{kind} {ident} double-booked: {a} and {b}")
    return found
