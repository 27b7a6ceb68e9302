"""Words people understand (issue 17 §5): refusals name people, rooms and sessions, never ids,
and never an internal field name such as `first_week` or `start_date`.

Each refusal is reached through HTTP, on the API and on the pages that share its services.
The API's JSON still names the field in its key (the contract); only the human text is checked.
"""

import csv
import io
import re
from datetime import UTC, date, datetime, time
from html import unescape

import pytest
from sqlalchemy import select

from scheduler import clock
from scheduler.models import AuditEvent, Session
from scheduler.services import access_log, audit, booking
from scheduler.services.recurrence import zone
from tests.helpers import ACTOR, sign_in

API = "/api/v1"
NEW_YORK = zone("America/New_York")

# "session 16", "Staff member 1", "client 22", "room #3": a thing named by its row id.
ID_WORDS = re.compile(r"\b(session|staff member|staff|client|room|series|plan|booking|user)"
                      r"\s+#?\d+\b", re.IGNORECASE)
# first_week, start_date, the series' start_date: a column name where a label belongs.
SNAKE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")
# "phases.0.last_week: …": the API message's prefix naming the field, as the JSON key does.
FIELD_PREFIX = re.compile(r"^[a-z_][\w.]*: ")


def human_texts(body: dict) -> list[str]:
    """The human text of an API error: its message (after the "field: " prefix that names the
    field as the contract does), every field message, and every clash's detail."""
    texts = []
    texts.append(FIELD_PREFIX.sub("", body.get("message", "")))

    def walk(node):
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str):
            texts.append(node)

    walk(body.get("errors", {}))
    texts += [c["detail"] for c in body.get("conflicts", [])]
    return texts


def assert_plain(texts: list[str]) -> None:
    for text in texts:
        assert not ID_WORDS.search(text), text
        assert not SNAKE.search(text), text


