"""Issue 17 §4 through HTTP: refused marks show on their row, "Mark all present", the marks on
the session page, and a cancelled session that can only be restored."""

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from scheduler import clock
from scheduler.models import Attendance, AuditEvent, Session
from scheduler.services import attendance, booking, sessions
from scheduler.services import series as series_service
from tests.helpers import ACTOR, sign_in

API = "/api/v1"


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
    """A group this morning (07:30–10:30 New York) with three clients booked."""
    session = sessions.create_one_off(
        db, ACTOR, now=now, program_id=program.id, kind="group", title="Coping skills",
        starts_at=now + timedelta(minutes=30), ends_at=now + timedelta(hours=3, minutes=30),
        capacity=8, facilitator_ids=[therapist.id], room_id=make.room(name="Room B").id)
    for name in ("Avery Stone", "Blake Ortiz", "Casey Lund"):
        booking.book_client(db, ACTOR, session.id, make.client(program, name=name).id, now=now)
    db.commit()
    return session


def csrf(page: bytes) -> str:
    return re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()


def client_ids(page: bytes) -> list[int]:
    return [int(v) for v in re.findall(rb'name="client_id" value="(\d+)"', page)]


def row_of(html: str, client_id: int) -> str:
    """The one roster row (its <form>) of a client."""
    start = html.index(f'id="row-{client_id}"')
    return html[start:html.index("</form>", start)]


def marks(db) -> dict[int, str]:
    db.expire_all()
    return dict(db.execute(select(Attendance.client_id, Attendance.status)).tuples().all())


# --- visible errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("form, field, words", [
    ({"status": "absent_excused"}, "reason_code", "Reason: choose one for absent (excused)."),
    ({"status": "late", "reason_code": "transport", "at": "23:00"}, "at",
     "Arrival time: must fall within the session"),
])
def test_a_refused_mark_shows_on_its_own_row_and_keeps_what_was_typed(
        client, db, clinician, group, form, field, words):
    sign_in(client, clinician)
    page = client.get(f"/sessions/{group.id}/roster")
    first, second, _ = client_ids(page.data)
    answer = client.post(f"/sessions/{group.id}/roster",
                         data={"csrf_token": csrf(page.data), "client_id": second, **form})
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    row = row_of(html, second)
    assert "Not saved" in row and words in row
    # The field at fault says so, points at the message, and has the focus.
    field_tag = re.search(rf'<(?:select|input)[^>]*name="{field}"[^>]*>', row).group(0)
    assert 'aria-invalid="true"' in field_tag and f'aria-describedby="error-{second}"' in field_tag
    assert "autofocus" in field_tag
    # What was typed is still there to correct, and nothing looks saved.
    if "at" in form:
        assert 'value="23:00"' in field_tag
    assert 'aria-pressed="true"' not in row and "Not marked yet" in row
    assert "Not saved" not in row_of(html, first)
    assert marks(db) == {}


def test_the_script_hears_which_field_was_refused(client, clinician, group):
    sign_in(client, clinician)
    page = client.get(f"/sessions/{group.id}/roster")
    who = client_ids(page.data)[0]
    answer = client.post(f"/sessions/{group.id}/roster", headers={"X-Requested-With": "fetch"},
                         data={"csrf_token": csrf(page.data), "client_id": who, "status": "late",
                               "reason_code": "transport", "at": "23:00"})
    assert answer.status_code == 422
    assert answer.json["field"] == "at" and "Arrival time" in answer.json["error"]
    answer = client.post(f"/sessions/{group.id}/roster", headers={"X-Requested-With": "fetch"},
                         data={"csrf_token": csrf(page.data), "client_id": who, "status": "late",
                               "reason_code": "transport", "at": "08:00"})
    assert answer.status_code == 200
    assert answer.json["current"] == "Now: Late (transport), 150 min"


def test_every_row_has_an_empty_error_place_until_something_is_refused(client, clinician, group):
    sign_in(client, clinician)
    html = client.get(f"/sessions/{group.id}/roster").get_data(as_text=True)
    for who in client_ids(html.encode()):
        assert re.search(rf'<p id="error-{who}" class="row-error"[^>]*hidden', row_of(html, who))


