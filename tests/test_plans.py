"""Assessments and versioned treatment plans: defaults, phases, Medicare dates, roles, audit."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from scheduler import clock
from scheduler.models import AuditEvent, PlanPhase, PlanRequirement, TreatmentPlan
from scheduler.services import plans
from tests.helpers import ACTOR

API = "/api/v1"
TAPER = [
    {"name": "Intensive", "first_week": 1, "last_week": 4,
     "requirements": [{"kind": "group", "sessions_per_week": 3},
                      {"kind": "individual", "sessions_per_week": 1}]},
    {"name": "Step 2", "first_week": 5, "last_week": 9, "weekly_hours_target": 6,
     "requirements": [{"kind": "group", "sessions_per_week": 2}]},
    {"name": "Step-down", "first_week": 10, "last_week": None, "weekly_hours_target": 3,
     "requirements": [{"kind": "group", "sessions_per_week": 1}]},
]


@pytest.fixture
def coordinator(make):
    return make.user("coordinator")


@pytest.fixture
def headers(auth, coordinator):
    return auth.for_user(coordinator)


@pytest.fixture
def program(make):
    return make.program(name="Evening IOP")


@pytest.fixture
def person(make, program):
    return make.client(program)


@pytest.fixture
def therapist(make):
    return make.staff(name="Dr. Rivera")


def plan_body(**kw):
    body = {"start_date": "2027-03-01", "goals": ["30 days sober", "Return to work"]}
    body.update(kw)
    return body


def write_plan(client, headers, client_id, **kw):
    return client.post(f"{API}/clients/{client_id}/plans", json=plan_body(**kw), headers=headers)


def table_rows(db, model):
    db.expire_all()
    rows = db.scalars(select(model).order_by(model.id)).all()
    return [{c.name: getattr(r, c.name) for c in model.__table__.columns} for r in rows]


# --- versioning --------------------------------------------------------------------------------


def test_a_revision_adds_version_2_and_leaves_version_1_as_written(
    client, headers, db, person, therapist
):
    """v1's plan, phase and requirement rows are identical after the revision but for status."""
    v1 = write_plan(client, headers, person.id, primary_therapist_id=therapist.id, phases=TAPER)
    assert v1.status_code == 201, v1.json
    assert (v1.json["version"], v1.json["status"]) == (1, "active")
    plans_before = table_rows(db, TreatmentPlan)
    phases_before = table_rows(db, PlanPhase)
    requirements_before = table_rows(db, PlanRequirement)

    v2 = client.post(f"{API}/plans/{v1.json['id']}/revisions", headers=headers, json={
        "goals": ["60 days sober"],
        "phases": [{"first_week": 1, "last_week": None,
                    "requirements": [{"kind": "behavioral", "sessions_per_week": 2}]}],
    })

    assert v2.status_code == 201, v2.json
    assert (v2.json["version"], v2.json["status"]) == (2, "active")
    assert v2.json["id"] != v1.json["id"]
    assert v2.json["goals"] == ["60 days sober"]
    assert v2.json["primary_therapist_id"] == therapist.id  # carried over
    assert v2.json["start_date"] == "2027-03-01"
    assert [r["kind"] for r in v2.json["phases"][0]["requirements"]] == ["behavioral"]

    [old] = [r for r in table_rows(db, TreatmentPlan) if r["id"] == v1.json["id"]]
    assert old == {**plans_before[0], "status": "superseded"}
    assert [r for r in table_rows(db, PlanPhase) if r["plan_id"] == v1.json["id"]] \
        == phases_before
    old_phase_ids = {p["id"] for p in phases_before}
    assert [r for r in table_rows(db, PlanRequirement) if r["phase_id"] in old_phase_ids] \
        == requirements_before
    assert client.get(f"{API}/plans/{v1.json['id']}", headers=headers).json == {
        **v1.json, "status": "superseded"}


