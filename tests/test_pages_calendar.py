"""The coordinator's calendar pages through the test client: week, session, series, enrolment."""

import re
from datetime import date, time
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, func, select

from scheduler.extensions import db as _db
from scheduler.models import AuditEvent, Booking, Enrollment, Session, SessionSeries
from scheduler.services import booking, sessions
from tests.helpers import ACTOR, sign_in


def _token(client, path: str) -> str:
    """The CSRF token a page hands its forms."""
    page = client.get(path)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def _count(db, model) -> int:
    return db.scalar(select(func.count()).select_from(model))


@pytest.fixture
def coordinator(client, make):
    user = make.user("coordinator")
    sign_in(client, user)
    return user


@pytest.fixture
def clinic(make, now):
    """A program with a room, a facilitator and a Wednesday 18:00 group of two seats."""
    program = make.program(name="Evening IOP")
    room = make.room(name="Room B", capacity=12)
    therapist = make.staff(name="Dana Reyes")
    group = make.series(program=program, title="Relapse prevention", capacity=2,
                        room_id=room.id, facilitator_ids=[therapist.id],
                        start_date=date(2027, 2, 17), rrule="FREQ=WEEKLY;BYDAY=WE")
    return program, room, therapist, group


def _first_session(db, series) -> Session:
    return db.scalar(select(Session).where(Session.series_id == series.id)
                     .order_by(Session.starts_at))


def test_the_week_shows_booked_of_capacity_and_the_waitlist(client, coordinator, clinic, make,
                                                            db, now):
    program, _, _, group = clinic
    wednesday = _first_session(db, group)
    for name in ("Ann", "Ben", "Cy"):
        booking.book_client(db, ACTOR, wednesday.id, make.client(program, name=name).id, now=now)
    db.commit()

    page = client.get("/week?week=2027-02-17")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Week of Monday 15 February 2027" in html
    assert "Relapse prevention" in html
    assert "18:00–21:00" in html  # New York wall clock, not UTC
    assert "Room B" in html
    assert ">2/2<" in html
    assert "+1 waitlisted" in html
    assert f'href="/sessions/{wednesday.id}"' in html


def test_the_week_strikes_through_a_cancelled_session_and_filters_by_room(client, coordinator,
                                                                           clinic, make, db):
    program, room, _, group = clinic
    sessions.change_session(db, ACTOR, _first_session(db, group), {"status": "cancelled"},
                            reason="Snow day")
    other_room = make.room(name="Room C")
    make.series(program=program, title="Family night", room_id=other_room.id,
                start_date=date(2027, 2, 18), rrule="FREQ=WEEKLY;BYDAY=TH")
    db.commit()

    html = client.get(f"/week?week=2027-02-15&room={room.id}").get_data(as_text=True)

    assert "<del>Relapse prevention</del>" in html
    assert "Family night" not in html
    assert "Family night" in client.get("/week?week=2027-02-15").get_data(as_text=True)


def test_week_links_move_a_week_at_a_time_keeping_the_filter(client, coordinator, clinic):
    program = clinic[0]
    html = client.get(f"/week?week=2027-02-18&program={program.id}").get_data(as_text=True)
    assert f"/week?week=2027-02-08&amp;program={program.id}" in html
    assert f"/week?week=2027-02-22&amp;program={program.id}" in html


def test_a_nonsense_week_is_a_400_naming_the_field(client, coordinator, clinic):
    page = client.get("/week?week=soon")
    assert page.status_code == 400
    assert "Not a valid date value." in page.get_data(as_text=True)


def test_the_week_costs_the_same_few_queries_however_many_sessions(client, coordinator, clinic,
                                                                    make, db, now):
    program = clinic[0]

    def queries_for_week() -> int:
        statements = []

        def count(*args):
            statements.append(1)

        event.listen(_db.engine, "before_cursor_execute", count)
        try:
            assert client.get("/week?week=2027-02-15").status_code == 200
        finally:
            event.remove(_db.engine, "before_cursor_execute", count)
        return len(statements)

    few = queries_for_week()
    for n in range(6):
        group = make.series(program=program, title=f"Group {n}",
                            room_id=make.room().id, start_date=date(2027, 2, 15),
                            rrule="FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR")
        booking.enroll_client(db, ACTOR, group.id, make.client(program).id, now=now)
        db.commit()
    assert queries_for_week() == few