def csrf(client, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def ny(day: date, at: time) -> str:
    return datetime.combine(day, at, tzinfo=NEW_YORK).isoformat()


@pytest.fixture
def coordinator(make):
    return make.user("coordinator")


@pytest.fixture
def headers(auth, coordinator):
    return auth.for_user(coordinator)


@pytest.fixture
def clinic(make, db):
    """Monday 1 March 2027, 18:00–21:00 New York: the evening group in Room A, led by Dana,
    with Jordan Rivers booked."""
    program = make.program(name="Evening IOP")
    room_a, room_b = make.room(name="Room A"), make.room(name="Room B")
    dana, lee = make.staff(name="Dana Whitfield"), make.staff(name="Lee Park")
    series = make.series(program, title="Relapse prevention", start_date=date(2027, 3, 1),
                         end_date=date(2027, 3, 1), rrule="FREQ=DAILY", room_id=room_a.id,
                         facilitator_ids=[dana.id])
    group = db.scalars(select(Session).where(Session.series_id == series.id)).one()
    jordan = make.client(program, name="Jordan Rivers")
    return {"program": program, "room_a": room_a, "room_b": room_b, "dana": dana, "lee": lee,
            "series": series, "group": group, "jordan": jordan}


GROUP_WORDS = "Relapse prevention (Mon 2027-03-01 18:00–21:00)"


def one_off(clinic, **body) -> dict:
    return {"program_id": clinic["program"].id, "kind": "individual",
            "starts_at": ny(date(2027, 3, 1), time(19, 0)),
            "ends_at": ny(date(2027, 3, 1), time(20, 0)), **body}


def test_room_and_staff_clashes_name_the_room_the_person_and_the_session(client, headers, clinic):
    response = client.post(f"{API}/sessions", headers=headers, json=one_off(
        clinic, room_id=clinic["room_a"].id, facilitator_ids=[clinic["dana"].id]))
    assert response.status_code == 409, response.json
    details = [c["detail"] for c in response.json["conflicts"]]
    assert f"Room A is used by {GROUP_WORDS}." in details
    assert f"Dana Whitfield facilitates {GROUP_WORDS}." in details
    assert_plain(human_texts(response.json))


def test_a_client_clash_says_which_client(client, headers, clinic):
    booked = client.post(f"{API}/sessions/{clinic['group'].id}/bookings", headers=headers,
                         json={"client_id": clinic["jordan"].id})
    assert booked.status_code == 201, booked.json
    response = client.post(f"{API}/sessions", headers=headers, json=one_off(
        clinic, room_id=clinic["room_b"].id, client_id=clinic["jordan"].id))
    assert response.status_code == 409, response.json
    details = [c["detail"] for c in response.json["conflicts"]]
    assert f"Jordan Rivers is already booked into {GROUP_WORDS}." in details
    assert_plain(human_texts(response.json))


def test_admission_and_discharge_refusals_say_which_client(client, headers, clinic, make):
    later = make.client(clinic["program"], name="Sam Okafor", admitted_on=date(2027, 6, 1))
    response = client.post(f"{API}/sessions/{clinic['group'].id}/bookings", headers=headers,
                           json={"client_id": later.id})
    assert response.status_code == 409, response.json
    [detail] = [c["detail"] for c in response.json["conflicts"]]
    assert detail.startswith("Sam Okafor is not admitted until "), detail
    assert "Tue 2027-06-01" in detail or "1 June 2027" in detail, detail
    assert_plain(human_texts(response.json))

    gone = make.client(clinic["program"], name="Ana Ruiz", admitted_on=date(2027, 1, 4),
                       discharged_on=date(2027, 2, 20))
    response = client.post(f"{API}/sessions/{clinic['group'].id}/bookings", headers=headers,
                           json={"client_id": gone.id})
    assert response.status_code == 409, response.json
    [detail] = [c["detail"] for c in response.json["conflicts"]]
    assert detail.startswith("Ana Ruiz was discharged on "), detail
    assert_plain(human_texts(response.json))


def test_an_unavailable_window_says_whose(client, headers, clinic):
    put = client.put(f"{API}/clients/{clinic['jordan'].id}/availability", headers=headers,
                     json={"unavailable": [{"weekday": 0, "start": "17:00", "end": "22:00",
                                            "label": "work"}]})
    assert put.status_code == 200, put.json
    response = client.post(f"{API}/sessions/{clinic['group'].id}/bookings", headers=headers,
                           json={"client_id": clinic["jordan"].id})
    assert response.status_code == 409, response.json
    [detail] = [c["detail"] for c in response.json["conflicts"]]
    assert detail.startswith("Jordan Rivers is unavailable Mon 17:00–22:00"), detail
    assert_plain(human_texts(response.json))


def test_the_session_page_names_the_clash_in_words(client, coordinator, clinic, make, db):
    other = make.series(clinic["program"], title="Skills", start_date=date(2027, 3, 2),
                        end_date=date(2027, 3, 2), rrule="FREQ=DAILY",
                        room_id=clinic["room_a"].id)
    skills = db.scalars(select(Session).where(Session.series_id == other.id)).one()
    sign_in(client, coordinator)
    page = client.post(f"/sessions/{skills.id}/move",
                       data={"new_date": "2027-03-01", "new_time": "18:30",
                             "csrf_token": csrf(client, f"/sessions/{skills.id}")})
    text = page.get_data(as_text=True)
    assert page.status_code == 409, text
    assert f"Room A is used by {GROUP_WORDS}." in text
    assert not ID_WORDS.search(text.split("<main", 1)[-1])


# --- internal field names ------------------------------------------------------------------


def refusals(clinic, make) -> list[tuple[str, str, dict]]:
    """(method, path, body) of requests refused by a rule whose message once named a field."""
    group, series, jordan = clinic["group"], clinic["series"], clinic["jordan"]
    sunday = ny(date(2027, 2, 28), time(18, 0))
    return [
        # The API's own checks of a request.
        ("PATCH", f"/sessions/{group.id}", {"starts_at": ny(date(2027, 3, 1), time(18, 0)),
                                            "ends_at": sunday}),
        ("POST", "/sessions", one_off(clinic, ends_at=ny(date(2027, 3, 1), time(18, 0)))),
        ("POST", "/series", {"program_id": clinic["program"].id, "kind": "group",
                             "title": "Skills", "start_date": "2027-03-08",
                             "end_date": "2027-03-01", "rrule": "FREQ=DAILY",
                             "start_time": "19:00", "duration_minutes": 60}),
        ("POST", f"/staff/{clinic['dana'].id}/time-off",
         {"starts_at": ny(date(2027, 3, 1), time(9, 0)), "ends_at": sunday}),
        # The services' rules, which the pages show too.
        ("PATCH", f"/sessions/{group.id}", {"ends_at": sunday}),
        ("POST", f"/series/{series.id}/end", {"end_date": "2027-02-01", "reason": "Moved"}),
        ("PATCH", f"/clients/{jordan.id}", {"discharged_on": "2027-01-01"}),
        ("POST", f"/series/{series.id}/enrollments",
         {"client_id": jordan.id, "start_date": "2027-03-01", "end_date": "2027-02-01"}),
        ("POST", f"/clients/{jordan.id}/plans",
         {"start_date": "2027-03-01", "end_date": "2027-02-01"}),
        ("POST", f"/clients/{jordan.id}/plans",
         {"start_date": "2027-03-01", "phases": [{"first_week": 3, "last_week": 2}]}),
    ]


def test_no_refusal_names_an_internal_field(client, headers, clinic, make):
    for method, path, body in refusals(clinic, make):
        response = client.open(f"{API}{path}", method=method, json=body, headers=headers)
        assert 400 <= response.status_code < 500, (path, response.status_code, response.json)
        assert response.json.get("errors") or response.json.get("message"), response.json
        assert_plain(human_texts(response.json))


def test_plan_dates_before_the_plan_are_refused_in_words(client, headers, clinic):
    plan = client.post(f"{API}/clients/{clinic['jordan'].id}/plans", headers=headers,
                       json={"start_date": "2027-02-01"})
    assert plan.status_code == 201, plan.json
    response = client.post(f"{API}/plans/{plan.json['id']}/review", headers=headers,
                           json={"reviewed_on": "2027-01-15"})
    assert response.status_code == 422, response.json
    assert "reviewed_on" in response.json["errors"]["json"]  # the contract keeps the key
    assert_plain(human_texts(response.json))


def test_a_page_never_shows_a_bare_field_name_when_it_has_no_label_for_it():
    from scheduler.services.errors import InvalidField
    from scheduler.web.refusals import describe

    assert describe(InvalidField("room_id", "Room 'B' is not in use.")) == \
        "Room: Room 'B' is not in use."
    assert describe(InvalidField("phases.0.last_week", "Must not be before the first week.")) \
        == "Last week: Must not be before the first week."


# --- the audit page --------------------------------------------------------------------------


def audit_rows(page: str) -> list[str]:
    if 'id="events"' not in page:
        return []
    body = page.split('id="events"', 1)[1].split("</tbody>", 1)[0]
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()
            for row in re.findall(r"<tr>(.*?)</tr>", body.split("<tbody>", 1)[1], re.S)]


