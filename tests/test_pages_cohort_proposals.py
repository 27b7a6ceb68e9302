""""Suggest schedules" for a program's new admissions at once: the form with the clients who
have nothing booked ahead ticked, the cohort's proposal page (who meets their plan, how full
the groups get) and Accept, which books every client or nobody."""

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from scheduler import clock
from scheduler.models import AuditEvent, Booking, ScheduleProposal
from scheduler.services import booking, plans
from tests.helpers import ACTOR, sign_in


def csrf(page: bytes) -> str:
    return re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()


@pytest.fixture
def setup(db, make):
    """Avery and Blake were admitted this week with plans of 9 hours and nothing booked;
    Casey holds a seat in "Relapse prevention" (Mon, Wed and Thu 18:00 for three hours,
    three seats)."""
    program = make.program(name="Evening IOP")
    therapist = make.staff(name="Dana Reyes")
    room = make.room(name="Room B")
    series = make.series(program, title="Relapse prevention", room_id=room.id,
                         facilitator_ids=[therapist.id], start_date=date(2027, 2, 8),
                         end_date=date(2027, 3, 31), capacity=3)
    casey = make.client(program, name="Casey Lind")
    booking.enroll_client(db, ACTOR, series.id, casey.id, now=clock.now())
    avery = make.client(program, name="Avery Stone", admitted_on=date(2027, 2, 15))
    blake = make.client(program, name="Blake Rivers", admitted_on=date(2027, 2, 16))
    for person in (avery, blake):
        plans.create_plan(db, ACTOR, person.id, start_date=date(2027, 2, 15),
                          end_date=date(2027, 3, 31), weekly_hours_target=9)
    db.commit()
    return {"program": program, "series": series, "avery": avery, "blake": blake,
            "casey": casey, "therapist": therapist}


@pytest.fixture
def coordinator(client, make):
    user = make.user("coordinator")
    sign_in(client, user)
    return user


def form_page(client, program):
    return client.get(f"/programs/{program.id}/suggest-schedules")


def suggest(client, program, client_ids, **fields):
    token = csrf(form_page(client, program).data)
    return client.post(f"/programs/{program.id}/suggest-schedules",
                       data={"csrf_token": token, "client_ids": client_ids,
                             "from_date": "2027-02-22", "weeks": "2", **fields})


def proposed(client, setup, **fields):
    """Suggest for Avery and Blake, follow the redirect: (the proposal's number, its page)."""
    answer = suggest(client, setup["program"], [setup["avery"].id, setup["blake"].id],
                     **fields)
    assert answer.status_code == 303, answer.get_data(as_text=True)
    page = client.get(answer.headers["Location"])
    assert page.status_code == 200
    return int(re.search(r"/schedule-proposals/(\d+)$", answer.headers["Location"]).group(1)), page


def held(db, person) -> int:
    db.expire_all()
    return db.scalar(select(func.count(Booking.id)).where(
        Booking.client_id == person.id, Booking.status == "booked"))


def proposals_made(db) -> int:
    db.expire_all()
    return db.scalar(select(func.count(ScheduleProposal.id)))


# --- the form ------------------------------------------------------------------------------------


def test_the_clients_list_leads_to_the_new_admissions_ticked(client, db, setup, coordinator):
    listing = client.get("/clients").get_data(as_text=True)
    link = re.search(r'href="(/suggest-schedules[^"]*)"[^>]*>Suggest schedules for new '
                     r'admissions', listing)
    assert link
    start = client.get(link.group(1))
    assert start.status_code == 303
    assert start.headers["Location"].endswith(
        f"/programs/{setup['program'].id}/suggest-schedules")
    page = client.get(start.headers["Location"])
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<title>Suggest schedules · " in text
    ticked = re.findall(r'name="client_ids" value="(\d+)" checked>', text)
    assert sorted(int(i) for i in ticked) == sorted([setup["avery"].id, setup["blake"].id])
    # Casey has sessions ahead: listed, to tick by hand, not ticked.
    assert re.search(rf'name="client_ids" value="{setup["casey"].id}"> Casey Lind', text)
    # Next Monday (today is Tue 16 Feb), four weeks.
    assert re.search(r'id="cohort-from"[^>]*value="2027-02-22"', text)
    assert re.search(r'id="cohort-weeks"[^>]*value="4"', text)


