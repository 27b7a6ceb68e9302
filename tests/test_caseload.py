"""Need to know (issue 19): a clinician reads the clinical records of their caseload, and breaks
the glass, audited and alerted, for anyone else.

Avery Stone's plan names Dana her primary therapist; Lee leads Avery's session on Thursday
18 February; Sam has never met her. The clinic's clock stands at Tue 16 February 2027 12:00 UTC.
"""

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from scheduler import clock
from scheduler.models import Alert, AuditEvent, Booking, BreakGlassGrant
from scheduler.services import attendance, booking, caseload, plans, sessions
from tests import mailbox
from tests.helpers import ACTOR, sign_in
from tests.test_words import assert_plain, human_texts

inbox = mailbox.inbox  # a real SMTP server, as a fixture
API = "/api/v1"
NOW = datetime(2027, 2, 16, 12, 0, tzinfo=UTC)
SESSION_AT = datetime(2027, 2, 18, 23, 0, tzinfo=UTC)  # Thu 18:00 New York
WINDOW = timedelta(days=caseload.Policy().window_days)


@pytest.fixture
def clinic(db, make):
    program = make.program(name="Evening IOP")
    dana, lee = make.staff(name="Dana Reyes"), make.staff(name="Lee Park")
    sam = make.staff(name="Sam Ortiz")
    avery = make.client(program, name="Avery Stone")
    assessment = plans.record_assessment(db, ACTOR, avery.id, assessed_on=date(2027, 1, 4),
                                         clinician_id=dana.id, recommended_level="2.1")
    plan = plans.create_plan(db, ACTOR, avery.id, start_date=date(2027, 1, 4),
                             primary_therapist_id=dana.id, goals=["Stay sober at work events"])
    session = sessions.create_one_off(
        db, ACTOR, now=clock.now(), program_id=program.id, kind="individual",
        starts_at=SESSION_AT, ends_at=SESSION_AT + timedelta(hours=1), facilitator_ids=[lee.id],
        client_id=avery.id)
    db.commit()
    return {
        "program": program, "avery": avery, "assessment": assessment, "plan": plan,
        "session": session,
        "dana": make.user("clinician", staff_id=dana.id),
        "lee": make.user("clinician", staff_id=lee.id),
        "sam": make.user("clinician", staff_id=sam.id),
        "admin": make.user("admin"), "coordinator": make.user("coordinator"),
    }


def reads(client, auth, user, avery_id: int) -> dict:
    """What the user gets at each clinical read of Avery's record, by API."""
    headers = auth.for_user(user)
    return {path: client.get(f"{API}/clients/{avery_id}/{path}", headers=headers).status_code
            for path in ("assessments", "plans", "episodes")}


ALLOWED = {"assessments": 200, "plans": 200, "episodes": 200}
REFUSED = {"assessments": 403, "plans": 403, "episodes": 403}


def denied_rows(db, user) -> list[AuditEvent]:
    db.expire_all()
    return db.scalars(select(AuditEvent).where(AuditEvent.action == "denied",
                                               AuditEvent.actor_user_id == user.id)).all()


# --- who is on the caseload --------------------------------------------------------------------


def test_a_clinician_who_never_met_the_client_is_refused_in_words_and_logged(client, auth, db,
                                                                            clinic):
    avery = clinic["avery"]
    headers = auth.for_user(clinic["sam"])
    answer = client.get(f"{API}/clients/{avery.id}/assessments", headers=headers)
    assert answer.status_code == 403
    message = answer.json["message"]
    assert "Avery Stone is not on your caseload" in message
    assert f"/api/v1/clients/{avery.id}/break-glass" in message and "reason" in message
    assert_plain(human_texts(answer.json))  # names the client, not her id or a column
    assert client.get(f"{API}/assessments/{clinic['assessment'].id}",
                      headers=headers).status_code == 403
    assert client.get(f"{API}/plans/{clinic['plan'].id}", headers=headers).status_code == 403
    assert reads(client, auth, clinic["sam"], avery.id) == REFUSED
    # The client's details and schedule are not clinical: still open to staff.
    assert client.get(f"{API}/clients/{avery.id}", headers=headers).status_code == 200
    logged = denied_rows(db, clinic["sam"])
    assert {(e.entity_id, e.after["resource"]) for e in logged} >= {
        (avery.id, "assessments"), (avery.id, "plans"), (avery.id, "episodes"),
        (avery.id, "assessment"), (avery.id, "plan")}


