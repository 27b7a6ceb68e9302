"""The staff pages at network scale (issue 19): a coordinator scoped to Eastside finds nothing of
Westside on any page, and every page shows "my sites" unless its site filter asks for others.

Real HTTP through the app; the HTML is searched for the other site's names (its site, program,
room's site, staff, client and group), so a leak anywhere on a page fails the test.
"""

from datetime import date

import pytest
from sqlalchemy import select

from scheduler.models import Session
from scheduler.services import booking, sites
from tests.helpers import ACTOR, sign_in

NAMES = ("Eastside", "Westside")


@pytest.fixture
def network(db, make, now):
    """Eastside and Westside, each with a program, a "Room B", a therapist, a client and a
    group on Wednesday of this week; and a coordinator scoped to Eastside."""
    out: dict = {}
    for name in NAMES:
        site = sites.create_site(db, ACTOR, name=name, timezone="America/New_York")
        db.commit()
        program = make.program(name=f"{name} IOP", site_id=site.id)
        room = make.room(name="Room B", site_id=site.id)
        therapist = make.staff(name=f"{name} Therapist", site_ids=[site.id])
        person = make.client(program, name=f"{name} Client")
        group = make.series(program, title=f"{name} group", room_id=room.id,
                            facilitator_ids=[therapist.id], start_date=date(2027, 2, 17))
        booking.enroll_client(db, ACTOR, group.id, person.id, now=now)
        db.commit()
        session_id = db.scalar(select(Session.id).where(Session.series_id == group.id)
                               .order_by(Session.starts_at))
        out[name] = {"site": site, "program": program, "room": room, "staff": therapist,
                     "client": person, "group": group, "session": session_id}
    coordinator = make.user("coordinator")
    sites.set_user_sites(db, ACTOR, coordinator, [out["Eastside"]["site"].id])
    db.commit()
    out["coordinator"] = coordinator
    return out


def _page(client, path: str, status: int = 200) -> str:
    answer = client.get(path, follow_redirects=True)
    assert answer.status_code == status, (path, answer.status_code)
    return answer.data.decode()


def _pages(east: dict) -> list[str]:
    return ["/week", "/clients", "/reports", "/follow-up", "/today", "/closures", "/intake",
            "/series/new", "/suggest-schedules",
            f"/programs/{east['program'].id}/suggest-schedules",
            f"/sessions/{east['session']}", f"/series/{east['group'].id}",
            f"/series/{east['group'].id}/edit", f"/clients/{east['client'].id}"]


def test_a_scoped_coordinator_sees_nothing_of_another_site_on_any_page(client, network):
    sign_in(client, network["coordinator"])
    for path in _pages(network["Eastside"]):
        page = _page(client, path)
        assert "Westside" not in page, path
    week = _page(client, "/week")
    assert "Eastside group" in week and "Showing Eastside" in week
    clients = _page(client, "/clients")
    assert "Eastside Client" in clients and "Showing Eastside" in clients
    # One site: nothing to choose between, so no site filter.
    assert 'name="site"' not in week
    # The room pickers offer the session's own site's "Room B", once.
    session = _page(client, f"/sessions/{network['Eastside']['session']}")
    assert session.count(">Room B (14 seats)<") == 1


def test_another_sites_records_are_not_found_pages(client, network):
    sign_in(client, network["coordinator"])
    west = network["Westside"]
    for path in (f"/clients/{west['client'].id}", f"/sessions/{west['session']}",
                 f"/series/{west['group'].id}", f"/series/{west['group'].id}/edit",
                 f"/programs/{west['program'].id}/suggest-schedules",
                 f"/suggest-schedules?program={west['program'].id}",
                 f"/week?program={west['program'].id}", f"/week?room={west['room'].id}",
                 f"/clients?program={west['program'].id}",
                 f"/reports?program={west['program'].id}",
                 f"/follow-up?program={west['program'].id}",
                 f"/week?site={west['site'].id}", f"/clients?site={west['site'].id}",
                 f"/reports?site={west['site'].id}", f"/today?site={west['site'].id}"):
        page = _page(client, path, 404)
        assert "Westside" not in page, path
    # "All sites" is every site the coordinator may see: still Eastside only.
    page = _page(client, "/week?site=all")
    assert "Eastside group" in page and "Westside" not in page


