"""Feeds read by independent parsers: ical.js and recurring-ical-events see the database's instants.

Every feed is fetched over HTTP as a phone would, then parsed by Mozilla's ical.js (run with
node; `make node-deps` installs it into .cache/node) and by the Python recurring-ical-events.
Each event's UTC start and end must equal the booked sessions' rows exactly, through the DST
changes of New York, Berlin and Sydney, while the clinic's wall clock stays at 18:00. libical,
the C library Evolution uses (`make libical-deps` unpacks it into .cache/libical), parses every
kind of feed and runs its RFC 5546 restriction check, and must find nothing wrong.
"""

import json
import os
import shutil
import subprocess
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events
from sqlalchemy import select

from scheduler.feeds import render
from scheduler.models import Booking, Session, session_facilitators
from scheduler.models.feeds import PRIVACY_LEVELS
from scheduler.services import booking
from scheduler.services.audit import Actor
from tests import libical

API = "/api/v1"
STAFF = Actor.system("tests")
ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "js" / "ical_events.mjs"
ICALJS = ROOT / ".cache" / "node" / "node_modules" / "ical.js" / "dist" / "ical.js"
# A zone far from UTC and from the clinics': a time ical.js read as floating would show.
NODE_TZ = "Asia/Kathmandu"
# Materialise from 'now' (2027-02-16) past both changes in every zone.
HORIZON_DAYS = 300
FIRST_DAY, LAST_DAY = date(2027, 3, 1), date(2027, 11, 30)
SHORT_LAST_DAY = date(2027, 3, 21)  # where the year's changes are not the point
PARSE_FROM = datetime(2026, 1, 1, tzinfo=UTC)
PARSE_UNTIL = datetime(2029, 1, 1, tzinfo=UTC)

# Each zone's 2027 changes, and the UTC hour of an 18:00 local start before the first, between
# them and after the second, worked out by hand from the zones' offsets.
ZONES = {
    "America/New_York": ((date(2027, 3, 14), date(2027, 11, 7)), (23, 22, 23)),  # -5 -4 -5
    "Europe/Berlin": ((date(2027, 3, 28), date(2027, 10, 31)), (17, 16, 17)),  # +1 +2 +1
    "Australia/Sydney": ((date(2027, 4, 4), date(2027, 10, 3)), (7, 8, 7)),  # +11 +10 +11
}
FEED_PATHS = {"client": "clients", "staff": "staff", "room": "rooms", "program": "programs"}
PARSERS = ("ical.js", "recurring-ical-events")


@pytest.fixture(scope="session")
def node_binary():
    """The node binary; the ical.js tests skip only where it is absent, and never on CI."""
    found = shutil.which("node")
    if found is None:
        message = "node is not installed: ical.js cannot run here; CI has node"
        if os.environ.get("CI"):
            pytest.fail(f"{message}, but CI is set and CI must run these tests", pytrace=False)
        pytest.skip(message)
    return found


@pytest.fixture(scope="session")
def node(node_binary):
    """node with ical.js installed: a missing package fails, since `make test` installs it."""
    if not ICALJS.is_file():
        pytest.fail(f"ical.js is not installed ({ICALJS} is missing): run `make node-deps`",
                    pytrace=False)
    return node_binary


def run_ical_js(node: str, body: bytes, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [node, str(SCRIPT)], input=body, capture_output=True, timeout=60,
        env={**os.environ, "TZ": NODE_TZ, **env},
    )


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def parse_with_ical_js(node: str, body: bytes) -> list[dict]:
    """ical.js's reading of the feed: one dict per VEVENT, start and end as UTC datetimes."""
    done = run_ical_js(node, body)
    assert done.returncode == 0, done.stderr.decode()
    events = json.loads(done.stdout)["events"]
    for event in events:
        # Our feeds send UTC ("Z") times; a floating or zoned one would be a different feed.
        assert (event["start_zone"], event["end_zone"]) == ("UTC", "UTC"), event
        event["start"], event["end"] = instant(event["start"]), instant(event["end"])
    return events


