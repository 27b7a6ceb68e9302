"""The closures page and what the client portal shows of changes, through the test client."""

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from scheduler import clock
from scheduler.models import Closure, FeedToken
from scheduler.services import booking, closures, sessions
from tests.helpers import ACTOR, sign_in
from tests.test_closures import on


def csrf(page: bytes) -> str:
    return re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()


@pytest.fixture
def clinic(make, db, now):
    program = make.program(name="Morning IOP")
    group = make.series(program, title="Coping skills", start_date=date(2027, 2, 17))
    member = make.user("client", client_id=make.client(program, name="Avery Stone").id)
    booking.enroll_client(db, ACTOR, group.id, member.client_id, now=now)
    db.commit()
    return {"program": program, "group": group, "member": member}


def test_a_coordinator_closes_and_lifts_from_the_page(client, db, make, clinic):
    sign_in(client, make.user("coordinator"))
    page = client.get("/closures")
    assert page.status_code == 200
    assert b"Morning IOP" in page.data and b"No closures ahead." in page.data
    answer = client.post("/closures", data={
        "csrf_token": csrf(page.data), "program_id": clinic["program"].id,
        "starts_on": "2027-02-17", "ends_on": "2027-02-18", "reason": "Snow"},
        follow_redirects=True)
    assert answer.status_code == 200
    text = answer.get_data(as_text=True)
    assert "Morning IOP is closed from Wednesday 17 February to Thursday 18 February: " \
           "2 sessions cancelled" in text
    assert "Snow" in text
    closure = db.scalars(select(Closure)).one()
    lifted = client.post(f"/closures/{closure.id}/lift",
                         data={"csrf_token": csrf(answer.data)}, follow_redirects=True)
    assert "2 sessions back on" in lifted.get_data(as_text=True)
    assert b"No closures ahead." in lifted.data


@pytest.mark.parametrize(("form", "field", "message"), [
    ({"starts_on": "2027-02-18", "ends_on": "2027-02-17", "reason": "Snow"}, "ends_on",
     "The last day must not be before the first day."),
    ({"starts_on": "2027-02-01", "ends_on": "2027-02-17", "reason": "Snow"}, "starts_on",
     "The first day must not be in the past"),
    ({"starts_on": "9999-12-31", "ends_on": "9999-12-31", "reason": "Snow"}, "starts_on",
     "Must be"),
    ({"starts_on": "2027-02-17", "ends_on": "2027-02-17", "reason": ""}, "reason",
     "Say why the program is closed"),
    ({"starts_on": "2027-02-17", "ends_on": "2027-02-17", "reason": "a\x00b"}, "reason", ""),
    ({"starts_on": "", "ends_on": "2027-02-17", "reason": "Snow"}, "starts_on",
     "Give the first closed day."),
])
def test_page_errors_show_by_their_field(client, db, make, clinic, form, field, message):
    sign_in(client, make.user("coordinator"))
    page = client.get("/closures")
    answer = client.post("/closures", data={"csrf_token": csrf(page.data),
                                            "program_id": clinic["program"].id, **form})
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    error = re.search(
        rf'<span class="field-error" id="{field}-error" role="alert">([^<]*)</span>', html)
    assert error, html
    assert message in error.group(1)
    assert db.scalar(select(func.count(Closure.id))) == 0


def test_the_portal_shows_closed_cancelled_and_moved_sessions_for_14_days(
        client, db, clinic, now):
    group, member = clinic["group"], clinic["member"]
    closures.create_closure(db, ACTOR, clinic["program"], starts_on=date(2027, 2, 17),
                            ends_on=date(2027, 2, 17), reason="Snow day", now=now,
                            public_name="Appointments")
    thursday = on(db, group, date(2027, 2, 18))
    sessions.change_session(db, ACTOR, thursday, {"status": "cancelled"},
                            reason="Facilitator at a detox training")
    monday = on(db, group, date(2027, 2, 22))
    sessions.change_session(db, ACTOR, monday, {"starts_at": monday.starts_at
                                                + timedelta(days=1, hours=1)})
    db.commit()
    sign_in(client, member)
    html = client.get("/me").get_data(as_text=True)
    assert re.search(r"Wed 17 Feb, 18:00–21:00</s>.*?Closed</span> "
                     r'<span class="change-reason">Snow day</span>', html, re.S)
    assert re.search(r"Thu 18 Feb, 18:00–21:00</s>.*?Cancelled</span>", html, re.S)
    # A staff reason for a one-off cancellation is not the client's to read.
    assert "detox" not in html
    assert re.search(r"Mon 22 Feb, 18:00–21:00</s>.*?Moved to Tue 23 Feb, 19:00", html, re.S)
    assert "<strong>Tue 23 Feb, 19:00–22:00</strong>" in html
    # The calendar section comes before the list of sessions.
    assert html.index("Add to my calendar") < html.index("My upcoming sessions")

    with clock.frozen(now + timedelta(days=15)):
        sign_in(client, member)
        later = client.get("/me").get_data(as_text=True)
    assert "Closed</span>" not in later and "Moved to" not in later


def test_rotating_the_calendar_link_shows_a_new_one_and_the_old_stops(client, db, clinic):
    sign_in(client, clinic["member"])
    page = client.get("/me")
    first = client.post("/me/feed", data={"csrf_token": csrf(page.data)})
    old = re.search(r'id="feed-url"[^>]*value="([^"]+)"', first.get_data(as_text=True)).group(1)
    second = client.post("/me/feed", data={"csrf_token": csrf(first.data)})
    new = re.search(r'id="feed-url"[^>]*value="([^"]+)"', second.get_data(as_text=True)).group(1)
    assert new != old
    path = lambda url: "/" + url.split("://", 1)[1].split("/", 1)[1]  # noqa: E731
    assert client.get(path(old)).status_code == 404
    assert client.get(path(new)).status_code == 200
    assert db.scalar(select(func.count(FeedToken.id)).where(FeedToken.revoked_at.is_(None))) == 1



def test_the_series_form_warns_of_a_public_holiday_before_and_after_saving(client, db, make):
    program = make.program(name="Evening IOP")
    sign_in(client, make.user("coordinator"))
    token = csrf(client.get("/series/new").data)
    data = {"program_id": str(program.id), "title": "Skills group", "kind": "behavioral",
            "room_id": "", "weekdays": ["MO"], "start_time": "10:00", "duration_minutes": "90",
            "start_date": "2027-05-24", "end_date": "2027-06-07", "count": "", "capacity": "8",
            "video_url": "", "description": ""}
    preview = client.post("/series/preview", data=data, headers={"X-CSRFToken": token})
    [note] = preview.get_json()["warnings"]
    assert "Mon 31 May 2027 is Memorial Day" in note
    saved = client.post("/series/new", data={**data, "csrf_token": token}, follow_redirects=True)
    assert "Mon 31 May 2027 is Memorial Day" in saved.get_data(as_text=True)
