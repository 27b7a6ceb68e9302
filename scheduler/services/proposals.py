"""Schedule proposals: what the planner suggests for a client (or a cohort, or one week's
make-up), kept until a coordinator accepts it in one step, or it lapses.

The planner (services/planner) decides; this module owns the rules around it: who and when
may be planned for, what the answer looks like, and accepting, which books exactly what was
shown, in one transaction, or nothing at all when the world has changed since.

Accepting writes through the owners of each rule: enrolments through booking.enroll_client,
single sessions through booking.book_client, appointments through free_slots.book_slot. It
first checks every item against the rules' own checks (seats, client, staff and room clashes)
so that a refusal lists every change in words, not just the first one met.
"""

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from scheduler.i18n import gettext, ngettext
from scheduler.i18n import local as local_words
from scheduler.models import (
    Booking,
    Client,
    Program,
    Room,
    ScheduleProposal,
    Session,
    SessionSeries,
    Staff,
)
from scheduler.services import audit, booking, free_slots, one_to_one, scope
from scheduler.services.audit import Actor
from scheduler.services.conflicts import Calendar, Slot
from scheduler.services.errors import DomainError, InvalidField, NotFound, StateConflict, no_such
from scheduler.services.locks import begin_write, lock_rows
from scheduler.services.lookup import MAX_ID, get_or_404
from scheduler.services.planner import explain, gather, solver
from scheduler.services.planner.problem import (
    MAX_WEEKS,
    MIN_WEEKS,
    GroupOption,
    Problem,
    Solution,
)
from scheduler.services.sessions import ONE_OFF_TITLES
from scheduler.services.wording import day_words

DEFAULT_WEEKS = 4
# A cohort is a program's new admissions of a week or two, not its whole census.
MAX_COHORT = 300
# Sessions are made SESSION_HORIZON_DAYS ahead; a proposal starting much later than that
# would find nothing to book.
MAX_DAYS_AHEAD = 366
DEFAULT_TTL_MINUTES = 60
DEFAULT_SOLVER_SECONDS = 10.0


class ProposalConflict(StateConflict):
    """Accepting found the world changed since the proposal was made; nothing was written.
    `conflicts` lists each change as the 409 body's conflicts (the ClashOut shape)."""

    def __init__(self, conflicts: list[dict]):
        n = len(conflicts)
        words = "; ".join(c["detail"] for c in conflicts[:5])
        more = " " + gettext("(and %(num)d more)", num=n - 5) if n > 5 else ""
        super().__init__(ngettext(
            "%(num)d thing changed since this proposal was made, so nothing was booked: "
            "%(what)s. Suggest a new one.",
            "%(num)d things changed since this proposal was made, so nothing was booked: "
            "%(what)s. Suggest a new one.", n, what=words + more))
        self.conflicts = conflicts

    @property
    def body(self) -> dict:
        return {"conflicts": self.conflicts}


# --- when and for whom --------------------------------------------------------------------------


def _today(program: Program, now: datetime) -> date:
    return now.astimezone(ZoneInfo(program.timezone)).date()


def _check_weeks(weeks) -> int:
    if isinstance(weeks, bool) or not isinstance(weeks, int) or not (
            MIN_WEEKS <= weeks <= MAX_WEEKS):
        raise InvalidField("weeks", gettext(
            "Must be a whole number of weeks from %(min)d to %(max)d.", min=MIN_WEEKS,
            max=MAX_WEEKS))
    return weeks


def _check_from(program: Program, from_date: date, now: datetime, field: str = "from") -> None:
    today = _today(program, now)
    if not isinstance(from_date, date):
        raise InvalidField(field, gettext("Must be a date."))
    if from_date < today:
        raise InvalidField(field, gettext("Is in the past; %(program)s's today is %(day)s.",
                                    program=program.name, day=day_words(today)))
    if from_date > today + timedelta(days=MAX_DAYS_AHEAD):
        raise InvalidField(field, gettext("Must be within a year of today (%(day)s).",
                                    day=day_words(today)))


