"""Calendar feeds: secret links, what each feed shows and hides, and cheap, correct polling."""

import hashlib
import os
import re
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from urllib.parse import quote, urlsplit

import pytest
from icalendar import Calendar
from sqlalchemy import select, text

from scheduler import clock, create_app, i18n
from scheduler.extensions import db as _db
from scheduler.feeds import render, tokens
from scheduler.languages import LANGUAGES
from scheduler.models import AuditEvent, FeedToken, FeedVersion, Session
from scheduler.services import booking, sessions
from tests.conftest import IsolatedClient
from tests.helpers import ACTOR

API = "/api/v1"
PLURAL = {"client": "clients", "staff": "staff", "room": "rooms", "program": "programs"}
START = datetime(2027, 2, 17, 23, 0, tzinfo=UTC)  # Wed 18:00 New York
ADDRESS = "200 Main Street, Suite 200"
PROGRAM_NAME = "Evening IOP Recovery"
SERIES_TITLE = "Relapse prevention group"
VIDEO = "https://video.example.org/group-42"
REVEALING = ("addiction", "substance", "relapse", "recovery", "rehab", "detox", "iop",
             "alcohol", "drug", "sober", PROGRAM_NAME.lower())


@pytest.fixture
def program(make):
    return make.program(name=PROGRAM_NAME, address=ADDRESS)


@pytest.fixture
def room(make):
    return make.room(name="Room B")


@pytest.fixture
def facilitator(make):
    return make.staff(name="Dana Whitfield")


@pytest.fixture
def group(make, program, room, facilitator):
    """Mondays and Wednesdays 18:00–19:30 New York from Wed 17 Feb, in Room B, with Dana."""
    return make.series(program, title=SERIES_TITLE, start_date=date(2027, 2, 17),
                       start_time=time(18, 0), duration_minutes=90,
                       rrule="FREQ=WEEKLY;BYDAY=MO,WE", room_id=room.id,
                       facilitator_ids=[facilitator.id])


@pytest.fixture
def occurrences(db, group):
    return db.scalars(select(Session).where(Session.series_id == group.id)
                      .order_by(Session.starts_at)).all()


@pytest.fixture
def member(make, program):
    return make.client(program, name="Jordan Alvarez")


@pytest.fixture
def other(make, program):
    return make.client(program, name="Casey Okafor")


def book(db, session_id, client_id):
    row, _ = booking.book_client(db, ACTOR, session_id, client_id, now=clock.now())
    db.commit()
    return row


def one_off(db, program, starts_at, **kw):
    kw.setdefault("kind", "individual")
    session = sessions.create_one_off(db, ACTOR, now=clock.now(), program_id=program.id,
                                      starts_at=starts_at, ends_at=starts_at + timedelta(hours=1),
                                      **kw)
    db.commit()
    return session


def subscribe(client, headers, kind, owner_id) -> dict:
    answer = client.post(f"{API}/{PLURAL[kind]}/{owner_id}/feed", headers=headers)
    assert answer.status_code == 201, answer.json
    return answer.json


def token_of(link: dict) -> str:
    return urlsplit(link["url"]).path.removeprefix("/feeds/").removesuffix(".ics")


def poll(client, link: dict, method="GET", **headers):
    return client.open(urlsplit(link["url"]).path, method=method, headers=headers)


def events(body: bytes) -> dict:
    """The feed's VEVENTs by UID."""
    return {str(e["UID"]): e for e in Calendar.from_ical(body).walk("VEVENT")}


def uid_of(kind: str, owner_id: int, session_id: int) -> str:
    """The UID the feed gives the session."""
    return render.event_uid(render.uid_key(_db.session, kind, owner_id), session_id)


def session_ids(body: bytes) -> set[int]:
    """The ids of the sessions a feed lists, found by working out every feed's UIDs."""
    uids = set(events(body))
    ids = _db.session.scalars(select(Session.id)).all()
    for key in _db.session.scalars(select(FeedVersion.uid_key)):
        known = {render.event_uid(key, session_id): session_id for session_id in ids}
        if uids <= known.keys():
            return {known[uid] for uid in uids}
    raise AssertionError(f"no feed gives these UIDs: {sorted(uids)}")


def set_privacy(client, auth, program, level):
    answer = client.patch(f"{API}/programs/{program.id}", json={"feed_privacy": level},
                          headers=auth("coordinator"))
    assert answer.status_code == 200, answer.json


@contextmanager
def another_app(database_url, **config):
    """A second app instance on the same database, as a second web worker would be."""
    other = create_app({"CONFIG_NAME": "testing", "SQLALCHEMY_DATABASE_URI": database_url,
                        **config})
    other.test_client_class = IsolatedClient
    try:
        yield other
    finally:
        with other.app_context():
            _db.session.remove()
            _db.engine.dispose()


# --- Links ---------------------------------------------------------------------------


def test_a_link_comes_as_https_webcal_google_and_a_qr_code(client, auth, member):
    link = subscribe(client, auth("coordinator"), "client", member.id)
    token = token_of(link)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43,}", token)  # 32 random bytes: 256 bits
    assert link["url"] == f"http://localhost/feeds/{token}.ics"
    assert link["webcal"] == f"webcal://localhost/feeds/{token}.ics"
    assert link["google"] == ("https://calendar.google.com/calendar/render?cid="
                              + quote(link["webcal"], safe=""))
    assert link["qr_svg"].lstrip().startswith(("<svg", "<?xml")) and "</svg>" in link["qr_svg"]


def test_the_google_link_opens_in_the_language_of_the_page_that_offers_it(client, auth,
                                                                            member):
    """Read in Spanish, Google's "add this calendar" page is asked for in Spanish too."""
    headers = {**auth("coordinator"), "Accept-Language": "es"}
    link = subscribe(client, headers, "client", member.id)
    assert link["google"] == ("https://calendar.google.com/calendar/render?cid="
                              + quote(link["webcal"], safe="") + "&hl=es")


