"""Why a proposed week falls short: the limiting constraint, in a coordinator's words.

`unmet(problem, solution)` answers, per client, one Unmet for each week whose planned minutes
stay under the target and one for each requirement short of its sessions. The why is read from
the Problem's own facts, in this order of blame: days the client cannot come at all (closures,
admission, the plan's end), options gather refused (their routine), full groups, what the
options that fit could add up to at best, and finally the cohort (seats and therapist hours
given to other clients) or the program's minimum group size. Names, titles and local dates
only; never ids.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta

from babel.dates import format_date

from scheduler.i18n import current_language, gettext, local, ngettext, number
from scheduler.services.planner.problem import (
    ClientPlan,
    ClientProblem,
    GroupOption,
    Problem,
    Solution,
)


@dataclass(frozen=True)
class Unmet:
    week: int
    week_start: date
    short_minutes: int  # minutes under the week's target (0 for a requirement's entry)
    why: str
    kind: str | None = None  # the requirement's kind, for a requirement shortfall
    sessions_short: int = 0


def _day(d: date) -> str:
    return local(d, "short_day")


def _days(days: list[date]) -> str:
    """Consecutive runs: "Thu 24–Fri 25 Dec", "Fri 25 Dec and Fri 1 Jan"."""
    runs: list[list[date]] = []
    for d in sorted(days):
        if runs and d - runs[-1][-1] == timedelta(days=1):
            runs[-1].append(d)
        else:
            runs.append([d])
    words = []
    for run in runs:
        if len(run) == 1:
            words.append(_day(run[0]))
        elif run[0].month == run[-1].month:
            # "Thu 24–Fri 25 Dec": the first day without its month.
            first = format_date(run[0], "EEE d", locale=current_language())
            words.append(f"{first}–{_day(run[-1])}")
        else:
            words.append(f"{_day(run[0])}–{_day(run[-1])}")
    return words[0] if len(words) == 1 else gettext("%(first)s and %(last)s",
                                                    first=", ".join(words[:-1]), last=words[-1])


def _hours(minutes: int) -> str:
    hours = minutes / 60
    return number(round(hours, 1))


class _Explainer:
    def __init__(self, problem: Problem, solution: Solution) -> None:
        self.problem = problem
        self.solution = solution
        self.groups = {g.key: g for g in problem.groups}
        # Seats the proposal hands out per session, across the whole cohort.
        self.added: Counter[int] = Counter()
        self.staff_taken: dict[int, list[tuple[int, int]]] = {}
        for plan in solution.plans.values():
            for key in plan.group_keys:
                group = self.groups.get(key)
                for occ in group.occurrences if group else ():
                    self.added[occ.session_id] += 1
            for placed in plan.appointments:
                span = placed.option.span
                self.staff_taken.setdefault(placed.option.staff_id, []).append(
                    (span.start, span.end))

    def week_days(self, week: int) -> list[date]:
        monday = self.problem.weeks[week]
        return [d for d in (monday + timedelta(days=i) for i in range(7))
                if self.problem.first_day <= d <= self.problem.last_day]

    def closed_note(self, client: ClientProblem, week: int) -> str | None:
        """The program's closures and the client's own closed days that week, if any."""
        days = self.week_days(week)
        program = [d for d in days if d in self.problem.closed_days]
        notes = []
        by_reason: dict[str, list[date]] = {}
        for d in program:
            # gather words a closure "closed: <reason>"; the sentence says closed already.
            reason = self.problem.closed_days[d].removeprefix("closed: ")
            by_reason.setdefault(reason, []).append(d)
        for reason, ds in by_reason.items():
            notes.append(gettext("the program is closed %(days)s (%(reason)s)", days=_days(ds),
                                 reason=reason))
        own: dict[str, list[date]] = {}
        for d in days:
            if d in client.closed_days and d not in self.problem.closed_days:
                own.setdefault(client.closed_days[d], []).append(d)
        for reason in own:
            notes.append(reason)
        return "; ".join(notes) if notes else None

    def refused_reasons(self, client: ClientProblem, week: int) -> list[str]:
        reasons: Counter[str] = Counter()
        for key, reason in client.refused.items():
            group = self.groups.get(key)
            if group is not None and group.week == week:
                reasons[reason] += 1
        return [r for r, _ in reasons.most_common(2)]

    def week_options(self, client: ClientProblem, week: int) -> list[GroupOption]:
        return [self.groups[k] for k in sorted(set(client.group_keys))
                if k in self.groups and any(o.span.week == week
                                            for o in self.groups[k].occurrences)]

    def why_hours(self, client: ClientProblem, plan: ClientPlan, week: int, target: int) -> str:
        name = client.name
        when = gettext("the week of %(day)s", day=_day(self.problem.weeks[week]))
        closed = self.closed_note(client, week)
        days = self.week_days(week)
        if days and all(d in client.closed_days or d in self.problem.closed_days for d in days):
            return closed or gettext("%(name)s cannot attend in %(when)s", name=name, when=when)
        options = self.week_options(client, week)
        refused = self.refused_reasons(client, week)
        if not options:
            why = gettext("no group fits %(name)s's free times in %(when)s", name=name, when=when)
            if refused:
                why += f" ({'; '.join(refused)})"
            return why + (f"; {closed}" if closed else "")
        with_seats = [g for g in options if all(o.seats_free > 0 for o in g.occurrences)]
        if not with_seats:
            full = sorted({g.title for g in options})
            why = ngettext("no group with a free seat fits %(name)s's free times in %(when)s: "
                           "%(groups)s is full",
                           "no group with a free seat fits %(name)s's free times in %(when)s: "
                           "%(groups)s are full", len(full), name=name, when=when,
                           groups=", ".join(full[:3]))
            return why + (f"; {closed}" if closed else "")
        alone = self.best_alone(client, plan, week, with_seats, target)
        if alone < target:
            why = gettext("the groups that fit %(name)s's free times in %(when)s add up to "
                          "%(hours)s of %(target)s hours", name=name, when=when,
                          hours=_hours(alone), target=_hours(target))
            if refused:
                why += f" ({'; '.join(refused)})"
            return why + (f"; {closed}" if closed else "")
        minimum = self.problem.min_group_size
        crowded = [g for g in with_seats if g.key not in plan.group_keys and any(
            self.added[o.session_id] >= o.seats_free for o in g.occurrences)]
        if crowded:
            titles = sorted({g.title for g in crowded})
            return gettext("the seats that fit %(name)s's free times in %(when)s were given to "
                           "other clients of this cohort (%(groups)s)", name=name, when=when,
                           groups=", ".join(titles[:3]))
        if minimum is not None:
            small = sorted({g.title for g in with_seats if g.key not in plan.group_keys
                            and any(o.booked + self.added[o.session_id] < minimum
                                    for o in g.occurrences)})
            if small:
                return gettext("%(groups)s would run under the program's minimum of %(minimum)s "
                               "in %(when)s", groups=", ".join(small[:3]), minimum=minimum,
                               when=when)
        return gettext("the groups that fit %(name)s's free times in %(when)s overlap each other "
                       "or %(name)s's other sessions", name=name, when=when)

    def best_alone(self, client: ClientProblem, plan: ClientPlan, week: int,
                   options: list[GroupOption], target: int) -> int:
        """The most minutes the week could hold for this client alone, from the groups with
        seats, their bookings and the appointments proposed (a small exhaustive search)."""
        booked = sum(s.minutes for s, _ in client.booked if s.week == week)
        fixed = [(p.option.span.start, p.option.span.end) for p in plan.appointments
                 if p.option.span.week == week]
        fixed_minutes = sum(e - s for s, e in fixed)
        items = sorted(([(o.span.start, o.span.end) for o in g.occurrences if o.span.week == week]
                        for g in options), key=lambda iv: -sum(e - s for s, e in iv))
        best = 0
        budget = [4000]

        def dfs(i: int, total: int, taken: list[tuple[int, int]]) -> None:
            nonlocal best
            budget[0] -= 1
            best = max(best, total)
            if i == len(items) or budget[0] <= 0 or booked + fixed_minutes + best >= target:
                return
            intervals = items[i]
            if not any(a < f and s < b for a, b in intervals for s, f in taken):
                dfs(i + 1, total + sum(b - a for a, b in intervals), taken + intervals)
            dfs(i + 1, total, taken)

        dfs(0, 0, fixed + [(s.start, s.end) for s, _ in client.booked])
        return booked + fixed_minutes + best

    def why_requirement(self, client: ClientProblem, week: int, kind: str) -> str:
        name = client.name
        when = gettext("the week of %(day)s", day=_day(self.problem.weeks[week]))
        closed = self.closed_note(client, week)
        req = next((r for r in client.requirements if r.week == week and r.kind == kind), None)
        label = kind.replace("_", " ")
        if req is not None and req.one_to_one:
            staff = self.problem.staff.get(req.staff_id) if req.staff_id is not None else None
            who = gettext("%(name)s (primary therapist)", name=staff.name) if staff else \
                gettext("no clinician for %(kind)s", kind=label)
            options = [o for o in client.appointments if o.kind == kind and o.span.week == week
                       and (req.staff_id is None or o.staff_id == req.staff_id)]
            if not options:
                why = (gettext("%(who)s has no free hour in %(when)s when %(name)s is free",
                               who=who, when=when, name=name) if staff else
                       gettext("no clinician has a free hour for %(kind)s in %(when)s when "
                               "%(name)s is free", kind=label, when=when, name=name))
                return why + (f"; {closed}" if closed else "")
            taken = [o for o in options if any(
                o.span.start < e and s < o.span.end
                for s, e in self.staff_taken.get(o.staff_id, []))]
            if len(taken) == len(options):
                if staff:
                    return gettext("%(staff)s's free hours in %(when)s when %(name)s is free "
                                   "went to other clients of this cohort", staff=staff.name,
                                   when=when, name=name)
                return gettext("the clinicians' free hours in %(when)s when %(name)s is free "
                               "went to other clients of this cohort", when=when, name=name)
            return gettext("the free %(kind)s hours in %(when)s clash with %(name)s's groups or "
                           "have no free room", kind=label, when=when, name=name)
        groups = [g for g in self.week_options(client, week) if g.kind == kind]
        if not groups:
            why = gettext("no %(kind)s group fits %(name)s's free times in %(when)s", kind=label,
                          name=name, when=when)
            return why + (f"; {closed}" if closed else "")
        if not any(all(o.seats_free > 0 for o in g.occurrences) for g in groups):
            return gettext("every %(kind)s group that fits %(name)s's free times in %(when)s is "
                           "full", kind=label, name=name, when=when)
        return gettext("the %(kind)s groups that fit %(name)s's free times in %(when)s went to "
                       "other clients of this cohort or clash with %(name)s's other sessions",
                       kind=label, name=name, when=when)


def unmet(problem: Problem, solution: Solution) -> dict[int, list[Unmet]]:
    """Every client's short weeks and short requirements, with why; clients with none are left
    out."""
    explainer = _Explainer(problem, solution)
    answer: dict[int, list[Unmet]] = {}
    for client in problem.clients:
        plan = solution.plans.get(client.client_id)
        if plan is None:
            continue
        found: list[Unmet] = []
        for week, target in enumerate(client.targets[:len(problem.weeks)]):
            planned = plan.planned[week] if week < len(plan.planned) else 0
            if target is not None and planned < target:
                found.append(Unmet(week=week, week_start=problem.weeks[week],
                                   short_minutes=target - planned,
                                   why=explainer.why_hours(client, plan, week, target)))
        for week, kind, short in plan.short_requirements:
            if not 0 <= week < len(problem.weeks):
                continue
            found.append(Unmet(week=week, week_start=problem.weeks[week], short_minutes=0,
                               why=explainer.why_requirement(client, week, kind), kind=kind,
                               sessions_short=short))
        if found:
            found.sort(key=lambda u: (u.week, u.kind or ""))
            answer[client.client_id] = found
    return answer
