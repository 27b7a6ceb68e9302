"""Hostile values at every page form and every page query parameter: no page answers 5xx.

What is attacked comes from the app itself. The page routes are the url_map's (anything not
under /api/, /feeds/, /fhir/ or /healthz), each walked as a role tests/authorization_matrix.py
lets in. The names a page reads are recorded while it answers: the request's argument and form
dicts note every name a view or a WTForms form looks up, so a new form, field or query
parameter is attacked without a line here. Two checks keep the recording honest: every
field of every page form class, and every name the web views read by hand, must have been
seen on some route, or the test says which one the walk never reached.

Every name of a route gets each of issue 14's hostile values at once; then each name gets
NUL alone inside an otherwise valid request (what passes the form reaches the services and
the database), and the names a view reads itself an id past 2^64 and a date in year 9999 too;
then hypothesis draws more names and values, one at a time. Bounded and derandomized.
"""

import re
import string
import sys
from datetime import date
from pathlib import Path
from urllib.parse import quote

import flask
import pytest
from flask_wtf import FlaskForm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from werkzeug.datastructures import ImmutableMultiDict
from wtforms import DecimalField, FieldList, FormField, IntegerField
from wtforms.form import BaseForm

import scheduler.web
from scheduler import create_app
from scheduler.extensions import db as _db
from scheduler.models import Alert, Session
from scheduler.services import (
    account_links,
    booking,
    closures,
    consents,
    kiosk,
    plans,
    proposals,
    recipients,
)
from scheduler.web.form_fields import Hours, TextChecked, WholeNumber
from tests.authorization_matrix import ROUTES
from tests.conftest import PG_URL, IsolatedClient, reset_postgresql
from tests.helpers import ACTOR, Factory, sign_in

WEB = Path(scheduler.web.__file__).parent
NOT_PAGES = ("/api/", "/feeds/", "/healthz", "/fhir/")
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
PASSWORD = "correct horse battery"
# Pages that answer JSON on purpose: the new-series form's live preview.
JSON_PAGES = {"/series/preview"}