def test_a_revision_without_phases_copies_them(client, headers, person):
    v1 = write_plan(client, headers, person.id, phases=TAPER).json
    v2 = client.post(f"{API}/plans/{v1['id']}/revisions", json={"end_date": "2027-08-31"},
                     headers=headers).json
    strip = [{k: v for k, v in p.items()} for p in v1["phases"]]
    assert v2["phases"] == strip
    assert v2["end_date"] == "2027-08-31"


def test_the_client_plan_list_holds_every_version_newest_first(client, headers, person):
    v1 = write_plan(client, headers, person.id).json
    v2 = client.post(f"{API}/plans/{v1['id']}/revisions", json={"goals": ["B"]},
                     headers=headers).json
    v3 = write_plan(client, headers, person.id, start_date="2027-05-03").json

    listed = client.get(f"{API}/clients/{person.id}/plans", headers=headers).json["items"]

    assert [(p["id"], p["version"], p["status"]) for p in listed] == [
        (v3["id"], 3, "active"), (v2["id"], 2, "superseded"), (v1["id"], 1, "superseded")]


def test_only_the_active_version_can_be_revised(client, headers, person):
    v1 = write_plan(client, headers, person.id).json
    client.post(f"{API}/plans/{v1['id']}/revisions", json={"goals": ["B"]}, headers=headers)
    again = client.post(f"{API}/plans/{v1['id']}/revisions", json={"goals": ["C"]},
                        headers=headers)
    assert again.status_code == 409
    assert "superseded" in again.json["message"]


# --- hours targets and phases ------------------------------------------------------------------


@pytest.mark.parametrize(("level", "population", "hours"), [
    ("2.1", "adult", 9), ("2.1", "adolescent", 6), ("2.5", "adult", 20), ("1", "adult", None)])
def test_the_weekly_hours_target_defaults_from_the_program_level(
    client, headers, make, level, population, hours
):
    person = make.client(make.program(level_of_care=level, population=population))
    answer = write_plan(client, headers, person.id)
    assert answer.status_code == 201, answer.json
    assert answer.json["weekly_hours_target"] == hours


def test_a_stated_weekly_hours_target_wins_over_the_default(client, headers, person):
    assert write_plan(client, headers, person.id,
                      weekly_hours_target=12.5).json["weekly_hours_target"] == 12.5


def test_phases_taper_and_set_their_own_targets(db, person):
    """Weeks 1–4 group 3/week, 5–9 2/week, then an open-ended weekly step-down."""
    plan = plans.create_plan(db, ACTOR, person.id, start_date=date(2027, 3, 3),  # a Wednesday
                             phases=[dict(p) for p in TAPER])
    db.commit()

    def groups(week):
        phase = plans.phase_for_week(plan, week)
        return {r.kind: r.sessions_per_week for r in phase.requirements}["group"]

    assert [groups(w) for w in (1, 4, 5, 9, 10, 52)] == [3, 3, 2, 2, 1, 1]
    assert plans.phase_for_week(plan, 1).name == "Intensive"
    # Week 1 is the Monday-started week holding the start date: Mon 1 March .. Sun 7 March.
    assert plans.week_number(plan, date(2027, 3, 7)) == 1
    assert plans.week_number(plan, date(2027, 3, 8)) == 2
    assert plans.target_hours(plan, date(2027, 3, 3)) == Decimal(9)     # plan's, from 2.1 adult
    assert plans.target_hours(plan, date(2027, 3, 28)) == Decimal(9)    # week 4
    assert plans.target_hours(plan, date(2027, 3, 29)) == Decimal(6)    # week 5
    assert plans.target_hours(plan, date(2027, 5, 2)) == Decimal(6)     # week 9
    assert plans.target_hours(plan, date(2027, 5, 3)) == Decimal(3)     # week 10
    assert plans.target_hours(plan, date(2027, 3, 2)) is None           # before the start