def test_a_plan_change_outside_the_caseload_is_refused_before_the_body_is_read(client, auth, db,
                                                                              clinic):
    headers = auth.for_user(clinic["sam"])
    plan_id = clinic["plan"].id
    for path, body in (("revisions", {"goals": ["Mine now"]}),
                       ("review", {"reviewed_on": "2027-02-16"}), ("certification", {})):
        answer = client.post(f"{API}/plans/{plan_id}/{path}", headers=headers, json=body)
        assert answer.status_code == 403, path
    db.expire_all()
    assert db.scalar(select(func.count()).where(
        plans.TreatmentPlan.client_id == clinic["avery"].id)) == 1


def test_the_client_page_outside_the_caseload_holds_back_the_clinical_sections(client, db,
                                                                               clinic):
    avery = clinic["avery"]
    sign_in(client, clinic["sam"])
    page = client.get(f"/clients/{avery.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Avery Stone" in html and "Clinical record not shown" in html
    assert "Break the glass" in html and 'id="break-glass-reason"' in html
    for clinical in ("Treatment plan", "Stay sober at work events", "Attendance history",
                     "Episodes of care", "Hours per week"):
        assert clinical not in html, clinical
    assert (avery.id, "clinical_record") in {(e.entity_id, e.after["resource"])
                                             for e in denied_rows(db, clinic["sam"])}
    revise = client.get(f"/clients/{avery.id}/plan/revise")
    assert revise.status_code == 403
    assert "Avery Stone is not on your caseload" in revise.get_data(as_text=True)
    assert "Break the glass on the client" in revise.get_data(as_text=True)


def test_the_primary_therapist_reads_the_record(client, auth, clinic):
    assert reads(client, auth, clinic["dana"], clinic["avery"].id) == ALLOWED
    sign_in(client, clinic["dana"])
    html = client.get(f"/clients/{clinic['avery'].id}").get_data(as_text=True)
    assert "Treatment plan" in html and "Stay sober at work events" in html
    assert "Clinical record not shown" not in html
    assert client.get(f"/clients/{clinic['avery'].id}/plan/revise").status_code == 200


def test_handing_the_plan_to_another_therapist_ends_the_first_ones_access(client, auth, db,
                                                                          clinic):
    plans.revise_plan(db, ACTOR, clinic["plan"].id,
                      {"primary_therapist_id": clinic["sam"].staff_id})
    db.commit()
    assert reads(client, auth, clinic["dana"], clinic["avery"].id) == REFUSED
    assert reads(client, auth, clinic["sam"], clinic["avery"].id) == ALLOWED


def test_the_facilitator_reads_the_record_within_the_window_either_side(client, auth, clinic):
    avery_id = clinic["avery"].id
    assert reads(client, auth, clinic["lee"], avery_id) == ALLOWED
    for at, expected in ((SESSION_AT - WINDOW + timedelta(minutes=1), ALLOWED),
                         (SESSION_AT - WINDOW - timedelta(minutes=1), REFUSED),
                         (SESSION_AT + WINDOW - timedelta(minutes=1), ALLOWED),
                         (SESSION_AT + WINDOW + timedelta(minutes=1), REFUSED)):
        with clock.frozen(at):
            assert reads(client, auth, clinic["lee"], avery_id) == expected, at


@pytest.mark.own_app
def test_the_window_is_a_setting(app, client, auth, clinic):
    app.config["CASELOAD_WINDOW_DAYS"] = 1  # Thursday's session is two days off
    assert reads(client, auth, clinic["lee"], clinic["avery"].id) == REFUSED


def test_a_cancelled_booking_is_no_reason_to_read(client, auth, db, clinic):
    booking_id = db.scalar(select(Booking.id).where(Booking.session_id == clinic["session"].id))
    booking.cancel_booking(db, ACTOR, booking_id, now=clock.now())
    db.commit()
    assert reads(client, auth, clinic["lee"], clinic["avery"].id) == REFUSED


def test_admins_and_coordinators_are_not_held_to_a_caseload(client, auth, clinic):
    for role in ("admin", "coordinator"):
        assert reads(client, auth, clinic[role], clinic["avery"].id) == ALLOWED, role


def test_the_caseload_as_a_list_filter(db, clinic):
    policy = caseload.Policy()

    def ids(user):
        return set(db.scalars(caseload.caseload_client_ids(user, clock.now(), policy)))

    avery = clinic["avery"].id
    assert ids(clinic["dana"]) == ids(clinic["lee"]) == {avery}
    assert ids(clinic["sam"]) == set()
    caseload.break_glass(db, ACTOR, clinic["sam"], avery, "Covering", clock.now(), policy)
    db.commit()
    assert ids(clinic["sam"]) == {avery}
    with clock.frozen(NOW + timedelta(hours=2)):
        assert ids(clinic["sam"]) == set()


def test_plans_due_lists_only_the_caseloads_plans_for_a_clinician(client, auth, db, clinic):
    plans.record_certification(db, ACTOR, clinic["plan"].id, date(2027, 1, 4))  # due 5 March
    db.commit()

    def due(user):
        answer = client.get(f"{API}/plans/due", query_string={"within_days": 30},
                            headers=auth.for_user(user))
        return {item["client_id"] for item in answer.json["items"]}

    assert due(clinic["dana"]) == due(clinic["coordinator"]) == {clinic["avery"].id}
    assert due(clinic["sam"]) == set()


# --- breaking the glass -------------------------------------------------------------------------


def test_breaking_the_glass_opens_the_record_for_an_hour_audited_and_alerted(client, auth, db,
                                                                             clinic):
    avery, sam = clinic["avery"], clinic["sam"]
    assert reads(client, auth, sam, avery.id) == REFUSED
    answer = client.post(f"{API}/clients/{avery.id}/break-glass", headers=auth.for_user(sam),
                         json={"reason": "  Covering Dana's crisis call  "})
    assert answer.status_code == 201, answer.json
    assert answer.json == {"client_id": avery.id, "reason": "Covering Dana's crisis call",
                           "expires_at": (NOW + timedelta(hours=1)).isoformat()}
    assert reads(client, auth, sam, avery.id) == ALLOWED

    db.expire_all()
    [event] = db.scalars(select(AuditEvent).where(AuditEvent.action == "break_glass")).all()
    assert (event.actor_user_id, event.entity_type, event.entity_id, event.reason,
            event.occurred_at) == (sam.id, "client", avery.id, "Covering Dana's crisis call", NOW)
    [alert] = db.scalars(select(Alert).where(Alert.kind == "break_glass")).all()
    assert (alert.client_id, alert.program_id) == (avery.id, clinic["program"].id)
    assert alert.detail["by"] == "Sam Ortiz"

    listed = client.get(f"{API}/alerts", query_string={"kind": "break_glass"},
                        headers=auth.for_user(clinic["admin"]))
    assert [item["id"] for item in listed.json["items"]] == [alert.id]
    assert listed.json["items"][0]["detail"]["reason"] == "Covering Dana's crisis call"
    # The reason is the admins' to review; other staff's alert lists leave it out.
    for role in ("coordinator", "dana"):
        others = client.get(f"{API}/alerts", headers=auth.for_user(clinic[role]))
        assert alert.id not in {item["id"] for item in others.json["items"]}, role

    with clock.frozen(NOW + timedelta(minutes=59)):
        assert reads(client, auth, sam, avery.id) == ALLOWED
    with clock.frozen(NOW + timedelta(minutes=60)):
        assert reads(client, auth, sam, avery.id) == REFUSED


@pytest.mark.parametrize("body", [
    {}, {"reason": ""}, {"reason": "   "}, {"reason": None}, {"reason": 12},
    {"reason": "a" * 501}, {"reason": "two\nlines"}, {"reason": "nul\x00"},
    {"reason": "\ud800"}, {"reason": ["Covering"]},
])
def test_a_hostile_reason_is_refused_naming_the_field_and_writes_nothing(client, auth, db,
                                                                        clinic, body):
    answer = client.post(f"{API}/clients/{clinic['avery'].id}/break-glass",
                         headers=auth.for_user(clinic["sam"]), json=body)
    assert answer.status_code == 422, answer.json
    assert "reason" in answer.json["errors"]["json"]
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(BreakGlassGrant)) == 0
    assert db.scalar(select(func.count()).select_from(Alert)) == 0


