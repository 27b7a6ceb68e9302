"""Enrolment in a series: every occurrence in range is booked, or none is."""

from datetime import date, time, timedelta

import pytest
from sqlalchemy import func, select

from scheduler.extensions import db as _db
from scheduler.models import AuditEvent, Booking, Enrollment, Session
from scheduler.services import series as series_service
from scheduler.services.recurrence import zone

API = "/api/v1"
NEW_YORK = zone("America/New_York")
# Mon/Wed/Thu in March 2027: 1, 3, 4, 8, 10, 11, 15, 17, 18, 22, 24, 25, 29, 31.
MARCH_MEETINGS = 14


@pytest.fixture
def coordinator(make):
    return make.user("coordinator")


@pytest.fixture
def headers(auth, coordinator):
    return auth.for_user(coordinator)


@pytest.fixture
def program(make):
    return make.program(name="Evening IOP")


@pytest.fixture
def group(make, program):
    """Relapse prevention, Mon/Wed/Thu 18:00-21:00 New York, through March."""
    return make.series(program, title="Relapse prevention", end_date=date(2027, 3, 31))


def sessions_of(series) -> dict[date, int]:
    """Session id by New York day."""
    rows = _db.session.execute(
        select(Session.id, Session.starts_at).where(Session.series_id == series.id)
    )
    return {starts.astimezone(NEW_YORK).date(): sid for sid, starts in rows}


def enrol(client, headers, series_id, client_id, **body):
    return client.post(f"{API}/series/{series_id}/enrollments",
                       json={"client_id": client_id, **body}, headers=headers)


def booked_days(client_id, status="booked") -> list[date]:
    _db.session.expire_all()
    rows = _db.session.scalars(
        select(Session.starts_at)
        .join(Booking, Booking.session_id == Session.id)
        .where(Booking.client_id == client_id, Booking.status == status)
        .order_by(Session.starts_at)
    )
    return [starts.astimezone(NEW_YORK).date() for starts in rows]


def count(model) -> int:
    _db.session.expire_all()
    return _db.session.scalar(select(func.count()).select_from(model))


def one_evening(make, program, day, start=time(19, 0), minutes=60, **kw) -> int:
    """Another session that evening, to clash with the group."""
    series = make.series(program, title="Other", start_date=day, end_date=day,
                         rrule="FREQ=DAILY", start_time=start, duration_minutes=minutes, **kw)
    return _db.session.scalar(select(Session.id).where(Session.series_id == series.id))


def book(client, headers, session_id, client_id):
    response = client.post(f"{API}/sessions/{session_id}/bookings",
                           json={"client_id": client_id}, headers=headers)
    assert response.status_code == 201, response.json
    return response.json


# --- the whole range -------------------------------------------------------------------------


def test_enrolling_books_every_occurrence_of_the_series(client, headers, make, program, group):
    """201 {"id", "status", "booked", "waitlisted"}: one seat in each of the 14 March meetings."""
    person = make.client(program)

    response = enrol(client, headers, group.id, person.id)

    assert response.status_code == 201, response.json
    body = response.json
    assert (body["status"], body["booked"], body["waitlisted"]) == ("active", MARCH_MEETINGS, 0)
    assert (body["client_id"], body["series_id"]) == (person.id, group.id)
    assert body["start_date"] == "2027-03-01" and body["end_date"] == "2027-03-31"
    assert body["skipped"] == []
    assert booked_days(person.id) == sorted(sessions_of(group))
    schedule = client.get(f"{API}/sessions", query_string={"client_id": person.id},
                          headers=headers).json
    assert schedule["total"] == MARCH_MEETINGS


def test_enrolling_for_part_of_the_series_books_only_that_range(
    client, headers, make, program, group
):
    """start_date and end_date are inclusive days in the series' zone."""
    person = make.client(program)
    body = enrol(client, headers, group.id, person.id,
                 start_date="2027-03-08", end_date="2027-03-17").json
    assert body["booked"] == 5
    assert booked_days(person.id) == [date(2027, 3, d) for d in (8, 10, 11, 15, 17)]


