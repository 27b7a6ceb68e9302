"""`?q=` on the lists a coordinator searches by name: clients, rooms, staff and series."""

import pytest


def _names(client, path, headers, q, key="name", **params):
    response = client.get(path, headers=headers, query_string={"q": q, **params})
    assert response.status_code == 200, response.get_json()
    return [row[key] for row in response.get_json()["items"]], response.get_json()["total"]


def test_a_coordinator_finds_a_client_by_the_start_of_any_name_ignoring_case(client, make, auth):
    program = make.program()
    for name in ("John Smith", "Anna Smith-Jones", "Joanna Doe", "Blacksmith Ray", "Éloïse Ôdin"):
        make.client(program, name=name)
    headers = auth("coordinator")

    assert _names(client, "/api/v1/clients", headers, "smith")[0] == [
        "Anna Smith-Jones", "John Smith"]
    assert _names(client, "/api/v1/clients", headers, "JO")[0] == [
        "Anna Smith-Jones", "Joanna Doe", "John Smith"]
    assert _names(client, "/api/v1/clients", headers, "jo sm") == (
        ["Anna Smith-Jones", "John Smith"], 2)
    # Folded the same on SQLite as on PostgreSQL, accents included.
    assert _names(client, "/api/v1/clients", headers, "ÉLO")[0] == ["Éloïse Ôdin"]
    assert _names(client, "/api/v1/clients", headers, "ôd")[0] == ["Éloïse Ôdin"]
    # The middle of a word is not the start of one.
    assert _names(client, "/api/v1/clients", headers, "mith")[0] == []


def test_search_keeps_the_other_filters_and_the_paging(client, make, auth):
    first, second = make.program(), make.program()
    for n in range(5):
        make.client(first, name=f"Sam Rivera {n}")
    make.client(second, name="Sam Other")
    headers = auth("coordinator")

    names, total = _names(client, "/api/v1/clients", headers, "sam", program_id=first.id,
                          per_page=2, page=2)
    assert (names, total) == (["Sam Rivera 2", "Sam Rivera 3"], 5)


def test_rooms_staff_and_series_search_by_name_or_title(client, make, auth):
    program = make.program()
    make.room(name="Garden room")
    make.room(name="Room B")
    make.staff(name="Dana Whitfield", email="dana@clinic.test")
    make.staff(name="Whit Baker", email="whit@clinic.test")
    make.series(program, title="Relapse prevention group")
    make.series(program, title="Family education night")
    headers = auth("coordinator")

    assert _names(client, "/api/v1/rooms", headers, "b")[0] == ["Room B"]
    assert _names(client, "/api/v1/rooms", headers, "ROOM")[0] == ["Garden room", "Room B"]
    assert _names(client, "/api/v1/staff", headers, "whit")[0] == ["Dana Whitfield",
                                                                   "Whit Baker"]
    assert _names(client, "/api/v1/series", headers, "prev", key="title")[0] == [
        "Relapse prevention group"]


def test_percent_and_underscore_match_only_themselves(client, make, auth):
    make.room(name="100% Room")
    make.room(name="Room_1")
    make.room(name="Room 2")
    make.room(name="Back\\room")
    headers = auth("coordinator")

    assert _names(client, "/api/v1/rooms", headers, "%")[0] == []
    assert _names(client, "/api/v1/rooms", headers, "100%")[0] == ["100% Room"]
    assert _names(client, "/api/v1/rooms", headers, "room_")[0] == ["Room_1"]
    assert _names(client, "/api/v1/rooms", headers, "_")[0] == []
    assert _names(client, "/api/v1/rooms", headers, "back\\r")[0] == ["Back\\room"]
    assert _names(client, "/api/v1/rooms", headers, "back\\")[0] == ["Back\\room"]


@pytest.mark.parametrize("path", ["/api/v1/clients", "/api/v1/rooms", "/api/v1/staff",
                                  "/api/v1/series"])
@pytest.mark.parametrize("q", ["", "a" * 101, "Sam\x00", "Sam\x07", "tab\there"])
def test_a_hostile_search_is_refused_naming_it(client, auth, path, q):
    headers = auth("coordinator")
    response = client.get(path, headers=headers, query_string={"q": q})
    assert response.status_code == 422
    assert "q" in response.get_json()["errors"]["query"]


@pytest.mark.parametrize("raw", ["%FF%FE", "%ED%A0%80", "a&q=b", "%25%5F%5C"])
def test_undecodable_or_repeated_search_text_is_never_a_server_error(client, auth, raw):
    response = client.get(f"/api/v1/clients?q={raw}", headers=auth("coordinator"))
    assert response.status_code in (200, 422)


def test_the_search_is_documented(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    for path in ("/api/v1/clients", "/api/v1/rooms", "/api/v1/staff", "/api/v1/series"):
        params = {p["name"]: p for p in spec["paths"][path]["get"]["parameters"]}
        assert params["q"]["in"] == "query"
        assert params["q"]["schema"]["maxLength"] == 100
        assert "ignoring case" in params["q"]["description"]