def test_only_clinicians_break_the_glass_and_a_missing_client_is_404(client, auth, clinic):
    for role in ("admin", "coordinator"):
        answer = client.post(f"{API}/clients/{clinic['avery'].id}/break-glass",
                             headers=auth.for_user(clinic[role]), json={"reason": "Curious"})
        assert answer.status_code == 403, role
    answer = client.post(f"{API}/clients/999999/break-glass",
                         headers=auth.for_user(clinic["sam"]), json={"reason": "Covering"})
    assert answer.status_code == 404


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def test_breaking_the_glass_on_the_client_page(client, db, clinic):
    avery = clinic["avery"]
    sign_in(client, clinic["sam"])
    page = client.get(f"/clients/{avery.id}").get_data(as_text=True)
    blank = client.post(f"/clients/{avery.id}/break-glass",
                        data={"reason": "  ", "csrf_token": csrf(page)})
    assert blank.status_code == 422
    assert "Say why you need this client" in blank.get_data(as_text=True)
    assert db.scalar(select(func.count()).select_from(BreakGlassGrant)) == 0

    opened = client.post(f"/clients/{avery.id}/break-glass",
                         data={"reason": "Covering the group", "csrf_token": csrf(page)},
                         follow_redirects=True)
    html = opened.get_data(as_text=True)
    assert opened.status_code == 200
    assert "You may read this client&#39;s clinical record until 08:00" in html  # New York
    assert "Stay sober at work events" in html and "Clinical record not shown" not in html


