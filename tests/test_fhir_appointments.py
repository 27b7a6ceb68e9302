"""Appointment (issue 20): one per booking, shown only under the client's Part 2 consent, never
naming another member of a group, each one returned logged in the accounting of disclosures.

The world (tests/fhir_world.py): an evening group of 3 seats from Mon 8 February; the clinic's
clock at Tue 16 February 12:00 UTC.
"""

from datetime import UTC, date, datetime
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from scheduler import clock
from scheduler.models import Disclosure
from scheduler.services import consents
from tests.fhir_check import assert_valid
from tests.fhir_world import FHIR, build, consent, token
from tests.helpers import ACTOR


@pytest.fixture
def world(db, make):
    return build(db, make)


@pytest.fixture
def kipu(db, world):
    """Kipu's token, with Avery's consent covering appointments and attendance, Blake's and
    Dylan's appointments only, and none of Casey's."""
    consent(db, world, "avery", ["appointments", "attendance"])
    consent(db, world, "blake", ["appointments"])
    consent(db, world, "dylan", ["appointments"])
    return token(db, world.kipu)


def get(client, path, headers, status=200):
    answer = client.get(f"{FHIR}{path}", headers=headers)
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert answer.content_type.startswith("application/fhir+json")
    body = answer.get_json()
    assert_valid(body)
    return body


def resources(bundle) -> list[dict]:
    return [entry["resource"] for entry in bundle.get("entry", [])]


def search_all(client, query, headers) -> list[dict]:
    """Every page, following next links."""
    found, url = [], f"{FHIR}/Appointment?{query}"
    while url:
        answer = client.get(url, headers=headers)
        assert answer.status_code == 200, answer.get_data(as_text=True)
        bundle = answer.get_json()
        assert_valid(bundle)
        found += resources(bundle)
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
        if url:
            parts = urlsplit(url)
            url = f"{parts.path}?{parts.query}"
    return found


def status_of(world, found, person, key) -> str:
    wanted = str(world.bookings[(person, key)])
    return next(item["status"] for item in found if item["id"] == wanted)


def test_every_booking_state_maps_to_its_r4_status(client, world, kipu):
    found = search_all(client, f"patient=Patient/{world.people['avery'].id}", kipu)
    assert {key: status_of(world, found, "avery", key) for key in (
        "mon8", "wed10", "thu11", "mon15", "wed17", "thu18", "mon22", "now", "late")} == {
        "mon8": "fulfilled",      # present
        "wed10": "noshow",        # absent, no call
        "thu11": "cancelled",     # the clinic called it off for Avery (attendance)
        "mon15": "booked",        # past, nothing marked yet
        "wed17": "booked",
        "thu18": "cancelled",     # booking cancelled
        "mon22": "cancelled",     # session cancelled
        "now": "checked-in",      # present, the session under way
        "late": "booked",
    }
    blake = search_all(client, f"patient={world.people['blake'].id}", kipu)
    dylan = search_all(client, f"patient={world.people['dylan'].id}", kipu)
    assert [item["status"] for item in dylan] == ["waitlist"]
    assert dylan[0]["participant"][0] == {
        "actor": {"reference": f"Patient/{world.people['dylan'].id}"},
        "required": "required", "status": "tentative"}
    # Blake's consent does not cover attendance: late and left early read as booked.
    assert [item["status"] for item in blake] == ["booked", "booked", "booked"]


def test_late_and_left_early_are_fulfilled_once_attendance_is_consented(client, db, world,
                                                                        kipu):
    consent(db, world, "blake", ["attendance"])
    blake = search_all(client, f"patient={world.people['blake'].id}", kipu)
    assert [item["status"] for item in blake] == ["fulfilled", "fulfilled", "booked"]


def test_cancellations_carry_a_coded_reason_never_the_words_staff_typed(client, world, kipu):
    found = search_all(client, f"patient={world.people['avery'].id}&status=cancelled", kipu)
    reasons = {item["id"]: (item["cancelationReason"]["coding"][0]["code"],
                            item["cancelationReason"]["text"]) for item in found}
    assert reasons == {
        str(world.bookings[("avery", "thu11")]): ("prov",
                                                  "The clinic cancelled the appointment."),
        str(world.bookings[("avery", "thu18")]): ("other", "The booking was cancelled."),
        str(world.bookings[("avery", "mon22")]): ("prov", "The clinic cancelled the session."),
    }
    text = str(found)
    assert "hospital" not in text and "training" not in text and "Blake" not in text
    cancelled = next(item for item in found
                     if item["id"] == str(world.bookings[("avery", "mon22")]))
    # The session is off for everyone: its staff and room decline too.
    assert {p["status"] for p in cancelled["participant"]} == {"declined"}


