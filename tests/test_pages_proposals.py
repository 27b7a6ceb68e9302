""""Suggest a schedule" and "Suggest make-up" as pages: the form, the proposal page with its
weeks against the plan, and Accept, which books everything or says what changed."""

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from scheduler import clock
from scheduler.models import AuditEvent, Booking, Enrollment, ScheduleProposal
from scheduler.services import availability, booking, plans
from tests.helpers import ACTOR, sign_in


def csrf(page: bytes) -> str:
    return re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()


@pytest.fixture
def setup(db, make):
    """Avery's plan wants 6 hours a week; "Relapse prevention" meets Mon, Wed and Thu 18:00
    for three hours, with two seats, one of them Casey's."""
    program = make.program(name="Evening IOP")
    therapist = make.staff(name="Dana Reyes")
    room = make.room(name="Room B")
    series = make.series(program, title="Relapse prevention", room_id=room.id,
                         facilitator_ids=[therapist.id], start_date=date(2027, 2, 8),
                         end_date=date(2027, 3, 31), capacity=2)
    avery = make.client(program, name="Avery Stone")
    casey = make.client(program, name="Casey Lind")
    plans.create_plan(db, ACTOR, avery.id, start_date=date(2027, 2, 1),
                      end_date=date(2027, 3, 31), weekly_hours_target=6)
    booking.enroll_client(db, ACTOR, series.id, casey.id, now=clock.now())
    db.commit()
    return {"program": program, "series": series, "client": avery, "therapist": therapist}


@pytest.fixture
def coordinator(client, make):
    user = make.user("coordinator")
    sign_in(client, user)
    return user


def suggest(client, person, **fields):
    token = csrf(client.get(f"/clients/{person.id}/suggest-schedule").data)
    return client.post(f"/clients/{person.id}/suggest-schedule",
                       data={"csrf_token": token, **fields})


def proposed(client, person, **fields):
    """Suggest, follow the redirect, and answer (the proposal, its page's text)."""
    answer = suggest(client, person, **{"from_date": "2027-02-22", "weeks": "2", **fields})
    assert answer.status_code == 303, answer.get_data(as_text=True)
    page = client.get(answer.headers["Location"])
    assert page.status_code == 200
    number = int(re.search(r"/schedule-proposals/(\d+)", answer.headers["Location"]).group(1))
    return number, page


def held(db, person) -> int:
    db.expire_all()
    return db.scalar(select(func.count(Booking.id)).where(
        Booking.client_id == person.id, Booking.status == "booked"))


# --- the forms ---------------------------------------------------------------------------------


def test_the_client_page_and_intake_step_3_offer_suggest_a_schedule(client, setup,
                                                                     coordinator):
    person = setup["client"]
    page = client.get(f"/clients/{person.id}").get_data(as_text=True)
    assert "Suggest a schedule" in page
    # Next Monday by default (today is Tue 16 Feb), four weeks.
    assert re.search(r'id="suggest-from"[^>]*value="2027-02-22"', page)
    assert re.search(r'id="suggest-weeks"[^>]*value="4"', page)
    intake = client.get(f"/intake/{person.id}/enrol").get_data(as_text=True)
    assert "Suggest a schedule" in intake
    section = intake[intake.index('id="suggest-a-schedule"'):intake.index("Or choose groups")]
    assert 'name="intake" value="1"' in section


@pytest.mark.parametrize(("fields", "field", "words"), [
    ({"weeks": "0"}, "suggest-weeks", "from 1 to 12"),
    ({"weeks": "13"}, "suggest-weeks", "from 1 to 12"),
    ({"weeks": "x"}, "suggest-weeks", "Not a valid integer"),
    ({"weeks": ""}, "suggest-weeks", "from 1 to 12"),
    ({"weeks": "9" * 400}, "suggest-weeks", "Not a valid integer"),
    ({"from_date": "9999-01-01"}, "suggest-from", "Must be"),
    ({"from_date": "next week"}, "suggest-from", "Not a valid date"),
    ({"from_date": ""}, "suggest-from", "Enter the first day"),
    ({"from_date": "2027-02-22\x00"}, "suggest-from", ""),
    ({"weeks": "4\x00"}, "suggest-weeks", ""),
    # The service's own rule, shown under the field too: no schedule for the past.
    ({"from_date": "2027-02-01"}, "suggest-from", "in the past"),
])
def test_hostile_input_shows_the_error_under_its_field(client, db, setup, coordinator, fields,
                                                       field, words):
    answer = suggest(client, setup["client"], **{"from_date": "2027-02-22", "weeks": "4",
                                                 **fields})
    text = answer.get_data(as_text=True)
    assert answer.status_code == 422, text
    error = re.search(
        rf'<span class="field-error" id="{field}-error" role="alert">([^<]*)</span>', text)
    assert error, text
    assert words in error.group(1)
    assert db.scalar(select(func.count(ScheduleProposal.id))) == 0