def test_intake_step_3_offers_planning_the_week_s_admissions_together(client, setup,
                                                                     coordinator):
    text = client.get(f"/intake/{setup['avery'].id}/enrol").get_data(as_text=True)
    assert (f'<a href="/programs/{setup["program"].id}/suggest-schedules">Suggest schedules '
            "for them together</a>") in text


def test_a_client_whose_sessions_are_all_past_counts_as_nothing_booked_ahead(
        client, db, setup, coordinator, make):
    ended = make.series(setup["program"], title="Orientation", start_date=date(2027, 2, 8),
                        end_date=date(2027, 2, 14), rrule="FREQ=WEEKLY;BYDAY=MO")
    drew = make.client(setup["program"], name="Drew Hale", admitted_on=date(2027, 2, 8))
    with clock.frozen(datetime(2027, 2, 8, 12, tzinfo=UTC)):
        booking.enroll_client(db, ACTOR, ended.id, drew.id, now=clock.now())
    db.commit()
    assert held(db, drew) == 1
    text = form_page(client, setup["program"]).get_data(as_text=True)
    assert f'name="client_ids" value="{drew.id}" checked>' in text


def test_showing_the_form_logs_a_read_of_the_clients_it_lists(client, db, setup, coordinator):
    since = db.scalar(select(func.max(AuditEvent.id)))
    assert form_page(client, setup["program"]).status_code == 200
    db.expire_all()
    rows = db.scalars(select(AuditEvent).where(AuditEvent.id > since)).all()
    assert {(r.action, r.entity_id, r.after["resource"]) for r in rows} == {
        ("read", setup[name].id, "cohort_suggest") for name in ("avery", "blake", "casey")}


@pytest.mark.parametrize(("fields", "error_id", "words"), [
    ({"client_ids": []}, "cohort-clients-error", "Tick at least one client."),
    ({"client_ids": ["abc"]}, "cohort-clients-error", "Choose from the clients listed"),
    ({"client_ids": ["99999999"]}, "cohort-clients-error", "Choose from the clients listed"),
    ({"client_ids": [str(2**64)]}, "cohort-clients-error", "Choose from the clients listed"),
    ({"client_ids": ["1\x00"]}, "cohort-clients-error", ""),
    ({"weeks": "13"}, "cohort-weeks-error", "from 1 to 12"),
    ({"weeks": "0"}, "cohort-weeks-error", "from 1 to 12"),
    ({"weeks": "9" * 400}, "cohort-weeks-error", "Not a valid integer"),
    ({"weeks": "4\x00"}, "cohort-weeks-error", ""),
    ({"from_date": "2027-02-01"}, "cohort-from-error", "in the past"),
    ({"from_date": "9999-01-01"}, "cohort-from-error", "Must be"),
    ({"from_date": "2027-02-22\x00"}, "cohort-from-error", ""),
    ({"from_date": ""}, "cohort-from-error", "Enter the first day"),
])
def test_hostile_input_shows_the_error_under_its_field(client, db, setup, coordinator, fields,
                                                       error_id, words):
    ids = fields.pop("client_ids", [setup["avery"].id])
    answer = suggest(client, setup["program"], ids, **fields)
    text = answer.get_data(as_text=True)
    assert answer.status_code == 422, text
    error = re.search(
        rf'<span class="field-error" id="{error_id}" role="alert">([^<]*)</span>', text)
    assert error, text
    assert words in error.group(1)
    assert proposals_made(db) == 0