# The named hostile values of issue 14, as text; "\udcff" and "\ud800" go out as the invalid
# UTF-8 bytes 0xFF and ED A0 80 (see _encode).
HOSTILE = [
    "\x00", "bell\x07 escape\x1b[31m del\x7f c1\x85", "two\nlines\ttab\r", "9" * 5000,
    str(2**63), "-1", "0001-01-01", "2027-02-30", "xyz", "sNaN", "\u0661\u0662\u0663",
    "x" * 20000, "\udcff\ud800", "",
]
# One at a time inside an otherwise valid request: text that PostgreSQL refuses, for every
# name; and for the names a view reads itself (a form checks each of its inputs whatever the
# others hold, a view may stop at the first bad one), an id past 2^64 and a date whose
# arithmetic overflows.
SINGLES = ["a\x00b"]
HAND_READ_SINGLES = [str(2**64), "9999-12-31"]
# What the rest of a form holds while one name is attacked: the weekday, time and dates of a
# clinic week near the frozen 'now' (Tue 2027-02-16 12:00 UTC). {name} is an id of the clinic.
BASELINES = {
    ("POST", "/login"): {"email": "{walker_email}", "password": PASSWORD},
    ("POST", "/language"): {"language": "es", "next": "/", "for": "kiosk"},
    ("POST", "/series/new"): {
        "program_id": "{program_id}", "title": "Evening group", "kind": "group",
        "room_id": "{room_id}", "facilitator_ids": "{staff_id}", "weekdays": "TU",
        "start_time": "09:00", "duration_minutes": "60", "start_date": "2027-03-02",
        "count": "4", "capacity": "6"},
    ("POST", "/series/preview"): "POST /series/new",
    ("POST", "/series/<int:series_id>/edit"): {
        "title": "Evening group", "room_id": "{room_id}", "facilitator_ids": "{staff_id}",
        "weekdays": "MO", "start_time": "18:00", "duration_minutes": "180",
        "end_date": "2027-03-31", "capacity": "12"},
    ("POST", "/series/<int:series_id>/end"): {"end_date": "2027-03-29", "reason": "Ends"},
    ("POST", "/series/<int:series_id>/enroll"): {"client_id": "{other_client_id}"},
    ("POST", "/sessions/<int:session_id>/enroll"): {"client_id": "{other_client_id}"},
    ("POST", "/sessions/<int:session_id>/cancel"): {"reason": "Snow"},
    ("POST", "/sessions/<int:session_id>/move"): {"new_date": "2027-02-24",
                                                  "new_time": "17:00"},
    ("POST", "/sessions/<int:session_id>/room"): {"room_id": "{room_id}"},
    ("POST", "/sessions/<int:session_id>/facilitator"): {"staff_id": "{staff_id}"},
    ("POST", "/sessions/<int:session_id>/roster"): {
        "client_id": "{client_id}", "status": "late", "reason_code": "transport", "at": "18:20",
        "reason": "Bus"},
    ("POST", "/intake"): {
        "client_id": "", "name": "Casey Hostile", "program_id": "{program_id}",
        "admitted_on": "2027-02-15", "assessed_on": "2027-02-15",
        "clinician_id": "{staff_id}", "summary": "Intake", "recommended_level": "2.1"},
    ("POST", "/intake/<int:client_id>/plan"): {
        "start_date": "2027-02-16", "goals": "Attend group", "weekly_hours_target": "9",
        "per_week_group": "3"},
    ("POST", "/intake/<int:client_id>/enrol"): {"series_ids": "{series_id}",
                                                "skip_conflicting": "y"},
    ("POST", "/clients/<int:client_id>/plan/revise"): {
        "goals": "Attend group", "weekly_hours_target": "9", "phases-0-name": "Intensive",
        "phases-0-first_week": "1", "phases-0-per_week_group": "3"},
    ("POST", "/clients/<int:client_id>/plan/certification"): {"on": "2027-02-16"},
    ("POST", "/clients/<int:client_id>/plan/review"): {"on": "2027-02-16"},
    ("POST", "/kiosk"): {"client_id": "{client_id}", "pin": "4821"},
    ("POST", "/closures"): {"program_id": "{program_id}", "starts_on": "2027-03-10",
                            "ends_on": "2027-03-10", "reason": "Snow"},
    ("POST", "/users/<int:user_id>/role"): {"role": "client"},
    ("POST", "/clients/<int:client_id>/find-a-time"): {
        "starts_at": "2027-03-02T10:00:00-05:00", "staff_id": "{staff_id}",
        "room_id": "{room_id}", "length": "60", "kind": "individual", "repeat": "once"},
    ("POST", "/clients/<int:client_id>/suggest-schedule"): {"from_date": "2027-02-22",
                                                            "weeks": "1", "intake": "1"},
    ("POST", "/clients/<int:client_id>/suggest-make-up"): {"week_start": "2027-02-15"},
    ("POST", "/clients/<int:client_id>/consents"): {
        "recipient_id": "{recipient_id}", "purpose": "Coordination of care",
        "scope": "appointments", "signed_on": "2027-02-10", "expires_on": "2027-08-10",
        "document_ref": "Forms/avery.pdf"},
    ("POST", "/clients/<int:client_id>/consents/<int:consent_id>/revoke"): {"reason": "Asked"},
    ("POST", "/recipients"): {"name": "Harbor Referrals", "kind": "referral",
                              "contact": "Intake desk"},
    ("POST", "/recipients/<int:recipient_id>/api-clients"): {
        "scopes": "system/Appointment.read"},
    ("POST", "/schedule-proposals/<int:proposal_id>/accept"): {"intake": "1"},
    ("POST", "/programs/<int:program_id>/suggest-schedules"): {
        "client_ids": "{other_client_id}", "from_date": "2027-02-22", "weeks": "1"},
    ("POST", "/programs"): {"name": "Day IOP", "level_of_care": "2.1", "population": "adult",
                            "timezone": "America/New_York", "country": "US",
                            "absence_streak_alert": "2", "discharge_review_streak": "3",
                            "discharge_review_absences": "6", "discharge_review_weeks": "12",
                            "feed_privacy": "private", "is_active": "y"},
    # The walk's program stays as it is: running, in its zone.
    ("POST", "/programs/<int:program_id>/edit"): {
        "name": "Evening IOP", "level_of_care": "2.1", "population": "adult",
        "timezone": "America/New_York", "country": "US", "absence_streak_alert": "2",
        "discharge_review_streak": "3", "discharge_review_absences": "6",
        "discharge_review_weeks": "12", "feed_privacy": "private", "is_active": "y"},
    ("POST", "/rooms"): {"name": "Room C", "capacity": "8", "is_active": "y"},
    ("POST", "/rooms/<int:room_id>/edit"): {"name": "Room B", "capacity": "12",
                                            "is_active": "y"},
    ("POST", "/sites"): {"name": "Harbor View", "timezone": "America/New_York"},
    ("POST", "/sites/<int:site_id>/edit"): {"name": "Main site", "timezone": "America/New_York"},
    ("POST", "/staff/<int:staff_id>/sites"): {"site_ids": "{site_id}"},
    # Hours that cover every session of the walk, so later writes are not refused by them.
    ("POST", "/staff/<int:staff_id>/hours"): {f"day_{n}": "00:00-23:59" for n in range(7)},
}
# Query values a page needs before it reads the rest.
QUERIES = {("GET", "/reports"): {"program": "{program_id}"},
           ("GET", "/clients/<int:client_id>/find-a-time"): {
               "staff_id": "{staff_id}", "length": "60", "kind": "individual",
               "week": "2027-03-01", "intake": "1"},
           ("GET", "/intake/<int:client_id>/plan"): {"assessment": "{assessment_id}"},
           ("GET", "/clients/<int:client_id>/suggest-schedule"): {
               "from": "2027-02-22", "weeks": "2", "intake": "1"},
           ("GET", "/schedule-proposals/<int:proposal_id>"): {"intake": "1"},
           ("GET", "/suggest-schedules"): {"program": "{program_id}"},
           ("POST", "/login"): {"next": "/week"}}