def test_a_nul_in_the_hidden_intake_field_is_refused_in_words(client, db, setup, coordinator):
    answer = suggest(client, setup["client"], from_date="2027-02-22", weeks="2",
                     intake="1\x00")
    assert answer.status_code == 422
    assert db.scalar(select(func.count(ScheduleProposal.id))) == 0


def test_a_discharged_client_gets_the_reason_not_a_proposal(client, db, setup, coordinator,
                                                            make):
    gone = make.client(setup["program"], name="Drew Hale")
    booking.discharge_client(db, ACTOR, gone.id, date(2027, 2, 10), now=clock.now())
    db.commit()
    answer = suggest(client, gone, from_date="2027-02-22", weeks="2")
    assert answer.status_code == 409
    assert "Drew Hale was discharged" in answer.get_data(as_text=True)


# --- the proposal page and Accept --------------------------------------------------------------


def test_the_proposal_shows_the_weeks_against_the_target_and_accept_books_them(
        client, db, setup, coordinator):
    person = setup["client"]
    number, page = proposed(client, person)
    text = page.get_data(as_text=True)
    assert "<title>Suggested schedule · " in text  # no name in the browser's history
    assert "Suggested schedule for Avery Stone" in text
    assert "Week of Mon 22 Feb" in text and "Week of Mon 1 Mar" in text
    assert re.search(r"Planned 9 of 6 hours\s*<span class=\"badge good\">✓ met", text)
    assert "Meets the plan" in text
    assert "Relapse prevention — Mondays, Wednesdays, Thursdays at 18:00, 6 sessions, " \
           "1 seat free" in text
    assert "Best possible schedule (proven)." in text
    assert "This suggestion holds until 08:00." in text  # an hour from 07:00 in New York
    # New items are marked in words, not by colour alone.
    assert text.count('class="tag tag-new">New</span>') >= 6
    assert held(db, person) == 0, "nothing is booked before Accept"

    accepted = client.post(f"/schedule-proposals/{number}/accept",
                           data={"csrf_token": csrf(page.data)})
    assert accepted.status_code == 303
    assert accepted.headers["Location"].endswith(f"/clients/{person.id}")
    shown = client.get(accepted.headers["Location"]).get_data(as_text=True)
    assert "Avery Stone booked: Relapse prevention (6 sessions)." in shown
    assert held(db, person) == 6
    assert db.scalar(select(Enrollment.series_id).where(
        Enrollment.client_id == person.id)) == setup["series"].id

    again = client.get(f"/schedule-proposals/{number}").get_data(as_text=True)
    assert "Accepted" in again and "Accept and book" not in again


def test_a_week_that_cannot_be_met_says_by_how_much_and_why(client, db, setup, coordinator):
    person = setup["client"]
    plans.create_plan(db, ACTOR, person.id, start_date=date(2027, 2, 1),
                      end_date=date(2027, 3, 31), weekly_hours_target=12)
    db.commit()
    _, page = proposed(client, person, weeks="1")
    text = page.get_data(as_text=True)
    assert '<span class="badge bad">Short</span> 0 of 1 weeks reach their target hours' in text
    assert re.search(r"Planned 9 of 12 hours\s*<span class=\"badge bad\">✗ short by 3 h", text)
    assert "<strong>Why short by 3 h:</strong>" in text
    # Still worth accepting: the rest is scheduled.
    assert "Accept and book" in text


