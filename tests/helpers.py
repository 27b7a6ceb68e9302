"""Test factories with sensible defaults, so each test states only what matters to it."""

import re
from datetime import date, time
from html import unescape

from sqlalchemy.orm import object_session

from scheduler import clock
from scheduler.services import accounts, clients, logins, programs, rooms, series, staff
from scheduler.services.audit import Actor

ACTOR = Actor.system("tests")
HORIZON_DAYS = 120


class Factory:
    def __init__(self, db):
        self.db = db
        self._n = 0

    def _next(self) -> int:
        self._n += 1
        return self._n

    def program(self, **kw):
        values = dict(
            name=f"Program {self._next()}",
            level_of_care="2.1",
            population="adult",
            timezone="America/New_York",
            address="200 Main Street, Suite 200",
        )
        values.update(kw)
        row = programs.create_program(self.db, ACTOR, **values)
        self.db.commit()
        return row

    def room(self, **kw):
        values = dict(name=f"Room {self._next()}", capacity=14)
        values.update(kw)
        row = rooms.create_room(self.db, ACTOR, **values)
        self.db.commit()
        return row

    def staff(self, **kw):
        n = self._next()
        values = dict(name=f"Clinician {n}", role="therapist", email=f"staff{n}@clinic.test")
        values.update(kw)
        row = staff.create_staff(self.db, ACTOR, **values)
        self.db.commit()
        return row

    def client(self, program=None, **kw):
        program = program or self.program()
        values = dict(name=f"Client {self._next()}", program_id=program.id,
                      admitted_on=date(2027, 1, 4))
        values.update(kw)
        row = clients.create_client(self.db, ACTOR, **values)
        self.db.commit()
        return row

    def series(self, program=None, now=None, horizon_days=HORIZON_DAYS, **kw):
        program = program or self.program()
        values = dict(
            program_id=program.id,
            kind="group",
            title="Evening group",
            timezone=program.timezone,
            start_date=date(2027, 3, 1),
            start_time=time(18, 0),
            duration_minutes=180,
            rrule="FREQ=WEEKLY;BYDAY=MO,WE,TH",
        )
        values.update(kw)
        row, _ = series.create_series(
            self.db, ACTOR, now=now or clock.now(), horizon_days=horizon_days, **values
        )
        self.db.commit()
        return row

    def user(self, role: str, password: str | None = None, **kw):
        n = self._next()
        if role == "client" and "client_id" not in kw:
            kw["client_id"] = self.client().id
        row = accounts.create_user(
            self.db, ACTOR, email=f"{role}{n}@clinic.test", role=role, password=password, **kw
        )
        self.db.commit()
        return row


class AuthHeaders:
    """Callable giving Authorization headers for a fresh user of a role."""

    def __init__(self, db, make: Factory):
        self.db = db
        self.make = make

    def __call__(self, role: str, **kw) -> dict:
        user = self.make.user(role, **kw)
        return self.for_user(user)

    def for_user(self, user) -> dict:
        token, _ = accounts.issue_api_token(
            self.db, user, clock.now(), ttl_hours=1
        )
        self.db.commit()
        return {"Authorization": f"Bearer {token}"}


def sign_in(client, user) -> None:
    """Sign the user in on the test client as the login form does: a tracked page sign-in
    (scheduler/services/logins.py) whose key the cookie session carries."""
    db = object_session(user)
    assert db is not None, "sign_in needs a user from the test's database session"
    key, _ = logins.start_session(db, user, clock.now(), logins.Where("127.0.0.1", "tests"))
    db.commit()
    with client.session_transaction() as session:
        session.update(signed_in_session(user, key))


def signed_in_session(user, key: str) -> dict:
    """What the login form leaves in the cookie session for this sign-in."""
    return {"_user_id": str(user.id), "_fresh": True, logins.COOKIE_KEY: key}


def beside(html: str, field_id: str) -> str:
    """The refusal shown right after the field with this id, as an alert the field points at
    (aria-describedby), in words; fails when the field is not marked or the words are away."""
    tag = re.search(rf'<(input|select|button)\b[^>]*\bid="{field_id}"[^>]*>', html)
    assert tag, f"no field {field_id}"
    described = re.search(r'aria-describedby="([^"]+)"', tag.group(0))
    error_id = f"{field_id}-error"
    assert described and error_id in described.group(1).split(), tag.group(0)
    if tag.group(1) != "button":
        assert 'aria-invalid="true"' in tag.group(0)
    # Next to it: nothing but the field's own end (a select's options) before the alert.
    rest = html[tag.end():]
    if tag.group(1) != "input":
        rest = rest.split(f"</{tag.group(1)}>", 1)[1]
    error = re.match(rf'\s*<span class="field-error" id="{error_id}" role="alert">([^<]*)</span>',
                     rest)
    assert error, rest[:300]
    return unescape(error.group(1))
