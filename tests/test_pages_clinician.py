"""The clinician's Today page and the one-tap roster, through the test client."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from scheduler import clock
from scheduler.models import Attendance
from scheduler.services import attendance, booking, sessions
from tests.helpers import ACTOR, sign_in


@pytest.fixture
def program(make):
    return make.program(name="Morning IOP")


@pytest.fixture
def therapist(make):
    return make.staff(name="Dana Reyes")


@pytest.fixture
def clinician(make, therapist):
    return make.user("clinician", staff_id=therapist.id)


@pytest.fixture
def group(db, make, program, therapist, now):
    """A group this morning (07:30–10:30 New York): its check-in window is open now."""
    session = sessions.create_one_off(
        db, ACTOR, now=now, program_id=program.id, kind="group", title="Coping skills",
        starts_at=now + timedelta(minutes=30), ends_at=now + timedelta(hours=3, minutes=30),
        capacity=8, facilitator_ids=[therapist.id], room_id=make.room(name="Room B").id)
    for name in ("Avery Stone", "Blake Ortiz"):
        booking.book_client(db, ACTOR, session.id, make.client(program, name=name).id, now=now)
    db.commit()
    return session


@pytest.fixture
def other_group(db, make, program, now):
    """Someone else's group today."""
    other = make.staff(name="Lee Park")
    session = sessions.create_one_off(
        db, ACTOR, now=now, program_id=program.id, kind="education", title="Life skills",
        starts_at=now + timedelta(hours=4), ends_at=now + timedelta(hours=5), capacity=8,
        facilitator_ids=[other.id])
    db.commit()
    return session


def csrf(page: bytes) -> str:
    return re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()


def roster_of(page) -> bytes:
    """The roster's rows: the page less the header around it."""
    return page.data.split(b'class="roster"', 1)[1]


def marks(db) -> int:
    db.expire_all()
    return db.scalar(select(func.count(Attendance.id)))


def test_today_lists_the_clinicians_own_sessions_with_booked_counts(client, clinician, group,
                                                                   other_group):
    sign_in(client, clinician)
    page = client.get("/today")
    assert page.status_code == 200
    assert b"Coping skills" in page.data and b"Life skills" not in page.data
    assert b"2 booked" in page.data and b"Room B" in page.data
    assert f"/sessions/{group.id}/roster".encode() in page.data


def test_two_groups_of_one_title_are_two_regions_with_different_names(client, clinician,
                                                                      group, therapist, db,
                                                                      program, now):
    """A screen reader lists each card as a region by its name: the same title twice in a day
    must not read as the same region (axe's landmark-unique)."""
    sessions.create_one_off(
        db, ACTOR, now=now, program_id=program.id, kind="group", title="Coping skills",
        starts_at=now + timedelta(hours=6), ends_at=now + timedelta(hours=7), capacity=8,
        facilitator_ids=[therapist.id])
    db.commit()
    sign_in(client, clinician)
    page = client.get("/today").get_data(as_text=True)
    texts = {match.group(2): re.sub(r"<[^>]+>", "", match.group(3)).strip()
             for match in re.finditer(r'<(h2|strong) id="([^"]+)">(.*?)</\1>', page, re.S)}
    names = [" ".join(texts[part] for part in labelled.split())
             for labelled in re.findall(r'<section [^>]*aria-labelledby="([^"]+)"', page)]
    assert len(names) == 2 and names[0] != names[1]
    assert all(name.startswith("Coping skills ") for name in names)


def test_a_coordinator_sees_every_session_and_can_filter_by_staff(client, make, group,
                                                                 other_group, therapist):
    sign_in(client, make.user("coordinator"))
    everyone = client.get("/today")
    assert b"Coping skills" in everyone.data and b"Life skills" in everyone.data
    one = client.get(f"/today?staff={therapist.id}")
    assert b"Coping skills" in one.data and b"Life skills" not in one.data


@pytest.mark.parametrize("path", ["/today", "/sessions/{id}/roster", "/kiosk"])
def test_clients_may_not_open_staff_pages(client, make, group, path):
    sign_in(client, make.user("client"))
    assert client.get(path.format(id=group.id)).status_code == 403