def session_events(db, session_id: int) -> list[str]:
    db.expire_all()
    return [e.action for e in db.scalars(
        select(AuditEvent).where(AuditEvent.entity_type == "session",
                                 AuditEvent.entity_id == session_id).order_by(AuditEvent.id))]


def test_a_cancellation_is_audited_as_one_not_as_an_override(client, headers, clinic, db):
    group = clinic["group"]
    for body in ({"status": "cancelled", "reason": "Snow"}, {"status": "scheduled"},
                 {"room_id": clinic["room_b"].id}):
        answer = client.patch(f"{API}/sessions/{group.id}", json=body, headers=headers)
        assert answer.status_code == 200, answer.json
    assert session_events(db, group.id)[-3:] == ["cancel", "restore", "override"]


def test_the_session_page_cancel_is_audited_as_a_cancellation(client, coordinator, clinic, db):
    sign_in(client, coordinator)
    group = clinic["group"]
    answer = client.post(f"/sessions/{group.id}/cancel",
                         data={"reason": "Snow", "csrf_token": csrf(client,
                                                                    f"/sessions/{group.id}")})
    assert answer.status_code == 302
    assert session_events(db, group.id)[-1] == "cancel"


def test_every_action_the_code_files_is_in_the_one_list():
    """audit.ACTIONS is what the audit page offers; an action filed but missing from it
    could not be searched for by a person."""
    import ast
    import pathlib

    import scheduler

    filed = set()
    for path in pathlib.Path(scheduler.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", getattr(node.func, "id", None))
            if name == "record" and len(node.args) >= 3 and isinstance(node.args[2],
                                                                       ast.Constant):
                filed.add(node.args[2].value)
            if name in ("record", "record_access", "log_read", "_record_date"):
                filed |= {k.value.value for k in node.keywords
                          if k.arg == "action" and isinstance(k.value, ast.Constant)}
                filed |= {a.value for a in node.args[-1:] if name == "_record_date"
                          and isinstance(a, ast.Constant)}
    filed |= set(access_log.ACCESS_ACTIONS)
    assert filed >= {"cancel", "read", "certify", "review"}
    # sessions.session_action chooses among these for a change to one session.
    filed |= {"cancel", "restore", "override"}
    assert filed - set(audit.ACTIONS) == set()


@pytest.fixture
def admin(make):
    return make.user("admin")


def test_the_audit_page_names_records_in_local_time_and_filters_every_action(
        client, admin, auth, headers, coordinator, clinic, db, make):
    group, jordan = clinic["group"], clinic["jordan"]
    assert client.post(f"{API}/sessions/{group.id}/bookings", headers=headers,
                       json={"client_id": jordan.id}).status_code == 201
    assert client.patch(f"{API}/sessions/{group.id}", headers=headers,
                        json={"status": "cancelled", "reason": "Snow"}).status_code == 200
    # A row filed before issue 17: a cancellation under "override".
    db.add(AuditEvent(occurred_at=datetime(2027, 2, 1, 23, 30, tzinfo=UTC), actor="old",
                      action="override", entity_type="session", entity_id=group.id,
                      before={"status": "scheduled"},
                      after={"status": "cancelled", "cancel_reason": "Ice"}))
    db.commit()
    sign_in(client, admin)

    page = client.get("/audit").get_data(as_text=True)
    rows = audit_rows(page)
    # (PostgreSQL keeps a JSON object's keys in its own order: the fields are compared as a set.)
    [cancel] = [r for r in rows if r.startswith(
        f"Tue 16 Feb 2027 07:00:00 {coordinator.email} from 127.0.0.1 Cancelled {GROUP_WORDS} ")]
    assert cancel.endswith(" — Snow"), cancel
    assert {f.strip().lower() for f in cancel.split(f"{GROUP_WORDS} ", 1)[1]
            .removesuffix(" — Snow").split(",")} == {
        "status", "cancelled by", "cancel reason", "is overridden", "sequence"}, cancel
    assert any(r.startswith(f"Tue 16 Feb 2027 07:00:00 {coordinator.email} from 127.0.0.1 "
                            f"Booked Jordan Rivers at {GROUP_WORDS} ") for r in rows), rows
    # 23:30 UTC on 1 February is 18:30 in New York; the old row reads as a cancellation.
    assert any(r.startswith(f"Mon 1 Feb 2027 18:30:00 old Cancelled {GROUP_WORDS} ")
               for r in rows), rows
    assert "times in the clinic's time zone, America/New_York" in page
    for text in rows:
        assert not ID_WORDS.search(text), text
        assert not SNAKE.search(text), text
    # The client's name links to the client; showing it is a logged look.
    assert f'href="/clients/{jordan.id}">Jordan Rivers</a>' in page
    db.expire_all()
    assert db.scalar(select(AuditEvent).where(
        AuditEvent.action == "read", AuditEvent.entity_type == "client",
        AuditEvent.entity_id == jordan.id, AuditEvent.actor_user_id == admin.id)) is not None

    offered = re.findall(r'<option value="([a-z_]+)"', page.split('id="action"', 1)[1]
                         .split("</select>", 1)[0])
    assert offered == list(audit.ACTIONS)
    cancelled = audit_rows(client.get("/audit?action=cancel").get_data(as_text=True))
    # The filter finds what the rows say: the old "override" row is a cancellation too.
    assert len(cancelled) == 2, cancelled
    assert all(f"Cancelled {GROUP_WORDS}" in row for row in cancelled), cancelled
    assert any(r.startswith("Mon 1 Feb 2027 18:30:00 old ") for r in cancelled), cancelled
    overridden = audit_rows(client.get("/audit?action=override").get_data(as_text=True))
    assert not any(r.startswith("Mon 1 Feb 2027 18:30:00 old ") for r in overridden), overridden
    # The API searches rows as written, as its documentation says.
    api = client.get(f"{API}/audit-events?action=override&entity_type=session",
                     headers=auth.for_user(admin))
    assert [e["actor"] for e in api.get_json()["items"]] == ["old"], api.get_json()


def test_the_audit_pages_days_are_the_clinics_days(client, admin, db, make):
    make.program()  # in New York
    # 02:00 UTC on 3 March is still 2 March in New York.
    db.add(AuditEvent(occurred_at=datetime(2027, 3, 3, 2, 0, tzinfo=UTC), actor="night",
                      action="update", entity_type="room", entity_id=None, after={"name": "B"}))
    db.commit()
    sign_in(client, admin)
    rows = audit_rows(client.get("/audit?from=2027-03-02&to=2027-03-02")
                      .get_data(as_text=True))
    assert any(r.startswith("Tue 2 Mar 2027 21:00:00 night Changed") for r in rows), rows


def test_the_audit_page_names_closures_episodes_and_program_and_room_links(
        client, admin, auth, headers, clinic, db):
    """Issue 17's own records read by name, not as "Closure (no longer on record)" while the
    closure is still in force."""
    program, jordan, room = clinic["program"], clinic["jordan"], clinic["room_a"]
    closed = client.post(f"{API}/programs/{program.id}/closures", headers=headers,
                         json={"starts_on": "2027-03-01", "ends_on": "2027-03-02",
                               "reason": "Snow"})
    assert closed.status_code == 201, closed.json
    assert client.post(f"{API}/clients/{jordan.id}/discharge", headers=headers,
                       json={"date": "2027-02-16", "reason": "Moved"}).status_code == 200
    readmitted = client.post(f"{API}/clients/{jordan.id}/episodes", headers=headers,
                             json={"admitted_on": "2027-02-17", "program_id": program.id})
    assert readmitted.status_code == 201, readmitted.json
    admin_headers = auth.for_user(admin)
    for path in (f"programs/{program.id}", f"rooms/{room.id}"):
        issued = client.post(f"{API}/{path}/feed", headers=admin_headers)
        assert issued.status_code == 201, issued.json
    sign_in(client, admin)

    rows = [unescape(r) for r in audit_rows(client.get("/audit").get_data(as_text=True))]
    assert any(" Program closed Evening IOP closed Mon 2027-03-01 to Tue 2027-03-02 " in r
               for r in rows), rows
    assert any(" Created Jordan Rivers's stay in Evening IOP from Wed 2027-02-17 " in r
               for r in rows), rows
    assert any(" Calendar link issued Evening IOP's calendar link " in r for r in rows), rows
    assert any(" Calendar link issued Room A's calendar link " in r for r in rows), rows
    assert not [r for r in rows if "no longer on record" in r], rows


# --- staff CSV exports -----------------------------------------------------------------------


def csv_rows(answer) -> list[dict]:
    assert answer.status_code == 200 and answer.mimetype == "text/csv", answer.data[:300]
    return list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))


