"""Coordinators booking at the same moment, through real HTTP against a threaded server.

Invariant 1 (capacity under concurrency) and invariant 2 (no double booking) must hold when
requests really overlap, not only one after another. Every test here serves the app with
werkzeug's threaded server on the test's own database (a SQLite file, or PostgreSQL when
TEST_DATABASE_URL is set), opens one connection per caller, waits at a barrier until every
caller is connected, and only then sends all requests together.
"""

import http.client
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, time, timedelta
from itertools import pairwise

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server

from scheduler.models import AuditEvent, Booking, Enrollment, Session
from scheduler.services import booking as booking_service
from scheduler.services.audit import Actor

API = "/api/v1"
SETUP = Actor.system("tests")
# Long enough for 40 serialised requests on a slow machine; short enough to fail, not hang.
REQUEST_TIMEOUT = 30
BARRIER_TIMEOUT = 10


@pytest.fixture
def server(app, db):
    """The app on a threaded HTTP server on loopback, sharing the test's database."""
    db.commit()  # nothing of the test's own is left open while the server works
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              name="test-http-server", daemon=True)
    thread.start()
    try:
        yield httpd.server_address[:2]
    finally:
        httpd.shutdown()
        thread.join(timeout=10)
        httpd.server_close()
    assert not thread.is_alive(), "the test server did not shut down"


def race(server, calls):
    """Send every (method, path, body, headers) at the same moment; [(status, json)] in order.

    Each caller connects first and then waits at a barrier, so the requests leave together. A
    caller that fails (timeout, broken connection, bad JSON) fails the test with its error.
    """
    host, port = server
    barrier = threading.Barrier(len(calls), timeout=BARRIER_TIMEOUT)

    def call(method, path, body, headers):
        conn = http.client.HTTPConnection(host, port, timeout=REQUEST_TIMEOUT)
        try:
            conn.connect()
            barrier.wait()
            payload = json.dumps(body) if body is not None else None
            conn.request(method, path, body=payload,
                         headers={**headers, "Content-Type": "application/json"})
            response = conn.getresponse()
            raw = response.read()
        finally:
            conn.close()
        try:
            return response.status, json.loads(raw) if raw else None
        except ValueError:
            return response.status, raw.decode(errors="replace")

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(call, *c) for c in calls]
        return [f.result() for f in futures]


def expect_statuses(results, allowed):
    unexpected = [(status, body) for status, body in results if status not in allowed]
    assert not unexpected, f"{len(unexpected)} unexpected answers, e.g. {unexpected[:3]}"


def coordinators(make, auth, n):
    """Bearer headers for n different coordinators."""
    return [auth.for_user(make.user("coordinator")) for _ in range(n)]


def tally(db, session_id) -> dict[str, int]:
    """Booking rows per status for one session, read fresh from the database."""
    db.rollback()
    rows = db.execute(
        select(Booking.status, func.count(Booking.id))
        .where(Booking.session_id == session_id)
        .group_by(Booking.status)
    ).all()
    return {status: n for status, n in rows}


def first_session(db, series) -> Session:
    return db.scalars(
        select(Session).where(Session.series_id == series.id).order_by(Session.starts_at)
    ).first()


@pytest.fixture
def program(make):
    return make.program()


@pytest.fixture
def group(make, db, program):
    """A 12-seat evening group; its first session is Mon 2027-03-01 18:00 New York."""
    series = make.series(program, capacity=12, end_date=date(2027, 3, 3))
    return first_session(db, series)


# --- capacity ------------------------------------------------------------------------------


def test_forty_coordinators_race_for_twelve_seats(server, db, make, auth, program, group):
    """Twelve get a seat, the other 28 queue in a strict line 1..28, and nobody sees an error."""
    clients = [make.client(program) for _ in range(40)]
    headers = coordinators(make, auth, 40)

    results = race(server, [
        ("POST", f"{API}/sessions/{group.id}/bookings", {"client_id": c.id}, h)
        for c, h in zip(clients, headers, strict=True)
    ])

    expect_statuses(results, {201})
    statuses = [body["status"] for _, body in results]
    assert statuses.count("booked") == 12, "the group must fill exactly, never overbook"
    assert statuses.count("waitlisted") == 28
    positions = sorted(body["waitlist_position"] for _, body in results
                       if body["status"] == "waitlisted")
    assert positions == list(range(1, 29)), "each queued client gets their own place in line"
    assert all(body["waitlist_position"] is None for _, body in results
               if body["status"] == "booked")

    assert tally(db, group.id) == {"booked": 12, "waitlisted": 28}
    assert db.scalar(select(func.count(func.distinct(Booking.client_id)))
                     .where(Booking.session_id == group.id)) == 40
    # The positions promised in the answers are the queue the database holds.
    for _, body in results:
        row = db.get(Booking, body["id"])
        assert row.client_id == body["client_id"]
        assert booking_service.waitlist_position(db, row) == body["waitlist_position"]

    status, seen = race(server, [("GET", f"{API}/sessions/{group.id}", None, headers[0])])[0]
    assert status == 200, seen
    assert (seen["capacity"], seen["booked_count"], seen["waitlist_count"]) == (12, 12, 28)