# A write that would leave the next value nothing to act on is undone after it succeeds.
UNDO = {("POST", "/sessions/<int:session_id>/cancel"):
        ("POST", "/sessions/<int:session_id>/restore"),
        ("POST", "/users/<int:user_id>/deactivate"): ("POST", "/users/<int:user_id>/reactivate"),
        ("POST", "/recipients/<int:recipient_id>/deactivate"):
        ("POST", "/recipients/<int:recipient_id>/reactivate")}
# The roster is marked for last night's group, the coordinator's overrides act on tomorrow's.
ROUTE_IDS = {"/sessions/<int:session_id>/roster": {"session_id": "{last_night_id}"},
             "/invite/<token>": {"token": "{invite_token}"},
             "/reset/<token>": {"token": "{reset_token}"}}


# --- recording which names a page reads ---------------------------------------------------------

_READS: list[tuple[str, str, bool]] = []


def _note(multidict, key) -> None:
    if not isinstance(key, str) or not flask.has_request_context():
        return
    request = flask.request._get_current_object()
    where = "args" if request.__dict__.get("args") is multidict else "form"
    # Who asked: a WTForms form checks each of its inputs whatever the others hold; a view
    # reading the value itself may stop at the first bad one.
    frame = sys._getframe(2)
    while frame and frame.f_globals.get("__name__", "").startswith(
            ("werkzeug.datastructures", __name__)):
        frame = frame.f_back
    module = frame.f_globals.get("__name__", "") if frame else ""
    _READS.append((where, key, not module.startswith(("wtforms", "flask_wtf"))))


class RecordingDict(ImmutableMultiDict):
    """The request's args and form, noting each name looked up (not iteration)."""

    def __getitem__(self, key):
        _note(self, key)
        return super().__getitem__(key)

    def get(self, key, default=None, type=None):
        _note(self, key)
        return super().get(key, default, type)

    def getlist(self, key, type=None):
        _note(self, key)
        return super().getlist(key, type)

    def __contains__(self, key):
        _note(self, key)
        return super().__contains__(key)


class RecordingRequest(flask.Request):
    parameter_storage_class = RecordingDict


# --- the clinic and the walk ----------------------------------------------------------------------


def page_routes(app) -> list[tuple[str, str]]:
    return sorted((method, rule.rule) for rule in app.url_map.iter_rules()
                  if rule.endpoint != "static" and not rule.rule.startswith(NOT_PAGES)
                  for method in rule.methods - {"HEAD", "OPTIONS"})