def parse_with_recurring_ical_events(body: bytes) -> list[dict]:
    """recurring-ical-events' reading of the feed, in the same shape as ical.js's."""
    calendar = icalendar.Calendar.from_ical(body)
    events = []
    for event in recurring_ical_events.of(calendar).between(PARSE_FROM, PARSE_UNTIL):
        start, end = event["DTSTART"].dt, event["DTEND"].dt
        assert start.utcoffset() == end.utcoffset() == timedelta(0), event
        events.append({
            "uid": str(event["UID"]),
            "summary": str(event["SUMMARY"]),
            "location": str(event["LOCATION"]) if "LOCATION" in event else None,
            "sequence": int(event["SEQUENCE"]),
            "start": start.astimezone(UTC),
            "end": end.astimezone(UTC),
        })
    return events


@pytest.fixture(params=PARSERS)
def parse(request):
    """Each test runs once per independent parser."""
    if request.param == "ical.js":
        node_path = request.getfixturevalue("node")
        return lambda body: parse_with_ical_js(node_path, body)
    return parse_with_recurring_ical_events


def fetch_feed(client, auth, kind: str, owner_id: int) -> bytes:
    """Make the feed link as a coordinator, then poll it as a phone would."""
    made = client.post(f"{API}/{FEED_PATHS[kind]}/{owner_id}/feed", headers=auth("coordinator"))
    assert made.status_code == 201, made.json
    got = client.get(urlsplit(made.json["url"]).path)
    assert got.status_code == 200
    assert got.mimetype == "text/calendar"
    return got.data


def database_times(db, kind: str, owner_id: int,
                   sessions) -> list[tuple[str, datetime, datetime]]:
    """The rows as (UID before its @domain, start, end): one event per session in this feed."""
    key = render.uid_key(db, kind, owner_id)
    return sorted((render.event_uid(key, s.id).partition("@")[0], s.starts_at, s.ends_at)
                  for s in sessions)


def parsed_times(events) -> list[tuple[str, datetime, datetime]]:
    assert len({e["uid"].partition("@")[2] for e in events}) <= 1  # one UID domain
    return sorted((e["uid"].partition("@")[0], e["start"], e["end"]) for e in events)


def build_clinic(make, db, now, zone: str, privacy: str = "full", last_day: date = LAST_DAY,
                 **client_fields) -> dict:
    """A program in `zone`: Mon/Wed/Thu 18:00–21:00 and Sat 22:30–01:00, one client in both."""
    program = make.program(name=f"Evening IOP {zone}", timezone=zone, feed_privacy=privacy)
    room = make.room(name="Room A")
    lead = make.staff(name="Dana Reyes")
    shared = dict(now=now, horizon_days=HORIZON_DAYS, start_date=FIRST_DAY, end_date=last_day,
                  room_id=room.id, facilitator_ids=[lead.id])
    evening = make.series(program, title="Evening group", **shared)
    late = make.series(program, title="Late group", start_time=time(22, 30),
                       duration_minutes=150, rrule="FREQ=WEEKLY;BYDAY=SA", **shared)
    person = make.client(program, **client_fields)
    for series in (evening, late):
        booking.enroll_client(db, STAFF, series.id, person.id, now=now)
    db.commit()
    return {"program": program, "room": room, "lead": lead, "client": person,
            "evening": evening, "late": late}


def booked_sessions(db, client_id: int) -> list[Session]:
    return list(db.scalars(
        select(Session).join(Booking, Booking.session_id == Session.id)
        .where(Booking.client_id == client_id, Booking.status == "booked",
               Session.status == "scheduled")
    ))


def local(moment: datetime, zone: str) -> datetime:
    return moment.astimezone(ZoneInfo(zone))


@pytest.mark.parametrize("zone", ZONES)
def test_each_client_event_is_at_the_database_instant_across_dst(
        client, auth, db, make, now, parse, zone):
    """Every event's UTC start and end equal the booked session's, to the second, all year."""
    clinic = build_clinic(make, db, now, zone)
    sessions = booked_sessions(db, clinic["client"].id)
    assert len(sessions) > 150  # Mar to Nov: both changes are inside the feed

    events = parse(fetch_feed(client, auth, "client", clinic["client"].id))

    assert parsed_times(events) == database_times(db, "client", clinic["client"].id, sessions)