def test_the_admins_are_emailed_the_minimum_necessary(client, auth, db, clinic, make, inbox):
    admin = clinic["admin"]
    answer = client.post(f"{API}/clients/{clinic['avery'].id}/break-glass",
                         headers=auth.for_user(clinic["sam"]),
                         json={"reason": "Relapse disclosed to the front desk"},
                         buffered=True)  # closed at once, which sends the email
    assert answer.status_code == 201
    [message] = inbox.wait_for(admin.email)
    body = message.get_content()
    assert message["Subject"] == "Break-the-glass access"
    assert "Sam Ortiz" in body and "alerts list" in body
    # No client's name and no reason (it may hold clinical detail): those sit behind a login.
    assert "Avery" not in body + message["Subject"]
    assert "Relapse" not in body
    assert inbox.to(clinic["coordinator"].email) == []


def test_a_spanish_admin_is_emailed_in_spanish(client, auth, db, clinic, inbox):
    admin = clinic["admin"]
    admin.language = "es"
    db.commit()
    answer = client.post(f"{API}/clients/{clinic['avery'].id}/break-glass",
                         headers=auth.for_user(clinic["sam"]),
                         json={"reason": "Covering the group"}, buffered=True)
    assert answer.status_code == 201
    [message] = inbox.wait_for(admin.email)
    assert message["Subject"] == "Acceso de emergencia"
    body = message.get_content()
    assert body.startswith("Sam Ortiz usó el acceso de emergencia para leer el expediente de "
                           f"un cliente fuera de su lista de casos (cliente n.º "
                           f"{clinic['avery'].id}), durante ")
    assert "La lista de alertas tiene el motivo" in body and "Avery" not in body


# --- how long the glass stays broken, in words ---------------------------------------------------


@pytest.mark.parametrize(("minutes", "words"), [
    (60, "an hour"), (30, "30 minutes"), (1, "a minute"), (120, "2 hours"),
    (90, "an hour and 30 minutes"), (135, "2 hours and 15 minutes")])
def test_the_refusal_says_how_long_the_glass_stays_broken(app, client, auth, clinic, minutes,
                                                          words):
    app.config["BREAK_GLASS_MINUTES"] = minutes
    avery = clinic["avery"]
    answer = client.get(f"{API}/clients/{avery.id}/assessments",
                        headers=auth.for_user(clinic["sam"]))
    assert answer.status_code == 403
    assert f"You then have access for {words}, and the admins are told." in answer.json[
        "message"]
    sign_in(client, clinic["sam"])
    page = client.get(f"/clients/{avery.id}").get_data(as_text=True)
    assert f"you may read the record for {words}." in page
    refused = client.get(f"/clients/{avery.id}/plan/revise").get_data(as_text=True)
    assert f"You then have access for {words}" in refused
    assert "an hour" not in refused or words.startswith("an hour")


