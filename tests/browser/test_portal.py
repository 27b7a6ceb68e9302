"""The client portal on a phone: sessions, the calendar QR code and check-in with the room code."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from scheduler.models import Attendance
from scheduler.services import attendance, booking, sessions
from tests.helpers import ACTOR


@pytest.fixture(autouse=True)
def _clinic_clock(now):
    """The live server runs at the frozen clinic 'now' (Tue 2027-02-16 07:00 New York)."""


def test_a_client_sees_their_sessions_gets_the_qr_code_and_checks_in(phone, login, app, db,
                                                                     make, now):
    program = make.program(name="Morning IOP")
    me = make.client(program, name="Avery Stone")
    group = sessions.create_one_off(
        db, ACTOR, now=now, program_id=program.id, kind="group", title="Coping skills",
        starts_at=now + timedelta(minutes=30), ends_at=now + timedelta(hours=3, minutes=30),
        capacity=8)
    booking.book_client(db, ACTOR, group.id, me.id, now=now)
    db.commit()

    user = login(phone, "client", client_id=me.id)
    expect(phone).to_have_url(re.compile(r"/me$"))
    expect(phone.get_by_role("heading", name="Hello, Avery")).to_be_visible()
    expect(phone.get_by_text("Coping skills")).to_be_visible()

    phone.get_by_role("button", name="Get my calendar link").click()
    expect(phone.get_by_role("img", name="QR code of your calendar link")).to_be_visible()
    expect(phone.get_by_role("link", name="Add to my calendar")).to_have_attribute(
        "href", re.compile(r"^webcal://.+\.ics$"))
    expect(phone.get_by_role("link", name="Add to Google Calendar")).to_have_attribute(
        "href", re.compile(r"^https://calendar\.google\.com/"))
    # The POST drew a new page: measure once its stylesheets have loaded, not while
    # portal.css is still being revalidated (a race a loaded CI machine lost).
    phone.wait_for_load_state("load")
    box = phone.get_by_role("button", name="Check in").bounding_box()
    assert box["height"] >= 44

    code = attendance.checkin_code(app.config["SECRET_KEY"], group)
    phone.get_by_label("Code shown in the room").fill(code)
    phone.get_by_role("button", name="Check in").click()
    expect(phone.get_by_role("status").filter(has_text="You are checked in")).to_be_visible()
    db.expire_all()
    row = db.scalars(select(Attendance)).one()
    assert (row.client_id, row.status, row.method, row.recorded_by_user_id) == (
        me.id, "present", "self", user.id)


def test_a_wrong_code_shows_a_clear_message(phone, login, app, db, make, now):
    program = make.program()
    me = make.client(program)
    group = sessions.create_one_off(
        db, ACTOR, now=now, program_id=program.id, kind="group",
        starts_at=now + timedelta(minutes=30), ends_at=now + timedelta(hours=1), capacity=8)
    booking.book_client(db, ACTOR, group.id, me.id, now=now)
    db.commit()
    login(phone, "client", client_id=me.id)
    right = attendance.checkin_code(app.config["SECRET_KEY"], group)
    phone.get_by_label("Code shown in the room").fill(f"{(int(right) + 1) % 1_000_000:06d}")
    with phone.expect_response(re.compile(r"/me/checkin$")) as answer:
        phone.get_by_role("button", name="Check in").click()
    assert answer.value.status == 422
    expect(phone.get_by_role("alert")).to_contain_text("does not match the code shown in the room")
