"""The pickers without JavaScript: a short select of matches and a search that reloads the
page; an id posted directly still counts when it names a row the picker may take."""

import re
from datetime import date

import pytest
from sqlalchemy import select

from scheduler.models import Client, Enrollment, Room, Session
from scheduler.web.calendar.pickers import PICKER_LIMIT
from tests.helpers import sign_in


def _token(page: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def _options(page: str, select_id: str) -> list[str]:
    block = re.search(rf'<select[^>]*id="{select_id}".*?</select>', page, re.S).group(0)
    return [label.strip() for label in re.findall(r"<option[^>]*>([^<]*)</option>", block)]


@pytest.fixture
def network(client, make):
    """A program with many clients and a series; more rooms and staff than a select lists."""
    sign_in(client, make.user("coordinator"))
    program = make.program(name="Evening IOP")
    for n in range(PICKER_LIMIT + 5):
        make.client(program, name=f"Client {n:03d}")
        make.room(name=f"Room {n:03d}", capacity=12)
    make.client(program, name="Maria O'Neil")
    make.room(name="Garden room", capacity=12)
    make.staff(name="Dana Whitfield", email="dana@clinic.test")
    group = make.series(program=program, title="Relapse prevention", capacity=12,
                        start_date=date(2027, 2, 17), rrule="FREQ=WEEKLY;BYDAY=WE")
    return program, group


def test_a_series_page_lists_a_few_clients_and_says_type_to_search(client, network):
    _, group = network
    page = client.get(f"/series/{group.id}").get_data(as_text=True)

    assert len(_options(page, "client_id")) == PICKER_LIMIT + 1  # and "Choose a client"
    assert "type to search" in page
    assert f'<form id="client_id-search" method="get" action="/series/{group.id}#enroll-h"' in page
    assert 'name="client_q"' in page and 'form="client_id-search"' in page
    assert "/static/js/picker.js" in page


def test_searching_without_javascript_lists_the_matches_and_enrols_the_one_chosen(
        client, network, db):
    _, group = network
    page = client.get(f"/series/{group.id}?client_q=mar").get_data(as_text=True)

    assert _options(page, "client_id") == ["Choose a client", "Maria O&#39;Neil"]
    assert "type to search" not in page
    maria = re.search(r'<option value="(\d+)">Maria', page).group(1)
    response = client.post(f"/series/{group.id}/enroll",
                           data={"client_id": maria, "csrf_token": _token(page)})
    assert response.status_code == 302
    assert db.scalar(select(Enrollment.client_id)) == int(maria)


def test_an_id_posted_directly_counts_though_the_select_did_not_list_it(client, network, db):
    program, group = network
    page = client.get(f"/series/{group.id}").get_data(as_text=True)
    last = db.scalar(select(Session.id).where(Session.series_id == group.id))
    unlisted = db.scalar(select(Client).where(Client.name == f"Client {PICKER_LIMIT + 4:03d}"))
    assert unlisted.name not in _options(page, "client_id")

    response = client.post(f"/sessions/{last}/enroll",
                           data={"client_id": unlisted.id, "csrf_token": _token(page)})
    assert response.status_code == 302
    assert db.scalar(select(Enrollment.client_id)) == unlisted.id


def test_a_client_of_another_program_or_no_client_is_not_a_valid_choice(client, network, make,
                                                                        db):
    _, group = network
    stranger = make.client(make.program(), name="Maria Other")
    page = client.get(f"/series/{group.id}").get_data(as_text=True)
    for value in (stranger.id, 2**31, "x"):
        response = client.post(f"/series/{group.id}/enroll",
                               data={"client_id": value, "csrf_token": _token(page)})
        assert response.status_code == 422
        errors = re.findall(r'class="field-error" id="client_id-error" role="alert">([^<]*)<',
                            response.get_data(as_text=True))
        assert errors == ["Not a valid choice." if value == stranger.id else "Choose a client."]
    assert db.scalar(select(Enrollment.id)) is None


def test_a_session_page_searches_rooms_and_staff_and_keeps_a_refused_choice(client, network,
                                                                           db):
    _, group = network
    session_id = db.scalar(select(Session.id).where(Session.series_id == group.id))
    page = client.get(f"/sessions/{session_id}?room_q=gar&staff_q=WHIT").get_data(as_text=True)
    assert _options(page, "room_id") == ["Choose a room", "Garden room (12 seats)"]
    assert _options(page, "staff_id") == ["Choose a staff member", "Dana Whitfield"]

    garden = re.search(r'<option value="(\d+)">Garden', page).group(1)
    response = client.post(f"/sessions/{session_id}/room",
                           data={"room_id": garden, "csrf_token": _token(page)})
    assert response.status_code == 302
    assert db.get(Session, session_id).room.name == "Garden room"


@pytest.mark.parametrize("term", ["a" * 101, "mar\x00", "mar\x1b"])
def test_a_hostile_search_answers_a_page_naming_the_search_box(client, network, term):
    _, group = network
    response = client.get(f"/series/{group.id}", query_string={"client_q": term})
    assert response.status_code == 400
    assert "Find a client" in response.get_data(as_text=True)


def test_percent_in_a_search_is_a_percent(client, network):
    _, group = network
    page = client.get(f"/series/{group.id}?client_q=%25").get_data(as_text=True)
    assert _options(page, "client_id") == ["Choose a client"]


def test_the_week_filter_lists_a_few_rooms_searches_and_takes_an_unlisted_one(client, network,
                                                                             db):
    page = client.get("/week").get_data(as_text=True)
    assert len(_options(page, "room")) == PICKER_LIMIT + 1  # and "All rooms"
    assert "type to search" in page
    # On the week the search box is part of the filter form: "Show" searches.
    assert 'name="room_q"' in page and 'form="room-search"' not in page

    page = client.get("/week?room_q=garden&staff_q=dana").get_data(as_text=True)
    assert _options(page, "room") == ["All rooms", "Garden room (12 seats)"]
    assert _options(page, "staff") == ["All staff", "Dana Whitfield"]

    unlisted = db.scalar(select(Room.id).where(Room.name == f"Room {PICKER_LIMIT + 4:03d}"))
    response = client.get(f"/week?room={unlisted}")
    assert response.status_code == 200
    assert _options(response.get_data(as_text=True), "room")[1] == (
        f"Room {PICKER_LIMIT + 4:03d} (12 seats)")


def test_the_series_forms_list_a_few_rooms_and_take_an_unlisted_one(client, network, db):
    _, group = network
    page = client.get("/series/new").get_data(as_text=True)
    assert len(_options(page, "room_id")) == PICKER_LIMIT + 1  # and "No room (virtual)"
    assert "type to search" in page
    page = client.get("/series/new?room_q=garden").get_data(as_text=True)
    assert _options(page, "room_id") == ["No room (virtual)", "Garden room (12 seats)"]

    unlisted = db.scalar(select(Room).where(Room.name == f"Room {PICKER_LIMIT + 4:03d}"))
    edit = client.get(f"/series/{group.id}/edit").get_data(as_text=True)
    form = dict(re.findall(r'<input[^>]*name="([a-z_]+)"[^>]*value="([^"]*)"', edit))
    form.update(room_id=unlisted.id, weekdays="WE", reason="Bigger room")
    for unticked in ("room_q", "override"):
        form.pop(unticked, None)
    response = client.post(f"/series/{group.id}/edit", data=form)
    assert response.status_code == 302, re.findall(r'field-error[^<]*', response.get_data(
        as_text=True))
    db.expire_all()
    assert db.get(type(group), group.id).room_id == unlisted.id