# --- attendance outside the caseload ------------------------------------------------------------

ENDED = SESSION_AT + timedelta(hours=1, minutes=5)


@pytest.fixture
def marked(db, make, clinic):
    """Thursday's session has ended: Avery was marked present with a note; Blake Quinn, on
    nobody's caseload here, had an absence run alerted; Avery too."""
    blake = make.client(clinic["program"], name="Blake Quinn")
    with clock.frozen(ENDED):
        attendance.record_roster(
            db, ACTOR, "coordinator", clinic["session"].id,
            [{"client_id": clinic["avery"].id, "status": "present",
              "note": "Talked about the weekend"}], now=ENDED, policy=attendance.Policy())
    alerts_ = {}
    for person in (clinic["avery"], blake):
        alert = Alert(key=f"absence_streak:client={person.id}", kind="absence_streak",
                      client_id=person.id, program_id=clinic["program"].id,
                      detail={"unexcused_streak": 3, "last_attended_at": None}, raised_at=NOW)
        db.add(alert)
        db.flush()
        alerts_[person.name] = alert.id
    db.commit()
    return {"blake": blake, "alerts": alerts_}


def roster_read(client, auth, user, session_id: int) -> tuple[list, int]:
    answer = client.get(f"{API}/sessions/{session_id}/attendance", headers=auth.for_user(user))
    assert answer.status_code == 200, answer.json
    return ([(item["client_id"], item["note"]) for item in answer.json["items"]],
            answer.json["withheld"])


def test_a_sessions_marks_and_notes_go_to_its_facilitator_and_the_caseload(client, auth, db,
                                                                           clinic, marked):
    avery, session_id = clinic["avery"], clinic["session"].id
    whole = ([(avery.id, "Talked about the weekend")], 0)
    with clock.frozen(ENDED):
        assert roster_read(client, auth, clinic["lee"], session_id) == whole  # leads it
        assert roster_read(client, auth, clinic["dana"], session_id) == whole  # her therapist
        assert roster_read(client, auth, clinic["coordinator"], session_id) == whole
        assert roster_read(client, auth, clinic["sam"], session_id) == ([], 1)
        db.expire_all()
        logged = db.scalars(select(AuditEvent).where(
            AuditEvent.actor_user_id == clinic["sam"].id, AuditEvent.action == "read")).all()
        assert [e.entity_id for e in logged] == []  # nothing shown, nothing logged as read


def test_a_substitute_facilitator_reads_the_roster_the_one_replaced_no_longer_does(
        client, auth, db, clinic):
    sam_staff = clinic["sam"].staff_id
    sessions.change_session(db, ACTOR, clinic["session"], {"facilitator_ids": [sam_staff]})
    session_id, avery = clinic["session"].id, clinic["avery"]
    with clock.frozen(ENDED):
        attendance.record_roster(
            db, ACTOR, "coordinator", session_id,
            [{"client_id": avery.id, "status": "present", "note": "Talked about the weekend"}],
            now=ENDED, policy=attendance.Policy())
    db.commit()
    with clock.frozen(ENDED):
        assert roster_read(client, auth, clinic["sam"], session_id) == (
            [(avery.id, "Talked about the weekend")], 0)
        # Lee led nothing else of Avery's: the session is no longer his.
        assert roster_read(client, auth, clinic["lee"], session_id) == ([], 1)


def test_the_roster_page_of_a_session_they_do_not_lead_hides_the_marks_but_lets_them_mark(
        client, db, clinic, marked):
    session_id = clinic["session"].id
    with clock.frozen(ENDED):
        sign_in(client, clinic["sam"])
        page = client.get(f"/sessions/{session_id}/roster").get_data(as_text=True)
        assert "Avery Stone" in page and "Mark not shown: not on your caseload" in page
        assert "Now: Present" not in page and "Talked about the weekend" not in page
        assert "You do not facilitate this session" in page
        sign_in(client, clinic["lee"])
        page = client.get(f"/sessions/{session_id}/roster").get_data(as_text=True)
        assert "Now: Present" in page and "Mark not shown" not in page
        # After breaking the glass, Sam reads Avery's mark too.
        caseload.break_glass(db, ACTOR, clinic["sam"], clinic["avery"].id, "Covering Lee",
                             ENDED, caseload.Policy())
        db.commit()
        sign_in(client, clinic["sam"])
        page = client.get(f"/sessions/{session_id}/roster").get_data(as_text=True)
        assert "Now: Present" in page and "Mark not shown" not in page