def _check_client(client: Client, from_date: date | None, field: str = "from") -> None:
    """A discharged client gets no new schedule (409 naming them); an admitted one none after
    the discharge date already set."""
    if client.status == "discharged":
        if client.discharged_on:
            raise StateConflict(gettext("%(name)s was discharged on %(day)s; re-admit them before "
                                  "suggesting a schedule.", name=client.name,
                                  day=day_words(client.discharged_on)))
        raise StateConflict(gettext("%(name)s was discharged; re-admit them before suggesting a "
                              "schedule.", name=client.name))
    if from_date is not None and client.discharged_on is not None and \
            from_date > client.discharged_on:
        raise InvalidField(field, gettext("Is after %(name)s's discharge on %(day)s.",
                                    name=client.name, day=day_words(client.discharged_on)))


def _client(db: DbSession, client_id: int) -> Client:
    return get_or_404(db, Client, client_id, "client")


# --- proposing ----------------------------------------------------------------------------------


def propose_for_client(db: DbSession, actor: Actor, client_id: int, *, from_date: date,
                       weeks: int = DEFAULT_WEEKS, now: datetime,
                       seconds: float = DEFAULT_SOLVER_SECONDS,
                       ttl_minutes: int = DEFAULT_TTL_MINUTES) -> ScheduleProposal:
    """One client's enrolments and appointments for `weeks` weeks from `from_date`."""
    client = _client(db, client_id)
    _check_client(client, None)
    weeks = _check_weeks(weeks)
    _check_from(client.program, from_date, now)
    _check_client(client, from_date)
    problem = gather.for_clients(db, client.program_id, [client.id], first_day=from_date,
                                 weeks=weeks, now=now)
    solution = solver.solve(problem, seconds=seconds, seed=0)
    return _store(db, actor, "schedule", problem, solution, client=client, from_date=from_date,
                  weeks=weeks, now=now, ttl_minutes=ttl_minutes)


def propose_for_program(db: DbSession, actor: Actor, program_id: int, *, client_ids,
                        from_date: date, weeks: int = DEFAULT_WEEKS, now: datetime,
                        seconds: float = DEFAULT_SOLVER_SECONDS,
                        ttl_minutes: int = DEFAULT_TTL_MINUTES) -> ScheduleProposal:
    """A cohort of new admissions at once; the solver shares seats fairly between them."""
    program = get_or_404(db, Program, program_id, "program")
    weeks = _check_weeks(weeks)
    _check_from(program, from_date, now)
    ids = list(dict.fromkeys(client_ids or []))
    if not ids:
        raise InvalidField("client_ids", gettext("Name at least one client."))
    if len(ids) > MAX_COHORT:
        raise InvalidField("client_ids", gettext("At most %(num)d clients at once.",
                                                 num=MAX_COHORT))
    bad = [i for i in ids if isinstance(i, bool) or not isinstance(i, int)
           or not 0 < i <= MAX_ID]
    if bad:
        raise InvalidField("client_ids", no_such("client", bad[0]))
    # Another site's client is as good as missing (services/scope.py): named by id, not name.
    found = {c.id: c for c in db.scalars(select(Client).where(
        Client.id.in_(ids), scope.programs_filter(Client.program_id)))}
    for client_id in ids:
        client = found.get(client_id)
        if client is None:
            raise InvalidField("client_ids", no_such("client", client_id))
        if client.program_id != program.id:
            raise InvalidField("client_ids", gettext("%(name)s is not in %(program)s.",
                                                name=client.name, program=program.name))
        _check_client(client, from_date)
    problem = gather.for_clients(db, program.id, ids, first_day=from_date, weeks=weeks, now=now)
    solution = solver.solve(problem, seconds=seconds, seed=0)
    return _store(db, actor, "cohort", problem, solution, program=program, client_ids=ids,
                  from_date=from_date, weeks=weeks, now=now, ttl_minutes=ttl_minutes)


def cohort_candidates(db: DbSession, program_id: int, now: datetime
                      ) -> tuple[list[Client], list[Client]]:
    """The program's admitted clients a cohort is drawn from: (those with nothing booked from
    now on, the new admissions and unfinished intakes; everyone else), each by name and at
    most MAX_COHORT long."""
    ahead = (select(Booking.id).join(Session, Session.id == Booking.session_id)
             .where(Booking.client_id == Client.id,
                    Booking.status.in_(("booked", "waitlisted")),
                    Session.status == "scheduled", Session.starts_at >= now)
             .exists())
    admitted = select(Client).where(Client.program_id == program_id,
                                    Client.status == "active",
                                    scope.programs_filter(Client.program_id))
    order = (Client.name, Client.id)
    new = list(db.scalars(admitted.where(~ahead).order_by(*order).limit(MAX_COHORT)))
    rest = list(db.scalars(admitted.where(ahead).order_by(*order).limit(MAX_COHORT)))
    return new, rest