def test_a_gap_between_phases_falls_back_to_the_plan_target(db, person):
    plan = plans.create_plan(db, ACTOR, person.id, start_date=date(2027, 3, 1),
                             weekly_hours_target=Decimal(10), phases=[
                                 {"first_week": 1, "last_week": 2, "weekly_hours_target": 15},
                                 {"first_week": 5, "last_week": 6}])
    assert plans.phase_for_week(plan, 3) is None
    assert plans.target_hours(plan, date(2027, 3, 15)) == Decimal(10)
    assert plans.target_hours(plan, date(2027, 3, 29)) == Decimal(10)  # phase 2 has no own target


# --- certification and review ------------------------------------------------------------------


def test_certification_and_review_fall_due_sixty_days_later(client, headers, person):
    plan = write_plan(client, headers, person.id, certified_on="2027-03-01",
                      reviewed_on="2027-03-02").json
    assert (plan["certification_due"], plan["review_due"]) == ("2027-04-30", "2027-05-01")

    certified = client.post(f"{API}/plans/{plan['id']}/certification",
                            json={"certified_on": "2027-04-20"}, headers=headers)
    reviewed = client.post(f"{API}/plans/{plan['id']}/review",
                           json={"reviewed_on": "2027-04-25"}, headers=headers)

    assert certified.status_code == 200, certified.json
    assert (certified.json["certified_on"], certified.json["certification_due"]) == (
        "2027-04-20", "2027-06-19")
    assert (reviewed.json["reviewed_on"], reviewed.json["review_due"]) == (
        "2027-04-25", "2027-06-24")
    assert reviewed.json["version"] == 1  # paperwork dates do not make a new version


def test_a_revision_keeps_the_certification_and_review_dates(client, headers, person):
    v1 = write_plan(client, headers, person.id, certified_on="2027-03-01").json
    v2 = client.post(f"{API}/plans/{v1['id']}/revisions", json={"goals": ["B"]},
                     headers=headers).json
    assert (v2["certified_on"], v2["certification_due"]) == ("2027-03-01", "2027-04-30")


def test_the_due_list_shows_what_falls_due_within_14_days_and_what_is_overdue(
    client, headers, db, make, program
):
    """Today is 2027-02-16: due on 2027-03-02 is in, 2027-03-03 is not; overdue is in."""
    today = date(2027, 2, 16)
    soon, edge, later, overdue, superseded = (make.client(program) for _ in range(5))

    def certified(person, days_until_due, **kw):
        return plans.create_plan(db, ACTOR, person.id, start_date=date(2026, 10, 1),
                                 certified_on=today + timedelta(days=days_until_due - 60), **kw)

    p_soon = certified(soon, 5, reviewed_on=today - timedelta(days=50))  # review due in 10
    p_edge = certified(edge, 14)
    certified(later, 15)
    p_overdue = certified(overdue, -3)
    old = certified(superseded, 1)
    db.flush()
    plans.revise_plan(db, ACTOR, old.id, {"goals": []})
    plans.record_certification(db, ACTOR, plans.active_plan(db, superseded.id).id, today)
    db.commit()

    assert plans.due_soon(db, today) == [
        (overdue.id, p_overdue.id, "certification", date(2027, 2, 13)),
        (soon.id, p_soon.id, "certification", date(2027, 2, 21)),
        (soon.id, p_soon.id, "review", date(2027, 2, 26)),
        (edge.id, p_edge.id, "certification", date(2027, 3, 2)),
    ]
    items = client.get(f"{API}/plans/due", headers=headers).json["items"]
    assert [(i["plan_id"], i["what"], i["due_on"], i["overdue"]) for i in items] == [
        (p_overdue.id, "certification", "2027-02-13", True),
        (p_soon.id, "certification", "2027-02-21", False),
        (p_soon.id, "review", "2027-02-26", False),
        (p_edge.id, "certification", "2027-03-02", False),
    ]
    assert len(client.get(f"{API}/plans/due?within_days=15",
                          headers=headers).json["items"]) == 5