def test_a_full_occurrence_puts_the_enrolled_client_on_its_waitlist(
    client, headers, make, program
):
    """Enrolment counts queued occurrences apart from booked ones."""
    small = make.series(program, capacity=1, end_date=date(2027, 3, 31))
    book(client, headers, sessions_of(small)[date(2027, 3, 10)], make.client(program).id)
    person = make.client(program)

    body = enrol(client, headers, small.id, person.id).json

    assert (body["booked"], body["waitlisted"]) == (MARCH_MEETINGS - 1, 1)
    assert booked_days(person.id, "waitlisted") == [date(2027, 3, 10)]


def test_an_occurrence_the_client_already_holds_is_kept_not_doubled(
    client, headers, make, program, group
):
    person = make.client(program)
    first = book(client, headers, sessions_of(group)[date(2027, 3, 3)], person.id)
    body = enrol(client, headers, group.id, person.id).json
    assert body["booked"] == MARCH_MEETINGS - 1
    assert len(booked_days(person.id)) == MARCH_MEETINGS
    assert client.get(f"{API}/bookings/{first['id']}", headers=headers).json["status"] == "booked"


def test_occurrences_already_past_are_not_booked(client, headers, make, program):
    """A series that began last month is booked from now on, not back-dated."""
    running = make.series(program, start_date=date(2027, 2, 1), end_date=date(2027, 2, 28))
    person = make.client(program)
    body = enrol(client, headers, running.id, person.id).json
    # From Wed 17 February: 17, 18, 22, 24, 25.
    assert body["start_date"] == "2027-02-16"
    assert booked_days(person.id) == [date(2027, 2, d) for d in (17, 18, 22, 24, 25)]


def test_the_enrolments_of_a_series_can_be_listed(client, headers, make, program, group):
    people = [make.client(program) for _ in range(2)]
    for person in people:
        enrol(client, headers, group.id, person.id)
    listed = client.get(f"{API}/series/{group.id}/enrollments", headers=headers).json
    assert [e["client_id"] for e in listed["items"]] == [p.id for p in people]
    assert listed["total"] == 2


def test_an_enrolment_is_audited_once_and_each_booking_too(
    client, headers, make, program, group, coordinator
):
    person = make.client(program)
    body = enrol(client, headers, group.id, person.id).json
    events = _db.session.scalars(select(AuditEvent).where(
        AuditEvent.actor_user_id == coordinator.id)).all()
    assert [(e.entity_type, e.action) for e in events].count(("booking", "book")) == MARCH_MEETINGS
    [enrolment] = [e for e in events if e.entity_type == "enrollment"]
    assert (enrolment.action, enrolment.entity_id) == ("enroll", body["id"])
    assert enrolment.after["booked"] == MARCH_MEETINGS


# --- conflicts: all or nothing ---------------------------------------------------------------


@pytest.fixture
def busy(client, headers, make, program):
    """A client booked into other sessions on Thu 11 and Mon 22 March that overlap the group."""
    person = make.client(program)
    clashes = [one_evening(make, program, date(2027, 3, 11)),
               one_evening(make, program, date(2027, 3, 22), start=time(20, 30))]
    for session_id in clashes:
        book(client, headers, session_id, person.id)
    return person, clashes


def test_one_conflict_books_nothing_and_every_conflict_is_listed(
    client, headers, group, busy
):
    """409 lists both clashing evenings; no booking and no enrolment is written."""
    person, clashes = busy
    ours = sessions_of(group)
    before = (count(Booking), count(Enrollment), count(AuditEvent))

    response = enrol(client, headers, group.id, person.id)

    assert response.status_code == 409, response.json
    conflicts = response.json["conflicts"]
    assert sorted((c["kind"], c["session_id"], c["requested_session_id"]) for c in conflicts) == [
        ("client", clashes[0], ours[date(2027, 3, 11)]),
        ("client", clashes[1], ours[date(2027, 3, 22)]),
    ]
    assert all({"kind", "session_id", "starts_at", "ends_at", "detail"} <= set(c)
               for c in conflicts)
    assert (count(Booking), count(Enrollment), count(AuditEvent)) == before