def propose_make_up(db: DbSession, actor: Actor, client_id: int, *, week_start: date,
                    now: datetime, seconds: float = DEFAULT_SOLVER_SECONDS,
                    ttl_minutes: int = DEFAULT_TTL_MINUTES) -> ScheduleProposal:
    """Single sessions (and required appointments) that close one week's shortfall, from the
    program's today on."""
    client = _client(db, client_id)
    if not isinstance(week_start, date) or week_start.weekday() != 0:
        raise InvalidField("week_start", gettext("Must be a Monday (weeks run Monday to Sunday)."))
    today = _today(client.program, now)
    if week_start + timedelta(days=6) < today:
        raise InvalidField("week_start", gettext("That week is over; today is %(day)s.",
                                           day=day_words(today)))
    if week_start > today + timedelta(days=MAX_DAYS_AHEAD):
        raise InvalidField("week_start", gettext("Must be within a year of today (%(day)s).",
                                           day=day_words(today)))
    first_day = max(week_start, today)
    _check_client(client, first_day, "week_start")
    problem = gather.for_clients(db, client.program_id, [client.id], first_day=first_day,
                                 weeks=1, now=now, make_up=True)
    solution = solver.solve(problem, seconds=seconds, seed=0)
    return _store(db, actor, "make_up", problem, solution, client=client, from_date=first_day,
                  weeks=1, now=now, ttl_minutes=ttl_minutes)


def get(db: DbSession, proposal_id: int) -> ScheduleProposal:
    return get_or_404(db, ScheduleProposal, proposal_id, "schedule proposal")


def limits(settings: Mapping) -> dict:
    """The planner's time limit and a proposal's lifetime from the app's settings, as the
    propose functions take them (the API and the pages both pass them on)."""
    return {"seconds": settings["PROPOSAL_SOLVER_SECONDS"],
            "ttl_minutes": settings["PROPOSAL_TTL_MINUTES"]}


def is_expired(proposal: ScheduleProposal, now: datetime) -> bool:
    """A proposal nobody accepted lapses at expires_at; an accepted one never does."""
    return proposal.status == "proposed" and now >= proposal.expires_at


def status_of(proposal: ScheduleProposal, now: datetime) -> str:
    """"proposed", "accepted", or "expired" once a proposal nobody accepted has lapsed."""
    return "expired" if is_expired(proposal, now) else proposal.status


def body_of(proposal: ScheduleProposal, now: datetime) -> dict:
    """The API answer as stored, with the status as of `now` ("expired" once lapsed)."""
    body = dict(proposal.body)
    body["status"] = status_of(proposal, now)
    if proposal.result is not None:
        body["result"] = proposal.result
    return body


# --- the answer ---------------------------------------------------------------------------------


def _hours(minutes: float | int | None) -> float | None:
    # Reports give hours as numbers with two decimals (reports._hours); so does this.
    return None if minutes is None else round(minutes / 60, 2)


def _instant(minutes: int) -> datetime:
    return datetime.fromtimestamp(minutes * 60, UTC)


@dataclass
class _Words:
    """Names and zone for turning the plain Solution into the answer."""

    db: DbSession
    problem: Problem
    tz: ZoneInfo

    def local(self, minutes: int) -> str:
        return _instant(minutes).astimezone(self.tz).isoformat()

    def series(self, series_id: int) -> SessionSeries | None:
        return self.db.get(SessionSeries, series_id)

    def staff_name(self, staff_id: int) -> str:
        facts = self.problem.staff.get(staff_id)
        if facts is not None:
            return facts.name
        row = self.db.get(Staff, staff_id)
        return row.name if row is not None else "A staff member"

    def room_name(self, room_id: int | None) -> str | None:
        if room_id is None:
            return None
        facts = self.problem.rooms.get(room_id)
        if facts is not None:
            return facts.name
        row = self.db.get(Room, room_id)
        return row.name if row is not None else "A room"