def role_for(method: str, rule: str) -> str:
    """Who walks the route: anyone's pages anonymously, else coordinator, clinician, admin,
    client, the first the authorization matrix lets in."""
    access = next(r.access for r in ROUTES if (r.method, r.rule) == (method, rule))
    for role in ("anonymous", "coordinator", "clinician", "admin", "client"):
        if access[role] == "allow":
            return role
    raise AssertionError(f"{method} {rule}: no role may use it")


@pytest.fixture
def fuzz_app(database_url):
    """The app with limits out of reach (a 429 would hide what the value does) and recording
    requests. Not RATELIMIT_ENABLED=False: the limiter is one object, and every later app
    would inherit it."""
    plenty = "100000 per minute"
    app = create_app({"CONFIG_NAME": "testing", "SQLALCHEMY_DATABASE_URI": database_url,
                      "RATELIMIT_SIGN_IN": plenty, "RATELIMIT_CHECKIN": plenty,
                      "RATELIMIT_KIOSK": plenty, "RATELIMIT_PASSWORD_RESET": plenty})
    app.test_client_class = IsolatedClient
    app.request_class = RecordingRequest
    with app.app_context():
        if PG_URL:
            reset_postgresql()
        else:
            _db.create_all()
        yield app
        _db.session.remove()
        _db.engine.dispose()


@pytest.fixture
def clinic(fuzz_app, now):
    """A program whose Monday group (18:00 New York) Avery is enrolled in with an active plan;
    Blake can still be enrolled; a user of every role."""
    db = _db.session
    make = Factory(db)
    program = make.program(name="Evening IOP")
    room = make.room(name="Room B")
    therapist = make.staff(name="Dana Reyes")
    series = make.series(program, room_id=room.id, facilitator_ids=[therapist.id],
                         start_date=date(2027, 2, 8), end_date=date(2027, 3, 31),
                         rrule="FREQ=WEEKLY;BYDAY=MO,WE", capacity=12)
    avery = make.client(program, name="Avery Aldridge")
    blake = make.client(program, name="Blake Bramwell")
    booking.enroll_client(db, ACTOR, series.id, avery.id, now=now)
    assessment = plans.record_assessment(db, ACTOR, avery.id, assessed_on=date(2027, 2, 1),
                                         clinician_id=therapist.id, recommended_level="2.1")
    plans.create_plan(db, ACTOR, avery.id, start_date=date(2027, 2, 1),
                      assessment_id=assessment.id)
    sessions = list(db.scalars(select(Session).where(Session.series_id == series.id)
                               .order_by(Session.starts_at)))
    last_night = [s for s in sessions if s.starts_at < now][-1]
    tomorrow = [s for s in sessions if s.starts_at > now][0]
    kiosk.set_pin(db, ACTOR, avery.id, "4821")
    closure = closures.create_closure(db, ACTOR, program, starts_on=date(2027, 3, 24),
                                      ends_on=date(2027, 3, 24), reason="Repairs", now=now,
                                      public_name="Appointments").closure
    proposal = proposals.propose_for_client(db, ACTOR, avery.id, from_date=date(2027, 2, 22),
                                            weeks=1, now=now, seconds=1)
    # An open alert for the alerts page and its acknowledge form.
    alert = Alert(key=f"absence_streak:client={avery.id}:since=admission",
                  kind="absence_streak", client_id=avery.id, program_id=program.id,
                  detail={"unexcused_streak": 2, "last_attended_at": None}, raised_at=now)
    db.add(alert)
    # Sharing outside the clinic: a recipient, its API client and Avery's consent to it.
    kipu = recipients.create_recipient(db, ACTOR, name="Kipu EHR", kind="ehr")
    api_client, _ = recipients.create_fhir_client(db, ACTOR, kipu,
                                                  scopes=["system/Appointment.read"])
    consent = consents.record(db, ACTOR, avery, recipient_id=kipu.id,
                              purpose="Coordination of care", scope=["appointments"],
                              signed_on=date(2027, 2, 10), expires_on=date(2027, 8, 10),
                              now=now)
    db.commit()
    # Signing in with hostile passwords may lock an account: that one is only for /login.
    walker = make.user("coordinator", password=PASSWORD)
    users = {"coordinator": make.user("coordinator"),
             "clinician": make.user("clinician", staff_id=therapist.id),
             "admin": make.user("admin"), "client": make.user("client", client_id=avery.id),
             "anonymous": None}
    # Live one-time links for the set-password pages: a pending invitation, and a reset.
    invited = make.user("client", client_id=make.client(program, name="Casey Invited").id)
    invite_token, _ = account_links.issue_link(db, invited, "invite", now)
    reset_token, _ = account_links.issue_link(db, make.user("clinician"), "reset", now)
    db.commit()
    ids = {"program_id": program.id, "room_id": room.id, "staff_id": therapist.id,
           "series_id": series.id, "client_id": avery.id, "other_client_id": blake.id,
           "session_id": tomorrow.id, "last_night_id": last_night.id,
           "assessment_id": assessment.id, "walker_email": walker.email,
           # The login the logins page acts on: Blake's, which no walker signs in with.
           "user_id": make.user("client", client_id=blake.id).id,
           "invite_token": invite_token, "reset_token": reset_token, "closure_id": closure.id,
           "proposal_id": proposal.id, "site_id": program.site_id, "alert_id": alert.id,
           "recipient_id": kipu.id, "api_client_id": api_client.id, "consent_id": consent.id}
    return {"ids": ids, "users": users}


