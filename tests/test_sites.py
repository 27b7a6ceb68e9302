"""Sites: a clinic network's buildings, each with its own rooms, programs and staff (issue 19)."""

import re

from sqlalchemy import select

from scheduler.models import AuditEvent, Room, Site
from scheduler.services import rooms, sites
from tests.helpers import ACTOR, sign_in

API = "/api/v1"


def _add_site(client, headers, name, timezone="America/New_York", **more):
    response = client.post(f"{API}/sites", json={"name": name, "timezone": timezone, **more},
                           headers=headers)
    assert response.status_code == 201, response.json
    return response.json


def _field_errors(response) -> dict:
    assert response.status_code == 422, response.json
    return response.json["errors"]["json"]


def test_an_admin_adds_a_site_and_staff_read_it(client, db, auth):
    admin = auth("admin")
    site = _add_site(client, admin, "Eastside", "America/Chicago", address="12 Elm Street")
    assert site["name"] == "Eastside"
    assert site["timezone"] == "America/Chicago"
    assert site["address"] == "12 Elm Street"
    for role in ("clinician", "coordinator"):
        response = client.get(f"{API}/sites/{site['id']}", headers=auth(role))
        assert response.status_code == 200
        assert response.json["name"] == "Eastside"
    event = db.scalars(select(AuditEvent).where(AuditEvent.entity_type == "site")).one()
    assert (event.action, event.entity_id, event.after["name"]) == ("create", site["id"],
                                                                   "Eastside")


def test_only_admins_add_or_change_sites(client, auth):
    response = client.post(f"{API}/sites", json={"name": "Eastside", "timezone": "UTC"},
                           headers=auth("coordinator"))
    assert response.status_code == 403


def test_a_site_name_is_unique_and_its_zone_real(client, auth):
    admin = auth("admin")
    _add_site(client, admin, "Eastside")
    again = client.post(f"{API}/sites", json={"name": "eastside", "timezone": "UTC"},
                        headers=admin)
    assert "name" in _field_errors(again)
    bad_zone = client.post(f"{API}/sites", json={"name": "Westside", "timezone": "Mars/Base"},
                           headers=admin)
    assert "timezone" in _field_errors(bad_zone)


def test_an_admin_renames_a_site_and_the_change_is_audited(client, db, auth):
    admin = auth("admin")
    east = _add_site(client, admin, "Eastside")
    west = _add_site(client, admin, "Westside")
    clash = client.patch(f"{API}/sites/{east['id']}", json={"name": "Westside"}, headers=admin)
    assert "name" in _field_errors(clash)
    response = client.patch(f"{API}/sites/{east['id']}",
                            json={"name": "East End", "timezone": "America/Denver"},
                            headers=admin)
    assert response.status_code == 200
    assert (response.json["name"], response.json["timezone"]) == ("East End", "America/Denver")
    event = db.scalars(select(AuditEvent).where(AuditEvent.entity_type == "site")
                       .order_by(AuditEvent.id.desc())).first()
    assert (event.action, event.before, event.after) == (
        "update", {"name": "Eastside", "timezone": "America/New_York"},
        {"name": "East End", "timezone": "America/Denver"})
    assert client.get(f"{API}/sites/{west['id']}", headers=admin).json["name"] == "Westside"


def test_the_site_list_is_paged_and_searched_by_name(client, auth):
    admin = auth("admin")
    for name in ("Eastside", "Westside", "Harbor View"):
        _add_site(client, admin, name)
    everything = client.get(f"{API}/sites?per_page=2", headers=admin).json
    assert everything["total"] == 3
    assert [s["name"] for s in everything["items"]] == ["Eastside", "Harbor View"]
    # The one search rule every list and picker uses: each word begins the name or a word of it.
    found = client.get(f"{API}/sites?q=VIE", headers=auth("clinician")).json
    assert [s["name"] for s in found["items"]] == ["Harbor View"]
    found = client.get(f"{API}/sites?q=west", headers=auth("clinician")).json
    assert [s["name"] for s in found["items"]] == ["Westside"]
    literal = client.get(f"{API}/sites?q=%25", headers=admin).json
    assert literal["total"] == 0


def test_two_sites_each_have_a_room_b(client, auth):
    admin = auth("admin")
    east = _add_site(client, admin, "Eastside")
    west = _add_site(client, admin, "Westside")
    coordinator = auth("coordinator")
    rooms = [client.post(f"{API}/rooms", json={"name": "Room B", "capacity": 12,
                                               "site_id": site["id"]}, headers=coordinator)
             for site in (east, west)]
    assert [r.status_code for r in rooms] == [201, 201]
    assert [r.json["site_id"] for r in rooms] == [east["id"], west["id"]]
    again = client.post(f"{API}/rooms", json={"name": "Room B", "capacity": 8,
                                              "site_id": east["id"]}, headers=coordinator)
    errors = _field_errors(again)
    assert "name" in errors
    assert "Room B" in errors["name"][0]