def test_a_client_of_another_program_is_refused_in_words(client, db, setup, coordinator, make):
    stranger = make.client(make.program(name="Day IOP"), name="Drew Day")
    answer = suggest(client, setup["program"], [setup["avery"].id, stranger.id])
    assert answer.status_code == 422
    assert "Choose from the clients listed" in answer.get_data(as_text=True)
    assert proposals_made(db) == 0


def test_a_program_that_does_not_exist_is_a_404_page(client, setup, coordinator):
    for number in (999999, 2**63):
        answer = client.get(f"/programs/{number}/suggest-schedules")
        assert answer.status_code == 404 and answer.mimetype == "text/html"
    assert client.get("/suggest-schedules?program=999999").status_code == 404


# --- the cohort's proposal page and Accept -------------------------------------------------------


def test_the_cohort_page_shows_every_client_and_the_groups_and_accept_books_them_all(
        client, db, setup, coordinator):
    number, page = proposed(client, setup)
    text = page.get_data(as_text=True)
    assert "<title>Suggested schedules · " in text  # no names in the browser's history
    assert "Avery" not in text[:text.index("</title>")]
    assert "Suggested schedules for 2 clients of Evening IOP" in text
    assert "Meets every plan" in text and "Both clients reach their target hours" in text
    assert "Best possible schedule (proven)." in text
    assert "This suggestion holds until 08:00." in text
    for name in ("avery", "blake"):
        person = setup[name]
        row = re.search(rf'<a href="/clients/{person.id}">{person.name}</a></td>(.*?)</tr>',
                        text, re.S)
        assert row, text
        cells = re.sub(r"<[^>]+>", "", row.group(1))
        assert "2 of 2" in cells and "18 of 18 h" in cells
        assert "Relapse prevention (6 sessions)" in cells
    assert "Relapse prevention, week of 22 Feb: 2 added, 3 of 3 seats" in text
    assert "Relapse prevention, week of 1 Mar: 2 added, 3 of 3 seats" in text
    assert held(db, setup["avery"]) == 0, "nothing is booked before Accept"

    accepted = client.post(f"/schedule-proposals/{number}/accept",
                           data={"csrf_token": csrf(page.data)})
    assert accepted.status_code == 303
    assert accepted.headers["Location"].endswith(f"/clients?program={setup['program'].id}")
    shown = client.get(accepted.headers["Location"]).get_data(as_text=True)
    assert "2 clients booked: 12 group sessions." in shown
    assert held(db, setup["avery"]) == 6 and held(db, setup["blake"]) == 6

    again = client.get(f"/schedule-proposals/{number}").get_data(as_text=True)
    assert "<strong>Accepted</strong>" in again and "Accept and book" not in again


def test_viewing_the_cohort_logs_a_read_of_each_clients_record(client, db, setup,
                                                               coordinator):
    number, _ = proposed(client, setup)
    since = db.scalar(select(func.max(AuditEvent.id)))
    assert client.get(f"/schedule-proposals/{number}").status_code == 200
    db.expire_all()
    rows = db.scalars(select(AuditEvent).where(AuditEvent.id > since)).all()
    assert sorted((r.action, r.entity_id, r.after["resource"]) for r in rows) == sorted(
        ("read", setup[name].id, "schedule_proposal") for name in ("avery", "blake"))


def test_a_seat_for_one_leaves_the_other_short_and_saying_why(client, db, setup, coordinator,
                                                               make):
    # One seat left: each session can take only one of the two.
    booking.enroll_client(db, ACTOR, setup["series"].id,
                          make.client(setup["program"], name="Reese Regular").id,
                          now=clock.now())
    db.commit()
    _, page = proposed(client, setup, weeks="1")
    text = page.get_data(as_text=True)
    # A group is booked by the week, so one of them gets the week's seat and the other none.
    assert '<span class="badge bad">Short</span> 1 of 2 clients reach their target hours' in text
    short = re.search(r"The worst-off client, (\w+ \w+), gets none of their target hours\.",
                      text)
    assert short, text
    row = re.search(rf'>{short.group(1)}</a></td>(.*?)</tr>', text, re.S).group(1)
    assert "0 of 9 h" in row and "Nothing that fits" in row
    assert "were given to other clients of this cohort (Relapse prevention)" in row
    assert "Relapse prevention, week of 22 Feb: 1 added, 3 of 3 seats" in text