def test_a_requirement_that_cannot_be_met_names_the_therapist(client, db, setup, coordinator):
    """The plan wants an individual session a week with Dana Reyes, who is away all week:
    the groups are still proposed, and the week says which session is missing and why."""
    person, dana = setup["client"], setup["therapist"]
    plans.create_plan(db, ACTOR, person.id, start_date=date(2027, 2, 1),
                      end_date=date(2027, 3, 31), weekly_hours_target=6,
                      primary_therapist_id=dana.id,
                      phases=[{"name": "Intake", "first_week": 1, "last_week": None,
                               "requirements": [{"kind": "individual",
                                                 "sessions_per_week": 1}]}])
    availability.add_time_off(db, ACTOR, dana.id, datetime(2027, 2, 22, 5, tzinfo=UTC),
                              datetime(2027, 3, 1, 5, tzinfo=UTC), "Leave")
    db.commit()
    _, page = proposed(client, person, weeks="1")
    text = page.get_data(as_text=True)
    why = re.search(r"<strong>Individual therapy: 1 session short:</strong> ([^<]+)</li>", text)
    assert why and "Dana Reyes" in why.group(1), text[text.find('class="why"'):][:600]
    assert "Relapse prevention —" in text


def test_accepting_twice_books_once_and_says_it_was_booked_already(client, db, setup,
                                                                   coordinator):
    number, page = proposed(client, setup["client"], weeks="1")
    first = client.post(f"/schedule-proposals/{number}/accept",
                        data={"csrf_token": csrf(page.data)})
    assert first.status_code == 303
    second = client.post(f"/schedule-proposals/{number}/accept",
                         data={"csrf_token": csrf(page.data)})
    text = second.get_data(as_text=True)
    assert second.status_code == 409
    assert "it has been booked already" in text
    assert "Accept and book" not in text and "Suggest again" not in text
    assert held(db, setup["client"]) == 3


def test_a_seat_taken_since_shows_the_conflict_where_the_coordinator_is_looking(
        client, db, setup, coordinator, make):
    person = setup["client"]
    number, page = proposed(client, person)
    # Blake takes the last seat of every session between proposing and accepting.
    blake = make.client(setup["program"], name="Blake Ortiz")
    booking.enroll_client(db, ACTOR, setup["series"].id, blake.id, now=clock.now())
    db.commit()
    refused = client.post(f"/schedule-proposals/{number}/accept",
                          data={"csrf_token": csrf(page.data)})
    text = refused.get_data(as_text=True)
    assert refused.status_code == 409
    assert "Not booked: nothing was written" in text
    assert "Relapse prevention, Mon 22 Feb 18:00 has no free seat any more." in text
    assert "Suggest again" in text and "Accept and book" not in text
    assert held(db, person) == 0
    assert db.scalar(select(ScheduleProposal.status)) == "proposed"

    # Suggest again: the same dates, planned from what is free now.
    form = re.search(r'<form method="post" action="(/clients/\d+/suggest-schedule)"'
                     r'.*?name="from_date" value="([\d-]+)".*?name="weeks" value="(\d+)"',
                     text, re.S)
    assert form.groups()[1:] == ("2027-02-22", "2")


def test_an_expired_proposal_says_so_and_offers_no_accept(client, db, setup, coordinator, app):
    number, page = proposed(client, setup["client"])
    later = clock.now() + timedelta(minutes=app.config["PROPOSAL_TTL_MINUTES"] + 1)
    with clock.frozen(later):
        sign_in(client, coordinator)  # an hour idle ends the page sign-in too
        text = client.get(f"/schedule-proposals/{number}").get_data(as_text=True)
        assert "<strong>Expired</strong> at 08:00:" in text and "Accept and book" not in text
        assert "Suggest again" in text
        late = client.post(f"/schedule-proposals/{number}/accept",
                           data={"csrf_token": csrf(page.data)})
    assert late.status_code == 409
    assert "expired" in late.get_data(as_text=True)
    assert held(db, setup["client"]) == 0


def test_from_intake_the_proposal_keeps_the_steps_and_accepting_returns_to_step_3(
        client, db, setup, coordinator):
    person = setup["client"]
    answer = suggest(client, person, from_date="2027-02-22", weeks="1", intake="1")
    assert answer.status_code == 303
    assert answer.headers["Location"].endswith("?intake=1")
    page = client.get(answer.headers["Location"])
    text = page.get_data(as_text=True)
    assert 'aria-label="Intake steps"' in text
    number = re.search(r"/schedule-proposals/(\d+)", answer.headers["Location"]).group(1)
    accepted = client.post(f"/schedule-proposals/{number}/accept",
                           data={"csrf_token": csrf(page.data), "intake": "1"})
    assert accepted.status_code == 303
    assert accepted.headers["Location"].endswith(f"/intake/{person.id}/enrol")
    assert held(db, person) == 3