def test_skip_conflicting_books_the_rest_and_lists_what_it_skipped(
    client, headers, group, busy
):
    person, clashes = busy
    ours = sessions_of(group)

    response = enrol(client, headers, group.id, person.id, skip_conflicting=True)

    assert response.status_code == 201, response.json
    assert (response.json["booked"], response.json["waitlisted"]) == (MARCH_MEETINGS - 2, 0)
    skipped = response.json["skipped"]
    assert sorted(s["requested_session_id"] for s in skipped) == sorted(
        [ours[date(2027, 3, 11)], ours[date(2027, 3, 22)]])
    assert sorted(s["session_id"] for s in skipped) == sorted(clashes)
    held = set(_db.session.scalars(select(Booking.session_id).where(
        Booking.client_id == person.id, Booking.status == "booked")))
    assert held == (set(ours.values()) | set(clashes)) - {
        ours[date(2027, 3, 11)], ours[date(2027, 3, 22)]}


def test_an_override_books_every_occurrence_and_says_why(client, headers, group, busy):
    person, _ = busy
    ours = sessions_of(group)

    response = enrol(client, headers, group.id, person.id, override=True,
                     reason="Leaves the other group early on those days")

    assert response.status_code == 201, response.json
    assert response.json["booked"] == MARCH_MEETINGS
    assert response.json["skipped"] == []
    reasons = dict(_db.session.execute(
        select(Booking.session_id, Booking.override_reason).where(
            Booking.client_id == person.id, Booking.session_id.in_(ours.values()))).all())
    overridden = {sid for sid, why in reasons.items() if why}
    assert overridden == {ours[date(2027, 3, 11)], ours[date(2027, 3, 22)]}
    event = _db.session.scalars(select(AuditEvent).where(
        AuditEvent.entity_type == "enrollment")).one()
    assert event.reason == "Leaves the other group early on those days"
    assert len(event.after["overridden_conflicts"]) == 2


def test_an_override_without_a_reason_is_refused(client, headers, group, busy):
    person, _ = busy
    response = enrol(client, headers, group.id, person.id, override=True)
    assert response.status_code == 422
    assert "reason" in response.json["errors"]["json"]


def test_a_clients_routine_clashing_with_every_meeting_lists_each(
    client, headers, make, program, group
):
    """Working Thursdays until 19:00 clashes with all four Thursday meetings."""
    person = make.client(program)
    client.put(f"{API}/clients/{person.id}/availability",
               json={"unavailable": [{"weekday": 3, "start": "09:00", "end": "19:00"}]},
               headers=headers)
    response = enrol(client, headers, group.id, person.id)
    assert response.status_code == 409
    assert [c["kind"] for c in response.json["conflicts"]] == ["client_unavailable"] * 4


def test_a_discharged_client_cannot_be_enrolled(client, headers, make, program, group):
    person = make.client(program, discharged_on=date(2027, 2, 12))
    response = enrol(client, headers, group.id, person.id)
    assert response.status_code == 409
    assert {c["kind"] for c in response.json["conflicts"]} == {"client_status"}
    assert count(Enrollment) == 0


# --- dates -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dates", "field"),
    [
        ({"start_date": "2027-02-22"}, "start_date"),                       # before the series
        ({"start_date": "2027-04-05"}, "start_date"),                       # after it ends
        ({"end_date": "2027-04-30"}, "end_date"),                           # past its end
        ({"start_date": "2027-03-10", "end_date": "2027-03-08"}, "end_date"),  # end before start
        ({"end_date": "2027-02-27"}, "end_date"),                           # before its start
        ({"start_date": "2027-02-30"}, "start_date"),                       # no such day
        ({"start_date": "0001-01-01"}, "start_date"),                       # out of range
        ({"end_date": "tomorrow"}, "end_date"),
    ],
)
def test_enrolment_dates_outside_the_series_are_refused_naming_the_field(
    client, headers, make, program, group, dates, field
):
    person = make.client(program)
    response = enrol(client, headers, group.id, person.id, **dates)
    assert response.status_code == 422, response.json
    assert field in response.json["errors"]["json"]
    assert (count(Enrollment), count(Booking)) == (0, 0)


def test_an_open_ended_series_takes_an_enrolment_with_or_without_an_end(
    client, headers, make, program
):
    open_ended = make.series(program)
    first = enrol(client, headers, open_ended.id, make.client(program).id,
                  end_date="2027-12-31")
    second = enrol(client, headers, open_ended.id, make.client(program).id)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json["end_date"] is None