def test_a_seat_taken_since_is_a_409_on_the_page_and_nothing_is_written(client, db, setup,
                                                                        coordinator, make):
    number, page = proposed(client, setup)
    # Another coordinator gives the last seat but one to Reese meanwhile.
    booking.enroll_client(db, ACTOR, setup["series"].id,
                          make.client(setup["program"], name="Reese Regular").id,
                          now=clock.now())
    db.commit()
    refused = client.post(f"/schedule-proposals/{number}/accept",
                          data={"csrf_token": csrf(page.data)})
    text = refused.get_data(as_text=True)
    assert refused.status_code == 409
    assert "Not booked: nothing was written" in text
    assert "Relapse prevention, Mon 22 Feb 18:00 has no free seat any more." in text
    assert "Accept and book" not in text
    assert held(db, setup["avery"]) == 0 and held(db, setup["blake"]) == 0
    db.expire_all()
    assert db.scalar(select(ScheduleProposal.status)) == "proposed"

    # Suggest again: the same clients and dates, planned from what is free now.
    again = re.search(r'<form method="post" action="(/programs/\d+/suggest-schedules)"'
                      r'.*?</form>', text, re.S)
    assert again
    ids = sorted(int(i) for i in re.findall(r'name="client_ids" value="(\d+)"', again.group(0)))
    assert ids == sorted([setup["avery"].id, setup["blake"].id])
    assert 'name="from_date" value="2027-02-22"' in again.group(0)
    assert 'name="weeks" value="2"' in again.group(0)
    replanned = client.post(again.group(1), data={
        "csrf_token": csrf(refused.data), "client_ids": ids, "from_date": "2027-02-22",
        "weeks": "2"})
    assert replanned.status_code == 303


def test_an_expired_cohort_says_so_and_offers_no_accept(client, db, setup, coordinator, app):
    number, page = proposed(client, setup)
    later = clock.now() + timedelta(minutes=app.config["PROPOSAL_TTL_MINUTES"] + 1)
    with clock.frozen(later):
        sign_in(client, coordinator)
        text = client.get(f"/schedule-proposals/{number}").get_data(as_text=True)
        assert "<strong>Expired</strong> at 08:00:" in text and "Accept and book" not in text
        assert "Suggest again" in text
        late = client.post(f"/schedule-proposals/{number}/accept",
                           data={"csrf_token": csrf(page.data)})
    assert late.status_code == 409
    assert "expired" in late.get_data(as_text=True)
    assert held(db, setup["avery"]) == 0


def test_a_clinician_may_not_suggest_view_or_accept_a_cohort(client, db, setup, make,
                                                             coordinator):
    number, page = proposed(client, setup)
    token = csrf(page.data)
    sign_in(client, make.user("clinician", staff_id=setup["therapist"].id))
    program = setup["program"]
    assert client.get("/suggest-schedules").status_code == 403
    assert client.get(f"/programs/{program.id}/suggest-schedules").status_code == 403
    assert client.post(f"/programs/{program.id}/suggest-schedules", data={
        "csrf_token": token, "client_ids": [setup["avery"].id], "from_date": "2027-02-22",
        "weeks": "1"}).status_code == 403
    assert client.get(f"/schedule-proposals/{number}").status_code == 403
    assert client.post(f"/schedule-proposals/{number}/accept",
                       data={"csrf_token": token}).status_code == 403
    assert held(db, setup["avery"]) == 0
    assert proposals_made(db) == 1