class Walker:
    """Sends a route's request as its role, with its CSRF token, and notes what it read."""

    def __init__(self, app, clinic):
        self.client = app.test_client()
        self.users, self.ids = clinic["users"], clinic["ids"]
        page = self.client.get("/login").get_data(as_text=True)
        self.csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
        self.signed_in_as: str | None = None

    def path(self, rule: str) -> str:
        ids = {**self.ids, **{k: v.format(**self.ids) for k, v in ROUTE_IDS.get(rule, {}).items()}}

        def fill(match):
            if match.group(1) not in ids:
                raise LookupError(f"{rule}: the clinic fixture has no {match.group(1)}; add one")
            return str(ids[match.group(1)])

        return re.sub(r"<(?:\w+:)?(\w+)>", fill, rule)

    def baseline(self, method: str, rule: str) -> tuple[dict, dict]:
        body = BASELINES.get((method, rule), {})
        if isinstance(body, str):
            body = BASELINES[tuple(body.split(" ", 1))]
        query = QUERIES.get((method, rule), {})
        fill = lambda values: {k: v.format(**self.ids) for k, v in values.items()}  # noqa: E731
        return fill(query), fill(body)

    def send(self, method: str, rule: str, query: dict, body: dict):
        """The answer, or the exception a 500 would have been (TESTING propagates them)."""
        role = role_for(method, rule)
        if role != self.signed_in_as:
            if self.users[role] is None:
                with self.client.session_transaction() as session:
                    # Signed out, keeping the CSRF secret the token was made from.
                    for key in ("_user_id", "_fresh", "_id"):
                        session.pop(key, None)
            else:
                sign_in(self.client, self.users[role])
        # Signing in or out changes who the next request is.
        self.signed_in_as = None if rule in ("/login", "/logout") else role
        url = self.path(rule) + ("?" + _encode(query) if query else "")
        kwargs = {}
        if method in WRITES:
            kwargs = {"data": _encode({"csrf_token": self.csrf, **body}),
                      "content_type": "application/x-www-form-urlencoded"}
        del _READS[:]
        try:
            answer = self.client.open(url, method=method, **kwargs)
        except Exception as error:
            return f"{type(error).__name__}: {str(error).splitlines()[0]}"
        undo = UNDO.get((method, rule))
        if undo and answer.status_code < 400:
            self.send(*undo, *self.baseline(*undo))
        return answer

    def reads(self) -> dict[tuple[str, str], bool]:
        """The names the answer read, each True when a view (not a form) read it."""
        found: dict[tuple[str, str], bool] = {}
        for where, name, by_view in _READS:
            if name != "csrf_token":
                found[(where, name)] = found.get((where, name), False) or by_view
        return found


def _encode(values: dict) -> str:
    """A query string or form body; lone surrogates become the invalid UTF-8 they stand for."""
    def raw(text: str) -> bytes:
        try:
            return text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            return text.encode("utf-8", "surrogatepass")

    return "&".join(f"{quote(raw(k), safe='')}={quote(raw(v), safe='')}"
                    for k, v in values.items())