def test_a_double_clicked_booking_gives_the_client_one_seat(server, db, make, auth, program,
                                                            group):
    """Ten identical requests at once: one booking row, one audit entry, the same answer."""
    client = make.client(program)
    headers = coordinators(make, auth, 2)

    results = race(server, [
        ("POST", f"{API}/sessions/{group.id}/bookings", {"client_id": client.id},
         headers[i % 2])
        for i in range(10)
    ])

    expect_statuses(results, {200, 201})
    assert sorted(status for status, _ in results) == [200] * 9 + [201], \
        "exactly one request creates the booking; the repeats are told it already exists"
    assert {body["id"] for _, body in results} == {results[0][1]["id"]}
    assert {body["status"] for _, body in results} == {"booked"}
    assert tally(db, group.id) == {"booked": 1}
    assert db.scalar(select(func.count(AuditEvent.id)).where(
        AuditEvent.entity_type == "booking", AuditEvent.action == "book")) == 1


def test_the_same_client_queued_twice_at_once_holds_one_place_in_line(
        server, db, make, auth, program, group, now):
    """When the group is full, a repeated request must not queue the client twice."""
    for _ in range(12):
        booking_service.book_client(db, SETUP, group.id, make.client(program).id,
                                    now=now)
    db.commit()
    client = make.client(program)
    headers = coordinators(make, auth, 1)[0]

    results = race(server, [
        ("POST", f"{API}/sessions/{group.id}/bookings", {"client_id": client.id}, headers)
        for _ in range(6)
    ])

    expect_statuses(results, {200, 201})
    assert {(body["status"], body["waitlist_position"]) for _, body in results} == \
        {("waitlisted", 1)}
    assert tally(db, group.id) == {"booked": 12, "waitlisted": 1}


# --- no double booking ---------------------------------------------------------------------


def test_two_coordinators_enrolling_a_client_in_overlapping_groups_book_only_one(
        server, db, make, auth, program):
    """Mon/Wed/Thu evening group vs a Monday 19:00 group: one enrolment wins, one gets 409.

    Five clients are each raced into both series at once (ten requests together), so the
    race is run five times over; none may end up in two places at the same time.
    """
    evening = make.series(program, title="Relapse prevention", end_date=date(2027, 3, 17))
    monday = make.series(program, title="Family education", kind="education",
                         rrule="FREQ=WEEKLY;BYDAY=MO", start_time=time(19, 0),
                         duration_minutes=60, end_date=date(2027, 3, 17))
    clients = [make.client(program) for _ in range(5)]
    headers = coordinators(make, auth, 2)

    calls = []
    for c in clients:
        calls.append(("POST", f"{API}/series/{evening.id}/enrollments", {"client_id": c.id},
                      headers[0]))
        calls.append(("POST", f"{API}/series/{monday.id}/enrollments", {"client_id": c.id},
                      headers[1]))
    results = race(server, calls)

    expect_statuses(results, {201, 409})
    series_of = dict(db.execute(select(Session.id, Session.series_id)).all())
    for i, c in enumerate(clients):
        pair = results[2 * i:2 * i + 2]
        assert sorted(status for status, _ in pair) == [201, 409], \
            f"client {c.id}: exactly one of the two enrolments may succeed, got {pair}"
        (won_status, won), (_, lost) = sorted(pair, key=lambda r: r[0])
        assert won["booked"] > 0 and won["waitlisted"] == 0
        conflicts = lost["conflicts"]
        assert conflicts, "the refusal lists what it clashes with"
        assert {k["kind"] for k in conflicts} == {"client"}
        assert {series_of[k["session_id"]] for k in conflicts} == {won["series_id"]}
        assert all({"kind", "session_id", "starts_at", "ends_at", "detail"} <= k.keys()
                   for k in conflicts)

    db.rollback()
    for c in clients:
        enrolments = db.scalars(select(Enrollment).where(Enrollment.client_id == c.id)).all()
        assert len(enrolments) == 1, "the refused enrolment left nothing behind"
        booked = db.scalars(
            select(Session).join(Booking, Booking.session_id == Session.id)
            .where(Booking.client_id == c.id, Booking.status == "booked")
            .order_by(Session.starts_at)
        ).all()
        assert booked and {s.series_id for s in booked} == {enrolments[0].series_id}
        for earlier, later in pairwise(booked):
            assert earlier.ends_at <= later.starts_at, \
                f"client {c.id} is double booked: sessions {earlier.id} and {later.id}"


# --- cancellations and the waitlist --------------------------------------------------------