def test_reports_hold_a_clinicians_caseload_only(client, auth, db, clinic, marked):
    avery, program_id = clinic["avery"], clinic["program"].id
    period = {"program_id": program_id, "from": "2027-02-15", "to": "2027-02-21"}

    def whose(user, report, **extra):
        answer = client.get(f"{API}/reports/{report}", headers=auth.for_user(user),
                            query_string={**period, **extra})
        assert answer.status_code == 200, answer.json
        return answer.json["items"]

    with clock.frozen(ENDED + timedelta(days=1)):
        for report in ("weekly-hours", "attendance-rates", "billing-days"):
            everyone = {row["client_id"] for row in whose(clinic["coordinator"], report)}
            assert avery.id in everyone, report
            assert {row["client_id"] for row in whose(clinic["dana"], report)} == {
                avery.id}, report
            assert whose(clinic["sam"], report) == [], report
        assert whose(clinic["sam"], "attendance-rates", by="series") == []
        assert [row["present"] for row in whose(clinic["lee"], "census")] == [1]
        assert whose(clinic["sam"], "census") == []
        follow = {"program_id": program_id}
        assert whose(clinic["sam"], "follow-up", **follow) == []
        assert whose(clinic["sam"], "below-target", **follow) == []
        csv = client.get(f"{API}/reports/weekly-hours", headers=auth.for_user(clinic["sam"]),
                         query_string={**period, "format": "csv", "names": 1})
        assert "Avery Stone" not in csv.get_data(as_text=True)


def test_alerts_are_held_to_the_caseload_and_anothers_cannot_be_acknowledged(
        client, auth, db, clinic, marked):
    ids = marked["alerts"]

    def listed(user):
        answer = client.get(f"{API}/alerts", headers=auth.for_user(user))
        assert answer.status_code == 200
        return {item["id"] for item in answer.json["items"]}

    assert listed(clinic["coordinator"]) == set(ids.values())
    assert listed(clinic["dana"]) == {ids["Avery Stone"]}
    assert listed(clinic["sam"]) == set()
    refused = client.post(f"{API}/alerts/{ids['Avery Stone']}/acknowledge",
                          headers=auth.for_user(clinic["sam"]))
    assert refused.status_code == 404
    assert refused.json["message"] == client.post(
        f"{API}/alerts/999999/acknowledge", headers=auth.for_user(clinic["sam"])).json[
        "message"].replace("999999", str(ids["Avery Stone"]))
    db.expire_all()
    assert db.get(Alert, ids["Avery Stone"]).acknowledged_at is None
    done = client.post(f"{API}/alerts/{ids['Avery Stone']}/acknowledge",
                       headers=auth.for_user(clinic["dana"]))
    assert done.status_code == 200 and done.json["acknowledged_at"] is not None


def test_marking_a_session_they_do_not_lead_does_not_hand_back_anothers_note(client, auth,
                                                                             clinic, marked):
    """Covering is allowed (any staff member marks, audited); the existing note stays in the
    record and out of the answer."""
    avery = clinic["avery"]
    with clock.frozen(ENDED):
        answer = client.put(f"{API}/sessions/{clinic['session'].id}/attendance",
                            headers=auth.for_user(clinic["sam"]),
                            json={"records": [{"client_id": avery.id, "status": "late",
                                               "reason_code": "transport",
                                               "arrived_at": SESSION_AT.isoformat()}]})
        assert answer.status_code == 200, answer.json
        assert [(i["client_id"], i["status"], i["note"]) for i in answer.json["items"]] == [
            (avery.id, "late", None)]
        assert roster_read(client, auth, clinic["lee"], clinic["session"].id) == (
            [(avery.id, "Talked about the weekend")], 0)