def _runs(options: list[GroupOption]) -> list[list[GroupOption]]:
    """One series' chosen weeks as runs of consecutive weeks: each run is one enrolment."""
    runs: list[list[GroupOption]] = []
    for option in sorted(options, key=lambda o: o.week):
        if runs and runs[-1][-1].week + 1 == option.week:
            runs[-1].append(option)
        else:
            runs.append([option])
    return runs


def _client_part(words: _Words, client_id: int, solution: Solution, from_date: date,
                 unmet: dict) -> tuple[dict, dict]:
    """(the client's part of the answer, what accepting it writes)."""
    problem = words.problem
    plan = solution.plans.get(client_id)
    client_problem = next(c for c in problem.clients if c.client_id == client_id)
    chosen = [problem.group(k) for k in (plan.group_keys if plan else [])]
    enrollments, sessions, appointments = [], [], []
    act_enrol, act_book, act_appoint = [], [], []
    by_series: dict[int, list[GroupOption]] = defaultdict(list)
    for option in chosen:
        if option.single:
            for occ in option.occurrences:
                sessions.append({"session_id": occ.session_id, "series_id": option.series_id,
                                 "title": option.title, "starts_at": words.local(occ.span.start),
                                 "ends_at": words.local(occ.span.end),
                                 "seats_free": occ.seats_free})
                act_book.append({"client_id": client_id, "session_id": occ.session_id,
                                 "title": option.title, "starts_at": occ.span.start})
        else:
            by_series[option.series_id].append(option)
    for series_id, options in sorted(by_series.items()):
        series = words.series(series_id)
        for run in _runs(options):
            occurrences = [o for option in run for o in option.occurrences]
            if not occurrences:
                continue
            starts_on = max(problem.weeks[run[0].week], from_date)
            ends_on = problem.weeks[run[-1].week] + timedelta(days=6)
            if series is not None:
                starts_on = max(starts_on, series.start_date)
                if series.end_date is not None:
                    ends_on = min(ends_on, series.end_date)
            enrollments.append({
                "series_id": series_id, "title": run[0].title, "sessions": len(occurrences),
                "seats_free": min(o.seats_free for o in occurrences),
                "starts_on": starts_on.isoformat(), "ends_on": ends_on.isoformat(),
                "meets": one_to_one.meets(series) if series is not None else None,
            })
            act_enrol.append({"client_id": client_id, "series_id": series_id,
                              "title": run[0].title, "start_date": starts_on.isoformat(),
                              "end_date": ends_on.isoformat(),
                              "sessions": [[o.session_id, o.span.start] for o in occurrences]})
    for placed in (plan.appointments if plan else []):
        slot = placed.option
        appointments.append({
            "starts_at": words.local(slot.span.start), "ends_at": words.local(slot.span.end),
            "staff_id": slot.staff_id, "staff_name": words.staff_name(slot.staff_id),
            "room_id": placed.room_id, "room_name": words.room_name(placed.room_id),
            "kind": slot.kind})
        act_appoint.append({"client_id": client_id, "staff_id": slot.staff_id,
                            "room_id": placed.room_id, "kind": slot.kind,
                            "start": slot.span.start, "end": slot.span.end})
    weekly = []
    planned = plan.planned if plan else [0] * len(problem.weeks)
    covered = wanted = 0
    for index, monday in enumerate(problem.weeks):
        target = client_problem.targets[index] if index < len(client_problem.targets) else None
        minutes = planned[index] if index < len(planned) else 0
        weekly.append({"week_start": monday.isoformat(), "planned_hours": _hours(minutes),
                       "target_hours": _hours(target),
                       "met": None if target is None else minutes >= target})
        if target:
            covered += min(minutes, target)
            wanted += target
    short = [{"week_start": u.week_start.isoformat(), "short_hours": _hours(u.short_minutes),
              "why": u.why, "kind": u.kind, "sessions_short": u.sessions_short}
             for u in unmet.get(client_id, [])]
    part = {"enrollments": enrollments, "sessions": sessions, "appointments": appointments,
            "weekly": weekly, "unmet": short,
            "coverage": round(covered / wanted, 4) if wanted else None}
    actions = {"enrollments": act_enrol, "bookings": act_book, "appointments": act_appoint}
    return part, actions