def test_the_stylesheet_hides_hidden_elements_whatever_their_display(client):
    with client.get("/static/app.css") as answer:
        css = answer.get_data(as_text=True)
    assert re.search(r"\[hidden\]\s*\{\s*display:\s*none\s*!important", css)


# --- mark all present -------------------------------------------------------------------------


def test_mark_all_present_marks_the_unmarked_and_leaves_marked_rows_alone(
        client, db, clinician, group, now):
    sign_in(client, clinician)
    page = client.get(f"/sessions/{group.id}/roster")
    avery, blake, casey = client_ids(page.data)
    client.post(f"/sessions/{group.id}/roster", data={
        "csrf_token": csrf(page.data), "client_id": blake, "status": "absent_excused",
        "reason_code": "illness"})

    answer = client.post(f"/sessions/{group.id}/roster/all-present",
                         data={"csrf_token": csrf(page.data)})
    assert answer.status_code == 303
    assert marks(db) == {avery: "present", blake: "absent_excused", casey: "present"}
    # Audited one mark at a time, like single taps.
    events = db.scalars(select(AuditEvent).where(AuditEvent.entity_type == "attendance")
                        .order_by(AuditEvent.id)).all()
    assert [e.after["status"] for e in events] == ["absent_excused", "present", "present"]
    assert all(e.before is None for e in events)
    again = client.get(f"/sessions/{group.id}/roster").get_data(as_text=True)
    assert "Marked 2 clients present; 1 already marked kept their mark." in again
    # The roster's taps, not the page's language toggle (also aria-pressed buttons).
    assert again.split('class="roster"', 1)[1].count('aria-pressed="true"') == 3

    # Then the exceptions change, one tap each.
    client.post(f"/sessions/{group.id}/roster", data={
        "csrf_token": csrf(page.data), "client_id": casey, "status": "late",
        "reason_code": "transport", "at": "08:00"})
    assert marks(db)[casey] == "late"

    # A second tap changes nothing and says so.
    nothing = client.post(f"/sessions/{group.id}/roster/all-present",
                          data={"csrf_token": csrf(page.data)}, follow_redirects=True)
    assert "Everyone already has a mark; nothing changed." in nothing.get_data(as_text=True)
    assert db.scalar(select(func.count(AuditEvent.id))
                     .where(AuditEvent.entity_type == "attendance")) == 4


def test_mark_all_present_before_the_session_opens_is_refused_on_the_page(
        client, db, clinician, group, now):
    sign_in(client, clinician)
    page = client.get(f"/sessions/{group.id}/roster")
    with clock.frozen(now - timedelta(hours=2)):
        answer = client.post(f"/sessions/{group.id}/roster/all-present",
                             data={"csrf_token": csrf(page.data)})
    assert answer.status_code == 409 and b"has not started yet" in answer.data
    assert marks(db) == {}


def test_mark_all_present_needs_the_csrf_token(client, db, clinician, group):
    sign_in(client, clinician)
    assert client.post(f"/sessions/{group.id}/roster/all-present").status_code == 400
    assert marks(db) == {}


def test_the_service_marks_only_booked_clients_without_a_mark(db, group, now):
    policy = attendance.Policy()
    first = attendance.mark_all_present(db, ACTOR, "clinician", group.id, now=now,
                                        policy=policy)
    assert len(first) == 3 and {a.status for a in first} == {"present"}
    assert attendance.mark_all_present(db, ACTOR, "clinician", group.id, now=now,
                                       policy=policy) == []


# --- the session page -------------------------------------------------------------------------


def test_the_session_page_shows_each_clients_mark(client, db, make, clinician, group):
    sign_in(client, clinician)
    page = client.get(f"/sessions/{group.id}/roster")
    avery, blake, _ = client_ids(page.data)
    client.post(f"/sessions/{group.id}/roster", data={
        "csrf_token": csrf(page.data), "client_id": avery, "status": "present"})
    client.post(f"/sessions/{group.id}/roster", data={
        "csrf_token": csrf(page.data), "client_id": blake, "status": "absent_unexcused",
        "reason_code": "no_call"})
    sign_in(client, make.user("coordinator"))
    html = client.get(f"/sessions/{group.id}").get_data(as_text=True)
    roster = html[html.index("Roster (3)"):html.index("Waitlist (0)")]
    assert "Avery Stone — Present, 180 min" in roster
    assert "Blake Ortiz — Absent (unexcused) (no call)" in roster
    assert "Casey Lund — Not marked yet" in roster