def test_with_two_sites_a_new_room_or_program_must_name_its_site(client, auth):
    admin = auth("admin")
    _add_site(client, admin, "Eastside")
    _add_site(client, admin, "Westside")
    coordinator = auth("coordinator")
    room = client.post(f"{API}/rooms", json={"name": "Room B", "capacity": 12},
                       headers=coordinator)
    assert "site_id" in _field_errors(room)
    program = client.post(f"{API}/programs", json={"name": "Evening IOP", "level_of_care": "2.1",
                                                   "timezone": "America/New_York"},
                          headers=coordinator)
    assert "site_id" in _field_errors(program)
    unknown = client.post(f"{API}/rooms", json={"name": "Room B", "capacity": 12,
                                                "site_id": 999999}, headers=coordinator)
    assert "site_id" in _field_errors(unknown)


def test_with_one_site_a_program_and_room_go_to_it(client, auth, db):
    coordinator = auth("coordinator")
    program = client.post(f"{API}/programs", json={"name": "Evening IOP", "level_of_care": "2.1",
                                                   "timezone": "America/Chicago"},
                          headers=coordinator)
    assert program.status_code == 201
    room = client.post(f"{API}/rooms", json={"name": "Room B", "capacity": 12},
                       headers=coordinator)
    assert room.status_code == 201
    assert program.json["site_id"] == room.json["site_id"]
    only = client.get(f"{API}/sites", headers=coordinator).json["items"]
    assert [(s["name"], s["timezone"]) for s in only] == [("Main site", "America/Chicago")]


def test_staff_work_at_one_or_more_sites(client, auth, make):
    make.program()  # the clinic's one site
    coordinator = auth("coordinator")
    alone = client.post(f"{API}/staff", json={"name": "Dana Reyes", "role": "therapist",
                                              "email": None}, headers=coordinator)
    assert alone.status_code == 201
    [main] = alone.json["site_ids"]
    west = _add_site(client, auth("admin"), "Westside")
    unnamed = client.post(f"{API}/staff", json={"name": "Lee Park", "role": "therapist",
                                                "email": None}, headers=coordinator)
    assert "site_ids" in _field_errors(unnamed)
    both = client.post(f"{API}/staff", json={"name": "Lee Park", "role": "therapist",
                                             "email": None, "site_ids": [west["id"], main]},
                       headers=coordinator)
    assert both.status_code == 201
    assert both.json["site_ids"] == sorted([main, west["id"]])
    moved = client.patch(f"{API}/staff/{alone.json['id']}", json={"site_ids": [west["id"]]},
                         headers=coordinator)
    assert moved.status_code == 200
    assert moved.json["site_ids"] == [west["id"]]
    none = client.patch(f"{API}/staff/{alone.json['id']}", json={"site_ids": []},
                        headers=coordinator)
    assert "site_ids" in _field_errors(none)
    listed = client.get(f"{API}/staff", headers=coordinator).json["items"]
    assert {m["name"]: m["site_ids"] for m in listed} == {
        "Dana Reyes": [west["id"]], "Lee Park": sorted([main, west["id"]])}


def test_a_staff_members_sites_are_audited(client, db, auth, make):
    make.program()
    coordinator = auth("coordinator")
    member = client.post(f"{API}/staff", json={"name": "Dana Reyes", "role": "therapist",
                                               "email": None}, headers=coordinator).json
    west = _add_site(client, auth("admin"), "Westside")
    client.patch(f"{API}/staff/{member['id']}", json={"site_ids": [west["id"]]},
                 headers=coordinator)
    events = db.scalars(select(AuditEvent).where(AuditEvent.entity_type == "staff")
                        .order_by(AuditEvent.id)).all()
    assert events[0].after["site_ids"] == member["site_ids"]
    assert (events[-1].before, events[-1].after) == ({"site_ids": member["site_ids"]},
                                                     {"site_ids": [west["id"]]})


def test_an_admin_scopes_a_coordinator_login_to_sites(client, db, auth, make):
    admin = auth("admin")
    east = _add_site(client, admin, "Eastside")
    west = _add_site(client, admin, "Westside")
    coordinator = make.user("coordinator")
    url = f"{API}/users/{coordinator.id}/sites"
    response = client.put(url, json={"site_ids": [west["id"], east["id"]]}, headers=admin)
    assert response.status_code == 200
    assert response.json == {"site_ids": sorted([east["id"], west["id"]])}
    listed = client.get(f"{API}/users?role=coordinator", headers=admin).json["items"]
    assert [u["site_ids"] for u in listed] == [sorted([east["id"], west["id"]])]
    event = db.scalars(select(AuditEvent).where(AuditEvent.entity_type == "user")
                       .order_by(AuditEvent.id.desc())).first()
    assert (event.action, event.entity_id, event.before, event.after) == (
        "update", coordinator.id, {"site_ids": []},
        {"site_ids": sorted([east["id"], west["id"]])})
    every = client.put(url, json={"site_ids": []}, headers=admin)
    assert every.json == {"site_ids": []}
    forbidden = client.put(url, json={"site_ids": [east["id"]]}, headers=auth("coordinator"))
    assert forbidden.status_code == 403


