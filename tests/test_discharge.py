"""Discharge: enrolments end, later bookings are cancelled, waitlists move up; one transaction."""

from datetime import date, time, timedelta

import pytest
from sqlalchemy import func, select

from scheduler.extensions import db as _db
from scheduler.models import AuditEvent, Booking, Client, Enrollment, Session
from scheduler.services import booking as booking_service
from scheduler.services import series as series_service
from scheduler.services.errors import StateConflict
from scheduler.services.recurrence import zone

API = "/api/v1"
NEW_YORK = zone("America/New_York")


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
    """Mon/Wed/Thu 18:00-21:00 New York through March, two seats, so a queue forms (one seat
    would make it a one-to-one series, which takes one client and no queue)."""
    return make.series(program, title="Relapse prevention", capacity=2,
                       end_date=date(2027, 3, 31))


def sessions_of(series) -> dict[date, int]:
    rows = _db.session.execute(
        select(Session.id, Session.starts_at).where(Session.series_id == series.id))
    return {starts.astimezone(NEW_YORK).date(): sid for sid, starts in rows}


def statuses(client_id) -> dict[date, str]:
    """The client's booking status by New York day."""
    _db.session.expire_all()
    rows = _db.session.execute(
        select(Session.starts_at, Booking.status)
        .join(Booking, Booking.session_id == Session.id)
        .where(Booking.client_id == client_id)
    )
    return {starts.astimezone(NEW_YORK).date(): status for starts, status in rows}


def discharge(client, headers, client_id, **body):
    return client.post(f"{API}/clients/{client_id}/discharge", json=body, headers=headers)


def enrol(client, headers, series_id, client_id, **body):
    response = client.post(f"{API}/series/{series_id}/enrollments",
                           json={"client_id": client_id, **body}, headers=headers)
    assert response.status_code == 201, response.json
    return response.json


@pytest.fixture
def enrolled(client, headers, make, program, group):
    """One client holding the group's last seat; another queued behind them throughout."""
    leaving, waiting = make.client(program, name="Leaving"), make.client(program, name="Waiting")
    enrol(client, headers, group.id, make.client(program, name="Staying").id)
    enrol(client, headers, group.id, leaving.id)
    enrol(client, headers, group.id, waiting.id)
    return leaving, waiting


def test_discharge_cancels_later_bookings_and_keeps_earlier_ones(
    client, headers, group, enrolled
):
    """Booked up to and including the last day in treatment; cancelled after it."""
    leaving, _ = enrolled

    response = discharge(client, headers, leaving.id, date="2027-03-10")

    assert response.status_code == 200, response.json
    assert (response.json["status"], response.json["discharged_on"]) == ("discharged",
                                                                         "2027-03-10")
    assert response.json["cancelled_bookings"] == 9
    days = statuses(leaving.id)
    assert {d for d, s in days.items() if s == "booked"} == {
        date(2027, 3, d) for d in (1, 3, 4, 8, 10)}
    assert {d for d, s in days.items() if s == "cancelled"} == {
        date(2027, 3, d) for d in (11, 15, 17, 18, 22, 24, 25, 29, 31)}
    assert len(days) == 14  # nothing deleted


def test_discharge_ends_the_clients_enrolments(client, headers, group, enrolled):
    leaving, waiting = enrolled
    discharge(client, headers, leaving.id, date="2027-03-10")
    _db.session.expire_all()
    mine = _db.session.scalars(select(Enrollment).where(Enrollment.client_id == leaving.id)).one()
    assert (mine.status, mine.end_date) == ("ended", date(2027, 3, 10))
    assert mine.ended_reason
    theirs = _db.session.scalars(
        select(Enrollment).where(Enrollment.client_id == waiting.id)).one()
    assert theirs.status == "active"


def test_discharge_gives_the_freed_seats_to_the_waitlist(client, headers, group, enrolled):
    """Each seat freed after the discharge date goes to the client queued for it."""
    leaving, waiting = enrolled
    assert set(statuses(waiting.id).values()) == {"waitlisted"}

    discharge(client, headers, leaving.id, date="2027-03-10")

    days = statuses(waiting.id)
    assert {d for d, s in days.items() if s == "booked"} == {
        date(2027, 3, d) for d in (11, 15, 17, 18, 22, 24, 25, 29, 31)}
    assert {d for d, s in days.items() if s == "waitlisted"} == {
        date(2027, 3, d) for d in (1, 3, 4, 8, 10)}
    promotions = _db.session.scalar(
        select(func.count(AuditEvent.id)).where(AuditEvent.action == "promote"))
    assert promotions == 9


def test_a_discharged_clients_place_in_a_queue_is_given_up_too(
    client, headers, group, enrolled, make, program
):
    """Leaving the program also leaves every waitlist; nobody is promoted for it."""
    _, waiting = enrolled
    discharge(client, headers, waiting.id, date="2027-03-10")
    days = statuses(waiting.id)
    assert {d for d, s in days.items() if s == "cancelled"} == {
        date(2027, 3, d) for d in (11, 15, 17, 18, 22, 24, 25, 29, 31)}
    assert _db.session.scalar(
        select(func.count(AuditEvent.id)).where(AuditEvent.action == "promote")) == 0