def test_a_group_appointment_lists_its_own_client_staff_and_room_and_no_one_else(
        client, world, kipu):
    avery, blake = world.people["avery"], world.people["blake"]
    mine = get(client, f"/Appointment/{world.bookings[('avery', 'wed17')]}", kipu)
    theirs = get(client, f"/Appointment/{world.bookings[('blake', 'wed17')]}", kipu)
    for item, own, other in ((mine, avery, blake), (theirs, blake, avery)):
        actors = [p["actor"]["reference"] for p in item["participant"]]
        assert actors == [f"Patient/{own.id}", f"Practitioner/{world.dana.id}",
                          f"Practitioner/{world.eli.id}", f"Location/{world.room.id}"]
        text = str(item)
        assert f"Patient/{other.id}" not in text and other.name not in text
        assert f"Patient/{world.people['casey'].id}" not in text
        assert item["slot"] == [{"reference": f"Slot/{world.sessions['wed17'].id}"}]
        # The kind, never the group's title (it names the treatment).
        assert item["description"] == "Group session"
        assert "Relapse" not in text
        assert (item["start"], item["end"], item["minutesDuration"]) == (
            "2027-02-17T23:00:00Z", "2027-02-18T02:00:00Z", 180)


def test_without_consent_a_client_is_absent_and_a_read_is_a_404_like_a_missing_one(
        client, db, world, kipu):
    casey = world.people["casey"]
    assert search_all(client, f"patient={casey.id}", kipu) == []
    everyone = search_all(client, "", kipu)
    assert f"Patient/{casey.id}" not in str(everyone)
    hidden = get(client, f"/Appointment/{world.bookings[('casey', 'wed17')]}", kipu, 404)
    missing = get(client, "/Appointment/999999", kipu, 404)
    assert hidden["issue"][0]["code"] == missing["issue"][0]["code"] == "not-found"
    assert hidden["issue"][0]["diagnostics"].replace(
        str(world.bookings[("casey", "wed17")]), "N") == \
        missing["issue"][0]["diagnostics"].replace("999999", "N")
    # Another recipient sees nothing of Avery, whose consent names Kipu.
    other = token(db, world.billing)
    assert search_all(client, "", other) == []
    get(client, f"/Appointment/{world.bookings[('avery', 'wed17')]}", other, 404)
    assert db.scalar(select(Disclosure).where(
        Disclosure.client_id == casey.id)) is None


def test_a_revoked_consent_stops_at_once(client, db, world):
    row = consent(db, world, "avery", ["appointments"])
    headers = token(db, world.kipu)
    path = f"/Appointment/{world.bookings[('avery', 'wed17')]}"
    get(client, path, headers)
    consents.revoke(db, ACTOR, row, clock.now(), reason="Client asked")
    db.commit()
    get(client, path, headers, 404)
    assert search_all(client, f"patient={world.people['avery'].id}", headers) == []


def test_an_expired_consent_stops_at_the_end_of_its_last_day(client, db, world):
    consent(db, world, "avery", ["appointments"], expires_on=date(2027, 2, 20))
    path = f"/Appointment/{world.bookings[('avery', 'wed17')]}"
    # 20 February ends at midnight New York time: 05:00 UTC on the 21st.
    with clock.frozen(datetime(2027, 2, 21, 4, 59, tzinfo=UTC)):
        get(client, path, token(db, world.kipu))
    with clock.frozen(datetime(2027, 2, 21, 5, 0, tzinfo=UTC)):
        headers = token(db, world.kipu)
        get(client, path, headers, 404)
        assert search_all(client, "", headers) == []


def test_paging_through_next_links_returns_each_appointment_once_in_order(client, world,
                                                                        kipu):
    whole = search_all(client, "_count=200", kipu)
    paged = search_all(client, "_count=2", kipu)
    assert [item["id"] for item in paged] == [item["id"] for item in whole]
    assert len({item["id"] for item in paged}) == len(paged) == 13
    starts = [(item["start"], int(item["id"])) for item in paged]
    assert starts == sorted(starts)


def test_exactly_what_was_returned_is_logged_under_its_consent(client, db, world, kipu):
    first = get(client, "/Appointment?_count=5", kipu)
    returned = [f"Appointment/{item['id']}" for item in resources(first)]
    logged = db.execute(select(Disclosure.what, Disclosure.scope, Disclosure.client_id,
                               Disclosure.channel)).all()
    assert sorted(what for what, scope, _, _ in logged if scope == "appointments") == \
        sorted(returned)
    # Attendance is logged too where the status came from it: Avery's first three.
    attended = {f"Appointment/{world.bookings[('avery', key)]}"
                for key in ("mon8", "wed10", "thu11")}
    assert {what for what, scope, _, _ in logged if scope == "attendance"} == \
        attended & set(returned)
    assert {channel for *_, channel in logged} == {"fhir"}
    db.rollback()
    get(client, f"/Appointment/{world.bookings[('avery', 'wed17')]}", kipu)
    assert db.query(Disclosure).count() == len(logged) + 1