def _calendar(words: _Words, client_id: int, part: dict, actions: dict) -> list[dict]:
    """Everything the client would have in the proposed weeks: what they hold now, and what
    the proposal adds (`new`), in time order, for the page's small calendar."""
    problem = words.problem
    lo = datetime.combine(problem.first_day, datetime.min.time(), tzinfo=words.tz)
    hi = datetime.combine(problem.last_day + timedelta(days=1), datetime.min.time(),
                          tzinfo=words.tz)
    held = words.db.scalars(
        select(Session).join(Booking, Booking.session_id == Session.id)
        .where(Booking.client_id == client_id, Booking.status == "booked",
               Session.status == "scheduled", Session.starts_at < hi, Session.ends_at > lo)
        .order_by(Session.starts_at))
    items = [{"starts_at": s.starts_at.astimezone(words.tz).isoformat(),
              "ends_at": s.ends_at.astimezone(words.tz).isoformat(), "title": s.title,
              "kind": s.kind, "new": False} for s in held]
    kinds = {g.key: g.kind for g in problem.groups}
    groups = {o.session_id: g for g in problem.groups for o in g.occurrences}
    for enrol in actions["enrollments"]:
        for session_id, start in enrol["sessions"]:
            occ = next(o for o in groups[session_id].occurrences if o.session_id == session_id)
            items.append({"starts_at": words.local(start), "ends_at": words.local(occ.span.end),
                          "title": enrol["title"], "kind": kinds[groups[session_id].key],
                          "new": True})
    for item in part["sessions"]:
        items.append({"starts_at": item["starts_at"], "ends_at": item["ends_at"],
                      "title": item["title"], "kind": groups[item["session_id"]].kind,
                      "new": True})
    for item in part["appointments"]:
        items.append({"starts_at": item["starts_at"], "ends_at": item["ends_at"],
                      "title": ONE_OFF_TITLES.get(item["kind"], "Appointment"),
                      "kind": item["kind"], "new": True})
    return sorted(items, key=lambda i: (datetime.fromisoformat(i["starts_at"]), i["title"]))


def _solver_part(solution: Solution) -> dict:
    objective, bound = solution.objective, solution.bound
    gap = None
    if objective is not None and bound is not None:
        gap = round(abs(objective - bound) / max(abs(objective), 1e-9), 4) if objective else (
            0.0 if bound == 0 else None)
    return {"status": solution.status, "seconds": round(solution.seconds, 3),
            "objective": objective, "bound": bound, "gap": gap}


def _store(db: DbSession, actor: Actor, kind: str, problem: Problem, solution: Solution, *,
           from_date: date, weeks: int, now: datetime, ttl_minutes: int,
           client: Client | None = None, program: Program | None = None,
           client_ids: list[int] | None = None) -> ScheduleProposal:
    unmet = explain.unmet(problem, solution)
    words = _Words(db, problem, ZoneInfo(problem.timezone))
    expires_at = now + timedelta(minutes=ttl_minutes)
    proposal = ScheduleProposal(
        program_id=problem.program_id, client_id=client.id if client else None,
        client_ids=[client.id] if client else list(client_ids or []), kind=kind,
        status="proposed", from_date=from_date, weeks=weeks, body={}, actions={},
        created_at=now, expires_at=expires_at, created_by_user_id=actor.user_id)
    db.add(proposal)
    db.flush()
    head = {"id": proposal.id, "status": "proposed", "kind": kind,
            "program_id": problem.program_id, "from": from_date.isoformat(), "weeks": weeks,
            "expires_at": expires_at.astimezone(words.tz).isoformat()}
    if client is not None:
        part, actions = _client_part(words, client.id, solution, from_date, unmet)
        body = {**head, "client_id": client.id, "enrollments": part["enrollments"],
                "sessions": part["sessions"], "appointments": part["appointments"],
                "calendar": _calendar(words, client.id, part, actions),
                "weekly": part["weekly"], "unmet": part["unmet"],
                "solver": _solver_part(solution)}
        all_actions = actions
    else:
        names = {c.client_id: c.name for c in problem.clients}
        clients, all_actions = [], {"enrollments": [], "bookings": [], "appointments": []}
        for client_id in client_ids or []:
            part, actions = _client_part(words, client_id, solution, from_date, unmet)
            clients.append({"client_id": client_id, "name": names.get(client_id),
                            "enrollments": part["enrollments"],
                            "appointments": part["appointments"], "weekly": part["weekly"],
                            "unmet": part["unmet"], "coverage": part["coverage"]})
            for key in all_actions:
                all_actions[key] += actions[key]
        coverages = [c["coverage"] for c in clients if c["coverage"] is not None]
        body = {**head, "clients": clients, "groups": _groups(problem, solution),
                "worst_coverage": min(coverages) if coverages else None,
                "solver": _solver_part(solution)}
    proposal.body = body
    proposal.actions = all_actions
    db.flush()
    return proposal


