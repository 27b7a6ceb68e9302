"""The Setup pages for rooms and programs: a coordinator adds and edits them without the API,
errors show under their fields, and hostile input is a 4xx naming the field, never a 500."""

import re

from sqlalchemy import select

from scheduler.models import AuditEvent, Program, Room, Site
from scheduler.services import scope, sites
from tests.helpers import ACTOR, sign_in

NUL = "Room\x00B"


def _csrf(client, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def _post(client, path: str, page: str | None = None, **data):
    return client.post(path, data={"csrf_token": _csrf(client, page or path), **data})


def error_under(html: str, field_id: str) -> str:
    match = re.search(
        rf'<span class="field-error" id="{field_id}-error" role="alert">([^<]*)</span>', html)
    return match.group(1) if match else ""


def _table(html: str) -> str:
    return html.split("<tbody>")[1].split("</tbody>")[0]


PROGRAM = {"name": "Day IOP", "level_of_care": "2.1", "population": "adult",
           "timezone": "America/Chicago", "country": "US", "absence_streak_alert": "2",
           "discharge_review_streak": "3", "discharge_review_absences": "6",
           "discharge_review_weeks": "12", "feed_privacy": "private", "is_active": "y"}


# --- rooms ---------------------------------------------------------------------------------------


def test_a_coordinator_adds_and_edits_a_room_and_it_is_audited(client, db, make):
    make.program()  # the clinic's one site
    sign_in(client, make.user("coordinator"))
    page = client.get("/rooms").get_data(as_text=True)
    assert 'id="site_id"' not in page  # one site: nothing to choose
    assert 'href="/rooms" aria-current="page"' in page  # the Setup bar
    added = _post(client, "/rooms", name="Room B", capacity="10", location="Second floor",
                  is_active="y")
    assert added.status_code == 303
    row = _table(client.get("/rooms").get_data(as_text=True))
    assert "Room B" in row and "Second floor" in row and "Main site" in row
    room = db.scalar(select(Room).where(Room.name == "Room B"))
    assert (room.capacity, room.location, room.is_active) == (10, "Second floor", True)
    edit = f"/rooms/{room.id}/edit"
    assert "Second floor" in client.get(edit).get_data(as_text=True)
    saved = _post(client, edit, name="Room B", capacity="12", location="")
    assert saved.status_code == 303
    db.expire_all()
    room = db.get(Room, room.id)
    assert (room.capacity, room.location, room.is_active) == (12, None, False)
    actions = list(db.scalars(select(AuditEvent.action).where(
        AuditEvent.entity_type == "room", AuditEvent.entity_id == room.id)
        .order_by(AuditEvent.id)))
    assert actions == ["create", "update"]


def test_a_room_name_taken_at_the_site_shows_under_the_name(client, make):
    make.room(name="Room B")
    sign_in(client, make.user("admin"))
    again = _post(client, "/rooms", name="Room B", capacity="8", is_active="y")
    assert again.status_code == 422
    html = again.get_data(as_text=True)
    assert "A room named &#39;Room B&#39; already exists at this site." in error_under(html,
                                                                                       "name")
    assert 'value="Room B"' in html  # what was typed comes back


def test_with_two_sites_the_room_form_asks_which_and_each_may_have_a_room_b(client, db, make):
    east = sites.create_site(db, ACTOR, name="Eastside", timezone="America/New_York")
    west = sites.create_site(db, ACTOR, name="Westside", timezone="America/Chicago")
    db.commit()
    make.room(name="Room B", site_id=east.id)
    sign_in(client, make.user("coordinator"))
    page = client.get("/rooms").get_data(as_text=True)
    assert '<select id="site_id"' in page and "Eastside" in page and "Westside" in page
    missing = _post(client, "/rooms", name="Room B", capacity="8", is_active="y")
    assert missing.status_code == 422
    assert "Choose the site" in error_under(missing.get_data(as_text=True), "site_id")
    added = _post(client, "/rooms", site_id=str(west.id), name="Room B", capacity="8",
                  is_active="y")
    assert added.status_code == 303
    assert sorted(db.scalars(select(Room.site_id).where(Room.name == "Room B"))) == sorted(
        [east.id, west.id])
    listed = _table(client.get("/rooms").get_data(as_text=True))
    assert "Eastside" in listed and "Westside" in listed


def test_a_scoped_coordinator_sees_and_edits_only_their_sites_rooms(client, db, make):
    east = sites.create_site(db, ACTOR, name="Eastside", timezone="America/New_York")
    west = sites.create_site(db, ACTOR, name="Westside", timezone="America/New_York")
    db.commit()
    make.room(name="East Room", site_id=east.id)
    far = make.room(name="West Room", site_id=west.id)
    coordinator = make.user("coordinator")
    sites.set_user_sites(db, ACTOR, coordinator, [east.id])
    db.commit()
    sign_in(client, coordinator)
    page = client.get("/rooms").get_data(as_text=True)
    assert "East Room" in page and "West Room" not in page
    assert "Westside" not in page  # nor can it be chosen for a new room
    assert client.get(f"/rooms/{far.id}/edit").status_code == 404
    elsewhere = _post(client, "/rooms", "/rooms", site_id=str(west.id), name="Sneaky",
                      capacity="4", is_active="y")
    assert elsewhere.status_code == 422
    assert db.scalar(select(Room).where(Room.name == "Sneaky")) is None
    with scope.limited_to(None):
        assert db.get(Room, far.id).name == "West Room"


def test_hostile_room_input_is_refused_by_field_never_500(client, db, make):
    room = make.room(name="Room B")
    sign_in(client, make.user("coordinator"))
    cases = [({"name": NUL, "capacity": "8"}, "name"),
             ({"name": "", "capacity": "8"}, "name"),
             ({"name": "x" * 121, "capacity": "8"}, "name"),
             ({"name": "Room C", "capacity": "lots"}, "capacity"),
             ({"name": "Room C", "capacity": "0"}, "capacity"),
             ({"name": "Room C", "capacity": str(10**400)}, "capacity"),
             ({"name": "Room C", "capacity": "8", "location": "a\x00b"}, "location"),
             ({"name": "Room C", "capacity": "8", "site_id": "x"}, "site_id"),
             ({"name": "Room C", "capacity": "8", "site_id": str(2**64)}, "site_id"),
             ({"name": "Room C", "capacity": "8", "site_id": "999999"}, "site_id")]
    for data, field in cases:
        answer = _post(client, "/rooms", "/rooms", **data)
        assert answer.status_code == 422, (data, answer.status_code)
        assert error_under(answer.get_data(as_text=True), field), data
    edit = f"/rooms/{room.id}/edit"
    answer = _post(client, edit, name="Room B", capacity="-3")
    assert answer.status_code == 422
    assert error_under(answer.get_data(as_text=True), "capacity")
    assert db.scalar(select(Room).where(Room.name == "Room C")) is None


def test_a_room_cannot_shrink_below_its_series_places(client, make):
    program = make.program()
    room = make.room(name="Room B", capacity=12)
    make.series(program, room_id=room.id, capacity=10)
    sign_in(client, make.user("coordinator"))
    edit = f"/rooms/{room.id}/edit"
    answer = _post(client, edit, name="Room B", capacity="6", is_active="y")
    assert answer.status_code == 422
    assert "places in this room" in error_under(answer.get_data(as_text=True), "capacity")


# --- programs ------------------------------------------------------------------------------------


def test_a_coordinator_adds_and_edits_a_program_and_it_is_audited(client, db, make):
    sign_in(client, make.user("coordinator"))
    page = client.get("/programs").get_data(as_text=True)
    assert "Add a program" in page and 'id="site_id"' not in page
    added = _post(client, "/programs", **{**PROGRAM, "min_weekly_hours": "",
                                          "min_group_size": "4"})
    assert added.status_code == 303
    program = db.scalar(select(Program).where(Program.name == "Day IOP"))
    assert (program.timezone, program.min_group_size, program.min_weekly_hours_override) == (
        "America/Chicago", 4, None)
    row = _table(client.get("/programs").get_data(as_text=True))
    assert "Day IOP" in row and "America/Chicago" in row and "Level 2.1" in row
    edit = f"/programs/{program.id}/edit"
    assert "America/Chicago" in client.get(edit).get_data(as_text=True)
    saved = _post(client, edit, **{**PROGRAM, "name": "Day IOP (adolescents)",
                                   "population": "adolescent", "country": "ca",
                                   "min_weekly_hours": "7.5", "feed_privacy": "standard"})
    assert saved.status_code == 303
    db.expire_all()
    program = db.get(Program, program.id)
    assert (program.name, program.population, program.country, program.feed_privacy,
            float(program.min_weekly_hours_override), program.min_group_size) == (
        "Day IOP (adolescents)", "adolescent", "CA", "standard", 7.5, None)
    actions = list(db.scalars(select(AuditEvent.action).where(
        AuditEvent.entity_type == "program", AuditEvent.entity_id == program.id)))
    assert sorted(actions) == ["create", "update"]


def test_program_errors_show_under_their_fields(client, db, make):
    sign_in(client, make.user("admin"))
    cases = [({"timezone": "Mars/Base"}, "timezone", "Unknown time zone"),
             ({"country": "ZZ"}, "country", "two-letter country code"),
             ({"level_of_care": "3.7"}, "level_of_care", "Not a valid choice"),
             ({"feed_privacy": "everything"}, "feed_privacy", "Not a valid choice"),
             ({"absence_streak_alert": "0"}, "absence_streak_alert", "1 to 20"),
             ({"discharge_review_weeks": "1e309"}, "discharge_review_weeks", ""),
             ({"min_weekly_hours": "NaN"}, "min_weekly_hours", ""),
             ({"min_weekly_hours": "81"}, "min_weekly_hours", "80"),
             ({"min_group_size": "0"}, "min_group_size", ""),
             ({"name": "Day\x00IOP"}, "name", ""),
             ({"address": "x" * 301}, "address", "")]
    for change, field, words in cases:
        answer = _post(client, "/programs", **{**PROGRAM, **change})
        assert answer.status_code == 422, (change, answer.status_code)
        message = error_under(answer.get_data(as_text=True), field)
        assert message and words in message, (change, message)
    assert db.scalar(select(Program).where(Program.name == "Day IOP")) is None


def test_with_two_sites_a_new_program_names_its_site(client, db, make):
    sites.create_site(db, ACTOR, name="Eastside", timezone="America/New_York")
    west = sites.create_site(db, ACTOR, name="Westside", timezone="America/Chicago")
    db.commit()
    sign_in(client, make.user("coordinator"))
    missing = _post(client, "/programs", **PROGRAM)
    assert missing.status_code == 422
    assert "Choose the site" in error_under(missing.get_data(as_text=True), "site_id")
    added = _post(client, "/programs", site_id=str(west.id), **PROGRAM)
    assert added.status_code == 303
    program = db.scalar(select(Program).where(Program.name == "Day IOP"))
    assert program.site_id == west.id
    assert "Westside" in _table(client.get("/programs").get_data(as_text=True))


def test_the_setup_pages_are_one_entry_in_the_main_bar(client, make):
    sign_in(client, make.user("coordinator"))
    page = client.get("/programs").get_data(as_text=True)
    main = page.split('aria-label="Main"')[1].split("</nav>")[0]
    assert '<a href="/staff" aria-current="true">Setup</a>' in main
    assert 'href="/rooms"' not in main and 'href="/programs"' not in main
    bar = page.split('aria-label="Setup"')[1].split("</nav>")[0]
    assert all(f'href="/{path}"' in bar for path in ("programs", "rooms", "staff"))
    assert 'href="/sites"' not in bar  # admins only
    week = client.get("/week").get_data(as_text=True)
    assert 'aria-label="Setup"' not in week


def test_clinicians_get_no_setup_pages(client, make):
    sign_in(client, make.user("clinician"))
    for path in ("/rooms", "/programs"):
        assert client.get(path).status_code == 403
    assert 'href="/rooms"' not in client.get("/today").get_data(as_text=True)


def test_sites_is_in_the_admins_setup_bar(client, db, make):
    sign_in(client, make.user("admin"))
    bar = client.get("/rooms").get_data(as_text=True).split('aria-label="Setup"')[1]
    assert 'href="/sites"' in bar.split("</nav>")[0]
    assert db.scalar(select(Site.id)) is None  # opening pages makes no site