# --- cancelled and past sessions --------------------------------------------------------------


@pytest.fixture
def coordinator(make):
    return make.user("coordinator")


@pytest.fixture
def evening(db, make, program, now):
    """Next Wednesday's 18:00 group, cancelled yesterday for snow."""
    room, other_room = make.room(name="Room A"), make.room(name="Room C")
    series = make.series(program=program, title="Relapse prevention", room_id=room.id,
                         facilitator_ids=[make.staff(name="Lee Park").id],
                         start_date=date(2027, 2, 17), rrule="FREQ=WEEKLY;BYDAY=WE")
    session = db.scalar(select(Session).where(Session.series_id == series.id)
                        .order_by(Session.starts_at))
    with clock.frozen(now - timedelta(days=1)):
        sessions.change_session(db, ACTOR, session, {"status": "cancelled"}, reason="Snow")
    db.commit()
    return session, other_room


CANCELLED_WORDS = ("Relapse prevention (Wed 2027-02-17 18:00–21:00) was cancelled on "
                   "Mon 2027-02-15; restore it first.")


def test_moving_a_cancelled_session_is_refused_on_the_page(client, db, coordinator, evening):
    session, _ = evening
    sign_in(client, coordinator)
    page = client.get(f"/sessions/{session.id}")
    answer = client.post(f"/sessions/{session.id}/move", data={
        "csrf_token": csrf(page.data), "new_date": "2027-02-19", "new_time": "17:00"})
    assert answer.status_code == 409
    html = answer.get_data(as_text=True)
    assert CANCELLED_WORDS in html and "Session moved." not in html
    db.expire_all()
    assert session.starts_at.isoformat() == "2027-02-17T23:00:00+00:00"


@pytest.mark.parametrize("change", ["starts_at", "room_id", "facilitator_ids", "video_url"])
def test_a_cancelled_session_cannot_be_moved_re_roomed_or_staffed_through_the_api(
        client, db, auth, coordinator, evening, make, change):
    session, other_room = evening
    body = {"starts_at": "2027-02-19T17:00:00-05:00", "room_id": other_room.id,
            "facilitator_ids": [make.staff(name="Sam Ortiz").id],
            "video_url": "https://video.example/room"}
    db.commit()
    answer = client.patch(f"{API}/sessions/{session.id}", json={change: body[change]},
                          headers=auth.for_user(coordinator))
    assert answer.status_code == 409
    assert answer.json["message"] == CANCELLED_WORDS
    db.expire_all()
    assert session.status == "cancelled" and session.starts_at.isoformat().startswith(
        "2027-02-17T23:00")


def test_a_cancelled_session_can_be_restored_and_then_moved(client, db, auth, coordinator,
                                                            evening):
    session, _ = evening
    headers = auth.for_user(coordinator)
    # Restoring and moving at once is refused too: first restore, then move.
    both = client.patch(f"{API}/sessions/{session.id}", headers=headers,
                        json={"status": "scheduled", "starts_at": "2027-02-19T17:00:00-05:00"})
    assert both.status_code == 409
    assert client.patch(f"{API}/sessions/{session.id}", headers=headers,
                        json={"status": "scheduled"}).status_code == 200
    moved = client.patch(f"{API}/sessions/{session.id}", headers=headers,
                         json={"starts_at": "2027-02-19T17:00:00-05:00"})
    assert moved.status_code == 200 and moved.json["status"] == "scheduled"


def test_the_page_offers_only_restore_on_a_cancelled_future_session(client, coordinator,
                                                                    evening):
    session, _ = evening
    sign_in(client, coordinator)
    html = client.get(f"/sessions/{session.id}").get_data(as_text=True)
    assert "Restore session" in html
    for words in ("Move session", "Change room", "Change facilitator", "Cancel session"):
        assert words not in html