def test_only_a_coordinator_login_is_scoped_to_sites(client, auth, make):
    admin = auth("admin")
    east = _add_site(client, admin, "Eastside")
    clinician = make.user("clinician")
    response = client.put(f"{API}/users/{clinician.id}/sites", json={"site_ids": [east["id"]]},
                          headers=admin)
    assert "site_ids" in _field_errors(response)
    missing = client.put(f"{API}/users/999999/sites", json={"site_ids": []}, headers=admin)
    assert missing.status_code == 404
    unknown = client.put(f"{API}/users/{make.user('coordinator').id}/sites",
                         json={"site_ids": [999999]}, headers=admin)
    assert "site_ids" in _field_errors(unknown)


def test_the_service_keeps_rooms_of_the_same_name_apart(db):
    east = sites.create_site(db, ACTOR, name="Eastside", timezone="America/New_York")
    west = sites.create_site(db, ACTOR, name="Westside", timezone="America/New_York")
    rooms.create_room(db, ACTOR, name="Room B", capacity=10, site_id=east.id)
    rooms.create_room(db, ACTOR, name="Room B", capacity=10, site_id=west.id)
    db.commit()
    assert sorted(db.scalars(select(Room.site_id).where(Room.name == "Room B"))) == sorted(
        [east.id, west.id])


# --- pages ---------------------------------------------------------------------------------------


def _csrf(client, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def _post(client, path: str, page: str, **data):
    return client.post(path, data={"csrf_token": _csrf(client, page), **data})


def test_an_admin_adds_and_edits_sites_on_the_sites_page(client, db, make):
    admin = make.user("admin")
    sign_in(client, admin)
    home = client.get("/sites").get_data(as_text=True)
    assert 'href="/sites"' in home  # in the navigation
    added = _post(client, "/sites", "/sites", name="Eastside", address="12 Elm Street",
                  timezone="America/Chicago")
    assert added.status_code == 303
    listed = client.get("/sites").get_data(as_text=True)
    assert "Eastside" in listed and "12 Elm Street" in listed and "America/Chicago" in listed
    again = _post(client, "/sites", "/sites", name="Eastside", timezone="UTC")
    assert again.status_code == 422
    html = again.get_data(as_text=True)
    assert "A site named &#39;Eastside&#39; already exists." in html
    assert 'id="name-error"' in html
    bad_zone = _post(client, "/sites", "/sites", name="Westside", timezone="Mars/Base")
    assert bad_zone.status_code == 422
    assert 'id="timezone-error"' in bad_zone.get_data(as_text=True)
    site_id = db.scalar(select(Site.id).where(Site.name == "Eastside"))
    edit = f"/sites/{site_id}/edit"
    assert "12 Elm Street" in client.get(edit).get_data(as_text=True)
    saved = _post(client, edit, edit, name="East End", address="", timezone="America/Denver")
    assert saved.status_code == 303
    db.expire_all()
    site = db.get(Site, site_id)
    assert (site.name, site.address, site.timezone) == ("East End", None, "America/Denver")
    found = client.get("/sites?q=west").get_data(as_text=True)
    assert "East End" not in found.split("<tbody>")[1]


def test_coordinators_see_no_sites_page(client, make):
    sign_in(client, make.user("coordinator"))
    assert client.get("/sites").status_code == 403
    assert 'href="/sites"' not in client.get("/staff").get_data(as_text=True)


def test_the_staff_page_shows_and_sets_where_each_person_works(client, db, make):
    east = sites.create_site(db, ACTOR, name="Eastside", timezone="America/New_York")
    west = sites.create_site(db, ACTOR, name="Westside", timezone="America/New_York")
    member = make.staff(name="Dana Reyes", site_ids=[east.id])
    sign_in(client, make.user("coordinator"))
    row = client.get("/staff").get_data(as_text=True).split("Dana Reyes")[1].split("</tr>")[0]
    assert "Eastside" in row and "Westside" not in row
    path = f"/staff/{member.id}/sites"
    none = _post(client, path, path)
    assert none.status_code == 422
    assert "Choose at least one site" in none.get_data(as_text=True)
    saved = _post(client, path, path, site_ids=[str(east.id), str(west.id)])
    assert saved.status_code == 303
    assert sites.staff_site_ids(db, member.id) == sorted([east.id, west.id])


def test_an_admin_sets_a_coordinators_sites_on_the_logins_page(client, db, make):
    east = sites.create_site(db, ACTOR, name="Eastside", timezone="America/New_York")
    sites.create_site(db, ACTOR, name="Westside", timezone="America/New_York")
    coordinator = make.user("coordinator")
    db.commit()
    sign_in(client, make.user("admin"))
    row = client.get("/users").get_data(as_text=True).split(coordinator.email)[1]
    assert "Every site" in row.split("</tr>")[0]
    path = f"/users/{coordinator.id}/sites"
    saved = _post(client, path, path, site_ids=[str(east.id)])
    assert saved.status_code == 303
    row = client.get("/users").get_data(as_text=True).split(coordinator.email)[1]
    assert "Eastside" in row.split("</tr>")[0]
    assert sites.user_site_ids(db, coordinator.id) == [east.id]
