"""Site scope (issue 19): a coordinator of site A finds nothing of site B, by any id.

The rule's one owner is services/scope.py; lookups consult it, so these tests go through the
API and pages as a user would. The walk over every route is in test_authorization_matrix.
"""

from datetime import date

import pytest
from sqlalchemy import select

from scheduler.models import Booking
from scheduler.services import booking, scope, sites
from tests.helpers import ACTOR, sign_in

API = "/api/v1"


@pytest.fixture
def network(db, make, now):
    """Eastside and Westside, each with a program, a room "Room B", a client and a group."""
    out = {}
    for name in ("Eastside", "Westside"):
        site = sites.create_site(db, ACTOR, name=name, timezone="America/New_York")
        db.commit()
        program = make.program(name=f"{name} IOP", site_id=site.id)
        room = make.room(name="Room B", site_id=site.id)
        person = make.client(program, name=f"{name} Client")
        group = make.series(program, title=f"{name} group", room_id=room.id,
                            start_date=date(2027, 2, 17))
        booking.enroll_client(db, ACTOR, group.id, person.id, now=now)
        db.commit()
        out[name] = {"site": site, "program": program, "room": room, "client": person,
                     "group": group}
    east_coordinator = make.user("coordinator")
    sites.set_user_sites(db, ACTOR, east_coordinator, [out["Eastside"]["site"].id])
    db.commit()
    out["coordinator"] = east_coordinator
    return out


def test_another_sites_records_answer_404_as_if_missing(client, auth, network, db):
    headers = auth.for_user(network["coordinator"])
    west = network["Westside"]
    east = network["Eastside"]
    assert client.get(f"{API}/clients/{east['client'].id}", headers=headers).status_code == 200
    for path in (f"/clients/{west['client'].id}", f"/series/{west['group'].id}",
                 f"/rooms/{west['room'].id}", f"/programs/{west['program'].id}"):
        answer = client.get(API + path, headers=headers)
        assert answer.status_code == 404, (path, answer.json)
        missing = client.get(API + path.rsplit("/", 1)[0] + "/999999", headers=headers)
        assert missing.status_code == 404
        assert set(answer.json) == set(missing.json), path
    # Booking into another site's session is as for a missing session; booking another
    # site's client, as for a missing client (422 naming client_id).
    west_session = db.scalar(select(Booking.session_id).where(
        Booking.client_id == west["client"].id))
    east_session = db.scalar(select(Booking.session_id).where(
        Booking.client_id == east["client"].id))
    refused = client.post(f"{API}/sessions/{west_session}/bookings", headers=headers,
                          json={"client_id": east["client"].id})
    assert refused.status_code == 404, refused.json
    stranger = client.post(f"{API}/sessions/{east_session}/bookings", headers=headers,
                           json={"client_id": west["client"].id})
    assert stranger.status_code == 422 and "client_id" in str(stranger.json), stranger.json
    # An admin, and a coordinator with no site list, see both sites.
    for other in (auth("admin"), auth("coordinator")):
        assert client.get(f"{API}/clients/{west['client'].id}", headers=other).status_code == 200


def test_a_scoped_coordinators_pages_say_not_found_for_another_site(client, network):
    sign_in(client, network["coordinator"])
    west = network["Westside"]
    assert client.get(f"/clients/{west['client'].id}").status_code == 404
    assert client.get(f"/clients/{network['Eastside']['client'].id}").status_code == 200


def test_scope_does_not_outlive_its_request(client, auth, network, db):
    client.get(f"{API}/clients", headers=auth.for_user(network["coordinator"]))
    assert scope.current() is None