def _groups(problem: Problem, solution: Solution) -> list[dict]:
    """Each group week the cohort joins: how many it adds and how full it then is."""
    added: dict[str, int] = defaultdict(int)
    for plan in solution.plans.values():
        for key in plan.group_keys:
            added[key] += 1
    rows = []
    for key, count in added.items():
        option = problem.group(key)
        if not option.occurrences:
            continue
        fullest = max(option.occurrences, key=lambda o: o.booked)
        rows.append({"series_id": option.series_id, "title": option.title,
                     "week_start": problem.weeks[option.week].isoformat(), "added": count,
                     "size": fullest.booked + count, "capacity": fullest.capacity})
    return sorted(rows, key=lambda r: (r["week_start"], r["title"], r["series_id"]))


# --- accepting ----------------------------------------------------------------------------------


def clock_words(at: datetime, tz: ZoneInfo, now: datetime) -> str:
    """"14:05" today in the program's zone, else with the day: how the expiry is said."""
    local = at.astimezone(tz)
    if local.date() == now.astimezone(tz).date():
        return local_words(local, "time")
    return gettext("%(time)s on %(day)s", time=local_words(local, "time"),
             day=day_words(local.date()))


def _session_words(title: str, start: datetime, tz: ZoneInfo) -> str:
    """"Relapse prevention, Tue 8 Dec 18:00": how the refusal names a session."""
    local = start.astimezone(tz)
    return f"{title}, {local_words(local, 'short_day')} {local_words(local, 'time')}"


def _conflict(kind: str, detail: str, session_id: int | None, start: datetime,
              end: datetime) -> dict:
    return {"kind": kind, "session_id": session_id, "starts_at": start.isoformat(),
            "ends_at": end.isoformat(), "detail": detail}


def _locked_proposal(db: DbSession, proposal_id: int) -> ScheduleProposal:
    begin_write(db)
    row = None
    if not isinstance(proposal_id, bool) and isinstance(proposal_id, int) and \
            0 < proposal_id <= MAX_ID:
        row = db.scalar(select(ScheduleProposal).where(ScheduleProposal.id == proposal_id)
                        .with_for_update().execution_options(populate_existing=True))
    if row is None or not scope.allows(db, row):
        raise NotFound("schedule proposal", proposal_id)
    return row


def _changes(db: DbSession, actions: dict, tz: ZoneInfo, now: datetime) -> list[dict]:
    """Every way the world moved since the proposal, checked by the rules' owners: a session
    gone, started or full, a new clash for the client, the clinician or the room. Who is busy
    is read once for everyone (a Calendar), not once per client and appointment."""
    conflicts: list[dict] = []
    # Each client's new slots, and what each slot is called in the refusal.
    slots_of: dict[int, list[Slot]] = defaultdict(list)
    titles: dict[Slot, str] = {}
    conflicts += _session_changes(db, actions, tz, now, slots_of, titles)
    appointments = _appointment_slots(actions, tz, now, conflicts, slots_of, titles)
    every = [slot for slots in slots_of.values() for slot in slots]
    if not every:
        return conflicts
    clients = {c.id: c for c in db.scalars(select(Client).where(Client.id.in_(list(slots_of))))}
    calendar = Calendar(db, min(s.starts_at for s in every), max(s.ends_at for s in every),
                        clients=clients.values(),
                        staff_ids={item["staff_id"] for item, _, _ in appointments},
                        room_ids={item["room_id"] for item, _, _ in appointments})
    for item, slot, words in appointments:
        for clash in calendar.staff_clashes([item["staff_id"]], [slot]) + \
                calendar.room_clashes(item["room_id"], [slot]):
            conflicts.append(_conflict(clash.kind, f"{words}: {clash.detail.rstrip('.')}",
                                       clash.session_id, slot.starts_at, slot.ends_at))
    for client_id, slots in sorted(slots_of.items()):
        for clash in calendar.client_clashes(clients[client_id], slots):
            words = _session_words(titles[clash.slot], clash.slot.starts_at, tz)
            conflicts.append(_conflict(clash.kind, f"{words}: {clash.detail.rstrip('.')}",
                                       clash.slot.session_id, clash.slot.starts_at,
                                       clash.slot.ends_at))
    return conflicts