@pytest.mark.parametrize("role", ["clinician", "client"])
@pytest.mark.parametrize("path", ["/week", "/series/new"])
def test_clinicians_and_clients_may_not_open_coordinator_pages(client, make, role, path):
    sign_in(client, make.user(role))
    page = client.get(path)
    assert page.status_code == 403
    assert "You may not open this page" in page.get_data(as_text=True)


def test_signed_out_visitors_are_sent_to_login(client):
    page = client.get("/week")
    assert page.status_code == 302
    assert "/login?next=/week" in page.headers["Location"]


def _series_form(program, room=None, **changes) -> dict:
    data = {
        "program_id": str(program.id), "title": "Skills group", "kind": "behavioral",
        "room_id": str(room.id) if room else "", "weekdays": ["MO", "WE"],
        "start_time": "10:00", "duration_minutes": "90", "start_date": "2027-03-01",
        "end_date": "2027-03-31", "count": "", "capacity": "8", "video_url": "",
        "description": "",
    }
    data.update(changes)
    return data


def test_a_coordinator_creates_a_series_and_lands_on_its_page(client, coordinator, clinic, db):
    program, room, therapist, _ = clinic
    data = _series_form(program, room, facilitator_ids=[str(therapist.id)],
                        csrf_token=_token(client, "/series/new"))

    answer = client.post("/series/new", data=data)

    assert answer.status_code == 302
    created = db.scalar(select(SessionSeries).where(SessionSeries.title == "Skills group"))
    assert answer.headers["Location"].endswith(f"/series/{created.id}")
    assert created.rrule == "FREQ=WEEKLY;BYDAY=MO,WE"
    assert created.timezone == "America/New_York"
    assert [s.id for s in created.facilitators] == [therapist.id]
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "saved with 10 sessions" in page  # the Mondays and Wednesdays of March 2027


def test_bad_series_input_is_refused_with_field_messages_and_writes_nothing(client, coordinator,
                                                                           clinic, db):
    program, room, _, _ = clinic
    before = _count(db, SessionSeries), _count(db, Session), _count(db, AuditEvent)
    data = _series_form(program, room, weekdays=[], duration_minutes="0", title="",
                        csrf_token=_token(client, "/series/new"))

    answer = client.post("/series/new", data=data)

    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    assert "Choose at least one weekday." in html
    assert "Must be from 1 to 720 (12 h)." in html
    assert "Give the series a title." in html
    assert 'aria-invalid="true"' in html
    assert 'role="alert">Not saved: please fix the fields marked below.' in html
    assert (_count(db, SessionSeries), _count(db, Session), _count(db, AuditEvent)) == before


def test_a_series_too_big_for_its_room_is_refused_on_the_seats_field(client, coordinator, clinic,
                                                                    db):
    program, room, _, _ = clinic
    data = _series_form(program, room, capacity="30", csrf_token=_token(client, "/series/new"))

    answer = client.post("/series/new", data=data)

    assert answer.status_code == 422
    assert "30 seats do not fit room &#39;Room B&#39; (capacity 12)." in answer.get_data(
        as_text=True)
    assert _count(db, SessionSeries) == 1  # the clinic's own


def test_a_series_clashing_with_the_room_is_refused_naming_the_session(client, coordinator,
                                                                      clinic, db):
    program, room, _, group = clinic
    data = _series_form(program, room, weekdays=["WE"], start_time="19:00",
                        start_date="2027-02-17", end_date="2027-02-28",
                        csrf_token=_token(client, "/series/new"))

    answer = client.post("/series/new", data=data)

    assert answer.status_code == 409
    html = answer.get_data(as_text=True)
    clash = _first_session(db, group)
    assert f"{room.name} is used by {clash.title} (Wed 2027-02-17 18:00–21:00)." in html
    assert 'role="alert"' in html
    assert _count(db, SessionSeries) == 1