def test_only_the_tokens_hash_is_stored(client, auth, db, member):
    token = token_of(subscribe(client, auth("coordinator"), "client", member.id))
    rows = db.execute(select(FeedToken.__table__)).all()
    assert [r.token_hash for r in rows] == [hashlib.sha256(token.encode()).hexdigest()]
    assert not any(token in str(value) for row in rows for value in row)
    audit_rows = db.execute(select(AuditEvent.__table__)).all()
    assert not any(token in str(value) for row in audit_rows for value in row)


def test_links_are_built_on_the_configured_origin(app, client, auth, member):
    app.config["FEED_BASE_URL"] = "https://clinic.example.org/"
    link = subscribe(client, auth("coordinator"), "client", member.id)
    token = token_of(link)
    assert link["url"] == f"https://clinic.example.org/feeds/{token}.ics"
    assert link["webcal"] == f"webcal://clinic.example.org/feeds/{token}.ics"
    assert poll(client, link).status_code == 200


def test_each_link_is_a_fresh_secret(client, auth, member, other):
    headers = auth("coordinator")
    tokens = {token_of(subscribe(client, headers, "client", c.id)) for c in (member, other)}
    tokens.add(token_of(subscribe(client, headers, "client", member.id)))
    assert len(tokens) == 3


# --- The calendar file ---------------------------------------------------------------


def test_the_feed_is_a_calendar_phones_refresh_hourly(client, auth, db, member, occurrences):
    book(db, occurrences[0].id, member.id)
    answer = poll(client, subscribe(client, auth("coordinator"), "client", member.id))
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert "private" in answer.headers["Cache-Control"]
    assert not answer.headers["ETag"].startswith("W/")  # strong
    assert answer.headers["Last-Modified"]
    lines = answer.data.decode().split("\r\n")
    assert lines[0] == "BEGIN:VCALENDAR"
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT1H" in lines
    assert "X-PUBLISHED-TTL:PT1H" in lines
    assert "NAME:Appointments" in lines and "X-WR-CALNAME:Appointments" in lines
    assert "VERSION:2.0" in lines