def test_an_admin_sees_every_site_and_narrows_with_the_filter(client, make, network):
    sign_in(client, make.user("admin"))
    week = _page(client, "/week")
    assert "Eastside group" in week and "Westside group" in week
    assert "Showing All sites" in week and 'name="site"' in week
    west_id = network["Westside"]["site"].id
    west = _page(client, f"/week?site={west_id}")
    assert "Westside group" in west and "Eastside group" not in west
    assert "Showing Westside" in west
    # The week's links keep the filter, so the address stays bookmarkable.
    assert f"site={west_id}" in west.split('rel="next"')[0].rsplit("href=", 1)[1]
    clients = _page(client, f"/clients?site={network['Eastside']['site'].id}")
    assert "Eastside Client" in clients and "Westside Client" not in clients
    reports = _page(client, f"/reports?site={west_id}")
    assert "Westside IOP" in reports and "Eastside IOP" not in reports
    follow = _page(client, f"/follow-up?site={west_id}")
    assert "Westside IOP" in follow and "Eastside IOP" not in follow
    # The other filters still work beside it.
    east = network["Eastside"]
    room = _page(client, f"/week?room={east['room'].id}")
    assert "Eastside group" in room and "Westside group" not in room
    staff = _page(client, f"/week?staff={network['Westside']['staff'].id}")
    assert "Westside group" in staff and "Eastside group" not in staff


def test_pages_default_to_my_sites_and_widen_to_all(client, db, make, network):
    west = network["Westside"]
    clinician = make.user("clinician", staff_id=west["staff"].id)
    sign_in(client, clinician)
    follow = _page(client, "/follow-up")
    assert "Westside IOP" in follow and "Eastside IOP" not in follow
    assert "My sites: Westside" in follow and ">All sites<" in follow
    widened = _page(client, "/follow-up?site=all")
    assert "Westside IOP" in widened and "Eastside IOP" in widened
    # An unscoped coordinator who works at Westside: their week is Westside's, unless widened.
    lead = make.staff(name="Westside Lead", site_ids=[west["site"].id])
    coordinator = make.user("coordinator", staff_id=lead.id)
    client.get("/logout")
    sign_in(client, coordinator)
    week = _page(client, "/week")
    assert "Westside group" in week and "Eastside group" not in week
    every = _page(client, "/week?site=all")
    assert "Westside group" in every and "Eastside group" in every
    assert "Showing All sites" in every
    # A bookmarked ?program= of the other site brings its site along.
    east = _page(client, f"/clients?program={network['Eastside']['program'].id}")
    assert "Eastside Client" in east and "Showing Eastside" in east
    # A coordinator scoped to both sites sees them named.
    both = make.user("coordinator")
    sites.set_user_sites(db, ACTOR, both, [network[n]["site"].id for n in NAMES])
    db.commit()
    sign_in(client, both)
    assert "Showing Eastside · Westside" in _page(client, "/clients")


@pytest.mark.parametrize("value", ["abc", "-1", "0", "1.5", "99999999999999999999999",
                                   "all sites", "²", " 1 2 "])
def test_hostile_site_values_are_refused_naming_the_field(client, make, network, value):
    sign_in(client, make.user("admin"))
    for path in ("/week", "/clients", "/reports", "/follow-up", "/today"):
        answer = client.get(path, query_string={"site": value})
        assert 400 <= answer.status_code < 500, (path, value, answer.status_code)
        assert "Site" in answer.data.decode(), (path, value)