def _session_changes(db: DbSession, actions: dict, tz: ZoneInfo, now: datetime,
                     slots_of: dict, titles: dict) -> list[dict]:
    """Sessions of enrolments and single bookings: gone, started or full since."""
    conflicts: list[dict] = []
    wanted: dict[int, list[tuple[int, str]]] = defaultdict(list)  # session -> (client, title)
    for enrol in actions.get("enrollments", []):
        for session_id, _ in enrol["sessions"]:
            wanted[session_id].append((enrol["client_id"], enrol["title"]))
    for item in actions.get("bookings", []):
        wanted[item["session_id"]].append((item["client_id"], item["title"]))
    # Every session first, then every client: the order each booking path locks in, so this
    # accept and a booking of one of its sessions cannot deadlock.
    lock_rows(db, Session, list(wanted))
    lock_rows(db, Client, {cid for takers in wanted.values() for cid, _ in takers}
              | {a["client_id"] for a in actions.get("appointments", [])})
    found = {s.id: s for s in db.scalars(select(Session).where(Session.id.in_(list(wanted))))}
    free = booking.free_seats_of(db, [s for s in found.values() if s.status == "scheduled"])
    # Seats the clients hold already (booked since the proposal): no new seat is needed there.
    held = set(db.execute(select(Booking.client_id, Booking.session_id).where(
        Booking.session_id.in_(list(wanted)), Booking.status == "booked",
        Booking.client_id.in_({cid for takers in wanted.values() for cid, _ in takers}))
    ).tuples())
    for session_id, takers in sorted(wanted.items()):
        session = found.get(session_id)
        if session is None:
            conflicts.append(_conflict("cancelled", gettext(
                "%(title)s is no longer on the schedule", title=takers[0][1]),
                session_id, now, now))
            continue
        words = _session_words(session.title, session.starts_at, tz)
        if session.status != "scheduled":
            conflicts.append(_conflict("cancelled", gettext("%(what)s was cancelled", what=words),
                                       session_id, session.starts_at, session.ends_at))
            continue
        if session.starts_at <= now:
            conflicts.append(_conflict("started", gettext("%(what)s has started since", what=words),
                                       session_id, session.starts_at, session.ends_at))
            continue
        new_takers = [cid for cid, _ in takers if (cid, session_id) not in held]
        if len(new_takers) > free.get(session_id, 0):
            conflicts.append(_conflict("seats", gettext("%(what)s has no free seat any more",
                                                        what=words),
                                       session_id, session.starts_at, session.ends_at))
        slot = Slot(session.starts_at, session.ends_at, session.id)
        titles[slot] = session.title
        for client_id in new_takers:
            slots_of[client_id].append(slot)
    return conflicts


def _appointment_slots(actions: dict, tz: ZoneInfo, now: datetime, conflicts: list[dict],
                       slots_of: dict, titles: dict) -> list[tuple[dict, Slot, str]]:
    """One-to-one appointments still ahead, as (item, slot, words); a passed one is a
    conflict. The clinician's and room's clashes are the caller's, from one calendar."""
    ahead: list[tuple[dict, Slot, str]] = []
    for item in actions.get("appointments", []):
        start, end = _instant(item["start"]), _instant(item["end"])
        slot = Slot(start, end, None, str(tz.key))
        title = ONE_OFF_TITLES.get(item["kind"], "Appointment")
        words = _session_words(title, start, tz)
        if start <= now:
            conflicts.append(_conflict("started", gettext("%(what)s has passed", what=words),
                                       None, start, end))
            continue
        ahead.append((item, slot, words))
        titles[slot] = title
        slots_of[item["client_id"]].append(slot)
    return ahead


def _no_seat(row: Booking, tz: ZoneInfo) -> dict:
    session = row.session
    words = _session_words(session.title, session.starts_at, tz)
    return _conflict("seats", gettext("%(what)s has no free seat any more", what=words), session.id,
                     session.starts_at, session.ends_at)