@pytest.mark.parametrize("zone", ZONES)
def test_the_evening_group_stays_at_18_local_while_its_utc_hour_moves(
        client, auth, db, make, now, parse, zone):
    """18:00–21:00 on the clinic's wall clock all year; in UTC the hour shifts at each change."""
    (first_change, second_change), utc_hours = ZONES[zone]
    clinic = build_clinic(make, db, now, zone)

    events = parse(fetch_feed(client, auth, "client", clinic["client"].id))

    evening = [e for e in events if e["summary"] == "Evening group"]
    assert {(local(e["start"], zone).time(), local(e["end"], zone).time())
            for e in evening} == {(time(18), time(21))}
    assert {e["end"] - e["start"] for e in evening} == {timedelta(hours=3)}
    periods = {"before": set(), "between": set(), "after": set()}
    for e in evening:
        day = local(e["start"], zone).date()
        period = ("before" if day < first_change else
                  "between" if day < second_change else "after")
        periods[period].add(e["start"].hour)
    assert periods == {"before": {utc_hours[0]}, "between": {utc_hours[1]},
                       "after": {utc_hours[2]}}


@pytest.mark.parametrize("zone", ZONES)
def test_the_late_group_crosses_midnight_on_the_eve_of_each_change(
        client, auth, db, make, now, parse, zone):
    """Saturday 22:30 to Sunday 01:00 local, two and a half hours, even the night clocks change."""
    changes, _ = ZONES[zone]
    clinic = build_clinic(make, db, now, zone)

    events = parse(fetch_feed(client, auth, "client", clinic["client"].id))

    late = [e for e in events if e["summary"] == "Late group"]
    assert late
    for e in late:
        start, end = local(e["start"], zone), local(e["end"], zone)
        assert (start.time(), end.time()) == (time(22, 30), time(1, 0)), e
        assert end.date() == start.date() + timedelta(days=1)
        assert e["end"] - e["start"] == timedelta(hours=2, minutes=30)
    eves = {local(e["start"], zone).date() for e in late}
    assert {change - timedelta(days=1) for change in changes} <= eves


def test_staff_room_and_program_feeds_agree_with_the_database(client, auth, db, make, now, parse):
    """Berlin: the clinician's, the room's and the timetable's events all sit at the rows' times."""
    zone = "Europe/Berlin"
    clinic = build_clinic(make, db, now, zone)
    program_sessions = list(db.scalars(
        select(Session).where(Session.program_id == clinic["program"].id)))
    staff_sessions = list(db.scalars(
        select(Session).join(session_facilitators,
                             session_facilitators.c.session_id == Session.id)
        .where(session_facilitators.c.staff_id == clinic["lead"].id)))
    room_sessions = [s for s in program_sessions if s.room_id == clinic["room"].id]
    assert len(program_sessions) == len(staff_sessions) == len(room_sessions) > 150

    for kind, owner, sessions in (("staff", clinic["lead"], staff_sessions),
                                  ("room", clinic["room"], room_sessions),
                                  ("program", clinic["program"], program_sessions)):
        events = parse(fetch_feed(client, auth, kind, owner.id))
        assert parsed_times(events) == database_times(db, kind, owner.id, sessions), kind
        evening = [e for e in events if e["summary"] == "Evening group"]
        assert {local(e["start"], zone).time() for e in evening} == {time(18)}, kind
        assert {e["start"].hour for e in evening} == {16, 17}, kind


def fields(events) -> list[tuple]:
    return sorted((e["uid"], e["summary"], e["location"], e["sequence"], e["start"], e["end"])
                  for e in events)


@pytest.mark.parametrize("privacy", PRIVACY_LEVELS)
@pytest.mark.parametrize("kind", FEED_PATHS)
def test_ical_js_reads_every_feed_kind_at_every_privacy_level(
        client, auth, db, make, now, node, kind, privacy):
    """Client (with alarms), staff, room and timetable feeds parse alike in both parsers."""
    clinic = build_clinic(make, db, now, "America/New_York", privacy=privacy,
                          last_day=SHORT_LAST_DAY, feed_alarm_minutes=30)
    owner = {"client": clinic["client"], "staff": clinic["lead"], "room": clinic["room"],
             "program": clinic["program"]}[kind]
    body = fetch_feed(client, auth, kind, owner.id)

    events = parse_with_ical_js(node, body)

    assert len(events) == 12  # three weeks of Mon, Wed, Thu and Sat
    assert all(e["summary"] for e in events)
    assert {e["alarms"] for e in events} == {1 if kind == "client" else 0}
    assert fields(events) == fields(parse_with_recurring_ical_events(body))