def test_a_post_without_its_csrf_token_is_refused(client, coordinator, clinic, db):
    program, room, _, _ = clinic
    answer = client.post("/series/new", data=_series_form(program, room))
    assert answer.status_code == 400
    assert _count(db, SessionSeries) == 1
    session = _first_session(db, clinic[3])
    answer = client.post(f"/sessions/{session.id}/cancel", data={"reason": "x"})
    assert answer.status_code == 400
    db.expire_all()
    assert _first_session(db, clinic[3]).status == "scheduled"


def test_the_preview_counts_sessions_and_lists_conflicts_without_writing(client, coordinator,
                                                                        clinic, db):
    program, room, therapist, group = clinic
    token = _token(client, "/series/new")
    before = _count(db, SessionSeries), _count(db, Session), _count(db, AuditEvent)
    data = _series_form(program, room, weekdays=["WE"], start_time="19:00",
                        start_date="2027-02-17", end_date="2027-03-03")

    answer = client.post("/series/preview", data=data, headers={"X-CSRFToken": token})

    assert answer.status_code == 200
    body = answer.get_json()
    assert body["occurrences"] == 3
    clash = _first_session(db, group)
    assert body["conflicts"][0] == {
        "session_start": "2027-02-17T19:00:00-05:00", "what": "room",
        "with": f"{room.name} is used by {clash.title} (Wed 2027-02-17 18:00–21:00).",
    }
    assert len(body["conflicts"]) == 3
    assert (_count(db, SessionSeries), _count(db, Session), _count(db, AuditEvent)) == before

    quiet = client.post("/series/preview", data=_series_form(program, None),
                        headers={"X-CSRFToken": token}).get_json()
    assert quiet == {"conflicts": [], "occurrences": 10, "warnings": [], "capacity": 8}

    bad = client.post("/series/preview", data=_series_form(program, None, weekdays=[]),
                      headers={"X-CSRFToken": token})
    assert bad.status_code == 422
    assert bad.get_json()["errors"]["weekdays"] == ["Choose at least one weekday."]


def test_the_preview_needs_the_csrf_header(client, coordinator, clinic):
    answer = client.post("/series/preview", data=_series_form(clinic[0], None))
    assert answer.status_code == 400


def test_the_session_page_shows_roster_and_waitlist_in_queue_order(client, coordinator, clinic,
                                                                  make, db, now):
    program, _, _, group = clinic
    session = _first_session(db, group)
    for name in ("Zoe", "Yan", "Xia", "Will"):
        booking.book_client(db, ACTOR, session.id, make.client(program, name=name).id, now=now)
    db.commit()

    html = client.get(f"/sessions/{session.id}").get_data(as_text=True)

    roster = html[html.index("Roster (2)"):html.index("Waitlist (2)")]
    assert "Yan" in roster and "Zoe" in roster
    waitlist = html[html.index("Waitlist (2)"):]
    assert waitlist.index("Xia") < waitlist.index("Will")
    assert "Wednesday 17 February 2027, 18:00–21:00" in html


def test_cancelling_needs_a_reason_and_then_cancels(client, coordinator, clinic, db):
    session = _first_session(db, clinic[3])
    token = _token(client, f"/sessions/{session.id}")

    refused = client.post(f"/sessions/{session.id}/cancel",
                          data={"csrf_token": token, "reason": ""})
    assert refused.status_code == 422
    assert "A reason is required to cancel a session." in refused.get_data(as_text=True)

    done = client.post(f"/sessions/{session.id}/cancel",
                       data={"csrf_token": token, "reason": "Snow day"}, follow_redirects=True)
    assert done.status_code == 200
    assert "Session cancelled." in done.get_data(as_text=True)
    db.expire_all()
    assert (session.status, session.cancel_reason) == ("cancelled", "Snow day")