def discover(walker: Walker, routes) -> tuple[dict, dict]:
    """Each route's names as recorded while it answered its baseline request (a name maps
    to True when a view read it itself); and the answers."""
    found, answers = {}, {}
    for method, rule in routes:
        query, body = walker.baseline(method, rule)
        answers[(method, rule)] = walker.send(method, rule, query, body)
        given = {("args", k): False for k in query} | {("form", k): False for k in body}
        found[(method, rule)] = given | walker.reads()
    return found, answers


def _one_per_row(names) -> list[tuple[str, str]]:
    """The names, but one row of a repeated group: phases-3-name is phases-0-name again."""
    rows = {}
    for where, name in sorted(names):
        rows.setdefault((where, re.sub(r"-\d+-", "-N-", name)), (where, name))
    return sorted(rows.values())


def problem(method: str, rule: str, answer) -> str | None:
    """What is wrong with a page's answer to hostile input, if anything."""
    if isinstance(answer, str):
        return "raised " + answer.strip().splitlines()[-1]
    if answer.status_code >= 500:
        return f"answered {answer.status_code}"
    if rule not in JSON_PAGES and answer.mimetype != "text/html":
        return f"answered {answer.status_code} as {answer.mimetype}, not an HTML page"
    return None


def _ordered(routes):
    # Reads first, then writes; ending a series and cancelling last, so the other writes
    # still find a live series and session.
    last = ("/end", "/cancel")
    return sorted(routes, key=lambda mr: (mr[0] in WRITES, mr[1].endswith(last), mr))


# --- the app and the walk agree -------------------------------------------------------------------


def _form_classes() -> list[type]:
    """Every WTForms form class of the pages (create_app has imported their modules)."""
    found, todo = [], [BaseForm]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("scheduler.web."):
            found.append(cls)
    return sorted(found, key=lambda c: c.__qualname__)


def _leaf_fields(app, cls) -> tuple[list, set[type]]:
    """The inputs of a form class (a FieldList of sub-forms gives phases-0-name …), and the
    classes of the sub-forms it holds."""
    with app.test_request_context(method="POST"):
        form = cls(meta={"csrf": False}) if issubclass(cls, FlaskForm) else cls()
        leaves, inner, todo = [], set(), list(form)
        while todo:
            field = todo.pop()
            if isinstance(field, FormField):
                inner.add(type(field.form))
                todo.extend(field.form)
            elif isinstance(field, FieldList):
                todo.extend(field.entries)
            elif field.name != "csrf_token":
                leaves.append(field)
        return leaves, inner


# Names the views read by hand, and through the page helpers.
HAND_READS = re.compile(
    r"""request\.(args|form)\.get(?:list)?\(\s*"(\w+)"|query_args\.\w+_arg\(\s*"(\w+)"|"""
    r"""posted_text\(\s*"(\w+)\"""")


def _hand_reads() -> set[tuple[str, str]]:
    names = set()
    for path in WEB.glob("*.py"):
        for match in HAND_READS.finditer(path.read_text()):
            where, name, query_name, form_name = match.groups()
            names.add((where, name) if name else ("args", query_name) if query_name
                      else ("form", form_name))
    return names


def test_every_page_form_holds_its_values_to_the_text_rule(fuzz_app):
    """A new form class that skips PageForm/PlainForm would let NUL through to the database."""
    unchecked = [c.__qualname__ for c in _form_classes() if not issubclass(c, TextChecked)]
    assert unchecked == [], "derive these from PageForm or PlainForm (web/form_fields.py)"


def test_every_number_input_refuses_numbers_its_validators_cannot_compare(fuzz_app):
    """WTForms' IntegerField takes a 309-digit number and DecimalField "sNaN", and NumberRange
    then crashes on them; form_fields.WholeNumber and Hours refuse them as typed."""
    plain = [f"{cls.__qualname__}.{field.name}" for cls in _form_classes()
             for field in _leaf_fields(fuzz_app, cls)[0]
             if (isinstance(field, IntegerField) and not isinstance(field, WholeNumber))
             or (isinstance(field, DecimalField) and not isinstance(field, Hours))]
    assert plain == [], "use form_fields.WholeNumber or Hours for these"