def test_signed_out_visitors_are_sent_to_login(client, group):
    answer = client.get(f"/sessions/{group.id}/roster")
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]


def test_the_roster_shows_the_booked_clients_and_the_room_code(app, client, clinician, group):
    sign_in(client, clinician)
    page = client.get(f"/sessions/{group.id}/roster")
    assert page.status_code == 200
    assert b"Avery Stone" in page.data and b"Blake Ortiz" in page.data
    code = attendance.checkin_code(app.config["SECRET_KEY"], group)
    assert b'class="code-display"' in page.data and code.encode() in page.data
    # The roster's taps, not the page's language toggle (also aria-pressed buttons).
    assert roster_of(page).count(b'aria-pressed="false"') == 10


def test_one_tap_marks_a_client_and_redirects_back(client, db, clinician, group):
    sign_in(client, clinician)
    page = client.get(f"/sessions/{group.id}/roster")
    client_id = int(re.search(rb'name="client_id" value="(\d+)"', page.data).group(1))
    answer = client.post(f"/sessions/{group.id}/roster", data={
        "csrf_token": csrf(page.data), "client_id": client_id, "status": "present"})
    assert answer.status_code == 303
    assert answer.headers["Location"].endswith(f"/sessions/{group.id}/roster")
    row = db.scalars(select(Attendance)).one()
    assert (row.client_id, row.status, row.method, row.minutes_attended) == (
        client_id, "present", "roster", 180)
    again = client.get(f"/sessions/{group.id}/roster")
    assert b"Marked present." in again.data
    assert roster_of(again).count(b'aria-pressed="true"') == 1


def test_any_staff_member_may_mark_any_session_as_the_api_allows(client, make, other_group,
                                                                 clinician, db, program, now):
    """The API lets every staff role record attendance for any session; the page follows."""
    booking.book_client(db, ACTOR, other_group.id, make.client(program).id, now=now)
    db.commit()
    sign_in(client, clinician)
    assert client.get(f"/sessions/{other_group.id}/roster").status_code == 200


def test_late_without_a_reason_is_refused_with_a_message_and_nothing_written(client, db,
                                                                          clinician, group):
    sign_in(client, clinician)
    page = client.get(f"/sessions/{group.id}/roster")
    client_id = int(re.search(rb'name="client_id" value="(\d+)"', page.data).group(1))
    answer = client.post(f"/sessions/{group.id}/roster", data={
        "csrf_token": csrf(page.data), "client_id": client_id, "status": "late"})
    assert answer.status_code == 422
    assert b"Reason: choose one for late." in answer.data
    assert marks(db) == 0


@pytest.mark.parametrize("status,label", [("absent_excused", "absent (excused)"),
                                          ("absent_unexcused", "absent (unexcused)")])
def test_an_absence_without_a_reason_is_refused_in_words_not_codes(client, db, clinician,
                                                                   group, status, label):
    """Without the script the page answered "is required for absent excused (one of illness,
    transport, work, family, no_call, other)": the service's codes, meant for the API."""
    sign_in(client, clinician)
    page = client.get(f"/sessions/{group.id}/roster")
    client_id = int(re.search(rb'name="client_id" value="(\d+)"', page.data).group(1))
    answer = client.post(f"/sessions/{group.id}/roster", data={
        "csrf_token": csrf(page.data), "client_id": client_id, "status": status})
    assert answer.status_code == 422
    text = answer.get_data(as_text=True)
    assert f"Not saved: Reason: choose one for {label}." in text
    assert "no_call" not in text.split('id="error-', 1)[1].split("</p>", 1)[0]
    assert marks(db) == 0


def test_late_with_a_reason_and_a_typed_time_counts_the_minutes_from_then(client, db,
                                                                        clinician, group):
    sign_in(client, clinician)
    page = client.get(f"/sessions/{group.id}/roster")
    client_id = int(re.search(rb'name="client_id" value="(\d+)"', page.data).group(1))
    # 08:00 New York is 30 minutes after the 07:30 start.
    answer = client.post(f"/sessions/{group.id}/roster", data={
        "csrf_token": csrf(page.data), "client_id": client_id, "status": "late",
        "reason_code": "transport", "at": "08:00"})
    assert answer.status_code == 303
    row = db.scalars(select(Attendance)).one()
    assert (row.status, row.reason_code, row.minutes_attended) == ("late", "transport", 150)


