"""Site scope (issue 19): a coordinator of site A finds nothing of site B, by any id.

The rule's one owner is services/scope.py; lookups consult it, so these tests go through the
API and pages as a user would. The walk over every route is in test_authorization_matrix.
"""

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from scheduler import clock
from scheduler.models import Booking, Session
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


# --- the API, route by route (issue 19): lists, writes, reports and exports ---------------------

REPORTS = {
    "weekly-hours": "&from=2027-02-15&to=2027-03-14",
    "attendance-rates": "&from=2027-02-15&to=2027-03-14",
    "census": "&from=2027-02-15&to=2027-03-14",
    "billing-days": "&from=2027-02-15&to=2027-03-14",
    "below-target": "",
    "follow-up": "",
}


def _names(answer) -> str:
    return answer.get_data(as_text=True)


def test_a_scoped_coordinators_lists_hold_only_their_sites(client, auth, network, db):
    headers = auth.for_user(network["coordinator"])
    east, west = network["Eastside"], network["Westside"]
    lists = ("/clients", "/series", "/sessions?from=2027-02-15T00:00:00Z&to=2027-03-01T00:00:00Z",
             "/rooms", "/programs", "/sites", f"/clients/matches?name={west['client'].name}")
    for path in lists:
        answer = client.get(API + path, headers=headers)
        assert answer.status_code == 200, (path, answer.json)
        body = _names(answer)
        assert "Westside" not in body, path
        if "matches" not in path and "rooms" not in path:
            assert "Eastside" in body, path
    # Rooms by the same name: only the caller's own "Room B".
    rooms = client.get(f"{API}/rooms?q=room", headers=headers).json["items"]
    assert [r["id"] for r in rooms] == [east["room"].id]
    everyone = client.get(f"{API}/rooms?q=room", headers=auth("admin")).json["items"]
    assert {r["id"] for r in everyone} == {east["room"].id, west["room"].id}
    # An admin, and a coordinator with no site list, see both sites' rows.
    for other in (auth("admin"), auth("coordinator")):
        for path in lists[:-1]:
            if "rooms" in path:
                continue
            body = _names(client.get(API + path, headers=other))
            assert "Westside" in body and "Eastside" in body, path


def test_staff_who_work_at_none_of_the_callers_sites_are_left_out(client, auth, network, db,
                                                                   make):
    east, west = network["Eastside"]["site"], network["Westside"]["site"]
    both = make.staff(name="Bo Both", site_ids=[east.id, west.id])
    west_only = make.staff(name="Wes Westonly", site_ids=[west.id])
    listed = client.get(f"{API}/staff", headers=auth.for_user(network["coordinator"])).json
    ids = {item["id"] for item in listed["items"]}
    assert both.id in ids and west_only.id not in ids
    # A staff record belongs to no one site: read by id, it answers (see the README).
    assert client.get(f"{API}/staff/{west_only.id}",
                      headers=auth.for_user(network["coordinator"])).status_code == 200
    assert west_only.id in {item["id"] for item in client.get(
        f"{API}/staff", headers=auth("admin")).json["items"]}


def test_reports_and_exports_of_another_site_answer_as_for_a_missing_program(client, auth,
                                                                            network):
    headers = auth.for_user(network["coordinator"])
    east, west = network["Eastside"]["program"], network["Westside"]["program"]
    for report, period in REPORTS.items():
        for fmt in ("", "&format=csv"):
            url = f"{API}/reports/{report}?program_id={{}}{period}{fmt}"
            theirs = client.get(url.format(west.id), headers=headers)
            missing = client.get(url.format(999999), headers=headers)
            assert theirs.status_code == missing.status_code == 422, (report, fmt)
            assert "program_id" in theirs.json["errors"]["query"]
            assert set(theirs.json) == set(missing.json)
            assert client.get(url.format(east.id), headers=headers).status_code == 200
            assert client.get(url.format(west.id), headers=auth("admin")).status_code == 200


def _refused_as_missing(client, headers, method, path, body, field):
    """The request naming another site's record answers as the same one naming no record."""
    theirs = client.open(API + path, method=method, headers=headers, json=body)
    missing_body = {k: (999999 if k == field else v) for k, v in body.items()}
    if isinstance(body[field], list):
        missing_body[field] = [999999]
    missing = client.open(API + path, method=method, headers=headers, json=missing_body)
    assert theirs.status_code == missing.status_code == 422, (path, theirs.json, missing.json)
    assert field in str(theirs.json), (path, theirs.json)
    assert set(theirs.json) == set(missing.json), path