def test_viewing_a_proposal_logs_a_read_of_the_clients_record(client, db, setup, coordinator):
    number, _ = proposed(client, setup["client"])
    since = db.scalar(select(func.max(AuditEvent.id)))
    assert client.get(f"/schedule-proposals/{number}").status_code == 200
    db.expire_all()
    rows = db.scalars(select(AuditEvent).where(AuditEvent.id > since)).all()
    assert [(r.action, r.entity_id, r.after["resource"]) for r in rows] == [
        ("read", setup["client"].id, "schedule_proposal")]


def test_unknown_and_out_of_range_proposals_are_404_pages(client, setup, coordinator):
    for number in (999999, 2**63):
        answer = client.get(f"/schedule-proposals/{number}")
        assert answer.status_code == 404
        assert answer.mimetype == "text/html"


def test_a_clinician_may_not_suggest_view_or_accept(client, db, setup, make, coordinator):
    number, page = proposed(client, setup["client"])
    token = csrf(page.data)
    sign_in(client, make.user("clinician", staff_id=setup["therapist"].id))
    person = setup["client"]
    assert client.get(f"/schedule-proposals/{number}").status_code == 403
    assert client.post(f"/schedule-proposals/{number}/accept",
                       data={"csrf_token": token}).status_code == 403
    assert client.post(f"/clients/{person.id}/suggest-schedule",
                       data={"csrf_token": token, "from_date": "2027-02-22",
                             "weeks": "2"}).status_code == 403
    assert "Suggest a schedule" not in client.get(f"/clients/{person.id}").get_data(
        as_text=True)
    assert held(db, person) == 0


# --- make-up from the follow-up list -----------------------------------------------------------


def test_the_follow_up_list_suggests_make_up_for_a_week_that_can_still_be_met(
        client, db, setup, coordinator):
    person = setup["client"]
    listing = client.get(f"/follow-up?program={setup['program'].id}")
    text = listing.get_data(as_text=True)
    row = re.search(r'<form method="post" action="(/clients/(\d+)/suggest-make-up)".*?'
                    r'name="week_start" value="([\d-]+)"', text, re.S)
    assert row and int(row.group(2)) == person.id and row.group(3) == "2027-02-15"
    answer = client.post(row.group(1), data={"csrf_token": csrf(listing.data),
                                             "week_start": row.group(3)})
    assert answer.status_code == 303
    page = client.get(answer.headers["Location"])
    shown = page.get_data(as_text=True)
    assert "<title>Suggested make-up · " in shown
    assert "Suggested make-up sessions for Avery Stone" in shown
    assert "Relapse prevention — Wed 17 Feb, 18:00–21:00, 1 seat free" in shown
    number = re.search(r"/schedule-proposals/(\d+)", answer.headers["Location"]).group(1)
    accepted = client.post(f"/schedule-proposals/{number}/accept",
                           data={"csrf_token": csrf(page.data)})
    assert accepted.status_code == 303
    assert held(db, person) == 2


@pytest.mark.parametrize("week", ["2027-02-16", "9999-01-01", "soon", "", "2027-02-15\x00"])
def test_a_tampered_make_up_week_shows_the_error_by_the_field(client, db, setup, coordinator,
                                                              week):
    token = csrf(client.get(f"/clients/{setup['client'].id}").data)
    answer = client.post(f"/clients/{setup['client'].id}/suggest-make-up",
                         data={"csrf_token": token, "week_start": week})
    assert answer.status_code == 422
    assert 'id="make-up-week-error"' in answer.get_data(as_text=True)
    assert db.scalar(select(func.count(ScheduleProposal.id))) == 0


def test_a_clinician_sees_the_follow_up_list_without_make_up_buttons(client, db, setup, make):
    # Avery is on Dana's caseload: her plan names Dana primary therapist.
    plans.active_plan(db, setup["client"].id).primary_therapist_id = setup["therapist"].id
    db.commit()
    sign_in(client, make.user("clinician", staff_id=setup["therapist"].id))
    text = client.get(f"/follow-up?program={setup['program'].id}").get_data(as_text=True)
    assert "can still be met" in text and "Suggest make-up" not in text