def test_a_discharge_dated_in_the_past_cancels_everything_still_ahead(
    client, headers, make, program, enrolled
):
    """Paperwork done late: the sessions already held stay, all those to come are cancelled."""
    leaving, _ = enrolled
    response = discharge(client, headers, leaving.id, date="2027-02-12")
    assert response.json["cancelled_bookings"] == 14
    assert set(statuses(leaving.id).values()) == {"cancelled"}


def test_discharge_is_audited_with_the_reason(client, headers, enrolled, coordinator, now):
    leaving, _ = enrolled
    discharge(client, headers, leaving.id, date="2027-03-10", reason="Completed program")
    event = _db.session.scalars(select(AuditEvent).where(
        AuditEvent.entity_type == "client", AuditEvent.action == "discharge")).one()
    assert (event.entity_id, event.actor_user_id, event.occurred_at) == (
        leaving.id, coordinator.id, now)
    assert event.before == {"status": "active", "discharged_on": None}
    assert event.after == {"status": "discharged", "discharged_on": "2027-03-10"}
    assert event.reason == "Completed program"
    cancels = _db.session.scalars(select(AuditEvent).where(
        AuditEvent.entity_type == "booking", AuditEvent.action == "cancel")).all()
    assert len(cancels) == 9
    assert {e.reason for e in cancels} == {"Client discharged"}


def test_a_failure_part_way_through_a_discharge_writes_nothing(
    client, headers, enrolled, monkeypatch
):
    """If promoting the waitlist fails, the cancellations and the status change roll back."""
    leaving, waiting = enrolled
    before = (statuses(leaving.id), statuses(waiting.id),
              _db.session.scalar(select(func.count(AuditEvent.id))))

    def fail(*args, **kwargs):
        raise StateConflict("The waitlist could not be promoted.")

    monkeypatch.setattr(booking_service, "promote_waitlist", fail)
    response = discharge(client, headers, leaving.id, date="2027-03-10")

    assert response.status_code == 409
    assert (statuses(leaving.id), statuses(waiting.id),
            _db.session.scalar(select(func.count(AuditEvent.id)))) == before
    _db.session.expire_all()
    person = _db.session.get(Client, leaving.id)
    assert (person.status, person.discharged_on) == ("active", None)
    assert {e.status for e in _db.session.scalars(select(Enrollment))} == {"active"}


def test_a_discharge_before_admission_is_refused_naming_date(client, headers, make, program):
    person = make.client(program, admitted_on=date(2027, 1, 4))
    response = discharge(client, headers, person.id, date="2027-01-03")
    assert response.status_code == 422
    assert "date" in response.json["errors"]["json"]
    _db.session.expire_all()
    assert _db.session.get(Client, person.id).status == "active"


@pytest.mark.parametrize("body", [{}, {"date": None}, {"date": "soon"}, {"date": "2027-02-30"}])
def test_a_discharge_needs_a_real_date(client, headers, make, program, body):
    response = client.post(f"{API}/clients/{make.client(program).id}/discharge", json=body,
                           headers=headers)
    assert response.status_code == 422
    assert "date" in response.json["errors"]["json"]


def test_discharging_an_unknown_client_answers_404(client, headers):
    assert discharge(client, headers, 999999, date="2027-03-10").status_code == 404


def test_a_discharged_client_cannot_be_booked_later(client, headers, make, program, group):
    """A session after the discharge date answers 409 client_status."""
    person = make.client(program)
    discharge(client, headers, person.id, date="2027-03-10")
    later = sessions_of(group)[date(2027, 3, 15)]

    response = client.post(f"{API}/sessions/{later}/bookings", json={"client_id": person.id},
                           headers=headers)

    assert response.status_code == 409
    assert [c["kind"] for c in response.json["conflicts"]] == ["client_status"]


def test_a_discharged_client_cannot_be_enrolled_again(client, headers, make, program, group):
    person = make.client(program)
    discharge(client, headers, person.id, date="2027-02-16")
    response = client.post(f"{API}/series/{group.id}/enrollments",
                           json={"client_id": person.id}, headers=headers)
    assert response.status_code == 409
    assert {c["kind"] for c in response.json["conflicts"]} == {"client_status"}


def test_the_horizon_does_not_book_a_discharged_client(client, headers, make, db, program, now):
    """An enrolment ended by discharge stops following the series."""
    series = make.series(program, horizon_days=14, start_time=time(18, 0))
    person = make.client(program)
    enrol(client, headers, series.id, person.id)
    discharge(client, headers, person.id, date="2027-03-05")

    series_service.extend_horizon(db, now + timedelta(days=7), 30)
    db.commit()

    assert {d for d, s in statuses(person.id).items() if s == "booked"} == {date(2027, 3, 1)}


def test_a_discharge_date_set_ahead_still_allows_sessions_up_to_that_day(
    client, headers, make, program, group
):
    """Planned discharge on Friday: Wednesday's group can still be booked, next Monday's not."""
    person = make.client(program)
    assert discharge(client, headers, person.id, date="2027-03-05").status_code == 200
    days = sessions_of(group)
    wednesday = client.post(f"/api/v1/sessions/{days[date(2027, 3, 3)]}/bookings",
                            json={"client_id": person.id}, headers=headers)
    monday = client.post(f"/api/v1/sessions/{days[date(2027, 3, 8)]}/bookings",
                         json={"client_id": person.id}, headers=headers)
    assert wednesday.status_code == 201, wednesday.json
    assert monday.status_code == 409
    assert monday.json["conflicts"][0]["kind"] == "client_status"