@pytest.mark.parametrize("utc_hour, overdue", [
    (4, False),  # 23:30 on the 16th in New York: due today, not yet overdue
    (5, True),   # 00:30 on the 17th in New York
])
def test_overdue_is_judged_on_the_clinics_calendar(client, auth, coordinator, db, person,
                                                   utc_hour, overdue):
    due = date(2027, 2, 16)
    plans.create_plan(db, ACTOR, person.id, start_date=date(2026, 10, 1),
                      certified_on=due - timedelta(days=60))
    db.commit()
    with clock.frozen(datetime(2027, 2, 17, utc_hour, 30, tzinfo=UTC)):
        items = client.get(f"{API}/plans/due", headers=auth.for_user(coordinator)).json["items"]
    assert [(i["due_on"], i["overdue"]) for i in items] == [("2027-02-16", overdue)]


def test_paperwork_dates_are_recorded_only_on_the_active_plan(client, headers, person):
    v1 = write_plan(client, headers, person.id).json
    client.post(f"{API}/plans/{v1['id']}/revisions", json={"goals": ["B"]}, headers=headers)
    answer = client.post(f"{API}/plans/{v1['id']}/certification",
                         json={"certified_on": "2027-03-05"}, headers=headers)
    assert answer.status_code == 409


# --- assessments -------------------------------------------------------------------------------


def test_an_assessment_is_recorded_and_a_plan_can_follow_from_it(
    client, headers, person, therapist
):
    answer = client.post(f"{API}/clients/{person.id}/assessments", headers=headers, json={
        "assessed_on": "2027-02-15", "clinician_id": therapist.id,
        "physical_health": "Hypertension", "mental_health": "Moderate depression",
        "substance_use_history": "Alcohol, 10 years", "summary": "Fits IOP",
        "recommended_level": "2.1"})
    assert answer.status_code == 201, answer.json
    assert answer.json["kind"] == "intake"
    got = client.get(f"{API}/assessments/{answer.json['id']}", headers=headers)
    assert got.json == answer.json
    listed = client.get(f"{API}/clients/{person.id}/assessments", headers=headers).json
    assert [a["id"] for a in listed["items"]] == [answer.json["id"]]

    plan = write_plan(client, headers, person.id, assessment_id=answer.json["id"])
    assert plan.status_code == 201
    assert plan.json["assessment_id"] == answer.json["id"]


# --- validation --------------------------------------------------------------------------------


def _errors(answer) -> dict:
    assert answer.status_code == 422, answer.json
    return answer.json["errors"]["json"]


@pytest.mark.parametrize(("change", "path"), [
    ({"end_date": "2027-02-28"}, ["end_date"]),
    ({"primary_therapist_id": 999}, ["primary_therapist_id"]),
    ({"assessment_id": 999}, ["assessment_id"]),
    ({"weekly_hours_target": -1}, ["weekly_hours_target"]),
    ({"goals": [" "]}, ["goals", "0"]),
    ({"phases": [{"first_week": 0}]}, ["phases", "0", "first_week"]),
    ({"phases": [{"first_week": 1, "last_week": 4}, {"first_week": 4, "last_week": 6}]},
     ["phases", "1", "first_week"]),
    ({"phases": [{"first_week": 5, "last_week": 6}, {"first_week": 1, "last_week": 2}]},
     ["phases", "1", "first_week"]),
    ({"phases": [{"first_week": 1, "last_week": None}, {"first_week": 5, "last_week": 6}]},
     ["phases", "1", "first_week"]),
    ({"phases": [{"first_week": 3, "last_week": 2}]}, ["phases", "0", "last_week"]),
    ({"phases": [{"first_week": 1, "requirements": [{"kind": "yoga",
                                                     "sessions_per_week": 1}]}]},
     ["phases", "0", "requirements", "0", "kind"]),
    ({"phases": [{"first_week": 1, "requirements": [{"kind": "group",
                                                     "sessions_per_week": 0}]}]},
     ["phases", "0", "requirements", "0", "sessions_per_week"]),
    ({"phases": [{"first_week": 1, "requirements": [
        {"kind": "group", "sessions_per_week": 1}, {"kind": "group", "sessions_per_week": 2}]}]},
     ["phases", "0", "requirements", "1", "kind"]),
])
def test_a_bad_plan_is_refused_with_422_naming_the_field(
    client, headers, db, person, change, path
):
    answer = write_plan(client, headers, person.id, **change)
    node = _errors(answer)
    for part in path:
        node = node[part]
    assert node
    assert db.scalar(select(func.count(TreatmentPlan.id))) == 0