def test_the_page_offers_no_change_on_a_past_session(client, db, coordinator, evening, now):
    session, _ = evening
    with clock.frozen(now + timedelta(days=3)):
        sign_in(client, coordinator)
        html = client.get(f"/sessions/{session.id}").get_data(as_text=True)
        for words in ("Restore session", "Move session", "Change room", "Change facilitator",
                      "Cancel session"):
            assert words not in html
        assert "This session is over" in html
    sessions.change_session(db, ACTOR, session, {"status": "scheduled"})
    db.commit()
    with clock.frozen(now + timedelta(days=3)):
        html = client.get(f"/sessions/{session.id}").get_data(as_text=True)
        assert "Move session" not in html and "Cancel session" not in html
    sign_in(client, coordinator)
    html = client.get(f"/sessions/{session.id}").get_data(as_text=True)
    assert "Move session" in html and "Cancel session" in html


def test_a_session_cancelled_by_ending_its_series_names_the_day_too(client, db, auth, make,
                                                                    coordinator, program, now):
    group = make.series(program=program, title="Family night", start_date=date(2027, 2, 17),
                        rrule="FREQ=WEEKLY;BYDAY=WE")
    with clock.frozen(now - timedelta(days=1)):
        series_service.end_series(db, ACTOR, group, date(2027, 2, 20), now=now, reason="Ended")
    db.commit()
    later = db.scalar(select(Session).where(Session.series_id == group.id,
                                            Session.status == "cancelled")
                      .order_by(Session.starts_at))
    answer = client.patch(f"{API}/sessions/{later.id}", headers=auth.for_user(coordinator),
                          json={"starts_at": "2027-02-26T17:00:00-05:00"})
    assert answer.status_code == 409
    assert answer.json["message"] == (
        "Family night (Wed 2027-02-24 18:00–21:00) was cancelled on Mon 2027-02-15; "
        "restore it first.")


def test_resending_a_cancelled_sessions_own_values_is_no_change_and_not_refused(
        client, db, auth, coordinator, evening):
    session, _ = evening
    same = {"room_id": session.room_id,
            "facilitator_ids": [staff.id for staff in session.facilitators],
            "starts_at": session.starts_at.isoformat()}
    answer = client.patch(f"{API}/sessions/{session.id}", headers=auth.for_user(coordinator),
                          json=same)
    assert answer.status_code == 200 and answer.json["status"] == "cancelled"


def test_a_saved_reason_does_not_ride_along_with_the_next_tap(client, db, clinician, group):
    """The reason field is folded away, so it starts empty: a later absence needs its own."""
    sign_in(client, clinician)
    page = client.get(f"/sessions/{group.id}/roster")
    who = client_ids(page.data)[0]
    client.post(f"/sessions/{group.id}/roster", data={
        "csrf_token": csrf(page.data), "client_id": who, "status": "late",
        "reason_code": "transport", "at": "08:00"})
    html = client.get(f"/sessions/{group.id}/roster").get_data(as_text=True)
    assert "Now: Late (transport), 150 min" in row_of(html, who)
    assert " selected" not in row_of(html, who)


def test_mark_all_present_on_a_locked_session_needs_a_coordinators_reason(client, db, make,
                                                                         clinician, group, now):
    with clock.frozen(now + timedelta(days=9)):
        sign_in(client, clinician)
        page = client.get(f"/sessions/{group.id}/roster")
        assert re.search(rb'<button type="submit" class="primary" disabled[^>]*>Mark all present',
                         page.data)
        assert client.post(f"/sessions/{group.id}/roster/all-present",
                           data={"csrf_token": csrf(page.data)}).status_code == 403
        sign_in(client, make.user("coordinator"))
        page = client.get(f"/sessions/{group.id}/roster")
        refused = client.post(f"/sessions/{group.id}/roster/all-present",
                              data={"csrf_token": csrf(page.data)})
        assert refused.status_code == 422 and b"Not saved: Reason for the change" in refused.data
        assert marks(db) == {}
        done = client.post(f"/sessions/{group.id}/roster/all-present",
                           data={"csrf_token": csrf(page.data), "reason": "Paper sheet found"})
        assert done.status_code == 303 and set(marks(db).values()) == {"present"}
    reasons = db.scalars(select(AuditEvent.reason)
                         .where(AuditEvent.entity_type == "attendance")).all()
    assert reasons == ["Paper sheet found"] * 3