def test_date_searches_read_prefixes_and_wall_clock_days_where_the_session_meets(
        client, world, kipu):
    avery = world.people["avery"].id

    def ids(query):
        return {int(item["id"]) for item in search_all(client, f"patient={avery}&{query}",
                                                       kipu)}

    late = world.bookings[("avery", "late")]
    # 20:00 on the 19th in New York is 01:00 on the 20th in UTC.
    assert ids("date=2027-02-19") == {late}
    assert late not in ids("date=2027-02-20")
    assert late in ids("date=ge2027-02-20T00:00:00Z&date=lt2027-02-21T00:00:00Z")
    week = ids("date=ge2027-02-15&date=lt2027-02-22")
    assert week == {world.bookings[("avery", k)] for k in ("mon15", "now", "wed17", "thu18",
                                                           "late")}
    assert ids("date=gt2027-02-18&date=le2027-02-22") == {
        late, world.bookings[("avery", "mon22")]}
    assert ids("date=lt2027-02-09") == {world.bookings[("avery", "mon8")]}
    assert ids("date=2027-02") == ids("date=ge2027-02-01&date=lt2027-03-01")
    assert ids("date=eq2027-02-17T18:00-05:00") == {world.bookings[("avery", "wed17")]}


def test_last_updated_filters_on_when_the_appointment_last_changed(client, world, kipu):
    everything = search_all(client, "", kipu)
    changed_today = search_all(client, "_lastUpdated=ge2027-02-16T00:00:00Z", kipu)
    assert {item["id"] for item in changed_today} == {
        item["id"] for item in everything if item["meta"]["lastUpdated"] >= "2027-02-16"}
    # Today: Avery checked in, a booking and a session were cancelled.
    assert {int(item["id"]) for item in changed_today} == {
        world.bookings[("avery", k)] for k in ("now", "thu18", "mon22")}
    before = search_all(client, "_lastUpdated=lt2027-02-16T00:00:00Z", kipu)
    assert len(before) + len(changed_today) == len(everything)


@pytest.mark.parametrize("query, parameter", [
    ("date=9999-99-99", "date"),
    ("date=2027-02-30", "date"),
    ("date=xx2027-02-01", "date"),
    ("date=sa2027-02-01", "date"),
    ("date=2027-02-01T25:00:00Z", "date"),
    ("date=2027-02-01T10:00:00+99:00", "date"),
    ("date=0000-01-01", "date"),
    ("_lastUpdated=yesterday", "_lastUpdated"),
    ("_count=" + "9" * 5000, None),
    ("_count=-1", "_count"),
    ("_count=0", "_count"),
    ("_count=ten", "_count"),
    ("status=arrived", "status"),
    ("status=booked%00", "status"),
    ("patient=Patient/" + str(2**63), "patient"),
    ("patient=Practitioner/1", "patient"),
    ("patient=1%00", "patient"),
    ("_cursor=forged", "_cursor"),
    ("_cursor=" + "A" * 500, "_cursor"),
    ("name=Avery", "name"),
])
def test_hostile_parameters_are_refused_naming_the_parameter(client, kipu, query, parameter):
    answer = client.get(f"{FHIR}/Appointment?{query}", headers=kipu)
    if parameter is None:  # a huge _count is served as the largest page
        assert answer.status_code == 200
        assert_valid(answer.get_json())
        return
    assert answer.status_code == 400, answer.get_data(as_text=True)
    body = answer.get_json()
    assert_valid(body)
    issue = body["issue"][0]
    assert issue["expression"] == [parameter]
    assert "Traceback" not in issue["diagnostics"] and "sqlalchemy" not in issue["diagnostics"]


@pytest.mark.parametrize("path", ["/Appointment/" + str(2**63), "/Appointment/0",
                                  "/Appointment/-1", "/Appointment/1%00",
                                  "/Appointment/" + "9" * 5000, "/Appointment/abc"])
def test_a_read_of_an_impossible_id_is_a_404(client, kipu, path):
    get(client, path, kipu, 404)


def test_the_door_asks_a_token_holding_the_appointment_scope(client, db, world, kipu):
    get(client, "/Appointment", {}, 401)
    slot_only = token(db, world.kipu, ["system/Slot.read"])
    refused = get(client, "/Appointment", slot_only, 403)
    assert "system/Appointment.read" in refused["issue"][0]["diagnostics"]
    assert db.query(Disclosure).count() == 0


def test_the_capability_statement_says_how_appointments_are_searched(client):
    body = get(client, "/metadata", {})
    appointment = next(r for r in body["rest"][0]["resource"] if r["type"] == "Appointment")
    assert [p["name"] for p in appointment["searchParam"]] == [
        "patient", "date", "status", "_lastUpdated", "_count"]
    assert "attendance" in appointment["documentation"]


def test_a_page_costs_the_same_few_queries_however_many_rows_it_holds(client, db, world,
                                                                    kipu, app):
    """No query per row: the page's sessions, attendance and program come in one SELECT, its
    facilitators in one more, and each client's consent is asked once a page."""
    from sqlalchemy import event

    from scheduler.extensions import db as _db

    def statements(query):
        seen = []

        def count(_conn, _cursor, statement, *_args):
            # Reads only: each disclosure is a row written, one per Appointment by design.
            if statement.lstrip().upper().startswith("SELECT"):
                seen.append(statement)

        with app.app_context():
            engine = _db.engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            assert client.get(f"{FHIR}/Appointment?{query}", headers=kipu).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len(seen)

    one = statements("_count=1")
    many = statements("_count=200&patient=" + str(world.people["avery"].id))
    assert many <= one + 1, (one, many)