def test_moving_onto_a_busy_room_is_refused_and_nothing_moves(client, coordinator, clinic, make,
                                                             db):
    program, room, _, group = clinic
    other = make.series(program=program, title="Thursday group", room_id=room.id,
                        start_date=date(2027, 2, 18), rrule="FREQ=WEEKLY;BYDAY=TH")
    session = _first_session(db, group)
    busy = _first_session(db, other)
    token = _token(client, f"/sessions/{session.id}")

    answer = client.post(f"/sessions/{session.id}/move",
                         data={"csrf_token": token, "new_date": "2027-02-18", "new_time": "18:30"})

    assert answer.status_code == 409
    assert f"{room.name} is used by {busy.title} (" in answer.get_data(as_text=True)
    db.expire_all()
    assert session.starts_at.isoformat() == "2027-02-17T23:00:00+00:00"

    moved = client.post(f"/sessions/{session.id}/move",
                        data={"csrf_token": token, "new_date": "2027-02-19", "new_time": "17:00"})
    assert moved.status_code == 302
    db.expire_all()
    assert session.starts_at.isoformat() == "2027-02-19T22:00:00+00:00"
    assert session.ends_at.isoformat() == "2027-02-20T01:00:00+00:00"


def test_room_and_facilitator_changes_go_through(client, coordinator, clinic, make, db):
    session = _first_session(db, clinic[3])
    new_room = make.room(name="Room D", capacity=10)
    sub = make.staff(name="Sam Ortiz")
    token = _token(client, f"/sessions/{session.id}")

    assert client.post(f"/sessions/{session.id}/room",
                       data={"csrf_token": token, "room_id": str(new_room.id)}).status_code == 302
    assert client.post(f"/sessions/{session.id}/facilitator",
                       data={"csrf_token": token, "staff_id": str(sub.id)}).status_code == 302
    html = client.get(f"/sessions/{session.id}").get_data(as_text=True)
    assert "Room D" in html and "Sam Ortiz" in html


def test_enrolling_a_client_books_every_session(client, coordinator, clinic, make, db):
    program, _, _, group = clinic
    ann = make.client(program, name="Ann Lee")
    token = _token(client, f"/series/{group.id}")

    answer = client.post(f"/series/{group.id}/enroll",
                         data={"csrf_token": token, "client_id": str(ann.id)},
                         follow_redirects=True)

    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    assert re.search(r"Ann Lee enrolled: \d+ sessions booked\.", html)
    assert db.scalar(select(func.count()).select_from(Enrollment)) == 1


def test_enrolling_a_double_booked_client_shows_the_clash_and_writes_nothing(
        client, coordinator, clinic, make, db, now):
    program, _, _, group = clinic
    ann = make.client(program, name="Ann Lee")
    other = make.series(program=program, title="Medication review", kind="medical", capacity=1,
                        start_date=date(2027, 2, 17), start_time=time(19, 0),
                        duration_minutes=30, end_date=date(2027, 2, 17),
                        rrule="FREQ=WEEKLY;BYDAY=WE")
    clash = _first_session(db, other)
    booking.book_client(db, ACTOR, clash.id, ann.id, now=now)
    db.commit()
    before = _count(db, Enrollment), _count(db, Booking), _count(db, AuditEvent)
    session = _first_session(db, group)
    token = _token(client, f"/sessions/{session.id}")

    answer = client.post(f"/sessions/{session.id}/enroll",
                         data={"csrf_token": token, "client_id": str(ann.id)})

    assert answer.status_code == 409
    html = answer.get_data(as_text=True)
    assert re.search(r'role="alert">Not enrolled: Ann Lee is already booked into '
                     rf"{re.escape(clash.title)} \(Wed 2027-02-17 19:00–19:30\)\.", html)
    assert (_count(db, Enrollment), _count(db, Booking), _count(db, AuditEvent)) == before


