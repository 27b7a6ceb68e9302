"""Site scope: which sites' records the caller may see. The one owner of that rule (issue 19).

A coordinator's login may be scoped to sites (user_sites, set by admins). Everything of another
site is then as if it did not exist: lists leave it out, and fetching it by id answers 404, the
same as a missing record, so ids cannot be probed. Admins, and coordinators with no site list,
see every site. Clinicians are not site-scoped (their clinical reads follow their caseload,
services/caseload.py), nor are clients (their own record only) or jobs.

The scope is the request's: the API and page sign-in set it once per request (`begin`), and
`lookup.get_or_404` / `get_referenced` consult it, so every route that fetches a record by id
refuses another site's without a check of its own. Lists filter with `programs_filter` /
`sites_filter`. Outside a request (jobs, the CLI) nothing is scoped.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import ColumnElement, and_, select, true
from sqlalchemy.orm import Session as DbSession

from scheduler.models import (
    Alert,
    Assessment,
    Booking,
    Client,
    Closure,
    Enrollment,
    Episode,
    Program,
    Room,
    ScheduleProposal,
    Session,
    SessionSeries,
    Site,
    TreatmentPlan,
    User,
    staff_sites,
    user_sites,
)

# None: every site. A frozenset: only these sites' records exist for the caller.
_current: ContextVar[frozenset[int] | None] = ContextVar("site_scope", default=None)


def enforced_site_ids(db: DbSession, user: User | None) -> frozenset[int] | None:
    """The sites this login is limited to, or None for every site."""
    if user is None or user.role != "coordinator":
        return None
    ids = frozenset(db.scalars(select(user_sites.c.site_id)
                               .where(user_sites.c.user_id == user.id)))
    return ids or None


def my_site_ids(db: DbSession, user: User | None) -> frozenset[int] | None:
    """The sites a page means by "my sites": a scoped coordinator's, else the sites a staff
    member works at; None (every site) for admins and unscoped coordinators without a staff
    record. A default for pages, never a limit: `enforced_site_ids` is the limit."""
    enforced = enforced_site_ids(db, user)
    if enforced is not None or user is None:
        return enforced
    if user.staff_id is not None:
        ids = frozenset(db.scalars(select(staff_sites.c.site_id)
                                   .where(staff_sites.c.staff_id == user.staff_id)))
        return ids or None
    return None


def begin(db: DbSession, user: User | None) -> None:
    """Scope the rest of this request to the caller's sites (called once, at sign-in)."""
    _current.set(enforced_site_ids(db, user))


def end() -> None:
    """Forget the request's scope (teardown), so a thread's next request starts unscoped."""
    _current.set(None)


def current() -> frozenset[int] | None:
    return _current.get()


@contextmanager
def limited_to(site_ids: frozenset[int] | None) -> Iterator[None]:
    """Run a block under this scope (tests, and work done on a scoped caller's behalf)."""
    token = _current.set(site_ids)
    try:
        yield
    finally:
        _current.reset(token)


def programs_filter(program_column) -> ColumnElement[bool]:
    """A WHERE clause keeping rows whose program is in scope (true when unscoped)."""
    scope = _current.get()
    if scope is None:
        return true()
    return program_column.in_(select(Program.id).where(Program.site_id.in_(scope)))


def sites_filter(site_column) -> ColumnElement[bool]:
    """A WHERE clause keeping rows whose site is in scope (true when unscoped)."""
    scope = _current.get()
    if scope is None:
        return true()
    return site_column.in_(scope)


def logins_filter(client_column) -> ColumnElement[bool]:
    """A WHERE clause keeping logins linked to no client or to a client in scope (true when
    unscoped)."""
    scope = _current.get()
    if scope is None:
        return true()
    return client_column.is_(None) | client_column.in_(
        select(Client.id).where(programs_filter(Client.program_id)))


def of_sites(program_column, site_ids: frozenset[int] | None) -> ColumnElement[bool]:
    """Rows whose program is at one of `site_ids` (the sites a page shows; None: every site),
    and in scope: a page's choice narrows the scope, never widens it."""
    clause = programs_filter(program_column)
    if site_ids is None:
        return clause
    return and_(clause, program_column.in_(select(Program.id)
                                           .where(Program.site_id.in_(site_ids))))


def sites_in(site_column, site_ids: frozenset[int] | None) -> ColumnElement[bool]:
    """Rows of one of `site_ids` (None: every site), and in scope."""
    clause = sites_filter(site_column)
    return clause if site_ids is None else and_(clause, site_column.in_(site_ids))


def staff_of_sites(staff_column, site_ids: frozenset[int] | None) -> ColumnElement[bool]:
    """Staff who work at one of `site_ids`, or, when those are every site, at a site in scope.
    Staff are not site records (nothing of them 404s), but a page of a coordinator's sites
    offers only the people who work there."""
    wanted = site_ids if site_ids is not None else _current.get()
    if wanted is None:
        return true()
    return staff_column.in_(select(staff_sites.c.staff_id)
                            .where(staff_sites.c.site_id.in_(wanted)))


def _program_site(db: DbSession, program_id: int | None) -> int | None:
    program = db.get(Program, program_id) if program_id is not None else None
    return program.site_id if program is not None else None


def _client_site(db: DbSession, client_id: int | None) -> int | None:
    client = db.get(Client, client_id) if client_id is not None else None
    return _program_site(db, client.program_id) if client is not None else None


def site_of(db: DbSession, row) -> int | None:
    """The site a record belongs to, or None for records that belong to no one site (staff,
    logins, the audit trail): those are not hidden by scope."""
    match row:
        case Site():
            return row.id
        case Program() | Room():
            return row.site_id
        case Client() | Session() | SessionSeries() | Closure() | Episode() | Alert():
            return _program_site(db, row.program_id)
        case ScheduleProposal():
            return _program_site(db, row.program_id)
        case Booking():
            session = db.get(Session, row.session_id)
            return _program_site(db, session.program_id) if session is not None else None
        case Enrollment():
            series = db.get(SessionSeries, row.series_id)
            return _program_site(db, series.program_id) if series is not None else None
        case TreatmentPlan() | Assessment():
            return _client_site(db, row.client_id)
        case User() if row.client_id is not None:
            # A client's login is of the client's site; staff and coordinator logins are
            # of no one site.
            return _client_site(db, row.client_id)
    return None


def allows(db: DbSession, row) -> bool:
    """Whether the caller may know this record exists."""
    scope = _current.get()
    if scope is None:
        return True
    site = site_of(db, row)
    return site is None or site in scope