def _write(db: DbSession, actor: Actor, actions: dict, tz: ZoneInfo, now: datetime) -> dict:
    """Make every enrolment, booking and appointment; a waitlisted place is a refusal."""
    enrollment_ids: list[int] = []
    booking_ids: list[int] = []
    session_ids: list[int] = []
    refused: list[dict] = []
    for enrol in actions.get("enrollments", []):
        result = booking.enroll_client(
            db, actor, enrol["series_id"], enrol["client_id"], now=now,
            start_date=date.fromisoformat(enrol["start_date"]),
            end_date=date.fromisoformat(enrol["end_date"]))
        enrollment_ids.append(result.enrollment.id)
        rows = list(db.scalars(select(Booking).where(
            Booking.enrollment_id == result.enrollment.id).order_by(Booking.id)))
        refused += [_no_seat(row, tz) for row in rows if row.status != "booked"]
        booking_ids += [row.id for row in rows]
    for item in actions.get("bookings", []):
        row, _ = booking.book_client(db, actor, item["session_id"], item["client_id"], now=now)
        if row.status != "booked":
            refused.append(_no_seat(row, tz))
        booking_ids.append(row.id)
    for item in actions.get("appointments", []):
        start, end = _instant(item["start"]), _instant(item["end"])
        made = free_slots.book_slot(
            db, actor, client_id=item["client_id"], staff_id=item["staff_id"],
            room_id=item["room_id"], kind=item["kind"], starts_at=start,
            duration_minutes=int((end - start).total_seconds() // 60), weekly=False, now=now,
            horizon_days=0, title=ONE_OFF_TITLES.get(item["kind"], "Appointment"))
        session_ids.append(made.id)
        held = db.scalar(select(Booking.id).where(Booking.session_id == made.id,
                                                  Booking.client_id == item["client_id"]))
        if held is not None:
            booking_ids.append(held)
    if refused:
        raise ProposalConflict(refused)
    return {"enrollment_ids": enrollment_ids, "booking_ids": booking_ids,
            "session_ids": session_ids}


def accept(db: DbSession, actor: Actor, proposal_id: int, *, now: datetime) -> dict:
    """Book everything the proposal shows, in one transaction, and answer what was made:
    {"enrollment_ids", "booking_ids", "session_ids"}. If anything changed since it was made,
    or it lapsed, or it was accepted already: a 409 and nothing written."""
    try:
        proposal = _locked_proposal(db, proposal_id)
        program = db.get(Program, proposal.program_id)
        tz = ZoneInfo(program.timezone if program else "UTC")
        if proposal.status == "accepted":
            at = proposal.accepted_at or now
            raise StateConflict(gettext("This proposal was accepted at %(when)s; it has been "
                                        "booked already.", when=clock_words(at, tz, now)))
        if is_expired(proposal, now):
            raise StateConflict(gettext("This proposal expired at %(when)s; suggest a new one.",
                                  when=clock_words(proposal.expires_at, tz, now)))
        for client_id in proposal.client_ids or []:
            client = db.get(Client, client_id)
            if client is not None and client.status == "discharged":
                raise ProposalConflict([_conflict(
                    "client_status", gettext("%(name)s was discharged since", name=client.name),
                    None, now, now)])
        actions = proposal.actions or {}
        conflicts = _changes(db, actions, tz, now)
        if conflicts:
            raise ProposalConflict(conflicts)
        try:
            result = _write(db, actor, actions, tz, now)
        except ProposalConflict:
            raise
        except DomainError as refused:
            # A rule's owner refused what the checks above let through (a race lost between
            # them): the same 409, in that rule's own words.
            conflicts = getattr(refused, "body", {}).get("conflicts") or [
                _conflict("changed", refused.message, None, now, now)]
            raise ProposalConflict(conflicts) from refused
        proposal.status = "accepted"
        proposal.accepted_at = now
        proposal.accepted_by_user_id = actor.user_id
        proposal.result = result
        db.flush()
        audit.record(db, actor, "accept", "schedule_proposal", proposal.id,
                     after={"kind": proposal.kind, "client_ids": proposal.client_ids, **result})
        return result
    except DomainError:
        # Nothing of a refused accept may stay: enrolments made before the failing one too.
        db.rollback()
        raise