def test_a_clients_calendar_takes_the_public_name_at_once(app, client, auth, db, member,
                                                         facilitator, occurrences):
    """PUBLIC_NAME names the client's calendar; a change is served, not a cached old name."""
    book(db, occurrences[0].id, member.id)
    headers = auth("coordinator")
    link = subscribe(client, headers, "client", member.id)
    staff_link = subscribe(client, headers, "staff", facilitator.id)
    before, staff_before = poll(client, link), poll(client, staff_link)
    assert "X-WR-CALNAME:Appointments" in before.data.decode().split("\r\n")
    app.config["PUBLIC_NAME"] = "Elm Street visits"
    after = poll(client, link, **{"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    lines = after.data.decode().split("\r\n")
    assert "NAME:Elm Street visits" in lines and "X-WR-CALNAME:Elm Street visits" in lines
    assert after.headers["ETag"] != before.headers["ETag"]
    assert events(after.data).keys() == events(before.data).keys()
    # Staff calendars keep their own names.
    assert poll(client, staff_link).data == staff_before.data


def test_a_client_sees_only_their_booked_sessions(client, auth, db, program, member, other,
                                                  occurrences):
    book(db, occurrences[0].id, member.id)
    book(db, occurrences[1].id, other.id)
    full = one_off(db, program, START + timedelta(days=2), kind="group", capacity=1,
                   client_id=other.id)
    queued = book(db, full.id, member.id)
    assert queued.status == "waitlisted"
    answer = poll(client, subscribe(client, auth("coordinator"), "client", member.id))
    assert session_ids(answer.data) == {occurrences[0].id}


def test_a_cancelled_booking_leaves_the_feed(client, auth, db, member, occurrences):
    seat = book(db, occurrences[0].id, member.id)
    book(db, occurrences[1].id, member.id)
    link = subscribe(client, auth("coordinator"), "client", member.id)
    before = poll(client, link)
    booking.cancel_booking(db, ACTOR, seat.id, now=clock.now(), reason="Work shift")
    db.commit()
    after = poll(client, link)
    assert session_ids(before.data) == {occurrences[0].id, occurrences[1].id}
    assert session_ids(after.data) == {occurrences[1].id}
    assert after.headers["ETag"] != before.headers["ETag"]


def test_a_cancelled_session_leaves_and_both_validators_move(client, auth, db, member,
                                                             occurrences):
    target = occurrences[0]
    book(db, target.id, member.id)
    book(db, occurrences[1].id, member.id)
    link = subscribe(client, auth("coordinator"), "client", member.id)
    before = poll(client, link)
    answer = client.patch(f"{API}/sessions/{target.id}",
                          json={"status": "cancelled", "reason": "Facilitator ill"},
                          headers=auth("coordinator"))
    assert answer.status_code == 200, answer.json
    after = poll(client, link)
    assert target.id in session_ids(before.data)
    assert session_ids(after.data) == {occurrences[1].id}
    assert after.headers["ETag"] != before.headers["ETag"]
    # Same frozen second, yet Last-Modified strictly rises, so If-Modified-Since sees it.
    assert after.last_modified > before.last_modified
    stale = poll(client, link, **{"If-Modified-Since": before.headers["Last-Modified"]})
    assert stale.status_code == 200


def test_a_moved_session_keeps_its_uid_and_raises_its_sequence(client, auth, db, member,
                                                               occurrences):
    target = occurrences[0]
    book(db, target.id, member.id)
    link = subscribe(client, auth("coordinator"), "client", member.id)
    (uid_before, event_before), = events(poll(client, link).data).items()
    moved_at = clock.now() + timedelta(hours=1)
    new_start = START + timedelta(days=1)  # Thursday, same hour
    with clock.frozen(moved_at):
        answer = client.patch(f"{API}/sessions/{target.id}",
                              json={"starts_at": new_start.isoformat()},
                              headers=auth("coordinator"))
        assert answer.status_code == 200, answer.json
        (uid_after, event_after), = events(poll(client, link).data).items()
    assert uid_after == uid_before
    assert event_after["SEQUENCE"] > event_before["SEQUENCE"]
    assert event_after.decoded("DTSTART") == new_start
    assert event_after.decoded("DTEND") == new_start + timedelta(minutes=90)
    assert event_after.decoded("LAST-MODIFIED") == moved_at
    assert event_after.decoded("DTSTAMP") == moved_at
    # The UID names nothing: neither the session nor the person.
    assert uid_after == uid_of("client", member.id, target.id)
    assert re.fullmatch(rf"[0-9a-f]{{32}}@{render.UID_DOMAIN}", uid_after)


def test_two_clients_in_one_group_get_unrelated_uids(client, auth, db, room, facilitator,
                                                     program, member, other, occurrences):
    """Comparing calendars must not show that two people sit in the same group."""
    shared = occurrences[:4]
    for session in shared:
        book(db, session.id, member.id)
        book(db, session.id, other.id)
    headers = auth("coordinator")
    feeds = {name: events(poll(client, subscribe(client, headers, kind, owner_id)).data)
             for name, kind, owner_id in (("member", "client", member.id),
                                          ("other", "client", other.id),
                                          ("staff", "staff", facilitator.id),
                                          ("room", "room", room.id),
                                          ("program", "program", program.id))}
    assert len(feeds["member"]) == len(feeds["other"]) == len(shared)
    for name, found in feeds.items():
        for uid in found:
            assert re.fullmatch(rf"[0-9a-f]{{32}}@{render.UID_DOMAIN}", uid), name
            assert "session" not in uid
    seen: dict[str, str] = {}
    for name, found in feeds.items():
        for uid in found:
            assert uid not in seen, f"{name} and {seen[uid]} share {uid}"
            seen[uid] = name
    # The same instants, so the events are the same sessions under different names.
    starts = {name: sorted(e.decoded("DTSTART") for e in found.values())
              for name, found in feeds.items() if name in ("member", "other")}
    assert starts["member"] == starts["other"]


def test_uids_of_consecutive_sessions_show_no_order(client, auth, facilitator, occurrences):
    body = poll(client, subscribe(client, auth("coordinator"), "staff", facilitator.id)).data
    by_start = sorted(events(body).items(), key=lambda item: item[1].decoded("DTSTART"))
    assert len(by_start) == len(occurrences) > 20  # ids rise with the start here
    numbers = [int(uid.partition("@")[0], 16) for uid, _ in by_start]
    assert numbers != sorted(numbers) and numbers != sorted(numbers, reverse=True)
    # A counter in disguise would share its leading digits from one session to the next.
    shared_prefixes = [len(os.path.commonprefix([a, b])) for (a, _), (b, _)
                       in pairwise(by_start)]
    assert max(shared_prefixes) < 8
    gaps = {b - a for a, b in pairwise(numbers)}
    assert len(gaps) == len(numbers) - 1  # no constant step either


def test_uids_hold_across_rotation_processes_and_a_new_secret_key(
        client, auth, db, database_url, member, occurrences):
    """An unchanged schedule keeps its bytes, so calendars update events rather than replace."""
    for session in occurrences[:3]:
        book(db, session.id, member.id)
    headers = auth("coordinator")
    first = poll(client, subscribe(client, headers, "client", member.id))
    rotated = subscribe(client, headers, "client", member.id)
    with another_app(database_url, SECRET_KEY="another secret, as after a key rotation") as new:
        elsewhere = poll(new.test_client(), rotated)
    assert elsewhere.status_code == 200
    assert elsewhere.data == first.data
    assert elsewhere.headers["ETag"] == first.headers["ETag"]
    assert len(events(first.data)) == 3


# --- Polling cheaply -----------------------------------------------------------------


def test_an_unchanged_feed_answers_304(client, auth, db, member, occurrences):
    book(db, occurrences[0].id, member.id)
    link = subscribe(client, auth("coordinator"), "client", member.id)
    first = poll(client, link)
    by_etag = poll(client, link, **{"If-None-Match": first.headers["ETag"]})
    by_date = poll(client, link, **{"If-Modified-Since": first.headers["Last-Modified"]})
    assert (by_etag.status_code, by_date.status_code) == (304, 304)
    assert by_etag.data == b"" and by_date.data == b""
    assert by_etag.headers["ETag"] == first.headers["ETag"]


def test_head_answers_the_headers_without_the_body(client, auth, db, member, occurrences):
    book(db, occurrences[0].id, member.id)
    link = subscribe(client, auth("coordinator"), "client", member.id)
    got = poll(client, link)
    head = poll(client, link, method="HEAD")
    assert head.status_code == 200
    assert head.data == b""
    assert head.headers["ETag"] == got.headers["ETag"]
    assert head.headers["Last-Modified"] == got.headers["Last-Modified"]
    assert head.headers["Content-Type"] == "text/calendar; charset=utf-8"


def test_the_same_schedule_gives_the_same_bytes_in_any_process(app, client, auth, db,
                                                               database_url, member,
                                                               occurrences):
    """Two app instances on one database serve identical bytes and validators.

    conftest's SQLite is a file (not :memory:), so a second create_app() shares it just as on
    PostgreSQL; the renderer is also checked directly, with the render cache emptied.
    """
    book(db, occurrences[0].id, member.id)
    link = subscribe(client, auth("coordinator"), "client", member.id)
    first = poll(client, link)
    app.extensions["feed_cache"] = None
    again = poll(client, link)
    with another_app(database_url) as second:
        elsewhere = poll(second.test_client(), link)
    first_day = render.window_start(clock.now())
    name = app.config["PUBLIC_NAME"]
    direct = render.render(db, "client", member.id, first_day, public_name=name)
    assert again.data == first.data == elsewhere.data == direct
    assert again.headers["ETag"] == first.headers["ETag"] == elsewhere.headers["ETag"]
    assert first.headers["Last-Modified"] == elsewhere.headers["Last-Modified"]
    with clock.frozen(clock.now() + timedelta(hours=5)):
        assert render.render(db, "client", member.id, first_day, public_name=name) == direct


def test_a_poll_records_when_the_link_was_last_used(client, auth, db, member):
    link = subscribe(client, auth("coordinator"), "client", member.id)

    def last_used():
        db.rollback()
        return db.scalar(select(FeedToken.last_used_at))

    assert last_used() is None
    poll(client, link)
    assert last_used() == clock.now()
    with clock.frozen(clock.now() + timedelta(minutes=30)):
        poll(client, link)  # an hour's precision: no write on every poll
    assert last_used() == clock.now()
    later = clock.now() + timedelta(minutes=61)
    with clock.frozen(later):
        poll(client, link)
    assert last_used() == later


# --- Rotating and revoking -----------------------------------------------------------


def test_rotating_stops_the_old_link_at_once(client, auth, member):
    headers = auth("coordinator")
    old = subscribe(client, headers, "client", member.id)
    assert poll(client, old).status_code == 200
    new = subscribe(client, headers, "client", member.id)
    assert poll(client, old).status_code == 404
    assert poll(client, new).status_code == 200


def test_revoking_answers_404_at_once_and_is_audited(client, auth, db, member):
    headers = auth("coordinator")
    link = subscribe(client, headers, "client", member.id)
    assert poll(client, link).status_code == 200
    answer = client.delete(f"{API}/clients/{member.id}/feed", headers=headers)
    assert answer.status_code == 204
    assert poll(client, link).status_code == 404
    db.rollback()
    event = db.scalars(select(AuditEvent).where(AuditEvent.entity_type == "client_feed",
                                                AuditEvent.action == "revoke")).one()
    assert event.entity_id == member.id
    assert event.actor.startswith("coordinator")
    issued = db.scalars(select(AuditEvent).where(AuditEvent.entity_type == "client_feed",
                                                 AuditEvent.action == "issue")).one()
    assert event.before["token_ids"] == [issued.after["token_id"]]


@pytest.mark.parametrize("kind", ["staff", "room", "program"])
def test_revoking_other_feeds_is_audited_under_their_owner(client, auth, db, kind, program,
                                                           room, facilitator):
    owner = {"staff": facilitator, "room": room, "program": program}[kind]
    headers = auth("coordinator")
    link = subscribe(client, headers, kind, owner.id)
    answer = client.delete(f"{API}/{PLURAL[kind]}/{owner.id}/feed", headers=headers)
    assert answer.status_code == 204
    assert poll(client, link).status_code == 404
    db.rollback()
    event = db.scalars(select(AuditEvent).where(AuditEvent.entity_type == f"{kind}_feed",
                                                AuditEvent.action == "revoke")).one()
    assert event.entity_id == owner.id


# --- People who leave ------------------------------------------------------------------


def _departure_revocation(db, kind: str, owner_id: int) -> AuditEvent:
    db.rollback()
    return db.scalars(select(AuditEvent).where(AuditEvent.entity_type == f"{kind}_feed",
                                               AuditEvent.action == "revoke",
                                               AuditEvent.entity_id == owner_id)).one()


def test_discharging_a_client_stops_their_link_at_once_in_every_process(
        client, auth, db, database_url, member, occurrences):
    book(db, occurrences[-1].id, member.id)
    headers = auth("coordinator")
    link = subscribe(client, headers, "client", member.id)
    with another_app(database_url) as second:
        elsewhere = second.test_client()
        # Both processes hold the rendered feed in their caches before the discharge.
        served = [poll(client, link), poll(elsewhere, link)]
        assert [answer.status_code for answer in served] == [200, 200]
        answer = client.post(f"{API}/clients/{member.id}/discharge",
                             json={"date": clock.now().date().isoformat(),
                                   "reason": "Completed the program"}, headers=headers)
        assert answer.status_code == 200, answer.json
        etag = served[0].headers["ETag"]
        assert poll(client, link).status_code == 404
        assert poll(elsewhere, link).status_code == 404
        assert poll(client, link, **{"If-None-Match": etag}).status_code == 404
    event = _departure_revocation(db, "client", member.id)
    assert event.reason == "Client discharged"
    assert event.actor.startswith("coordinator")
    issued = db.scalars(select(AuditEvent).where(AuditEvent.entity_type == "client_feed",
                                                 AuditEvent.action == "issue")).one()
    assert event.before == {"token_ids": [issued.after["token_id"]]}


def test_a_discharge_dated_ahead_stops_the_link_at_once_too(client, auth, member):
    headers = auth("coordinator")
    link = subscribe(client, headers, "client", member.id)
    ahead = (clock.now() + timedelta(days=10)).date().isoformat()
    answer = client.post(f"{API}/clients/{member.id}/discharge", json={"date": ahead},
                         headers=headers)
    assert answer.status_code == 200, answer.json
    assert poll(client, link).status_code == 404


def test_a_returning_client_gets_a_new_link_not_the_old_one(client, auth, db, member,
                                                             occurrences):
    headers = auth("coordinator")
    old = subscribe(client, headers, "client", member.id)
    answer = client.post(f"{API}/clients/{member.id}/discharge",
                         json={"date": clock.now().date().isoformat()}, headers=headers)
    assert answer.status_code == 200, answer.json
    # Back for another stay: the record is active again (there is no re-admission route yet).
    db.rollback()
    returning = db.get(type(member), member.id)
    returning.status, returning.discharged_on = "active", None
    db.commit()
    assert poll(client, old).status_code == 404
    new = subscribe(client, headers, "client", member.id)
    assert poll(client, new).status_code == 200
    assert poll(client, old).status_code == 404


def test_deactivating_a_staff_member_stops_their_link_and_reactivating_does_not_revive_it(
        client, auth, db, facilitator, occurrences):
    headers = auth("coordinator")
    link = subscribe(client, headers, "staff", facilitator.id)
    assert poll(client, link).status_code == 200
    answer = client.patch(f"{API}/staff/{facilitator.id}", json={"is_active": False},
                          headers=headers)
    assert answer.status_code == 200, answer.json
    assert poll(client, link).status_code == 404
    event = _departure_revocation(db, "staff", facilitator.id)
    assert event.reason == "Staff member deactivated"
    assert event.actor.startswith("coordinator")

    answer = client.patch(f"{API}/staff/{facilitator.id}", json={"is_active": True},
                          headers=headers)
    assert answer.status_code == 200, answer.json
    assert poll(client, link).status_code == 404
    new = subscribe(client, headers, "staff", facilitator.id)
    assert poll(client, new).status_code == 200


def test_other_edits_of_a_staff_member_leave_their_link_alone(client, auth, facilitator):
    headers = auth("coordinator")
    link = subscribe(client, headers, "staff", facilitator.id)
    for change in ({"credentials": "LCSW"}, {"is_active": True}):
        answer = client.patch(f"{API}/staff/{facilitator.id}", json=change, headers=headers)
        assert answer.status_code == 200, answer.json
        assert poll(client, link).status_code == 200, change


def _lookup_connections(app):
    with app.app_context():
        return tokens._lookups(_db.engine)


def test_a_poll_survives_the_database_dropping_its_connection(app, client, auth, db, member):
    """A restarted or failed-over database must not turn every subscribed calendar into errors."""
    link = subscribe(client, auth("coordinator"), "client", member.id)
    first = poll(client, link)
    assert first.status_code == 200
    lookups = _lookup_connections(app)
    (connection,) = lookups._open
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": connection.info.backend_pid})
        db.rollback()
    else:
        connection.close()  # a file cannot drop a connection; closing it is the nearest thing
    again = poll(client, link)
    assert again.status_code == 200
    assert again.headers["ETag"] == first.headers["ETag"]
    assert lookups._open and lookups._open[0] is not connection


def test_disposing_the_engine_closes_the_lookup_connections(client, auth, database_url,
                                                             member):
    link = subscribe(client, auth("coordinator"), "client", member.id)
    with another_app(database_url) as worker:
        assert poll(worker.test_client(), link).status_code == 200
        lookups = _lookup_connections(worker)
        (connection,) = lookups._open
    # another_app ends with engine.dispose(), as a worker shutting down does.
    assert lookups._open == []
    with pytest.raises(Exception, match="(?i)closed"):
        connection.cursor().execute("SELECT 1")


def test_unknown_and_revoked_links_look_the_same(client, auth, member):
    headers = auth("coordinator")
    link = subscribe(client, headers, "client", member.id)
    client.delete(f"{API}/clients/{member.id}/feed", headers=headers)
    revoked = poll(client, link)
    unknown = client.get("/feeds/" + "A" * 43 + ".ics")
    assert revoked.status_code == unknown.status_code == 404
    assert revoked.data == unknown.data
    assert revoked.headers["Content-Type"] == unknown.headers["Content-Type"]


def test_guessing_links_is_rate_limited(client, auth, database_url, member):
    with another_app(database_url, FEED_GUESS_LIMIT="5 per minute") as guarded:
        web = guarded.test_client()
        link = subscribe(client, auth("coordinator"), "client", member.id)
        # Real polls do not count against the limit, however many.
        assert [poll(web, link).status_code for _ in range(8)] == [200] * 8
        misses = [web.get(f"/feeds/guess{n:040d}.ics").status_code for n in range(4)]
        assert misses == [404] * 4
        assert poll(web, link).status_code == 200  # still within the limit
        assert web.get("/feeds/guess-five.ics").status_code == 404
        refused = web.get("/feeds/guess-six.ics")
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) > 0
        # Only misses wait: the calendars behind the same address (a clinic's Wi-Fi) still
        # poll, and a real link costs a guesser nothing the limit would not also charge.
        assert poll(web, link).status_code == 200
        assert web.get("/feeds/guess-seven.ics").status_code == 429


# --- What each feed shows ------------------------------------------------------------


def _revealing_words(body: bytes) -> list[str]:
    text = body.decode().lower()
    return [w for w in REVEALING if w in text]


def test_private_feeds_say_appointment_and_the_street_address_only(client, auth, db, program,
                                                                   room, facilitator, member,
                                                                   other, occurrences):
    assert program.feed_privacy == "private"  # the default
    book(db, occurrences[0].id, member.id)
    book(db, occurrences[0].id, other.id)
    headers = auth("coordinator")
    body = poll(client, subscribe(client, headers, "client", member.id)).data
    (event,) = events(body).values()
    assert str(event["SUMMARY"]) == "Appointment"
    assert str(event["LOCATION"]) == ADDRESS
    assert "DESCRIPTION" not in event and "URL" not in event
    assert "ATTENDEE" not in body.decode() and "ORGANIZER" not in body.decode()
    assert "Casey" not in body.decode() and "Okafor" not in body.decode()
    assert _revealing_words(body) == []
    owners = {"staff": facilitator.id, "room": room.id, "program": program.id}
    for kind, owner_id in owners.items():
        other_body = poll(client, subscribe(client, headers, kind, owner_id)).data
        assert events(other_body), kind
        assert _revealing_words(other_body) == [], kind


def test_a_spanish_clients_private_feed_says_cita(client, auth, db, member, occurrences):
    """Their language is Spanish: each event and its alarm say Cita, the place is still only
    the street address, and the calendar keeps the neutral PUBLIC_NAME."""
    for occurrence in occurrences[:3]:
        book(db, occurrence.id, member.id)
    member.language, member.feed_alarm_minutes = "es", 30
    db.commit()
    body = poll(client, subscribe(client, auth("coordinator"), "client", member.id)).data

    calendar = Calendar.from_ical(body)
    assert str(calendar["X-WR-CALNAME"]) == "Appointments"
    found = calendar.walk("VEVENT")
    assert len(found) == 3
    for event in found:
        assert str(event["SUMMARY"]) == "Cita"
        assert str(event["LOCATION"]) == ADDRESS
        [alarm] = event.walk("VALARM")
        assert str(alarm["DESCRIPTION"]) == "Cita"
    assert b"Appointment\r\n" not in body and _revealing_words(body) == []


def test_changing_a_clients_language_changes_the_next_poll(client, auth, db, member,
                                                           occurrences):
    """English, then Spanish, then English again: each change answers the next poll with the
    new body, a new ETag and a later Last-Modified (a poller sending only If-Modified-Since
    hears of it too); the English bytes come back exactly, never a cached Spanish body."""
    book(db, occurrences[0].id, member.id)
    headers = auth("coordinator")
    link = subscribe(client, headers, "client", member.id)
    english = poll(client, link)
    assert b"SUMMARY:Appointment\r\n" in english.data

    def set_language(language):
        answer = client.patch(f"{API}/clients/{member.id}", json={"language": language},
                              headers=headers)
        assert answer.status_code == 200, answer.json

    with clock.frozen(clock.now() + timedelta(minutes=5)):
        set_language("es")
    spanish = poll(client, link, **{"If-None-Match": english.headers["ETag"]})
    assert spanish.status_code == 200
    assert b"SUMMARY:Cita\r\n" in spanish.data
    assert spanish.headers["ETag"] != english.headers["ETag"]
    assert poll(client, link, **{"If-Modified-Since": english.headers["Last-Modified"]}
                ).status_code == 200
    assert poll(client, link, **{"If-None-Match": spanish.headers["ETag"]}).status_code == 304

    with clock.frozen(clock.now() + timedelta(minutes=10)):
        set_language("en")
    again = poll(client, link, **{"If-None-Match": spanish.headers["ETag"]})
    assert again.status_code == 200
    assert again.data == english.data and again.headers["ETag"] == english.headers["ETag"]


def test_the_render_cache_never_serves_one_language_for_another(client, auth, db, member,
                                                                occurrences):
    """A language written behind the ORM's back (no version moves) is still served at once:
    the cache is keyed on the language read with the version, not on the version alone."""
    book(db, occurrences[0].id, member.id)
    link = subscribe(client, auth("coordinator"), "client", member.id)
    english = poll(client, link)
    db.execute(text("UPDATE clients SET language = 'es' WHERE id = :id"), {"id": member.id})
    db.commit()

    spanish = poll(client, link)

    assert b"SUMMARY:Cita\r\n" in spanish.data
    assert spanish.headers["ETag"] != english.headers["ETag"]


def test_a_staff_members_feed_speaks_their_profile_language(client, auth, db, make, program,
                                                            facilitator, member, occurrences):
    """Dana's login reads Spanish: her calendar's name and the kinds of session are Spanish;
    changing her language moves her feed as a change of schedule would."""
    set_privacy(client, auth, program, "standard")
    login = make.user("clinician", staff_id=facilitator.id)
    link = subscribe(client, auth("coordinator"), "staff", facilitator.id)
    english = poll(client, link)
    assert "X-WR-CALNAME:Dana Whitfield: work schedule" in english.data.decode()
    with clock.frozen(clock.now() + timedelta(minutes=5)):
        login.language = "es"
        db.commit()

    spanish = poll(client, link, **{"If-None-Match": english.headers["ETag"]})

    assert spanish.status_code == 200
    calendar = Calendar.from_ical(spanish.data)
    assert str(calendar["X-WR-CALNAME"]) == "Dana Whitfield: horario de trabajo"
    assert {str(e["SUMMARY"]) for e in calendar.walk("VEVENT")} == {"Sesión de grupo"}
    assert spanish.headers["Last-Modified"] != english.headers["Last-Modified"]


def test_standard_feeds_name_the_kind_of_session(client, auth, db, program, room, member,
                                                 occurrences):
    book(db, occurrences[0].id, member.id)
    individual = one_off(db, program, START - timedelta(hours=3), client_id=member.id)
    set_privacy(client, auth, program, "standard")
    body = poll(client, subscribe(client, auth("coordinator"), "client", member.id)).data
    found = events(body)
    group_event = found[uid_of("client", member.id, occurrences[0].id)]
    one_event = found[uid_of("client", member.id, individual.id)]
    assert str(group_event["SUMMARY"]) == "Group session"
    assert str(group_event["LOCATION"]) == f"Room B, {ADDRESS}"
    assert str(one_event["SUMMARY"]) == "Individual session"
    assert "DESCRIPTION" not in group_event
    assert _revealing_words(body) == []


def test_full_feeds_show_the_title_and_the_facilitator(client, auth, db, program, member,
                                                       occurrences):
    book(db, occurrences[0].id, member.id)
    set_privacy(client, auth, program, "full")
    body = poll(client, subscribe(client, auth("coordinator"), "client", member.id)).data
    (event,) = events(body).values()
    assert str(event["SUMMARY"]) == SERIES_TITLE
    assert str(event["DESCRIPTION"]) == "With Dana Whitfield"
    assert str(event["LOCATION"]) == f"Room B, {ADDRESS}"


@pytest.mark.parametrize("level", ["private", "standard", "full"])
def test_no_feed_names_a_client_or_lists_attendees(client, auth, db, program, room, facilitator,
                                                   member, other, occurrences, level):
    for session in occurrences[:3]:
        book(db, session.id, member.id)
        book(db, session.id, other.id)
    if level != "private":
        set_privacy(client, auth, program, level)
    headers = auth("coordinator")
    feeds = {
        "member": subscribe(client, headers, "client", member.id),
        "staff": subscribe(client, headers, "staff", facilitator.id),
        "room": subscribe(client, headers, "room", room.id),
        "program": subscribe(client, headers, "program", program.id),
    }
    for name, link in feeds.items():
        body = poll(client, link).data.decode()
        assert events(body.encode()), name
        assert "Casey" not in body and "Okafor" not in body, name
        assert "ATTENDEE" not in body, name
        if name != "member":
            assert "Jordan" not in body and "Alvarez" not in body, name


def test_a_staff_feed_lists_what_they_run_with_the_room(client, auth, db, make, program,
                                                        room, facilitator, member,
                                                        occurrences):
    book(db, occurrences[0].id, member.id)
    colleague = make.staff(name="Robin Marsh")
    theirs = one_off(db, program, START - timedelta(hours=3), facilitator_ids=[colleague.id],
                     client_id=member.id)
    body = poll(client, subscribe(client, auth("coordinator"), "staff", facilitator.id)).data
    assert session_ids(body) == {s.id for s in occurrences}
    assert theirs.id not in session_ids(body)
    for event in events(body).values():
        assert str(event["LOCATION"]) == f"Room B, {ADDRESS}"
    assert "Jordan" not in body.decode() and "Alvarez" not in body.decode()
    assert "X-WR-CALNAME:Dana Whitfield: work schedule" in body.decode()


def test_a_room_feed_lists_what_happens_in_the_room(client, auth, db, make, program, room,
                                                    occurrences):
    elsewhere = make.room(name="Room C")
    there = one_off(db, program, START - timedelta(hours=3), room_id=elsewhere.id)
    online = one_off(db, program, START - timedelta(hours=5), video_url=VIDEO)
    body = poll(client, subscribe(client, auth("coordinator"), "room", room.id)).data
    assert session_ids(body) == {s.id for s in occurrences}
    assert not session_ids(body) & {there.id, online.id}
    assert "X-WR-CALNAME:Room B schedule" in body.decode()


def test_a_program_timetable_lists_groups_only_and_no_video_links(client, auth, db, make,
                                                                  program, member,
                                                                  occurrences):
    online = make.series(program, title="Online skills", kind="behavioral",
                         start_date=date(2027, 2, 18), start_time=time(12, 0),
                         duration_minutes=60, rrule="FREQ=WEEKLY;BYDAY=TH", video_url=VIDEO)
    book(db, occurrences[0].id, member.id)
    individual = one_off(db, program, START - timedelta(hours=3), client_id=member.id,
                         video_url=VIDEO)
    set_privacy(client, auth, program, "full")
    body = poll(client, subscribe(client, auth("coordinator"), "program", program.id)).data
    online_ids = set(db.scalars(select(Session.id).where(Session.series_id == online.id)))
    assert session_ids(body) == {s.id for s in occurrences} | online_ids
    assert individual.id not in session_ids(body)
    assert "video.example.org" not in body.decode()
    assert "Jordan" not in body.decode()


def test_an_online_session_link_stays_out_of_a_private_client_feed(client, auth, db, program,
                                                                   member):
    online = one_off(db, program, START - timedelta(hours=3), client_id=member.id,
                     video_url=VIDEO)
    link = subscribe(client, auth("coordinator"), "client", member.id)
    (event,) = events(poll(client, link).data).values()
    assert str(event["LOCATION"]) == f"Online, {ADDRESS}"
    assert "video.example.org" not in poll(client, link).data.decode()
    set_privacy(client, auth, program, "standard")
    (event,) = events(poll(client, link).data).values()
    assert str(event["URL"]) == VIDEO
    assert online.id in session_ids(poll(client, link).data)


def test_a_client_reminder_comes_from_their_preference(client, auth, db, member, occurrences):
    book(db, occurrences[0].id, member.id)
    link = subscribe(client, auth("coordinator"), "client", member.id)
    before = poll(client, link)
    assert b"BEGIN:VALARM" not in before.data
    answer = client.patch(f"{API}/clients/{member.id}", json={"feed_alarm_minutes": 120},
                          headers=auth("coordinator"))
    assert answer.status_code == 200, answer.json
    after = poll(client, link)
    assert after.headers["ETag"] != before.headers["ETag"]
    assert after.last_modified > before.last_modified
    lines = after.data.decode().split("\r\n")
    assert "BEGIN:VALARM" in lines and "TRIGGER:-PT2H" in lines
    assert "ACTION:DISPLAY" in lines


def test_the_window_runs_from_30_days_back_to_the_horizon(client, auth, db, program,
                                                          facilitator, occurrences):
    with clock.frozen(clock.now() - timedelta(days=60)):
        long_ago = one_off(db, program, clock.now() + timedelta(days=23),  # 37 days back
                           facilitator_ids=[facilitator.id])
        recent = one_off(db, program, clock.now() + timedelta(days=33),  # 27 days back
                         facilitator_ids=[facilitator.id])
    link = subscribe(client, auth("coordinator"), "staff", facilitator.id)
    first = poll(client, link)
    shown = session_ids(first.data)
    assert long_ago.id not in shown
    assert recent.id in shown
    assert {s.id for s in occurrences} <= shown
    assert occurrences[-1].starts_at > clock.now() + timedelta(days=110)  # near the horizon
    # Four days on, the recent one is over 30 days back too, and Last-Modified says so.
    later = clock.now() + timedelta(days=4)
    with clock.frozen(later):
        moved_on = poll(client, link, **{"If-Modified-Since": first.headers["Last-Modified"]})
    assert moved_on.status_code == 200
    assert recent.id not in session_ids(moved_on.data)
    assert moved_on.last_modified == datetime.combine(later.date(), time.min, tzinfo=UTC)


# --- Who may make a link -------------------------------------------------------------


def test_a_client_manages_their_own_link_only(client, auth, make, member, other, room):
    login = make.user("client", client_id=member.id)
    headers = auth.for_user(login)
    assert client.post(f"{API}/clients/{member.id}/feed", headers=headers).status_code == 201
    assert client.delete(f"{API}/clients/{member.id}/feed", headers=headers).status_code == 204
    assert client.post(f"{API}/clients/{other.id}/feed", headers=headers).status_code == 403
    assert client.delete(f"{API}/clients/{other.id}/feed", headers=headers).status_code == 403
    assert client.post(f"{API}/rooms/{room.id}/feed", headers=headers).status_code == 403


def test_a_clinician_cannot_make_a_clients_link(client, auth, member):
    headers = auth("clinician")
    assert client.post(f"{API}/clients/{member.id}/feed", headers=headers).status_code == 403
    assert client.delete(f"{API}/clients/{member.id}/feed", headers=headers).status_code == 403


def test_a_coordinator_makes_any_link(client, auth, member, facilitator, room, program):
    headers = auth("coordinator")
    for kind, owner in (("client", member), ("staff", facilitator), ("room", room),
                        ("program", program)):
        answer = client.post(f"{API}/{PLURAL[kind]}/{owner.id}/feed", headers=headers)
        assert answer.status_code == 201, kind


def test_a_staff_member_makes_their_own_work_calendar_link(client, auth, make, facilitator):
    headers = auth("clinician", staff_id=facilitator.id)
    colleague = make.staff(name="Robin Marsh")
    assert client.post(f"{API}/staff/{facilitator.id}/feed", headers=headers).status_code == 201
    assert client.post(f"{API}/staff/{colleague.id}/feed", headers=headers).status_code == 403
    assert client.delete(f"{API}/staff/{facilitator.id}/feed",
                         headers=headers).status_code == 204


def test_anonymous_callers_are_asked_to_log_in(client, member):
    assert client.post(f"{API}/clients/{member.id}/feed").status_code == 401
    assert client.delete(f"{API}/clients/{member.id}/feed").status_code == 401


@pytest.mark.parametrize("kind", ["client", "staff", "room", "program"])
def test_an_unknown_owner_is_404(client, auth, kind):
    headers = auth("coordinator")
    assert client.post(f"{API}/{PLURAL[kind]}/99999/feed", headers=headers).status_code == 404
    assert client.delete(f"{API}/{PLURAL[kind]}/99999/feed", headers=headers).status_code == 404


# --- the direct writer writes icalendar's bytes ---------------------------------------------

AWKWARD_TEXT = (
    "Relapse prevention group",
    "Évaluation; suivi, famille \\ notes\nsecond line\r\nthird",
    "Group " + "x" * 64 + "é" + "y" * 40,  # a two-octet character at the fold
    "Skills " + "ab," * 40,  # escapes on the fold boundary
    "漢字のセッション" * 12,
    "Line with \\N literal and trailing backslash \\",
)


UID_KEY = "5e" * 32


def fake_session(title, level, *, room=True, video=None, facilitators=("Dana Reyes",),
                 minutes=180, sequence=3):
    starts = datetime(2027, 3, 14, 22, 0, 7, 123456, tzinfo=UTC)
    return render.FeedSession(
        id=901, updated_at=datetime(2027, 3, 1, 9, 30, 59, 999999, tzinfo=UTC),
        sequence=sequence, starts_at=starts, ends_at=starts + timedelta(minutes=minutes),
        title=title, kind="group", video_url=video, feed_privacy=level,
        address=ADDRESS + "; back door, 2F", room_name="Room B, upstairs" if room else None,
        facilitator_names=tuple(sorted(facilitators)))


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("level", ["private", "standard", "full"])
@pytest.mark.parametrize("feed_kind", ["client", "staff", "room", "program"])
def test_the_direct_writer_matches_icalendar_byte_for_byte(app, level, feed_kind, language):
    from scheduler.feeds import content_lines

    with i18n.speaking(language):
        said = render.words()
    assert said.appointment == {"en": "Appointment", "es": "Cita"}[language]
    cases = [fake_session(title, level) for title in AWKWARD_TEXT]
    cases += [fake_session("Online group", level, room=False,
                           video="https://video.example.org/g?id=4,5;x=\\y"),
              fake_session("No one", level, room=False, facilitators=()),
              fake_session("Long " * 30, level, facilitators=("Zoë Ng", "Ana, María", "B;C"))]
    for session in cases:
        for alarm in (None, 5, 15, 60, 90, 1440, 2880, 10080):
            parts = render.event_parts(session, feed_kind, UID_KEY, alarm, said)
            expected = render.event_for(session, feed_kind, UID_KEY, alarm, said).to_ical()
            assert content_lines.event_bytes(parts) == expected, (session.title, alarm)


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_whole_feed_is_what_icalendar_alone_would_write(client, auth, db, member, occurrences,
                                                          language):
    for occurrence in occurrences[:6]:
        book(db, occurrence.id, member.id)
    member.feed_alarm_minutes, member.language = 45, language
    db.commit()
    subscribe(client, auth("coordinator"), "client", member.id)  # the feed and its UID key
    first_day = render.window_start(clock.now())
    key = render.uid_key(db, "client", member.id)

    written = render.render(db, "client", member.id, first_day, public_name="Appointments")

    reference = Calendar()
    for name, value in Calendar.from_ical(written).property_items(recursive=False)[1:-1]:
        reference.add(name, value)
    with i18n.speaking(language):
        for session in render.sessions_for(db, "client", member.id, first_day):
            reference.add_component(render.event_for(session, "client", key, 45))
    assert written.count(b"BEGIN:VEVENT") == 6
    assert written.count({"en": b":Appointment\r\n", "es": b":Cita\r\n"}[language]) == 12
    assert written == reference.to_ical()