def test_an_enrolment_despite_a_clash_needs_a_reason_and_keeps_it(client, coordinator, clinic,
                                                                 make, db, now):
    program, _, _, group = clinic
    ann = make.client(program, name="Ann Lee")
    other = make.series(program=program, title="Medication review", kind="medical", capacity=1,
                        start_date=date(2027, 2, 17), start_time=time(19, 0),
                        duration_minutes=30, end_date=date(2027, 2, 17),
                        rrule="FREQ=WEEKLY;BYDAY=WE")
    booking.book_client(db, ACTOR, _first_session(db, other).id, ann.id, now=now)
    db.commit()
    token = _token(client, f"/series/{group.id}")
    data = {"csrf_token": token, "client_id": str(ann.id), "override": "y"}

    refused = client.post(f"/series/{group.id}/enroll", data={**data, "override_reason": ""})
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    # Beside the reason, announced, and the reason's input is described by it.
    assert re.search(r'<span class="field-error" id="enroll-override_reason-error" '
                     r'role="alert">A reason is required to book despite conflicts\.', html)
    assert re.search(r'<input[^>]*aria-describedby="enroll-override_reason-error"[^>]*'
                     r'id="enroll-override_reason"|<input[^>]*id="enroll-override_reason"[^>]*'
                     r'aria-describedby="enroll-override_reason-error"', html)
    assert _count(db, Enrollment) == 0

    done = client.post(f"/series/{group.id}/enroll",
                       data={**data, "override_reason": "Review moves to 17:00 next week"})
    assert done.status_code == 302
    clashing = db.scalar(select(Booking).where(Booking.client_id == ann.id,
                                               Booking.session_id == _first_session(db, group).id))
    assert clashing.override_reason == "Review moves to 17:00 next week"


def test_the_series_form_offers_the_override_and_the_restore_button_undoes_a_cancel(
        client, coordinator, clinic, db):
    html = client.get("/series/new").get_data(as_text=True)
    assert '<label for="series-override_reason">Reason for booking anyway</label>' in html
    session = _first_session(db, clinic[3])
    token = _token(client, f"/sessions/{session.id}")
    client.post(f"/sessions/{session.id}/cancel", data={"csrf_token": token, "reason": "Flu"})
    page = client.post(f"/sessions/{session.id}/restore", data={"csrf_token": token},
                       follow_redirects=True)
    assert "Session restored." in page.get_data(as_text=True)
    db.expire_all()
    assert session.status == "scheduled"


@pytest.mark.parametrize("path", ["/sessions/999999", "/series/99999999999", "/series/424242"])
def test_a_missing_session_or_series_is_an_html_404(client, coordinator, path):
    page = client.get(path)
    assert page.status_code == 404
    assert page.mimetype == "text/html"


def test_the_week_filters_by_staff_member_and_program(client, coordinator, clinic, make):
    program, _, therapist, _ = clinic
    make.series(program=program, title="Peer circle", kind="peer_support",
                start_date=date(2027, 2, 16), start_time=time(19, 0),
                rrule="FREQ=WEEKLY;BYDAY=TU")
    make.series(title="Another program's group", start_date=date(2027, 2, 18),
                rrule="FREQ=WEEKLY;BYDAY=TH")

    by_staff = client.get(f"/week?week=2027-02-15&staff={therapist.id}").get_data(as_text=True)
    assert "Relapse prevention" in by_staff and "Peer circle" not in by_staff

    by_program = client.get(f"/week?week=2027-02-15&program={program.id}").get_data(as_text=True)
    assert "Peer circle" in by_program and "Another program&#39;s group" not in by_program
    assert 'value="2027-02-15"' in by_program