def test_cancellations_racing_new_bookings_never_overfill_the_group(
        server, db, make, auth, program, group, now):
    """Six clients drop out while twenty more are booked in: the group ends exactly full.

    The four who were already waiting are first in line for the freed seats, every promotion
    is audited, and no seat is left empty while someone is still on the waitlist.
    """
    seated = [booking_service.book_client(db, SETUP, group.id, make.client(program).id,
                                          now=now)[0] for _ in range(12)]
    waiting = [booking_service.book_client(db, SETUP, group.id, make.client(program).id,
                                           now=now)[0] for _ in range(4)]
    db.commit()
    assert {b.status for b in seated} == {"booked"}
    assert {b.status for b in waiting} == {"waitlisted"}
    newcomers = [make.client(program) for _ in range(20)]
    headers = coordinators(make, auth, 4)

    calls = [("DELETE", f"{API}/bookings/{b.id}", None, headers[i % 4])
             for i, b in enumerate(seated[:6])]
    calls += [("POST", f"{API}/sessions/{group.id}/bookings", {"client_id": c.id},
               headers[i % 4]) for i, c in enumerate(newcomers)]
    results = race(server, calls)

    cancels, bookings = results[:6], results[6:]
    expect_statuses(cancels, {200})
    expect_statuses(bookings, {201})
    assert {body["status"] for _, body in cancels} == {"cancelled"}

    final = tally(db, group.id)
    assert final == {"booked": 12, "waitlisted": 18, "cancelled": 6}
    waiting_ids = {b.id for b in waiting}
    promoted = [p["id"] for _, body in cancels for p in body["promoted"]]
    seated_now = sum(body["status"] == "booked" for _, body in bookings)
    assert len(promoted) + seated_now == 6, "each freed seat went to exactly one client"
    assert len(promoted) == len(set(promoted))
    assert waiting_ids <= set(promoted), "those already waiting are seated first"
    assert db.scalar(select(func.count(AuditEvent.id)).where(
        AuditEvent.entity_type == "booking", AuditEvent.action == "promote")) == len(promoted)
    queue = db.scalars(select(Booking).where(Booking.session_id == group.id,
                                             Booking.status == "waitlisted")).all()
    assert sorted(booking_service.waitlist_position(db, b) for b in queue) == \
        list(range(1, 19))


# --- the order of the queue ----------------------------------------------------------------


def test_a_booking_whose_clock_read_lags_still_queues_behind_earlier_ones(db, make, program,
                                                                         group, now):
    """Requests read the clock before they wait for the session lock, and web machines' clocks
    differ by a little: the line is the order in which bookings got the lock, never the clock."""
    for _ in range(12):
        booking_service.book_client(db, SETUP, group.id, make.client(program).id, now=now)
    first, second = make.client(program), make.client(program)
    ahead, _ = booking_service.book_client(db, SETUP, group.id, first.id, now=now)
    behind, _ = booking_service.book_client(db, SETUP, group.id, second.id,
                                            now=now - timedelta(seconds=1))
    db.commit()

    assert booking_service.waitlist_position(db, ahead) == 1
    assert booking_service.waitlist_position(db, behind) == 2


def test_a_client_who_leaves_the_waitlist_and_rejoins_goes_to_the_back(db, make, program,
                                                                      group, now):
    for _ in range(12):
        booking_service.book_client(db, SETUP, group.id, make.client(program).id, now=now)
    queue = [booking_service.book_client(db, SETUP, group.id, make.client(program).id,
                                         now=now)[0] for _ in range(3)]
    booking_service.cancel_booking(db, SETUP, queue[0].id, now=now)
    rejoined, _ = booking_service.book_client(db, SETUP, group.id, queue[0].client_id, now=now)
    db.commit()

    assert rejoined.id == queue[0].id  # one row per (session, client), reused
    assert [booking_service.waitlist_position(db, b) for b in (queue[1], queue[2], rejoined)] \
        == [1, 2, 3]


def test_two_coordinators_giving_a_free_one_to_one_slot_to_two_clients_give_it_to_one(
        server, db, make, auth, program):
    """A one-to-one series takes one client: racing enrolments of two clients into a free slot
    leave one enrolled and refuse the other with 409, never one waitlisted behind the other."""
    slot = make.series(program, kind="individual", title="Individual therapy",
                       end_date=date(2027, 3, 31), start_time=time(12, 30),
                       duration_minutes=50, rrule="FREQ=WEEKLY;BYDAY=WE")
    people = [make.client(program), make.client(program)]
    headers = coordinators(make, auth, 2)
    db.commit()

    calls = [("POST", f"{API}/series/{slot.id}/enrollments", {"client_id": person.id}, h)
             for person, h in zip(people, headers, strict=True)]
    results = race(server, calls)

    assert sorted(status for status, _ in results) == [201, 409]
    db.rollback()
    assert db.scalar(select(func.count(Enrollment.id))
                     .where(Enrollment.series_id == slot.id)) == 1
    assert db.scalar(select(func.count(Booking.id)).where(Booking.status == "waitlisted")) == 0
