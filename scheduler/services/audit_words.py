"""Audit events in words: who or what each one is about, by name, and its action as a person
says it. The trail itself keeps ids (it must outlive renames); the audit page reads it here.

"client 22", "session 16" and "staff_time_off 3" meant looking each one up; "Jordan Rivers",
"Relapse prevention (Mon 2027-03-01 18:00–21:00)" and "Dana Whitfield's time off" say it.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from scheduler.i18n import gettext as _
from scheduler.i18n import lazy_gettext as _l
from scheduler.models import (
    Alert,
    ApiToken,
    Assessment,
    Attendance,
    AuditEvent,
    Booking,
    Client,
    Closure,
    Consent,
    Enrollment,
    Episode,
    FhirClient,
    LoginSession,
    Program,
    Recipient,
    Room,
    ScheduleProposal,
    Session,
    SessionSeries,
    Site,
    Staff,
    StaffTimeOff,
    TreatmentPlan,
    User,
)
from scheduler.services.audit import action_label, filed_action
from scheduler.services.wording import day_words, field_words, session_words

# What each kind of record is called when there is no row left to name.
RECORD_KINDS = {
    "client": _l("Client"), "staff": _l("Staff member"), "user": _l("Login"),
    "session": _l("Session"),
    "series": _l("Series"), "room": _l("Room"), "program": _l("Program"), "booking": _l("Booking"),
    "enrollment": _l("Enrolment"), "treatment_plan": _l("Plan"), "assessment": _l("Assessment"),
    "attendance": _l("Attendance"), "staff_time_off": _l("Time off"), "alert": _l("Alert"),
    "login_session": _l("Sign-in"), "api_token": _l("API sign-in"), "audit_log": _l("Audit log"),
    "clinic": _l("The whole clinic"), "client_feed": _l("Client's calendar link"),
    "staff_feed": _l("Staff calendar link"), "program_feed": _l("A program's calendar link"),
    "room_feed": _l("A room's calendar link"), "closure": _l("Closure"),
    "episode": _l("Episode of care"),
    "schedule_proposal": _l("Schedule proposal"), "site": _l("Site"),
    "consent": _l("Consent"), "recipient": _l("Recipient"), "fhir_client": _l("API client"),
}


@dataclass(frozen=True)
class EventWords:
    action: str  # as it would be filed now (audit.filed_action)
    action_label: str
    record: str
    # The client the record is about, if any: the page links to them and logs that it
    # showed their name.
    client_id: int | None
    changed: str  # the fields a write changed, in words


def _changed(event: AuditEvent) -> str:
    after = event.after or {}
    if "resource" in after:  # a read: what was read and through what
        what = str(after["resource"]).replace("-", " ").replace("_", " ")
        via = {"api": _("API"), "page": _("page")}.get(str(after.get("via")), str(after.get("via")))
        return f"{what[:1].upper()}{what[1:]} ({via})"
    fields = [field_words(k) for k in after if k != "overridden_conflicts"]
    text = ", ".join(fields)
    return text[:1].upper() + text[1:]


class _Names:
    """The names the events refer to, each kind loaded in one query."""

    def __init__(self, db: DbSession, events: list[AuditEvent]):
        self.db = db
        wanted: dict[str, set[int]] = defaultdict(set)
        for event in events:
            if event.entity_id is not None:
                wanted[event.entity_type].add(event.entity_id)
        self.wanted = wanted
        self.rows = {kind: self._load(kind, ids) for kind, ids in wanted.items()}
        client_ids = {row.client_id for kind in ("booking", "enrollment", "treatment_plan",
                                                 "assessment", "attendance", "alert",
                                                 "consent")
                      for row in self.rows.get(kind, {}).values()}
        client_ids |= self.feed_owners("client_feed")
        client_ids |= {row.client_id for row in self.rows.get("schedule_proposal", {}).values()
                       if row.client_id is not None}
        self.clients = {**self._by_id(Client, client_ids), **self.rows.get("client", {})}
        self.sessions = {**self._by_id(Session, {r.session_id for kind in ("booking",
                                                                           "attendance")
                                                 for r in self.rows.get(kind, {}).values()}),
                         **self.rows.get("session", {})}
        self.series = {**self._by_id(SessionSeries, {r.series_id for r in
                                                     self.rows.get("enrollment", {}).values()}),
                       **self.rows.get("series", {})}
        staff_ids = {r.staff_id for r in self.rows.get("staff_time_off", {}).values()}
        self.staff = {**self._by_id(Staff, staff_ids | self.feed_owners("staff_feed")),
                      **self.rows.get("staff", {})}
        self.programs = {**self._by_id(Program, {r.program_id for kind in ("closure", "episode")
                                                 for r in self.rows.get(kind, {}).values()}
                                        | self.feed_owners("program_feed")),
                         **self.rows.get("program", {})}
        self.rooms = {**self._by_id(Room, self.feed_owners("room_feed")),
                      **self.rows.get("room", {})}
        self.clients |= self._by_id(Client, {r.client_id for r in
                                             self.rows.get("episode", {}).values()}
                                    - set(self.clients))
        self.users = {**self._by_id(User, {r.user_id for kind in ("login_session", "api_token")
                                           for r in self.rows.get(kind, {}).values()}),
                      **self.rows.get("user", {})}

    MODELS = {"client": Client, "staff": Staff, "user": User, "session": Session,
              "series": SessionSeries, "room": Room, "program": Program, "booking": Booking,
              "enrollment": Enrollment, "treatment_plan": TreatmentPlan,
              "assessment": Assessment, "attendance": Attendance,
              "staff_time_off": StaffTimeOff, "alert": Alert, "login_session": LoginSession,
              "api_token": ApiToken, "schedule_proposal": ScheduleProposal,
              "closure": Closure, "episode": Episode, "site": Site, "consent": Consent,
              "recipient": Recipient, "fhir_client": FhirClient}

    def feed_owners(self, kind: str) -> set[int]:
        # A calendar link's events are filed under its owner's id.
        return self.wanted.get(kind, set())

    def _load(self, kind: str, ids: set[int]) -> dict:
        model = self.MODELS.get(kind)
        return self._by_id(model, ids) if model is not None else {}

    def _by_id(self, model, ids: Iterable[int]) -> dict:
        ids = {i for i in ids if i is not None}
        if not ids:
            return {}
        return {row.id: row for row in self.db.scalars(select(model).where(model.id.in_(ids)))}

    def client(self, client_id: int) -> str:
        row = self.clients.get(client_id)
        return row.name if row is not None else _("a client no longer on record")

    def session(self, session_id: int | None) -> str:
        row = self.sessions.get(session_id) if session_id is not None else None
        return session_words(row) if row is not None else _("a session")

    def user(self, user_id: int) -> str:
        row = self.users.get(user_id)
        return row.email if row is not None else _("a login no longer on record")

    def of(self, event: AuditEvent) -> tuple[str, int | None]:
        """The record in words, and the client it is about."""
        kind, key = event.entity_type, event.entity_id
        fallback = str(RECORD_KINDS.get(kind, field_words(kind).capitalize()))
        if key is None:
            return fallback, None
        if kind == "client_feed":
            return (_("%(name)s's calendar link", name=self.client(key)),
                    key if key in self.clients else None)
        if kind == "staff_feed":
            member = self.staff.get(key)
            return _("%(name)s's calendar link",
                     name=member.name if member else _("A staff member")), None
        if kind in ("program_feed", "room_feed"):
            owner = (self.programs if kind == "program_feed" else self.rooms).get(key)
            return (_("%(name)s's calendar link", name=owner.name) if owner else fallback), None
        row = self.rows.get(kind, {}).get(key)
        if row is None and kind == "client":
            # The access log keeps refused looks at ids no client has: say which.
            return _("No client with id %(id)s", id=key), None
        if row is None:
            return _("%(kind)s (no longer on record)", kind=fallback), None
        namer = _NAMERS.get(kind)
        return namer(self, row) if namer is not None else (fallback, None)


def _about_client(words: str):
    """A record about one client: "{client} at {session}" and the like."""
    return lambda names, row: (str(words).format(client=names.client(row.client_id), row=row,
                                            session=names.session(getattr(row, "session_id",
                                                                          None))),
                               row.client_id)


def _enrolment(names: _Names, row) -> tuple[str, int | None]:
    series = names.series.get(row.series_id)
    return _("%(client)s in %(series)s", client=names.client(row.client_id),
             series=series.title if series else _("a series")), row.client_id


def _proposal(names: _Names, row) -> tuple[str, int | None]:
    if row.client_id is None:
        return _("Schedule proposal for %(num)d new clients", num=len(row.client_ids or [])), None
    if row.kind == "make_up":
        return _("Make-up proposal for %(client)s", client=names.client(row.client_id)), \
            row.client_id
    return _("Schedule proposal for %(client)s", client=names.client(row.client_id)), \
        row.client_id


def _time_off(names: _Names, row) -> tuple[str, int | None]:
    member = names.staff.get(row.staff_id)
    return _("%(name)s's time off", name=member.name if member else _("A staff member")), None


def _program_name(names: _Names, program_id: int) -> str:
    program = names.programs.get(program_id)
    return program.name if program is not None else _("a program")


def _closure(names: _Names, row) -> tuple[str, int | None]:
    days = day_words(row.starts_on) if row.starts_on == row.ends_on else \
        _("%(first)s to %(last)s", first=day_words(row.starts_on), last=day_words(row.ends_on))
    return _("%(program)s closed %(days)s", program=_program_name(names, row.program_id),
             days=days), None


def _episode(names: _Names, row) -> tuple[str, int | None]:
    return (_("%(client)s's stay in %(program)s from %(day)s", client=names.client(row.client_id),
              program=_program_name(names, row.program_id), day=day_words(row.admitted_on)),
            row.client_id)


_NAMERS = {
    "client": lambda names, row: (row.name, row.id),
    "staff": lambda names, row: (row.name, None),
    "user": lambda names, row: (row.email, None),
    "session": lambda names, row: (session_words(row), None),
    "series": lambda names, row: (_("%(title)s (series)", title=row.title), None),
    "room": lambda names, row: (row.name, None),
    "program": lambda names, row: (row.name, None),
    "site": lambda names, row: (row.name, None),
    "booking": _about_client(_l("{client} at {session}")),
    "attendance": _about_client(_l("{client} at {session}")),
    "treatment_plan": _about_client(_l("{client}'s plan, version {row.version}")),
    "assessment": _about_client(_l("{client}'s assessment")),
    "alert": _about_client(_l("Alert about {client}")),
    "enrollment": _enrolment,
    "staff_time_off": _time_off,
    "schedule_proposal": _proposal,
    "closure": _closure,
    "episode": _episode,
    "consent": lambda names, row: (_("%(client)s's consent to share with %(recipient)s",
                                     client=names.client(row.client_id),
                                     recipient=row.recipient.name), row.client_id),
    "recipient": lambda names, row: (row.name, None),
    "fhir_client": lambda names, row: (_("API client of %(name)s", name=row.recipient.name), None),
    "login_session": lambda names, row: (_("Sign-in of %(login)s", login=names.user(row.user_id)),
                                         None),
    "api_token": lambda names, row: (_("API sign-in of %(login)s", login=names.user(row.user_id)),
                                     None),
}


def describe(db: DbSession, events: list[AuditEvent]) -> list[EventWords]:
    """Each event in words, in the order given."""
    names = _Names(db, events)
    out = []
    for event in events:
        record, client_id = names.of(event)
        action = filed_action(event)
        out.append(EventWords(action=action, action_label=action_label(action), record=record,
                              client_id=client_id, changed=_changed(event)))
    return out