@pytest.mark.parametrize(("kind", "privacy", "summaries", "name"), [
    ("client", "private", {"Cita"}, "Appointments"),
    ("staff", "standard", {"Sesión de grupo"}, "Dana Reyes: horario de trabajo"),
])
def test_ical_js_reads_a_spanish_feed(client, auth, db, make, now, node, kind, privacy,
                                      summaries, name):
    """A Spanish client's private feed says Cita, a Spanish staff member's names the kind of
    session in Spanish; ical.js and recurring-ical-events read the same words and instants."""
    clinic = build_clinic(make, db, now, "America/New_York", privacy=privacy,
                          last_day=SHORT_LAST_DAY, feed_alarm_minutes=30, language="es")
    if kind == "staff":
        make.user("clinician", staff_id=clinic["lead"].id).language = "es"
        db.commit()
    owner = clinic["client"] if kind == "client" else clinic["lead"]
    body = fetch_feed(client, auth, kind, owner.id)

    done = run_ical_js(node, body)
    assert done.returncode == 0, done.stderr.decode()
    read = json.loads(done.stdout)
    events = parse_with_ical_js(node, body)

    assert read["calendar"]["name"] == name
    assert len(events) == 12
    assert {e["summary"] for e in events} == summaries
    assert fields(events) == fields(parse_with_recurring_ical_events(body))
    assert parsed_times(events) == database_times(db, kind, owner.id,
                                                  booked_sessions(db, clinic["client"].id))


def test_ical_js_rejects_a_broken_calendar(client, auth, db, make, now, node):
    """The harness can fail: a feed cut off mid-event makes the script exit non-zero."""
    clinic = build_clinic(make, db, now, "Australia/Sydney", last_day=SHORT_LAST_DAY)
    body = fetch_feed(client, auth, "client", clinic["client"].id)
    cut = body[: body.index(b"END:VEVENT")]

    done = run_ical_js(node, cut)

    assert done.returncode != 0
    assert b"could not parse" in done.stderr


def test_ical_js_missing_says_to_run_make_node_deps(node_binary, tmp_path):
    """Without the package the script exits 2 and names the make target that installs it."""
    done = run_ical_js(node_binary, b"", ICALJS_PATH=str(tmp_path / "absent" / "ical.js"))

    assert done.returncode == 2
    assert b"make node-deps" in done.stderr


# --- libical: what Evolution (and its RFC 5546 restriction check) makes of every feed ----------

VIDEO = "https://video.example.org/room?id=4,5;x=\\y"
AWKWARD_TITLE = ("Évaluation; suivi, famille \\ notes\nsecond line — 漢字のセッション "
                 + "x" * 40 + "é" + "ab," * 20)


@pytest.fixture(scope="session")
def ical_lib():
    """libical via ctypes; the tests skip, saying why, where it cannot be had."""
    try:
        return libical.load()
    except libical.LibicalMissing as why:
        pytest.skip(str(why))


def build_awkward_clinic(make, db, now, privacy: str) -> dict:
    """Every kind of event a feed can hold, with text that needs escaping and folding."""
    program = make.program(name="Programme d'été; 2ᵉ, \\ niveau", feed_privacy=privacy,
                           address="12 Rue d'Été; Bât. B, 2ᵉ étage \\ porte arrière")
    room = make.room(name="Salle B; upstairs, \\ 漢字")
    lead = make.staff(name="Zoë O'Brien; Ana, María \\ Ng")
    shared = dict(now=now, horizon_days=HORIZON_DAYS, start_date=FIRST_DAY,
                  end_date=SHORT_LAST_DAY, facilitator_ids=[lead.id])
    in_person = make.series(program, title=AWKWARD_TITLE, room_id=room.id, **shared)
    online = make.series(program, title="Skills online; part 2, \\ …", kind="behavioral",
                         video_url=VIDEO, rrule="FREQ=WEEKLY;BYDAY=TU", **shared)
    person = make.client(program, name="Jordan Alvarez", feed_alarm_minutes=30)
    for series in (in_person, online):
        booking.enroll_client(db, STAFF, series.id, person.id, now=now)
    db.commit()
    return {"client": person, "staff": lead, "room": room, "program": program}