def test_enrolling_the_same_client_twice_over_the_same_dates_is_refused(
    client, headers, make, program, group
):
    person = make.client(program)
    assert enrol(client, headers, group.id, person.id, end_date="2027-03-15").status_code == 201
    again = enrol(client, headers, group.id, person.id, start_date="2027-03-15")
    assert again.status_code == 409
    assert count(Enrollment) == 1
    later = enrol(client, headers, group.id, person.id, start_date="2027-03-16")
    assert later.status_code == 201, later.json


def test_unknown_series_and_client_are_refused(client, headers, make, program, group):
    person = make.client(program)
    assert enrol(client, headers, 999999, person.id).status_code == 404
    assert enrol(client, headers, 2**63, person.id).status_code == 404
    response = enrol(client, headers, group.id, 999999)
    assert response.status_code == 422
    assert "client_id" in response.json["errors"]["json"]


# --- occurrences made later ------------------------------------------------------------------


def test_occurrences_the_horizon_makes_later_are_booked_for_enrolled_clients(
    client, headers, make, db, program, now
):
    """An open-ended enrolment follows the rolling horizon as it makes new meetings."""
    series = make.series(program, horizon_days=14)           # made up to Tue 2 March
    person = make.client(program)
    ended = make.client(program)
    assert enrol(client, headers, series.id, person.id).json["booked"] == 1
    assert enrol(client, headers, series.id, ended.id, end_date="2027-03-10").json["booked"] == 1

    a_week_later = now + timedelta(days=7)                    # horizon: Thu 25 March, 12:00 UTC
    created = series_service.extend_horizon(db, a_week_later, 30)
    db.commit()

    assert created == 10
    assert booked_days(person.id) == sorted(sessions_of(series))
    assert booked_days(ended.id) == [date(2027, 3, d) for d in (1, 3, 4, 8, 10)]


def test_the_horizon_skips_a_new_occurrence_that_would_double_book(
    client, headers, make, db, program, now
):
    """A meeting the client has a clash with is left for the coordinator, not double-booked."""
    series = make.series(program, horizon_days=14)
    person = make.client(program)
    enrol(client, headers, series.id, person.id)
    clash = one_evening(make, program, date(2027, 3, 8))
    book(client, headers, clash, person.id)

    series_service.extend_horizon(db, now + timedelta(days=7), 30)
    db.commit()

    days = booked_days(person.id)
    assert date(2027, 3, 8) in days  # the other session, not the group
    group_days = [d for d in days if sessions_of(series).get(d) is not None]
    assert date(2027, 3, 10) in group_days
    monday = sessions_of(series)[date(2027, 3, 8)]
    assert db.scalar(select(func.count(Booking.id)).where(Booking.session_id == monday)) == 0


def test_a_series_edit_that_adds_a_weekday_books_enrolled_clients_into_it(
    client, headers, make, program, group
):
    """Adding Tuesdays makes new meetings; the enrolled client gets a seat in each."""
    person = make.client(program)
    enrol(client, headers, group.id, person.id, start_date="2027-03-08")

    edit = client.patch(f"{API}/series/{group.id}",
                        json={"rrule": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH"}, headers=headers)

    assert edit.status_code == 200, edit.json
    assert edit.json["occurrences"]["created"] == 5
    tuesdays = [d for d in booked_days(person.id) if d.weekday() == 1]
    assert tuesdays == [date(2027, 3, d) for d in (9, 16, 23, 30)]  # not the 2nd: before start


def test_a_series_edit_that_re_times_keeps_the_enrolled_clients_bookings(
    client, headers, make, program, group
):
    person = make.client(program)
    enrol(client, headers, group.id, person.id)
    client.patch(f"{API}/series/{group.id}", json={"start_time": "17:30"}, headers=headers)
    _db.session.expire_all()
    starts = _db.session.scalars(
        select(Session.starts_at).join(Booking, Booking.session_id == Session.id)
        .where(Booking.client_id == person.id, Booking.status == "booked")).all()
    assert len(starts) == MARCH_MEETINGS
    assert {s.astimezone(NEW_YORK).time() for s in starts} == {time(17, 30)}

