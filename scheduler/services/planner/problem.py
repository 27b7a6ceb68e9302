"""The planner's problem and answer as plain data.

`gather.py` reads a Problem from the database; `solver.py` (CP-SAT) and `greedy.py` (the
baseline) turn it into a Solution; `explain.py` says why a week falls short. No SQLAlchemy
here, so `bench/proposals.py` can generate a clinic of 240 admissions without a database, and
its checker judges a Solution from the raw facts below without sharing code with the model.

Times are whole minutes since the Unix epoch (UTC), so overlaps are integer comparisons that
a DST change cannot fool; each Span also carries its local day and proposal week, read in the
program's zone once, by whoever built the Problem.
"""

from dataclasses import dataclass, field
from datetime import date, time

# A client's week is the program's local Monday to Sunday, as in the weekly-hours report.
# A proposal spans 1 to 12 of them (issue 18); gather, the service and the pages all hold to it.
MIN_WEEKS, MAX_WEEKS = 1, 12


@dataclass(frozen=True, order=True)
class Span:
    start: int  # minutes since 1970-01-01T00:00Z
    end: int
    day: date  # the local day it starts on, in the program's zone
    week: int  # 0-based index into Problem.weeks

    @property
    def minutes(self) -> int:
        return self.end - self.start

    def overlaps(self, other: "Span | tuple[int, int]") -> bool:
        start, end = (other.start, other.end) if isinstance(other, Span) else other
        return self.start < end and start < self.end


@dataclass(frozen=True)
class Window:
    """A weekly local window: a client's unavailable or preferred time, staff working hours."""

    weekday: int  # 0 is Monday
    start: time
    end: time
    label: str | None = None


@dataclass(frozen=True)
class Occurrence:
    """One scheduled session of a group series, ahead of now, inside the proposal's range."""

    session_id: int
    span: Span
    capacity: int
    booked: int  # seats taken now; waitlisted places are not seats

    @property
    def seats_free(self) -> int:
        return max(self.capacity - self.booked, 0)


@dataclass(frozen=True)
class GroupOption:
    """Taking one group series for one proposal week: every occurrence of it that week
    (`key` "g:<series_id>:<week>"), or, for a make-up proposal, one session alone
    (`key` "s:<session_id>", `single=True`). Accepting books all of `occurrences` or none."""

    key: str
    series_id: int
    title: str
    kind: str
    week: int
    occurrences: tuple[Occurrence, ...]
    staff_ids: tuple[int, ...]
    room_id: int | None
    single: bool = False

    @property
    def minutes(self) -> int:
        return sum(o.span.minutes for o in self.occurrences)


@dataclass(frozen=True)
class AppointmentOption:
    """A one-to-one time that `gather` found free for the client, the clinician and at least
    one room (`room_ids`, smallest room first). `key` is "a:<kind>:<staff_id>:<start>"."""

    key: str
    kind: str
    staff_id: int
    span: Span
    room_ids: tuple[int, ...]


@dataclass(frozen=True)
class Requirement:
    """A plan phase's "n sessions of this kind a week", for one proposal week. One-to-one kinds
    (services.one_to_one.ONE_TO_ONE_KINDS) are met by appointments, with `staff_id` (the plan's
    primary therapist) where set; other kinds by group options of that kind."""

    week: int
    kind: str
    sessions: int
    one_to_one: bool
    staff_id: int | None = None


@dataclass
class ClientProblem:
    client_id: int
    name: str
    # Target minutes for each proposal week: the phase's, else the plan's, else the program's;
    # None where the week is outside the plan (or the client's admission) altogether.
    targets: list[int | None]
    # Minutes already booked each week (they count towards the target) and those sessions'
    # spans and kinds: nothing new may overlap them, and they count towards requirements.
    booked: list[tuple[Span, str]]
    unavailable: list[Window]
    preferred: list[Window]
    requirements: list[Requirement]
    # The group option keys this client may take: every occurrence fits their routine, their
    # bookings, their admission and plan dates, and the program is open that day. Seats are
    # not filtered here: the solver shares them between the clients of a cohort.
    group_keys: list[str]
    appointments: list[AppointmentOption]
    # Option keys gather left out, with the reason in a person's words, for explain.py:
    # {"g:12:0": "Jordan Lee works Tuesday 09:00–17:00"}.
    refused: dict[str, str] = field(default_factory=dict)
    # Local days the client may not attend at all (before admission, after discharge or the
    # plan's end, closures), with the reason; explain.py names them.
    closed_days: dict[date, str] = field(default_factory=dict)
    primary_therapist_id: int | None = None


@dataclass
class StaffFacts:
    staff_id: int
    name: str
    busy: list[Span]  # sessions they facilitate, and time off
    working_hours: list[Window]  # empty: no limit


@dataclass
class RoomFacts:
    room_id: int
    name: str
    capacity: int
    busy: list[Span]


@dataclass
class Problem:
    program_id: int
    timezone: str
    first_day: date  # the proposal's range, local days, inclusive
    last_day: date
    weeks: list[date]  # the local Monday of each proposal week
    groups: list[GroupOption]
    clients: list[ClientProblem]
    staff: dict[int, StaffFacts]
    rooms: dict[int, RoomFacts]
    min_group_size: int | None = None
    # Closed program days in range (closures and their reasons) for explanations.
    closed_days: dict[date, str] = field(default_factory=dict)

    def group(self, key: str) -> GroupOption:
        return self._groups_by_key()[key]

    def _groups_by_key(self) -> dict[str, GroupOption]:
        cached = self.__dict__.get("_by_key")
        if cached is None or len(cached) != len(self.groups):
            cached = {g.key: g for g in self.groups}
            self.__dict__["_by_key"] = cached
        return cached


@dataclass(frozen=True)
class PlacedAppointment:
    option: AppointmentOption
    room_id: int


@dataclass
class ClientPlan:
    client_id: int
    group_keys: list[str]  # chosen GroupOption keys
    appointments: list[PlacedAppointment]
    planned: list[int]  # minutes per week: already booked plus proposed
    # Requirement shortfalls: (week, kind, sessions short).
    short_requirements: list[tuple[int, str, int]] = field(default_factory=list)


@dataclass
class Solution:
    # "OPTIMAL" or "FEASIBLE" from CP-SAT, "GREEDY" from the baseline; "INFEASIBLE" or
    # "UNKNOWN" only if the model itself is wrong (every client may always take nothing).
    status: str
    seconds: float
    objective: float | None
    bound: float | None
    plans: dict[int, ClientPlan]