def test_the_walk_reaches_every_page_form_field_and_query_parameter(fuzz_app, clinic):
    """What the fuzz test attacks is what the pages read; a name it never saw fails here."""
    walker = Walker(fuzz_app, clinic)
    found, answers = discover(walker, _ordered(page_routes(fuzz_app)))
    seen = set().union(*(names.keys() for names in found.values()))
    fields = {cls: _leaf_fields(fuzz_app, cls) for cls in _form_classes()}
    # A sub-form's inputs are named after its row (phases-0-name): its parent's list has them.
    rows = set().union(*(inner for _, inner in fields.values()))
    missing = []
    for cls, (leaves, _) in fields.items():
        # Search forms read the query string.
        where = "args" if cls.__name__ in ("WeekFilterForm", "SearchForm", "UserPicker") else "form"
        missing += [f"{cls.__qualname__}.{name}" for name in sorted(f.name for f in leaves)
                    if cls not in rows and (where, name) not in seen]
    missing += [f"request.{where}[{name!r}]" for where, name in sorted(_hand_reads())
                if (where, name) not in seen]
    assert not missing, ("No walked page read these; give a route a baseline (BASELINES, "
                         "QUERIES) that reaches them:\n" + "\n".join(missing))
    # And the baselines are valid, so one hostile value among them reaches the services.
    refused = []
    for (method, rule), answer in answers.items():
        if method not in WRITES or (method, rule) not in BASELINES:
            continue
        if isinstance(answer, str):
            refused.append(f"{method} {rule}: {answer}")
        elif answer.status_code in (400, 422) or answer.status_code >= 500:
            refused.append(f"{method} {rule}: {answer.status_code} {_said(answer)}")
    assert not refused, "\n".join(refused)


def _said(answer) -> str:
    """The page's error messages, to say why a baseline was refused."""
    return " ".join(re.findall(r'class="(?:field-error|flash flash-error)"[^>]*>([^<]*)<',
                               answer.get_data(as_text=True)))


# --- the attack ----------------------------------------------------------------------------------


def hostile_text():
    """Text hypothesis draws: control characters, surrogates, digits of other scripts, numbers
    past every integer type, dates in any year, and long runs."""
    characters = st.characters(exclude_categories=())  # surrogates too
    return st.one_of(
        st.sampled_from(HOSTILE),
        st.text(characters, max_size=40),
        st.text(st.sampled_from("\x00\x01\t\n\r\x1b\x7f\x85\u2028\ud800\udcff0123456789-:."),
                max_size=20),
        st.integers(min_value=-(2**80), max_value=2**80).map(str),
        st.dates().map(date.isoformat),
        st.datetimes().map(lambda d: d.strftime("%H:%M")),
        st.text(string.digits, min_size=300, max_size=5000),
    )


def test_no_hostile_value_gets_a_server_error_or_a_non_html_page(fuzz_app, clinic):
    walker = Walker(fuzz_app, clinic)
    routes = _ordered(page_routes(fuzz_app))
    names, _ = discover(walker, routes)
    wrong = []

    def attack(method, rule, where, name, value):
        query, body = walker.baseline(method, rule)
        (query if where == "args" else body)[name] = value
        trouble = problem(method, rule, walker.send(method, rule, query, body))
        if trouble:
            wrong.append(f"{method} {rule} with {where} {name}={value[:40]!r}: {trouble}")

    # Every name of a route at once, with each hostile value.
    for method, rule in routes:
        for value in HOSTILE if names[(method, rule)] else ():
            query, body = walker.baseline(method, rule)
            for where, name in names[(method, rule)]:
                (query if where == "args" else body)[name] = value
            trouble = problem(method, rule, walker.send(method, rule, query, body))
            if trouble:
                wrong.append(f"{method} {rule} with every value {value[:40]!r}: {trouble}")
    # One name at a time inside an otherwise valid request: what passes the form reaches the
    # services and the database.
    for method, rule in routes:
        for where, name in _one_per_row(names[(method, rule)]):
            by_view = names[(method, rule)][(where, name)]
            for value in SINGLES + (HAND_READ_SINGLES if by_view else []):
                attack(method, rule, where, name, value)
    assert wrong == [], "\n".join(wrong[:40]) + f"\n({len(wrong)} in all)"

    targets = sorted((method, rule, where, name) for (method, rule), seen in names.items()
                     for where, name in seen)

    @settings(max_examples=60, derandomize=True, database=None, deadline=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(target=st.sampled_from(targets), value=hostile_text())
    def one_at_a_time(target, value):
        attack(*target, value)
        assert wrong == [], wrong[-1]

    one_at_a_time()