def test_a_staff_export_carries_names_only_when_asked_and_logs_that_it_did(
        client, auth, clinic, make, db):
    # Dana leads the group Jordan is booked into: Jordan is on her caseload.
    clinician = make.user("clinician", staff_id=clinic["dana"].id)
    headers = auth.for_user(clinician)
    query = f"program_id={clinic['program'].id}&from=2027-03-01&to=2027-03-07&format=csv"
    booking.book_client(db, ACTOR, clinic["group"].id, clinic["jordan"].id, now=clock.now())
    db.commit()

    plain = csv_rows(client.get(f"{API}/reports/weekly-hours?{query}", headers=headers))
    assert plain and "client_name" not in plain[0]
    named = csv_rows(client.get(f"{API}/reports/weekly-hours?{query}&names=1",
                                headers=headers))
    assert [(r["client_id"], r["client_name"]) for r in named] == \
        [(str(clinic["jordan"].id), "Jordan Rivers")]

    db.expire_all()
    exports = db.scalars(select(AuditEvent).where(
        AuditEvent.action == "export", AuditEvent.entity_id == clinic["jordan"].id)
        .order_by(AuditEvent.id)).all()
    # Who, what and when; the one with names says so.
    assert [(e.actor_user_id, e.after["resource"], e.after.get("names"), e.occurred_at)
            for e in exports] == [(clinician.id, "weekly-hours", None, clock.now()),
                                  (clinician.id, "weekly-hours", True, clock.now())]