def test_the_script_gets_json_for_a_tap(client, db, clinician, group):
    sign_in(client, clinician)
    page = client.get(f"/sessions/{group.id}/roster")
    client_id = int(re.search(rb'name="client_id" value="(\d+)"', page.data).group(1))
    answer = client.post(f"/sessions/{group.id}/roster", headers={"X-Requested-With": "fetch"},
                         data={"csrf_token": csrf(page.data), "client_id": client_id,
                               "status": "absent_unexcused"})
    assert answer.status_code == 422 and "Reason" in answer.json["error"]
    answer = client.post(f"/sessions/{group.id}/roster", headers={"X-Requested-With": "fetch"},
                         data={"csrf_token": csrf(page.data), "client_id": client_id,
                               "status": "absent_unexcused", "reason_code": "no_call"})
    assert answer.status_code == 200 and answer.json["status"] == "absent_unexcused"


def test_a_roster_post_without_the_csrf_token_is_refused(client, db, clinician, group):
    sign_in(client, clinician)
    page = client.get(f"/sessions/{group.id}/roster")
    client_id = int(re.search(rb'name="client_id" value="(\d+)"', page.data).group(1))
    answer = client.post(f"/sessions/{group.id}/roster",
                         data={"client_id": client_id, "status": "present"})
    assert answer.status_code == 400
    assert marks(db) == 0


def test_an_unknown_session_is_404(client, clinician):
    sign_in(client, clinician)
    assert client.get("/sessions/999999/roster").status_code == 404


def test_an_old_session_is_locked_for_clinicians_and_needs_a_reason_from_coordinators(
        client, db, make, clinician, group, now):
    with clock.frozen(now + timedelta(days=9)):
        sign_in(client, clinician)
        page = client.get(f"/sessions/{group.id}/roster")
        assert b"attendance is locked" in page.data and b" disabled" in page.data
        client_id = int(re.search(rb'name="client_id" value="(\d+)"', page.data).group(1))
        form = {"csrf_token": csrf(page.data), "client_id": client_id, "status": "present"}
        refused = client.post(f"/sessions/{group.id}/roster", data=form)
        assert refused.status_code == 403 and b"ask a coordinator" in refused.data
        assert marks(db) == 0

        sign_in(client, make.user("coordinator"))
        page = client.get(f"/sessions/{group.id}/roster")
        assert b"Why change a locked record" in page.data
        form["csrf_token"] = csrf(page.data)
        assert client.post(f"/sessions/{group.id}/roster", data=form).status_code == 422
        answer = client.post(f"/sessions/{group.id}/roster",
                             data={**form, "reason": "Paper sign-in sheet found"})
        assert answer.status_code == 303
        assert marks(db) == 1


def test_a_session_that_has_not_opened_cannot_be_marked_yet(client, db, clinician, other_group,
                                                            make, program, now):
    booking.book_client(db, ACTOR, other_group.id, make.client(program).id, now=now)
    db.commit()
    sign_in(client, clinician)
    page = client.get(f"/sessions/{other_group.id}/roster")
    client_id = int(re.search(rb'name="client_id" value="(\d+)"', page.data).group(1))
    answer = client.post(f"/sessions/{other_group.id}/roster", data={
        "csrf_token": csrf(page.data), "client_id": client_id, "status": "present"})
    assert answer.status_code == 409 and b"has not started yet" in answer.data
    assert marks(db) == 0


def test_today_can_step_to_another_day(client, clinician, group):
    sign_in(client, clinician)
    tomorrow = client.get("/today?day=2027-02-17")
    assert tomorrow.status_code == 200
    assert b"Wednesday 17 February 2027" in tomorrow.data and b"Coping skills" not in tomorrow.data
    # A mistyped day is said to be one, rather than quietly showing another day.
    mistyped = client.get("/today?day=not-a-date")
    assert mistyped.status_code == 400
    assert b"Day: must be a date like 2027-02-01." in mistyped.data
