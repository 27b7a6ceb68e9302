"""The client portal and the front-desk kiosk page, through the test client."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from scheduler.models import Attendance, Client, FeedToken
from scheduler.services import attendance, booking, kiosk, sessions
from tests.helpers import ACTOR, sign_in


@pytest.fixture
def program(make):
    return make.program(name="Morning IOP")


@pytest.fixture
def member(make, program):
    """A client login."""
    return make.user("client", client_id=make.client(program, name="Avery Stone").id)


@pytest.fixture
def group(db, make, program, member, now):
    """A group starting in 30 minutes that the member is booked into."""
    session = sessions.create_one_off(
        db, ACTOR, now=now, program_id=program.id, kind="group", title="Coping skills",
        starts_at=now + timedelta(minutes=30), ends_at=now + timedelta(hours=3, minutes=30),
        capacity=1, room_id=make.room(name="Room B").id)
    booking.book_client(db, ACTOR, session.id, member.client_id, now=now)
    db.commit()
    return session


@pytest.fixture
def full_group(db, make, program, member, now):
    """A one-seat session taken by someone else: the member waits second in line."""
    session = sessions.create_one_off(
        db, ACTOR, now=now, program_id=program.id, kind="education", title="Life skills",
        starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=1, hours=1), capacity=1)
    for _ in range(2):
        booking.book_client(db, ACTOR, session.id, make.client(program).id, now=now)
    booking.book_client(db, ACTOR, session.id, member.client_id, now=now)
    db.commit()
    return session


def csrf(page: bytes) -> str:
    return re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()


def count(db, model) -> int:
    db.expire_all()
    return db.scalar(select(func.count(model.id)))


def test_the_portal_lists_booked_sessions_and_waitlist_places(client, member, group,
                                                             full_group):
    sign_in(client, member)
    page = client.get("/me")
    assert page.status_code == 200
    upcoming, _, waiting = page.data.partition(b"On the waitlist")
    assert b"Coping skills" in upcoming and b"Life skills" not in upcoming
    assert b"Room B" in upcoming
    assert b"Life skills" in waiting and b"number 2 in line" in waiting
    assert b"Hours this week" in page.data and b"9 h weekly goal" in page.data


@pytest.mark.parametrize("role", ["clinician", "coordinator"])
def test_only_clients_open_the_portal(client, make, role):
    sign_in(client, make.user(role))
    assert client.get("/me").status_code == 403


def test_the_calendar_link_is_made_on_request_and_shown_once(client, db, member):
    sign_in(client, member)
    page = client.get("/me")
    assert b"webcal://" not in page.data
    made = client.post("/me/feed", data={"csrf_token": csrf(page.data)})
    assert made.status_code == 201 and made.headers["Cache-Control"] == "no-store"
    assert b"webcal://" in made.data and b"calendar.google.com" in made.data
    assert b"<svg" in made.data
    assert count(db, FeedToken) == 1
    later = client.get("/me")
    assert b"webcal://" not in later.data and b"already have a calendar link" in later.data


def test_the_offline_copy_holds_the_schedule_and_nothing_else(client, member, group,
                                                             full_group, make, db):
    """What the service worker keeps on the phone (static/js/offline-worker.js)."""
    sign_in(client, member)
    portal = client.get("/me")
    client.post("/me/feed", data={"csrf_token": csrf(portal.data)})
    copy = client.get("/me/offline")
    assert copy.status_code == 200
    # The worker may keep it; the HTTP cache asks again, and a shared cache keeps nothing.
    assert copy.headers["Cache-Control"] == "private, no-cache"
    html = copy.get_data(as_text=True)
    assert re.search(r"Offline — this is your schedule as of <time datetime=\"2027-02-16T07:00"
                     r"[^\"]*\">Tue 16 Feb, 07:00</time>; it may be out of date\.", html)
    upcoming, _, waiting = html.partition("On the waitlist")
    assert "Coping skills" in upcoming and "Room B" in upcoming
    assert "Life skills" in waiting and "number 2 in line" in waiting
    for private in ("csrf", "<form", member.email, "webcal://", "/feeds/", "Avery",
                    "Who sees my information", "Hours this week"):
        assert private not in html, private


def test_the_offline_copy_opened_by_hand_leads_to_the_live_portal(client, member):
    sign_in(client, member)
    answer = client.get("/me/offline", headers={"Sec-Fetch-Mode": "navigate"})
    assert answer.status_code == 302 and answer.headers["Location"] == "/me"


def test_signing_in_and_out_clears_what_the_browser_kept(client, make, program):
    """The offline copy, the worker and cached pages: nothing of the last person stays."""
    password = "correct horse battery staple"
    member = make.user("client", client_id=make.client(program).id, password=password)
    form = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
    wrong = client.post("/login", data={"csrf_token": token, "email": member.email,
                                        "password": "wrong password"})
    assert wrong.status_code == 401 and "Clear-Site-Data" not in wrong.headers
    signed_in = client.post("/login", data={"csrf_token": token, "email": member.email,
                                            "password": password})
    assert signed_in.status_code == 302
    assert signed_in.headers["Clear-Site-Data"] == '"cache", "storage"'
    page = client.get("/me")
    out = client.post("/logout", data={"csrf_token": csrf(page.data)})
    assert out.status_code == 302
    assert out.headers["Clear-Site-Data"] == '"cache", "storage"'
    assert client.get("/me/offline").status_code == 302  # to the sign-in page


def test_checking_in_with_the_rooms_code(app, client, db, member, group):
    sign_in(client, member)
    page = client.get("/me")
    code = attendance.checkin_code(app.config["SECRET_KEY"], group)
    answer = client.post("/me/checkin", data={"csrf_token": csrf(page.data), "code": code})
    assert answer.status_code == 303
    row = db.scalars(select(Attendance)).one()
    assert (row.client_id, row.status, row.method) == (member.client_id, "present", "self")
    after = client.get("/me").data
    assert b"You are checked in" in after and b"Checked in</span>" in after


def test_a_wrong_code_is_refused_with_a_message(app, client, db, member, group):
    sign_in(client, member)
    page = client.get("/me")
    right = attendance.checkin_code(app.config["SECRET_KEY"], group)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    answer = client.post("/me/checkin", data={"csrf_token": csrf(page.data), "code": wrong})
    assert answer.status_code == 422
    assert b"does not match the code shown in the room" in answer.data
    assert count(db, Attendance) == 0
    assert db.get(Client, member.client_id).checkin_failed_attempts == 1


def test_a_code_that_is_not_six_digits_is_refused(client, member, group):
    sign_in(client, member)
    page = client.get("/me")
    answer = client.post("/me/checkin", data={"csrf_token": csrf(page.data), "code": "12ab"})
    assert answer.status_code == 422 and b"six digits" in answer.data


def test_checking_in_with_no_session_open_says_so(client, member):
    sign_in(client, member)
    page = client.get("/me")
    answer = client.post("/me/checkin", data={"csrf_token": csrf(page.data), "code": "123456"})
    assert answer.status_code == 409 and b"No session of yours is open" in answer.data


def test_a_checkin_without_the_csrf_token_is_refused(app, client, db, member, group):
    sign_in(client, member)
    code = attendance.checkin_code(app.config["SECRET_KEY"], group)
    assert client.post("/me/checkin", data={"code": code}).status_code == 400
    assert count(db, Attendance) == 0


@pytest.fixture
def with_pin(db, member, group):
    kiosk.set_pin(db, ACTOR, member.client_id, "4821")
    db.commit()
    return member


def test_the_kiosk_checks_a_client_in_by_pin(client, db, make, with_pin):
    sign_in(client, make.user("clinician"))
    page = client.get("/kiosk")
    assert page.status_code == 200 and b"Avery S." in page.data
    answer = client.post("/kiosk", data={"csrf_token": csrf(page.data),
                                         "client_id": with_pin.client_id, "pin": "4821"})
    assert answer.status_code == 303
    row = db.scalars(select(Attendance)).one()
    assert (row.status, row.method) == ("present", "kiosk")


def test_wrong_kiosk_pins_get_a_message_then_429(client, db, make, with_pin):
    sign_in(client, make.user("coordinator"))
    token = csrf(client.get("/kiosk").data)
    form = {"csrf_token": token, "client_id": with_pin.client_id, "pin": "0000"}
    for _ in range(attendance.FREE_GUESSES - 1):
        answer = client.post("/kiosk", data=form)
        assert answer.status_code == 422 and b"PIN: does not match." in answer.data
    answer = client.post("/kiosk", data=form)
    assert answer.status_code == 429 and b"Too many wrong codes or PINs" in answer.data
    assert "Retry-After" in answer.headers
    # Even the right PIN waits out the pause.
    answer = client.post("/kiosk", data={**form, "pin": "4821"})
    assert answer.status_code == 429
    assert count(db, Attendance) == 0


def test_a_kiosk_post_without_the_csrf_token_is_refused(client, db, make, with_pin):
    sign_in(client, make.user("clinician"))
    answer = client.post("/kiosk", data={"client_id": with_pin.client_id, "pin": "4821"})
    assert answer.status_code == 400
    assert count(db, Attendance) == 0


def test_repeated_wrong_codes_pause_self_check_in_with_429(app, client, db, member, group):
    sign_in(client, member)
    token = csrf(client.get("/me").data)
    right = attendance.checkin_code(app.config["SECRET_KEY"], group)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    for _ in range(attendance.FREE_GUESSES - 1):
        assert client.post("/me/checkin", data={"csrf_token": token, "code": wrong}
                           ).status_code == 422
    answer = client.post("/me/checkin", data={"csrf_token": token, "code": wrong})
    assert answer.status_code == 429 and "Retry-After" in answer.headers
    assert b"Too many wrong codes" in answer.data
    assert client.post("/me/checkin", data={"csrf_token": token, "code": right}
                       ).status_code == 429
    assert count(db, Attendance) == 0