def test_an_export_gives_local_times_and_names_the_zone(client, auth, clinic):
    headers = auth("coordinator")
    query = f"program_id={clinic['program'].id}&from=2027-03-01&to=2027-03-01&format=csv"
    [row] = csv_rows(client.get(f"{API}/reports/census?{query}", headers=headers))
    assert (row["starts_at"], row["ends_at"], row["time_zone"]) == (
        "2027-03-01 18:00", "2027-03-01 21:00", "America/New_York")


def test_names_come_only_in_a_file(client, auth, clinic):
    answer = client.get(f"{API}/reports/follow-up?program_id={clinic['program'].id}&names=1",
                        headers=auth("coordinator"))
    assert answer.status_code == 422
    assert "names" in answer.json["errors"]["query"]
    assert_plain(human_texts(answer.json))


def test_the_reports_page_offers_the_download_with_names(client, clinic, make):
    sign_in(client, make.user("coordinator"))
    page = client.get(f"/reports?program={clinic['program'].id}").get_data(as_text=True)
    links = [unescape(link) for link in re.findall(r'href="([^"]*names=1[^"]*)"', page)]
    assert {link.split("?")[0] for link in links} == {"/api/v1/reports/weekly-hours",
                                                       "/api/v1/reports/attendance-rates"}
    for link in links:
        answer = client.get(link)
        assert answer.status_code == 200 and answer.mimetype == "text/csv"
        assert '"client_name"' in answer.get_data(as_text=True).splitlines()[0]