def test_an_assessment_of_another_client_cannot_back_a_plan(client, headers, make, program,
                                                             therapist, db):
    other = make.client(program)
    person = make.client(program)
    assessment = plans.record_assessment(db, ACTOR, other.id, assessed_on=date(2027, 2, 1),
                                         clinician_id=therapist.id, recommended_level="2.1")
    db.commit()
    errors = _errors(write_plan(client, headers, person.id, assessment_id=assessment.id))
    assert "another client" in errors["assessment_id"][0]


def test_a_bad_revision_writes_nothing(client, headers, db, person):
    v1 = write_plan(client, headers, person.id).json
    answer = client.post(f"{API}/plans/{v1['id']}/revisions", headers=headers,
                         json={"end_date": "2027-01-01"})
    assert "end_date" in _errors(answer)
    assert [(p["version"], p["status"]) for p in table_rows(db, TreatmentPlan)] == [
        (1, "active")]


@pytest.mark.parametrize(("body", "field"), [
    ({"clinician_id": 999}, "clinician_id"),
    ({"recommended_level": "2.2"}, "recommended_level"),
    ({"assessed_on": "1999-12-31"}, "assessed_on"),
    ({"kind": "gossip"}, "kind"),
])
def test_a_bad_assessment_is_refused_with_422_naming_the_field(
    client, headers, person, therapist, body, field
):
    good = {"assessed_on": "2027-02-15", "clinician_id": therapist.id, "recommended_level": "2.1"}
    answer = client.post(f"{API}/clients/{person.id}/assessments", json={**good, **body},
                         headers=headers)
    assert field in _errors(answer)


def test_unknown_clients_and_plans_answer_404(client, headers):
    assert write_plan(client, headers, 999).status_code == 404
    assert client.get(f"{API}/plans/999", headers=headers).status_code == 404
    assert client.post(f"{API}/plans/999/revisions", json={"goals": []},
                       headers=headers).status_code == 404


# --- roles -------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["clinician", "coordinator", "admin"])
def test_clinicians_coordinators_and_admins_write_plans(client, auth, person, therapist, role):
    headers = auth(role)
    assert write_plan(client, headers, person.id).status_code == 201
    assert client.post(f"{API}/clients/{person.id}/assessments", headers=headers, json={
        "assessed_on": "2027-02-15", "clinician_id": therapist.id,
        "recommended_level": "2.1"}).status_code == 201


def test_a_client_reads_only_their_own_plans_and_no_assessments(
    client, auth, headers, make, db, person, therapist
):
    own = write_plan(client, headers, person.id).json
    stranger = make.client()
    other = write_plan(client, headers, stranger.id).json
    assessment = plans.record_assessment(db, ACTOR, person.id, assessed_on=date(2027, 2, 1),
                                         clinician_id=therapist.id, recommended_level="2.1")
    db.commit()
    mine = auth("client", client_id=person.id)

    assert client.get(f"{API}/plans/{own['id']}", headers=mine).status_code == 200
    assert client.get(f"{API}/clients/{person.id}/plans", headers=mine).status_code == 200
    assert client.get(f"{API}/plans/{other['id']}", headers=mine).status_code == 403
    assert client.get(f"{API}/plans/999", headers=mine).status_code == 403
    assert client.get(f"{API}/clients/{stranger.id}/plans", headers=mine).status_code == 403
    assert client.get(f"{API}/clients/{person.id}/assessments", headers=mine).status_code == 403
    assert client.get(f"{API}/assessments/{assessment.id}", headers=mine).status_code == 403
    assert client.get(f"{API}/plans/due", headers=mine).status_code == 403
    assert write_plan(client, mine, person.id).status_code == 403
    assert client.post(f"{API}/plans/{own['id']}/review", json={"reviewed_on": "2027-03-05"},
                       headers=mine).status_code == 403