def test_writes_naming_another_sites_record_are_refused_as_a_missing_reference(
        client, auth, network, db, make):
    headers = auth.for_user(network["coordinator"])
    east, west = network["Eastside"], network["Westside"]
    staff = make.staff(site_ids=[east["site"].id])
    east_session = db.scalar(select(Booking.session_id).where(
        Booking.client_id == east["client"].id))
    before = db.scalar(select(func.count(Booking.id)))
    cases = [
        ("POST", "/clients", {"name": "Casey Cole", "program_id": west["program"].id,
                              "admitted_on": "2027-03-01"}, "program_id", west["program"].id),
        ("PATCH", f"/clients/{east['client'].id}", {"program_id": west["program"].id},
         "program_id", west["program"].id),
        ("POST", "/series", {"program_id": east["program"].id, "kind": "group",
                             "title": "Morning group", "start_date": "2027-04-05",
                             "start_time": "09:00", "duration_minutes": 60,
                             "rrule": "FREQ=WEEKLY;BYDAY=MO", "room_id": west["room"].id},
         "room_id", west["room"].id),
        ("PATCH", f"/series/{east['group'].id}", {"room_id": west["room"].id}, "room_id",
         west["room"].id),
        ("PATCH", f"/sessions/{east_session}", {"room_id": west["room"].id}, "room_id",
         west["room"].id),
        ("POST", "/sessions", {"program_id": east["program"].id, "kind": "individual",
                               "starts_at": "2027-04-05T15:00:00Z",
                               "ends_at": "2027-04-05T16:00:00Z",
                               "facilitator_ids": [staff.id], "client_id": west["client"].id},
         "client_id", west["client"].id),
        ("POST", f"/clients/{east['client'].id}/episodes",
         {"admitted_on": "2027-03-01", "program_id": west["program"].id}, "program_id",
         west["program"].id),
        ("POST", f"/series/{east['group'].id}/enrollments", {"client_id": west["client"].id},
         "client_id", west["client"].id),
        ("POST", "/rooms", {"name": "Room Z", "capacity": 8, "site_id": west["site"].id},
         "site_id", west["site"].id),
        ("POST", "/programs", {"name": "Late IOP", "level_of_care": "2.1",
                               "population": "adult", "timezone": "America/New_York",
                               "address": "1 Main Street", "site_id": west["site"].id},
         "site_id", west["site"].id),
        ("POST", "/users/invitations", {"email": "w@clinic.test", "role": "client",
                                        "client_id": west["client"].id},
         "client_id", west["client"].id),
        ("POST", f"/programs/{east['program'].id}/schedule-proposals",
         {"from": "2027-02-22", "client_ids": [west["client"].id]}, "client_ids",
         west["client"].id),
    ]
    for method, path, body, field, _ in cases:
        _refused_as_missing(client, headers, method, path, body, field)
    staff_body = {"name": "Dana Drew", "role": "therapist", "email": None,
                  "site_ids": [west["site"].id]}
    _refused_as_missing(client, headers, "POST", "/staff", staff_body, "site_ids")
    # A walk-in on the roster: another site's client is as unknown as a missing one.
    started = db.get(Session, east_session).starts_at + timedelta(minutes=10)
    with clock.frozen(started):
        roster = client.put(f"{API}/sessions/{east_session}/attendance",
                            headers=auth.for_user(network["coordinator"]),
                            json={"records": [{"client_id": west["client"].id,
                                               "status": "present"}]})
    assert roster.status_code == 422 and "client_id" in str(roster.json), roster.json
    assert db.scalar(select(func.count(Booking.id))) == before


def test_another_sites_sessions_cannot_be_moved_cancelled_marked_or_rostered(client, auth,
                                                                            network, db):
    headers = auth.for_user(network["coordinator"])
    west = network["Westside"]
    session_id = db.scalar(select(Booking.session_id).where(
        Booking.client_id == west["client"].id))
    booking_id = db.scalar(select(Booking.id).where(Booking.client_id == west["client"].id))
    for method, path, body in (
            ("PATCH", f"/sessions/{session_id}", {"starts_at": "2027-02-17T22:00:00Z",
                                                  "ends_at": "2027-02-18T01:00:00Z"}),
            ("PATCH", f"/sessions/{session_id}", {"status": "cancelled",
                                                  "reason": "Snow"}),
            ("PUT", f"/sessions/{session_id}/attendance",
             {"records": [{"client_id": west["client"].id, "status": "present"}]}),
            ("GET", f"/sessions/{session_id}/attendance", None),
            ("GET", f"/sessions/{session_id}/bookings", None),
            ("GET", f"/sessions/{session_id}/checkin-code", None),
            ("DELETE", f"/bookings/{booking_id}", None),
            ("GET", f"/bookings/{booking_id}", None),
            ("POST", f"/series/{west['group'].id}/end", {"end_date": "2027-03-20"}),
            ("GET", f"/programs/{west['program'].id}/closures", None),
            ("POST", f"/programs/{west['program'].id}/closures",
             {"starts_on": "2027-03-10", "ends_on": "2027-03-10", "reason": "Snow"}),
    ):
        answer = client.open(API + path, method=method, headers=headers,
                             **({"json": body} if body is not None else {}))
        assert answer.status_code == 404, (method, path, answer.json)
    # The admin reaches the same session.
    assert client.get(f"{API}/sessions/{session_id}/bookings",
                      headers=auth("admin")).status_code == 200


def test_a_scoped_coordinator_editing_staff_sites_leaves_the_other_sites_alone(client, auth,
                                                                              network, make):
    east, west = network["Eastside"]["site"], network["Westside"]["site"]
    both = make.staff(name="Bo Both", site_ids=[east.id, west.id])
    answer = client.patch(f"{API}/staff/{both.id}", json={"site_ids": [east.id]},
                          headers=auth.for_user(network["coordinator"]))
    assert answer.status_code == 200, answer.json
    assert answer.json["site_ids"] == sorted([east.id, west.id])


def test_a_scoped_coordinator_manages_only_their_sites_client_logins(client, auth, network,
                                                                    make):
    east, west = network["Eastside"]["client"], network["Westside"]["client"]
    east_login = make.user("client", client_id=east.id)
    west_login = make.user("client", client_id=west.id)
    headers = auth.for_user(network["coordinator"])
    listed = {u["id"] for u in client.get(f"{API}/users", headers=headers).json["items"]}
    assert east_login.id in listed and west_login.id not in listed
    refused = client.patch(f"{API}/users/{west_login.id}", json={"is_active": False},
                           headers=headers)
    missing = client.patch(f"{API}/users/999999", json={"is_active": False}, headers=headers)
    assert refused.status_code == missing.status_code == 404
    assert set(refused.json) == set(missing.json)
    assert west_login.id in {u["id"] for u in client.get(
        f"{API}/users", headers=auth("admin")).json["items"]}