@pytest.mark.parametrize("privacy", PRIVACY_LEVELS)
@pytest.mark.parametrize("kind", FEED_PATHS)
def test_libical_finds_nothing_wrong_in_any_feed(client, auth, db, make, now, ical_lib, kind,
                                                 privacy):
    """Evolution's parser and RFC 5546 check: not one X-LIC-ERROR, alarms and video links in."""
    owners = build_awkward_clinic(make, db, now, privacy)
    body = fetch_feed(client, auth, kind, owners[kind].id)
    assert body.count(b"BEGIN:VEVENT") == (9 if kind == "room" else 12)
    assert (b"BEGIN:VALARM" in body) == (kind == "client")
    shows_link = kind in ("staff", "room") or (kind == "client" and privacy != "private")
    assert (b"URL:" in body) == (shows_link and kind != "room")  # the room holds no video call

    assert ical_lib.problems(body) == []
    # Without METHOD the restriction check covers only the calendar itself. Read as a PUBLISH,
    # every event must meet all else RFC 5546 asks of one (one UID, DTSTAMP, DTSTART, SUMMARY;
    # no ATTENDEE; SEQUENCE, STATUS and the alarm as allowed) once given the ORGANIZER we omit.
    assert ical_lib.problems(as_publish(body, organizer=True)) == []


@pytest.mark.parametrize("privacy", PRIVACY_LEVELS)
@pytest.mark.parametrize("kind", ("client", "staff"))
def test_libical_finds_nothing_wrong_in_a_spanish_feed(client, auth, db, make, now, ical_lib,
                                                       kind, privacy):
    """The same check on the feeds of a Spanish client and a Spanish staff member."""
    owners = build_awkward_clinic(make, db, now, privacy)
    owners["client"].language = "es"
    make.user("clinician", staff_id=owners["staff"].id).language = "es"
    db.commit()
    body = fetch_feed(client, auth, kind, owners[kind].id)
    assert body.count(b"BEGIN:VEVENT") == 12
    if privacy == "private" and kind == "client":
        assert body.count(b"SUMMARY:Cita\r\n") == 12

    assert ical_lib.problems(body) == []
    assert ical_lib.problems(as_publish(body, organizer=True)) == []


def as_publish(body: bytes, organizer: bool) -> bytes:
    """The feed as a METHOD:PUBLISH message, with or without an ORGANIZER in each event."""
    body = body.replace(b"VERSION:2.0\r\n", b"VERSION:2.0\r\nMETHOD:PUBLISH\r\n", 1)
    if organizer:
        body = body.replace(b"BEGIN:VEVENT\r\n",
                            b"BEGIN:VEVENT\r\nORGANIZER:mailto:nobody@example.invalid\r\n")
    return body


def test_the_feeds_say_no_method_and_name_no_organizer(client, auth, db, make, now):
    """A feed is a calendar to subscribe to, not an iTIP message: no METHOD, no ORGANIZER."""
    owners = build_awkward_clinic(make, db, now, "full")
    for kind in FEED_PATHS:
        body = fetch_feed(client, auth, kind, owners[kind].id)
        lines = body.decode().split("\r\n")
        assert not any(line.startswith(("METHOD", "ORGANIZER")) for line in lines), kind


def test_libical_reports_what_is_wrong(client, auth, db, make, now, ical_lib):
    """The harness can fail: a PUBLISH without ORGANIZER, and a feed cut off mid-event."""
    owners = build_awkward_clinic(make, db, now, "private")
    body = fetch_feed(client, auth, "client", owners["client"].id)
    expected = "Expected 1 instances of the property and got 0"
    publish = ical_lib.problems(as_publish(body, organizer=False))
    assert any("ORGANIZER" in p and expected in p for p in publish)
    attendee = body.replace(b"BEGIN:VEVENT\r\n",
                            b"BEGIN:VEVENT\r\nATTENDEE:mailto:someone@example.invalid\r\n", 1)
    assert any("ATTENDEE" in p for p in ical_lib.problems(as_publish(attendee, organizer=True)))
    cut = body[: body.index(b"END:VEVENT")] + b"DTSTART:tomorrow\r\n"
    assert ical_lib.problems(cut)


def test_libical_missing_says_to_run_make_libical_deps(tmp_path):
    with pytest.raises(libical.LibicalMissing, match="make libical-deps"):
        libical.load(tmp_path / "absent", installed=False)