def test_anonymous_callers_get_401(client, person):
    assert client.get(f"{API}/plans/1").status_code == 401
    assert client.get(f"{API}/clients/{person.id}/plans").status_code == 401
    assert write_plan(client, {}, person.id).status_code == 401


# --- audit -------------------------------------------------------------------------------------


def events(db, since=0):
    db.expire_all()
    return db.scalars(select(AuditEvent).where(AuditEvent.id > since)
                      .order_by(AuditEvent.id)).all()


def test_every_plan_write_is_audited_with_who_before_and_after(
    client, headers, coordinator, db, person, now
):
    start = db.scalar(select(func.max(AuditEvent.id))) or 0
    v1 = write_plan(client, headers, person.id, phases=TAPER[:1]).json
    v2 = client.post(f"{API}/plans/{v1['id']}/revisions", json={"goals": ["Sober"]},
                     headers=headers).json
    client.post(f"{API}/plans/{v2['id']}/certification", json={"certified_on": "2027-03-01"},
                headers=headers)
    client.post(f"{API}/plans/{v2['id']}/review", json={"reviewed_on": "2027-03-02"},
                headers=headers)

    trail = events(db, start)
    assert all((e.actor_user_id, e.actor, e.occurred_at) == (coordinator.id, coordinator.email,
                                                             now) for e in trail)
    assert [(e.entity_id, e.action) for e in trail] == [
        (v1["id"], "create"), (v1["id"], "supersede"), (v2["id"], "revise"),
        (v2["id"], "certify"), (v2["id"], "review")]
    create, supersede, revise, certify, review = trail
    assert create.before is None
    assert create.after["version"] == 1 and create.after["weekly_hours_target"] == "9.00"
    assert create.after["phases"] == [{
        "name": "Intensive", "first_week": 1, "last_week": 4, "weekly_hours_target": None,
        "requirements": [{"kind": "group", "sessions_per_week": 3},
                         {"kind": "individual", "sessions_per_week": 1}]}]
    assert (supersede.before, supersede.after) == ({"status": "active"},
                                                   {"status": "superseded"})
    assert (revise.before, revise.after) == (
        {"version": 1, "goals": ["30 days sober", "Return to work"]},
        {"version": 2, "goals": ["Sober"]})
    assert (certify.before, certify.after) == (
        {"certified_on": None, "certification_due": None},
        {"certified_on": "2027-03-01", "certification_due": "2027-04-30"})
    assert (review.before, review.after) == (
        {"reviewed_on": None, "review_due": None},
        {"reviewed_on": "2027-03-02", "review_due": "2027-05-01"})


def test_an_assessment_is_audited(client, headers, db, person, therapist):
    start = db.scalar(select(func.max(AuditEvent.id))) or 0
    answer = client.post(f"{API}/clients/{person.id}/assessments", headers=headers, json={
        "assessed_on": "2027-02-15", "clinician_id": therapist.id, "summary": "Fits IOP",
        "recommended_level": "2.1"}).json
    [event] = events(db, start)
    assert (event.entity_type, event.action, event.entity_id) == (
        "assessment", "create", answer["id"])
    assert event.after["summary"] == "Fits IOP"
    assert event.after["clinician_id"] == therapist.id