def test_a_move_onto_a_busy_room_goes_through_with_an_override_reason(client, coordinator,
                                                                     clinic, make, db):
    program, room, _, group = clinic
    make.series(program=program, title="Thursday group", room_id=room.id,
                start_date=date(2027, 2, 18), rrule="FREQ=WEEKLY;BYDAY=TH")
    session = _first_session(db, group)
    token = _token(client, f"/sessions/{session.id}")

    moved = client.post(f"/sessions/{session.id}/move", data={
        "csrf_token": token, "new_date": "2027-02-18", "new_time": "18:30",
        "override": "y", "override_reason": "Both groups share Room B for the holiday"})

    assert moved.status_code == 302
    db.expire_all()
    assert session.starts_at.isoformat() == "2027-02-18T23:30:00+00:00"


def test_every_input_on_the_session_page_has_its_own_label(client, coordinator, clinic, db):
    html = client.get(f"/sessions/{_first_session(db, clinic[3]).id}").get_data(as_text=True)
    ids = re.findall(r'<(?:input|select|textarea)[^>]*\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "duplicate ids break label[for]"
    labelled = set(re.findall(r'<label for="([^"]+)"', html))
    wrapped = set(re.findall(r'<label class="check"><input[^>]*\bid="([^"]+)"', html))
    assert set(ids) - {"csrf_token"} <= labelled | wrapped


def _edit_form(series, **changes) -> dict:
    """The edit form as the browser posts it, untouched except for `changes`."""
    form = {"title": series.title, "description": series.description or "",
            "room_id": str(series.room_id or ""), "video_url": series.video_url or "",
            "capacity": str(series.capacity), "weekdays": ["WE"],
            "facilitator_ids": [str(s.id) for s in series.facilitators],
            "start_time": series.start_time.strftime("%H:%M"),
            "duration_minutes": str(series.duration_minutes),
            "end_date": series.end_date.isoformat() if series.end_date else "", "reason": ""}
    form.update(changes)
    return form


def test_editing_a_series_moves_only_future_sessions_and_keeps_the_reason(client, coordinator,
                                                                          clinic, db):
    _, _, _, group = clinic
    token = _token(client, f"/series/{group.id}/edit")
    before = _count(db, Session)

    page = client.post(f"/series/{group.id}/edit", data={
        **_edit_form(group, start_time="17:30", reason="Staff rota"), "csrf_token": token},
        follow_redirects=True)

    assert page.status_code == 200
    assert "Series saved. Sessions: " in page.get_data(as_text=True)
    db.expire_all()
    first = _first_session(db, group)
    assert first.starts_at.astimezone(ZoneInfo("America/New_York")).time() == time(17, 30)
    assert _count(db, Session) == before  # moved, not duplicated
    entry = db.scalar(select(AuditEvent).where(AuditEvent.entity_type == "series",
                                               AuditEvent.action == "update"))
    assert entry.reason == "Staff rota"
    assert entry.before["start_time"] == "18:00:00" and entry.after["start_time"] == "17:30:00"


def test_an_unchanged_edit_writes_nothing(client, coordinator, clinic, db):
    _, _, _, group = clinic
    token = _token(client, f"/series/{group.id}/edit")

    page = client.post(f"/series/{group.id}/edit", data={**_edit_form(group),
                                                          "csrf_token": token},
                       follow_redirects=True)

    assert "Nothing changed." in page.get_data(as_text=True)
    assert db.scalar(select(func.count()).select_from(AuditEvent)
                     .where(AuditEvent.action == "update")) == 0


def test_an_edit_with_bad_fields_is_refused_field_by_field(client, coordinator, clinic, db):
    _, _, _, group = clinic
    token = _token(client, f"/series/{group.id}/edit")

    page = client.post(f"/series/{group.id}/edit", data={
        **_edit_form(group, capacity="0", weekdays=[], title=" "), "csrf_token": token})

    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert "Must be from 1 to 500." in html
    assert "Choose at least one weekday." in html
    assert "Give the series a title." in html
    db.expire_all()
    assert db.get(SessionSeries, group.id).capacity == 2


def test_an_edit_into_an_occupied_room_names_the_clash_until_overridden(client, coordinator,
                                                                        clinic, make, db):
    program, room, _, group = clinic
    make.series(program=program, title="Family night", room_id=room.id,
                start_date=date(2027, 2, 18), rrule="FREQ=WEEKLY;BYDAY=TH")
    db.commit()
    token = _token(client, f"/series/{group.id}/edit")
    moved = _edit_form(group, weekdays=["TH"])

    refused = client.post(f"/series/{group.id}/edit", data={**moved, "csrf_token": token})

    assert refused.status_code == 409
    assert f"{room.name} is used by Family night (" in refused.get_data(as_text=True)
    assert "Thu 2027-02-18 18:00–21:00" in refused.get_data(as_text=True)
    db.expire_all()
    assert db.get(SessionSeries, group.id).rrule.endswith("BYDAY=WE")

    allowed = client.post(f"/series/{group.id}/edit", data={
        **moved, "override": "y", "override_reason": "Shared room, two halves",
        "csrf_token": token}, follow_redirects=True)

    assert allowed.status_code == 200
    db.expire_all()
    assert db.get(SessionSeries, group.id).rrule.endswith("BYDAY=TH")


def test_ending_a_series_cancels_later_sessions_and_needs_a_reason(client, coordinator, clinic,
                                                                    db):
    _, _, _, group = clinic
    token = _token(client, f"/series/{group.id}")

    refused = client.post(f"/series/{group.id}/end", data={
        "end_date": "2027-03-03", "reason": "", "csrf_token": token})
    assert refused.status_code == 422
    assert "A reason is required to end a series." in refused.get_data(as_text=True)

    before_start = client.post(f"/series/{group.id}/end", data={
        "end_date": "2027-01-01", "reason": "Typo", "csrf_token": token})
    assert before_start.status_code == 422
    assert "must not be before the series" in before_start.get_data(as_text=True)

    page = client.post(f"/series/{group.id}/end", data={
        "end_date": "2027-03-03", "reason": "Program merged", "csrf_token": token},
        follow_redirects=True)

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Series ends on 3 Mar 2027." in html and "(ended)" in html
    db.expire_all()
    statuses = {s.starts_at.date().isoformat(): s.status for s in db.scalars(
        select(Session).where(Session.series_id == group.id))}
    assert statuses["2027-02-24"] == "scheduled" and statuses["2027-03-03"] == "scheduled"
    assert statuses["2027-03-10"] == "cancelled"
    assert len(statuses) > 3  # cancelled, not deleted


def test_a_clinician_cannot_edit_or_end_a_series(client, make, clinic):
    _, _, _, group = clinic
    sign_in(client, make.user("clinician"))

    token = _token(client, "/today")

    assert client.get(f"/series/{group.id}/edit").status_code == 403
    assert client.post(f"/series/{group.id}/end", data={
        "end_date": "2027-03-03", "reason": "x", "csrf_token": token}).status_code == 403


def test_the_week_filtered_by_program_offers_only_that_programs_rooms_and_staff(
        client, coordinator, clinic, make, db):
    program, room, therapist, _ = clinic
    other = make.program(name="Day program")
    far_room = make.room(name="Annex 9")
    far_staff = make.staff(name="Quinn Faraway")
    make.series(program=other, title="Day group", room_id=far_room.id,
                facilitator_ids=[far_staff.id], start_date=date(2027, 2, 18),
                rrule="FREQ=WEEKLY;BYDAY=TH")
    db.commit()

    filtered = client.get(f"/week?week=2027-02-17&program={program.id}").get_data(as_text=True)
    everyone = client.get("/week?week=2027-02-17").get_data(as_text=True)

    assert "Room B" in filtered and "Dana Reyes" in filtered
    assert "Annex 9" not in filtered and "Quinn Faraway" not in filtered
    assert "Annex 9" in everyone and "Quinn Faraway" in everyone


def test_every_session_kind_has_one_label_on_the_pages():
    from scheduler.models.series import SESSION_KINDS
    from scheduler.web.labels import KIND_LABELS

    assert set(KIND_LABELS) == set(SESSION_KINDS)