# --- pages: refusals and jargon --------------------------------------------------------------


def main_text(page: str) -> str:
    main = page.split("<main", 1)[-1].split("</main>", 1)[0]
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main)))


def test_a_paperwork_refusal_on_the_client_page_is_in_words(client, headers, clinic, make):
    jordan = clinic["jordan"]
    # Dana is Jordan's primary therapist: the plan is on her caseload.
    assert client.post(f"{API}/clients/{jordan.id}/plans", headers=headers,
                       json={"start_date": "2027-02-01",
                             "primary_therapist_id": clinic["dana"].id}).status_code == 201
    sign_in(client, make.user("clinician", staff_id=clinic["dana"].id))
    answer = client.post(f"/clients/{jordan.id}/plan/review",
                         data={"on": "2027-01-15",
                               "csrf_token": csrf(client, f"/clients/{jordan.id}")})
    assert answer.status_code == 422
    text = main_text(answer.get_data(as_text=True))
    assert "Plan review not recorded: Date: Must not be before the plan starts, " \
        "Mon 2027-02-01." in text
    assert "reviewed_on" not in text


def test_the_plan_says_whose_hours_a_phase_follows_in_plain_words(client, headers, clinic, make):
    jordan = clinic["jordan"]
    plan = client.post(f"{API}/clients/{jordan.id}/plans", headers=headers, json={
        "start_date": "2027-02-01", "weekly_hours_target": 9,
        "primary_therapist_id": clinic["dana"].id,
        "phases": [{"name": "Start", "first_week": 1, "last_week": 4},
                   {"name": "Step down", "first_week": 5, "weekly_hours_target": 6}]})
    assert plan.status_code == 201, plan.json
    sign_in(client, make.user("clinician", staff_id=clinic["dana"].id))
    text = main_text(client.get(f"/clients/{jordan.id}").get_data(as_text=True))
    assert "Start 1–4 9 h, as the whole plan" in text
    assert "Step down 5 onwards 6 h" in text
    assert "plan's" not in text and "Target:" not in text
