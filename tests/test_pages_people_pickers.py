"""The selects of people that listed every row are pickers now (issue 19): without JavaScript
each lists the first matches and searches by reloading the page, and an id posted directly
still counts when it names a row the picker may take."""

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from scheduler import clock
from scheduler.models import SessionSeries, TreatmentPlan, User
from scheduler.services import accounts, booking, kiosk, plans, sessions, staff
from scheduler.web.calendar.pickers import PICKER_LIMIT
from scheduler.web.kiosk import SHOWN
from tests.helpers import ACTOR, sign_in


def _token(page: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def _options(page: str, select_id: str) -> list[str]:
    block = re.search(rf'<select[^>]*id="{select_id}".*?</select>', page, re.S).group(0)
    return [label.strip() for label in re.findall(r"<option[^>]*>([^<]*)</option>", block)]


def _checks(page: str, fieldset_id: str) -> list[str]:
    block = re.search(rf'<fieldset[^>]*id="{fieldset_id}".*?</fieldset>', page, re.S).group(0)
    return [label.strip() for label in re.findall(r'<input type="checkbox"[^>]*>([^<]*)</label>',
                                                  block)]


@pytest.fixture
def crowd(make):
    """More staff than a picker lists, and Dana Whitfield among them."""
    program = make.program(name="Evening IOP")
    for n in range(PICKER_LIMIT + 3):
        make.staff(name=f"Clinician {n:03d}")
    dana = make.staff(name="Dana Whitfield")
    last = make.staff(name="Zoe Zimmer")
    return program, dana, last


def test_intake_lists_a_few_clinicians_and_searches_without_javascript(client, make, crowd):
    sign_in(client, make.user("coordinator"))
    page = client.get("/intake").get_data(as_text=True)
    assert len(_options(page, "clinician_id")) == PICKER_LIMIT + 1  # and "Choose a clinician"
    assert "type to search" in page and "/static/js/picker.js" in page
    assert '<form id="clinician_id-search" method="get" action="/intake"' in page
    found = client.get("/intake?staff_q=whit").get_data(as_text=True)
    assert _options(found, "clinician_id") == ["Choose a clinician", "Dana Whitfield"]


def test_the_intake_plans_therapist_search_keeps_the_assessment(client, db, make, crowd):
    program, dana, _ = crowd
    person = make.client(program, name="Avery Stone")
    assessment = plans.record_assessment(db, ACTOR, person.id, assessed_on=date(2027, 2, 1),
                                         clinician_id=dana.id, recommended_level="2.1")
    db.commit()
    sign_in(client, make.user("coordinator"))
    path = f"/intake/{person.id}/plan"
    page = client.get(f"{path}?assessment={assessment.id}").get_data(as_text=True)
    search = re.search(r'<form id="primary_therapist_id-search".*?</form>', page, re.S).group(0)
    assert f'name="assessment" value="{assessment.id}"' in search


def test_a_therapist_the_select_did_not_list_is_saved_on_the_plan(client, db, make, crowd):
    program, _, last = crowd
    person = make.client(program, name="Avery Stone")
    plans.create_plan(db, ACTOR, person.id, start_date=date(2027, 2, 1))
    db.commit()
    sign_in(client, make.user("coordinator"))
    path = f"/clients/{person.id}/plan/revise"
    page = client.get(path).get_data(as_text=True)
    assert "Zoe Zimmer" not in _options(page, "primary_therapist_id")
    answer = client.post(path, data={"csrf_token": _token(page),
                                     "primary_therapist_id": str(last.id)})
    assert answer.status_code in (302, 303), answer.status_code
    assert db.scalar(select(TreatmentPlan.primary_therapist_id).where(
        TreatmentPlan.client_id == person.id).order_by(TreatmentPlan.version.desc())) == last.id
    # A deactivated one is not a choice, listed or not.
    staff.update_staff(db, ACTOR, last, {"is_active": False})
    db.commit()
    page = client.get(path).get_data(as_text=True)
    refused = client.post(path, data={"csrf_token": _token(page),
                                      "primary_therapist_id": str(last.id)})
    assert refused.status_code == 422
    assert 'id="primary_therapist_id-error"' in refused.get_data(as_text=True)


def test_find_a_time_searches_clinicians_inside_its_own_form(client, make, crowd):
    program, dana, _ = crowd
    person = make.client(program, name="Avery Stone")
    sign_in(client, make.user("coordinator"))
    page = client.get(f"/clients/{person.id}/find-a-time?staff_q=whit").get_data(as_text=True)
    assert _options(page, "find-staff") == ["Choose a clinician", "Dana Whitfield"]
    assert 'name="staff_q"' in page and 'form="find-staff-search"' not in page


def test_the_invite_form_searches_people_without_a_login(client, db, make, crowd):
    program, dana, last = crowd
    for n in range(PICKER_LIMIT + 2):
        make.client(program, name=f"Client {n:03d}")
    maria = make.client(program, name="Maria O'Neil")
    make.user("client", client_id=make.client(program, name="Mark Has-Login").id)
    sign_in(client, make.user("admin"))
    page = client.get("/users").get_data(as_text=True)
    assert len(_options(page, "invite-client")) == PICKER_LIMIT + 1
    found = client.get("/users?client_q=mar").get_data(as_text=True)
    assert _options(found, "invite-client") == ["—", "Maria O&#39;Neil"]
    assert '<details class="invite" id="invite" open>' in found
    staffed = client.get("/users?staff_q=zim").get_data(as_text=True)
    assert _options(staffed, "invite-staff") == ["—", "Zoe Zimmer"]
    sent = client.post("/users/invite", data={
        "csrf_token": _token(page), "email": "maria@example.org", "role": "client",
        "client_id": str(maria.id)})
    assert sent.status_code == 303
    assert db.scalar(select(User.client_id).where(User.email == "maria@example.org")) == maria.id


def test_a_coordinator_invites_no_staff_so_sees_no_staff_picker(client, make, crowd):
    sign_in(client, make.user("coordinator"))
    assert 'id="invite-staff"' not in client.get("/users").get_data(as_text=True)


def test_the_audit_page_finds_a_user_by_email_and_keeps_the_one_chosen(client, db, make):
    for _n in range(PICKER_LIMIT + 2):
        make.user("clinician")
    dana = accounts.create_user(db, ACTOR, email="dana.whitfield@clinic.test",
                                role="coordinator", password=None)
    db.commit()
    sign_in(client, make.user("admin"))
    page = client.get("/audit").get_data(as_text=True)
    assert len(_options(page, "user")) == PICKER_LIMIT + 1
    assert 'data-query="email"' in page  # the combobox asks the logins list by email
    found = client.get("/audit?user_q=whitfield").get_data(as_text=True)
    assert _options(found, "user") == ["Anyone", "dana.whitfield@clinic.test"]
    chosen = client.get(f"/audit?user={dana.id}").get_data(as_text=True)
    assert re.search(rf'<option selected value="{dana.id}">dana.whitfield', chosen)
    assert client.get("/audit?user=abc").status_code == 400


def test_a_series_lists_a_few_facilitators_and_keeps_the_ticked_ones(client, db, make, crowd):
    program, dana, last = crowd
    series = make.series(program, facilitator_ids=[last.id])
    sign_in(client, make.user("coordinator"))
    path = f"/series/{series.id}/edit"
    page = client.get(path).get_data(as_text=True)
    listed = _checks(page, "facilitator_ids")
    assert listed[0] == "Zoe Zimmer" and len(listed) == PICKER_LIMIT + 1
    assert 'checked' in page.split("Zoe Zimmer")[0].rsplit("<label", 1)[1]
    assert "type to search" in page
    found = client.get(f"{path}?staff_q=whit").get_data(as_text=True)
    assert _checks(found, "facilitator_ids") == ["Zoe Zimmer", "Dana Whitfield"]
    new = client.get("/series/new?staff_q=whit").get_data(as_text=True)
    assert _checks(new, "facilitator_ids") == ["Dana Whitfield"]
    assert '<form id="facilitator_ids-search" method="get" action="/series/new"' in new


def test_a_facilitator_id_must_name_an_active_staff_member(client, db, make, crowd):
    program, dana, last = crowd
    series = make.series(program, facilitator_ids=[dana.id])
    sign_in(client, make.user("coordinator"))
    path = f"/series/{series.id}/edit"
    page = client.get(path).get_data(as_text=True)
    data = {"csrf_token": _token(page), "title": series.title, "weekdays": ["MO", "WE", "TH"],
            "start_time": "18:00", "duration_minutes": "180", "end_date": "",
            "capacity": "12"}
    for bad in ("abc", "999999", str(2**64)):
        answer = client.post(path, data={**data, "facilitator_ids": [str(dana.id), bad]})
        assert answer.status_code == 422, (bad, answer.status_code)
        assert 'id="facilitator_ids-error"' in answer.get_data(as_text=True)
    saved = client.post(path, data={**data, "facilitator_ids": [str(dana.id), str(last.id)]})
    assert saved.status_code in (302, 303), saved.get_data(as_text=True)[:300]
    db.expire_all()
    assert sorted(s.id for s in db.get(SessionSeries, series.id).facilitators) == sorted(
        [dana.id, last.id])


# --- the kiosk: its own search, over the first names it shows ---------------------------------

START = datetime(2027, 2, 16, 23, 0, tzinfo=UTC)  # Tue 18:00 New York
AT_THE_DOOR = START - timedelta(minutes=10)


@pytest.fixture
def busy_evening(db, make):
    """More arrivals than a tablet lists, each with a PIN; Avery Stone among them."""
    program = make.program(name="Evening IOP")
    group = sessions.create_one_off(db, ACTOR, now=clock.now(), program_id=program.id,
                                    kind="group", starts_at=START,
                                    ends_at=START + timedelta(hours=3), capacity=60)
    people = [make.client(program, name=f"Bea Number{n:03d}") for n in range(SHOWN + 2)]
    people.append(make.client(program, name="Avery Stone"))
    for person in people:
        booking.book_client(db, ACTOR, group.id, person.id, now=clock.now())
        kiosk.set_pin(db, ACTOR, person.id, "4821")
    db.commit()
    return people[-1]


def test_a_busy_kiosk_asks_for_the_first_letters_and_shows_first_names_only(client, make,
                                                                           busy_evening):
    sign_in(client, make.user("kiosk"))
    with clock.frozen(AT_THE_DOOR):
        page = client.get("/kiosk").get_data(as_text=True)
        assert len(_options(page, "client_id")) == SHOWN + 1  # and "Choose your name"
        assert 'aria-label="Find your name"' in page and "type your name" in page
        assert "/api/v1" not in page  # no script asks an API the kiosk may not reach
        found = client.get("/kiosk?name=ave").get_data(as_text=True)
        assert _options(found, "client_id") == ["Choose your name", "Avery S."]
        # Only the words shown are searched: a surname finds nobody.
        surname = client.get("/kiosk?name=stone").get_data(as_text=True)
        assert "Avery" not in surname and "No one arriving now matches" in surname
        checked = client.post("/kiosk", data={"csrf_token": _token(found),
                                              "client_id": str(busy_evening.id),
                                              "pin": "4821"})
        assert checked.status_code == 303


def test_a_quiet_kiosk_shows_no_search(client, db, make):
    program = make.program(name="Evening IOP")
    group = sessions.create_one_off(db, ACTOR, now=clock.now(), program_id=program.id,
                                    kind="group", starts_at=START,
                                    ends_at=START + timedelta(hours=3), capacity=12)
    avery = make.client(program, name="Avery Stone")
    booking.book_client(db, ACTOR, group.id, avery.id, now=clock.now())
    kiosk.set_pin(db, ACTOR, avery.id, "4821")
    db.commit()
    sign_in(client, make.user("kiosk"))
    with clock.frozen(AT_THE_DOOR):
        page = client.get("/kiosk").get_data(as_text=True)
    assert _options(page, "client_id") == ["Choose your name", "Avery S."]
    assert "Find your name" not in page
