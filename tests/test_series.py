"""Series history: materialisation is idempotent and edits never rewrite the past or overrides."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from scheduler import clock
from scheduler.models import Session, SessionSeries, session_facilitators
from scheduler.services import series as series_service
from scheduler.services import sessions as session_service
from scheduler.services.errors import InvalidField
from scheduler.services.recurrence import zone
from tests.helpers import ACTOR, HORIZON_DAYS

NEW_YORK = zone("America/New_York")
# 120 days after the frozen now (2027-02-16 12:00Z).
HORIZON = datetime(2027, 6, 16, 12, 0, tzinfo=UTC)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def rows_of(db, series) -> list[Session]:
    return list(
        db.scalars(
            select(Session).where(Session.series_id == series.id).order_by(Session.original_start)
        )
    )


def count_rows(db) -> int:
    return db.scalar(select(func.count()).select_from(Session))


def stored(db, series) -> dict[int, tuple]:
    """Every column of every session of the series as the database holds it, plus facilitators."""
    db.expire_all()
    table = Session.__table__
    facilitators: dict[int, list[int]] = {}
    for session_id, staff_id in db.execute(
        select(session_facilitators.c.session_id, session_facilitators.c.staff_id).order_by(
            session_facilitators.c.staff_id
        )
    ):
        facilitators.setdefault(session_id, []).append(staff_id)
    return {
        row.id: (tuple(row), tuple(facilitators.get(row.id, ())))
        for row in db.execute(select(table).where(table.c.series_id == series.id))
    }


def local_day(instant: datetime) -> date:
    return instant.astimezone(NEW_YORK).date()


def by_day(db, series) -> dict[date, Session]:
    return {local_day(r.original_start): r for r in rows_of(db, series)}


def edit(db, series, now, **changes):
    _, result = series_service.update_series(
        db, ACTOR, series, changes, now=now, horizon_days=HORIZON_DAYS
    )
    db.commit()
    return result


def override(db, session, reason="Coordinator override", **changes):
    session_service.change_session(db, ACTOR, session, changes, reason=reason)
    db.commit()


def end(db, series, end_date, now):
    _, result = series_service.end_series(db, ACTOR, series, end_date, now=now, reason="Ends")
    db.commit()
    return result


# --- materialisation -------------------------------------------------------------------------


def test_materialising_twice_creates_no_new_sessions(make, db, now):
    series = make.series()
    before = stored(db, series)

    assert series_service.materialize(db, series, series_service.horizon(now, HORIZON_DAYS)) == 0
    assert series_service.extend_horizon(db, now, HORIZON_DAYS) == 0
    assert series_service.extend_horizon(db, now, HORIZON_DAYS) == 0
    db.commit()

    assert stored(db, series) == before


def test_rematerialising_from_scratch_adds_nothing_because_starts_are_unique(make, db, now):
    """Even if the bookmark is lost, (series, original_start) stops any duplicate."""
    series = make.series()
    before = stored(db, series)
    series.materialized_until = None

    assert series_service.materialize(db, series, series_service.horizon(now, HORIZON_DAYS)) == 0
    db.commit()

    assert stored(db, series) == before


def test_the_database_refuses_a_second_session_at_the_same_series_start(make, db, now):
    series = make.series()
    first = rows_of(db, series)[0]
    db.add(
        Session(
            series_id=series.id,
            program_id=first.program_id,
            kind=first.kind,
            title=first.title,
            timezone=first.timezone,
            original_start=first.original_start,
            starts_at=first.starts_at + timedelta(hours=1),
            ends_at=first.ends_at + timedelta(hours=1),
            capacity=first.capacity,
        )
    )
    with pytest.raises(IntegrityError):
        db.flush()
    db.rollback()


def test_occurrences_stop_at_the_horizon(make, db, now):
    """Wed Jun 16 18:00 EDT is 22:00Z, after the 12:00Z horizon; Mon Jun 14 is the last."""
    series = make.series()
    rows = rows_of(db, series)

    assert series.materialized_until == HORIZON
    assert rows[0].starts_at == utc(2027, 3, 1, 23, 0)
    assert rows[-1].starts_at == utc(2027, 6, 14, 22, 0)
    assert all(r.starts_at <= HORIZON for r in rows)
    # Mar 1 to Jun 14 is 15 weeks of Mon/Wed/Thu plus Monday Jun 14.
    assert len(rows) == 15 * 3 + 1


def test_occurrences_stop_at_an_end_date_before_the_horizon(make, db, now):
    series = make.series(end_date=date(2027, 3, 31))
    days = [local_day(r.starts_at) for r in rows_of(db, series)]

    assert days[-1] == date(2027, 3, 31)
    assert len(days) == 14


def test_the_horizon_stops_a_series_whose_end_date_is_beyond_it(make, db, now):
    series = make.series(end_date=date(2027, 12, 31))
    assert rows_of(db, series)[-1].starts_at == utc(2027, 6, 14, 22, 0)


def test_extending_the_horizon_later_continues_the_series(make, db, now):
    series = make.series()
    known = set(stored(db, series))
    later = now + timedelta(days=30)

    with clock.frozen(later):
        created = series_service.extend_horizon(db, later, HORIZON_DAYS)
        db.commit()
        assert series_service.extend_horizon(db, later, HORIZON_DAYS) == 0

    new_days = [local_day(r.starts_at) for r in rows_of(db, series) if r.id not in known]
    # Jun 16 (the day the first horizon cut off) to Thu Jul 15, the last before Jul 16 12:00Z.
    assert new_days[0] == date(2027, 6, 16)
    assert new_days[-1] == date(2027, 7, 15)
    assert created == len(new_days) == 14
    assert series.materialized_until == later + timedelta(days=HORIZON_DAYS)


def test_extending_the_horizon_stops_at_the_end_date_and_leaves_finished_series_alone(
    make, db, now
):
    running = make.series(end_date=date(2027, 6, 30))
    finished = make.series(end_date=date(2027, 4, 1))
    finished_rows = stored(db, finished)
    later = now + timedelta(days=60)

    with clock.frozen(later):
        series_service.extend_horizon(db, later, HORIZON_DAYS)
        db.commit()

    assert local_day(rows_of(db, running)[-1].starts_at) == date(2027, 6, 30)
    assert stored(db, finished) == finished_rows


def test_a_series_ending_today_on_its_own_calendar_still_gets_tonights_session(make, db):
    """At 23:35 in New York it is already tomorrow in UTC; the series has not ended yet."""
    made_at = utc(2027, 2, 10, 12, 0)
    with clock.frozen(made_at):
        late = make.series(now=made_at, horizon_days=2, rrule="FREQ=DAILY",
                           start_date=date(2027, 2, 10), end_date=date(2027, 2, 16),
                           start_time=time(23, 40), duration_minutes=15)
    assert date(2027, 2, 16) not in by_day(db, late)
    tonight = utc(2027, 2, 17, 4, 35)

    with clock.frozen(tonight):
        series_service.extend_horizon(db, tonight, HORIZON_DAYS)
        db.commit()

    assert max(by_day(db, late)) == date(2027, 2, 16)


def test_new_sessions_carry_the_series_facilitators(make, db, now):
    lead, co = make.staff(), make.staff()
    series = make.series(facilitator_ids=[co.id, lead.id])
    assert {tuple(f.id for f in r.facilitators) for r in rows_of(db, series)} == {
        tuple(sorted((lead.id, co.id)))
    }


# --- edits never rewrite history --------------------------------------------------------------


@pytest.fixture
def running_series(make, db, now):
    """A Mon/Wed/Thu 18:00 group that started Feb 1, so two weeks are already history."""
    room = make.room(name="Room B")
    lead = make.staff(name="Dana Lead")
    return make.series(start_date=date(2027, 2, 1), room_id=room.id, facilitator_ids=[lead.id])


def _past(db, series, now) -> dict[int, tuple]:
    return {k: v for k, v in stored(db, series).items() if v[0][_col("starts_at")] <= now}


def _col(name: str) -> int:
    return list(Session.__table__.columns.keys()).index(name)


@pytest.fixture
def overridden(make, db, now, running_series):
    """One future session of each override kind, keyed by kind."""
    days = by_day(db, running_series)
    other_room = make.room(name="Room C")
    substitute = make.staff(name="Sam Substitute")
    cancelled, moved, relocated, substituted = (
        days[date(2027, 2, 17)],
        days[date(2027, 2, 22)],
        days[date(2027, 2, 24)],
        days[date(2027, 3, 1)],
    )
    override(db, cancelled, status="cancelled", reason="Facilitator ill")
    override(db, moved, starts_at=moved.starts_at + timedelta(hours=1))
    override(db, relocated, room_id=other_room.id)
    override(db, substituted, facilitator_ids=[substitute.id])
    return {
        "cancelled": cancelled.id,
        "moved": moved.id,
        "relocated": relocated.id,
        "substituted": substituted.id,
    }


def _edits(make):
    return {
        "time": lambda: {"start_time": time(19, 30)},
        "days": lambda: {"rrule": "FREQ=WEEKLY;BYDAY=TU,TH"},
        "duration": lambda: {"duration_minutes": 90},
        "room": lambda: {"room_id": make.room(name="Annex").id},
        "facilitators": lambda: {"facilitator_ids": [make.staff(name="New Lead").id]},
        "title": lambda: {"title": "Relapse prevention"},
        "everything": lambda: {
            "start_time": time(9, 0),
            "rrule": "FREQ=WEEKLY;BYDAY=MO,FR",
            "room_id": make.room(name="Annex").id,
            "facilitator_ids": [make.staff(name="New Lead").id],
            "title": "Morning group",
        },
    }


EDITS = ["time", "days", "duration", "room", "facilitators", "title", "everything"]


@pytest.mark.parametrize("what", EDITS)
def test_editing_a_series_keeps_last_weeks_sessions(make, db, now, running_series, what):
    """Past sessions are identical, column for column, after any edit."""
    before = _past(db, running_series, now)
    assert len(before) == 7  # Feb 1, 3, 4, 8, 10, 11, 15

    edit(db, running_series, now, **_edits(make)[what]())

    assert _past(db, running_series, now) == before


@pytest.mark.parametrize("what", EDITS)
def test_editing_a_series_leaves_overridden_sessions_alone(
    make, db, now, running_series, overridden, what
):
    before = {k: v for k, v in stored(db, running_series).items() if k in overridden.values()}

    edit(db, running_series, now, **_edits(make)[what]())

    after = {k: v for k, v in stored(db, running_series).items() if k in overridden.values()}
    assert after == before


@pytest.mark.parametrize("what", EDITS)
def test_editing_a_series_changes_every_untouched_future_session(
    make, db, now, running_series, overridden, what
):
    edit(db, running_series, now, **_edits(make)[what]())
    series = running_series
    weekdays = {"days": {1, 3}, "everything": {0, 4}}.get(what, {0, 2, 3})

    future = [
        r
        for r in rows_of(db, series)
        if r.starts_at > now and r.id not in overridden.values() and r.status == "scheduled"
    ]
    assert future
    for row in future:
        local = row.starts_at.astimezone(NEW_YORK)
        assert local.time() == series.start_time
        assert local.weekday() in weekdays
        assert row.ends_at - row.starts_at == timedelta(minutes=series.duration_minutes)
        assert (row.title, row.room_id) == (series.title, series.room_id)
        assert [f.id for f in row.facilitators] == [f.id for f in series.facilitators]
    # Every day the new rule names, up to the horizon, has its session (or its override).
    wanted = {local_day(s) for s in series_service.schedule_of(series).starts_between(now, HORIZON)}
    have = {local_day(r.original_start) for r in rows_of(db, series) if r.starts_at > now}
    assert wanted <= have


def test_a_time_change_keeps_each_days_session_and_raises_its_sequence(
    db, now, running_series
):
    before = {day: (r.id, r.sequence) for day, r in by_day(db, running_series).items()}

    result = edit(db, running_series, now, start_time=time(19, 0))

    after = by_day(db, running_series)
    future = [day for day, r in after.items() if r.starts_at > now]
    assert set(after) == set(before)
    assert result.created == 0 and result.cancelled == 0
    assert result.updated == len(future)
    for day in future:
        row = after[day]
        assert row.id == before[day][0]
        assert row.sequence == before[day][1] + 1
        assert row.starts_at.astimezone(NEW_YORK).time() == time(19, 0)
        assert row.original_start == row.starts_at
        assert row.status == "scheduled"


def test_removing_a_weekday_cancels_its_future_sessions_without_deleting_them(
    db, now, running_series
):
    rows_before = count_rows(db)
    wednesdays = {day: r.id for day, r in by_day(db, running_series).items() if day.weekday() == 2}

    result = edit(db, running_series, now, rrule="FREQ=WEEKLY;BYDAY=MO,TH")

    assert count_rows(db) == rows_before
    days = by_day(db, running_series)
    future_wednesdays = [d for d in wednesdays if days[d].starts_at > now]
    assert result.cancelled == len(future_wednesdays) > 0
    for day, session_id in wednesdays.items():
        row = days[day]
        assert row.id == session_id
        if row.starts_at > now:
            assert (row.status, row.cancelled_by) == ("cancelled", "series_edit")
        else:
            assert (row.status, row.cancelled_by) == ("scheduled", None)
    assert {d.weekday() for d, r in days.items() if r.status == "scheduled" and d > now.date()} == {
        0,
        3,
    }


def test_adding_a_weekday_back_revives_the_same_sessions(db, now, running_series):
    before = {day: (r.id, r.sequence) for day, r in by_day(db, running_series).items()}
    edit(db, running_series, now, rrule="FREQ=WEEKLY;BYDAY=MO,TH")
    rows_before = count_rows(db)

    result = edit(db, running_series, now, rrule="FREQ=WEEKLY;BYDAY=MO,WE,TH")

    assert count_rows(db) == rows_before
    assert result.created == 0
    for day, row in by_day(db, running_series).items():
        assert row.id == before[day][0]
        assert (row.status, row.cancelled_by, row.cancel_reason) == ("scheduled", None, None)
        if day.weekday() == 2 and row.starts_at > now:
            # Cancelled then revived: two changes a calendar must notice.
            assert row.sequence == before[day][1] + 2


def test_a_session_cancelled_by_a_coordinator_stays_cancelled_when_its_weekday_comes_back(
    db, now, running_series
):
    wednesday = by_day(db, running_series)[date(2027, 3, 3)]
    override(db, wednesday, status="cancelled", reason="Holiday")
    edit(db, running_series, now, rrule="FREQ=WEEKLY;BYDAY=MO,TH")
    edit(db, running_series, now, rrule="FREQ=WEEKLY;BYDAY=MO,WE,TH")

    row = by_day(db, running_series)[date(2027, 3, 3)]
    assert (row.status, row.cancelled_by, row.cancel_reason) == ("cancelled", "override", "Holiday")


def test_an_edit_to_one_series_leaves_another_alone(make, db, now, running_series):
    other = make.series(title="Family group")
    before = stored(db, other)

    edit(db, running_series, now, start_time=time(9, 0), rrule="FREQ=DAILY")

    assert stored(db, other) == before


def test_an_edit_that_changes_nothing_touches_no_session(db, now, running_series):
    before = stored(db, running_series)

    result = edit(db, running_series, now, title=running_series.title, start_time=time(18, 0))

    assert (result.created, result.updated, result.cancelled) == (0, 0, 0)
    assert stored(db, running_series) == before


def test_an_edit_made_later_treats_the_sessions_since_as_history(db, now, running_series):
    later = now + timedelta(days=14)
    with clock.frozen(later):
        past = _past(db, running_series, later)
        edit(db, running_series, later, start_time=time(7, 0))
        assert _past(db, running_series, later) == past
    # Wed Feb 17 to Mon Mar 1 were future at `now` but history at `later`.
    assert by_day(db, running_series)[date(2027, 3, 1)].starts_at == utc(2027, 3, 1, 23, 0)
    assert by_day(db, running_series)[date(2027, 3, 3)].starts_at == utc(2027, 3, 3, 12, 0)


def test_moving_todays_session_into_the_past_cancels_it_rather_than_rewriting_history(
    make, db
):
    """At 12:00Z on Tuesday, re-timing the Tuesday group to 06:00 leaves it nothing to move to."""
    tuesday_noon = utc(2027, 3, 2, 12, 0)
    with clock.frozen(tuesday_noon):
        series = make.series(start_date=date(2027, 3, 2), rrule="FREQ=WEEKLY;BYDAY=TU")
        today = by_day(db, series)[date(2027, 3, 2)]
        edit(db, series, tuesday_noon, start_time=time(6, 0))

    row = by_day(db, series)[date(2027, 3, 2)]
    assert row.id == today.id
    assert row.starts_at == utc(2027, 3, 2, 23, 0)
    assert (row.status, row.cancelled_by) == ("cancelled", "series_edit")
    assert by_day(db, series)[date(2027, 3, 9)].starts_at == utc(2027, 3, 9, 11, 0)


# --- DST and time zones ----------------------------------------------------------------------


def test_an_edit_across_a_dst_change_keeps_wall_clock_time(db, now, running_series):
    """17:00 is 22:00Z before Mar 14 and 21:00Z after it, for the same edit."""
    edit(db, running_series, now, start_time=time(17, 0))

    days = by_day(db, running_series)
    assert days[date(2027, 3, 11)].starts_at == utc(2027, 3, 11, 22, 0)
    assert days[date(2027, 3, 15)].starts_at == utc(2027, 3, 15, 21, 0)
    future = [r for r in days.values() if r.starts_at > now]
    assert {r.starts_at.astimezone(NEW_YORK).time() for r in future} == {time(17, 0)}


def test_correcting_the_time_zone_keeps_each_weekdays_session_on_that_weekday(make, db, now):
    """A series entered in the wrong zone is fixed without cancelling and re-creating the week."""
    program = make.program(timezone="Australia/Sydney")
    series = make.series(program=program, timezone="America/New_York")
    before = by_day(db, series)

    result = edit(db, series, now, timezone="Australia/Sydney")

    sydney = zone("Australia/Sydney")
    after = {r.original_start.astimezone(sydney).date(): r for r in rows_of(db, series)}
    assert result.cancelled == 0
    assert all(r.status == "scheduled" for r in after.values())
    for day, row in before.items():
        if day in after:
            assert after[day].id == row.id
            assert after[day].starts_at.astimezone(sydney).time() == time(18, 0)


# --- the horizon's edge -----------------------------------------------------------------------


def test_retiming_the_last_materialised_day_past_the_horizon_keeps_one_session_that_day(
    make, db, now
):
    """07:00 EDT on Jun 16 is 11:00Z, inside the horizon; 18:00 is 22:00Z, outside it."""
    series = make.series(start_time=time(7, 0))
    edge = by_day(db, series)[date(2027, 6, 16)]
    assert edge.starts_at == utc(2027, 6, 16, 11, 0)

    edit(db, series, now, start_time=time(18, 0))
    moved = by_day(db, series)[date(2027, 6, 16)]
    assert (moved.id, moved.status, moved.starts_at) == (edge.id, "scheduled", utc(2027, 6, 16, 22))

    later = now + timedelta(days=7)
    with clock.frozen(later):
        series_service.extend_horizon(db, later, HORIZON_DAYS)
        db.commit()
        edit(db, series, later, start_time=time(7, 0))

    that_day = [r for r in rows_of(db, series) if local_day(r.original_start) == date(2027, 6, 16)]
    assert [(r.id, r.status, r.starts_at) for r in that_day] == [
        (edge.id, "scheduled", utc(2027, 6, 16, 11, 0))
    ]


def test_an_overridden_session_on_the_horizons_edge_is_not_doubled_later(make, db, now):
    series = make.series(start_time=time(7, 0))
    edge = by_day(db, series)[date(2027, 6, 16)]
    override(db, edge, facilitator_ids=[make.staff().id])

    edit(db, series, now, start_time=time(18, 0))
    later = now + timedelta(days=7)
    with clock.frozen(later):
        series_service.extend_horizon(db, later, HORIZON_DAYS)
        db.commit()

    that_day = [r for r in rows_of(db, series) if local_day(r.original_start) == date(2027, 6, 16)]
    assert [r.id for r in that_day] == [edge.id]
    assert that_day[0].starts_at == utc(2027, 6, 16, 11, 0)


# --- ending a series -------------------------------------------------------------------------


def test_ending_a_series_early_cancels_later_sessions_and_deletes_none(
    db, now, running_series, overridden
):
    rows_before = count_rows(db)
    past = _past(db, running_series, now)

    result = end(db, running_series, date(2027, 3, 10), now)

    assert count_rows(db) == rows_before
    assert _past(db, running_series, now) == past
    assert running_series.status == "ended"
    for day, row in by_day(db, running_series).items():
        if day > date(2027, 3, 10):
            assert (row.status, row.cancelled_by) == ("cancelled", "series_end"), day
        elif row.id != overridden["cancelled"]:
            assert row.status == "scheduled", day
    assert result.cancelled == sum(1 for d in by_day(db, running_series) if d > date(2027, 3, 10))


def test_ending_a_series_cancels_an_overridden_session_after_the_end(
    db, now, running_series, overridden
):
    """A substitute booked for Mar 1 does not keep a group going that ended Feb 28."""
    end(db, running_series, date(2027, 2, 28), now)

    substituted = db.get(Session, overridden["substituted"])
    assert (substituted.status, substituted.cancelled_by) == ("cancelled", "series_end")
    cancelled = db.get(Session, overridden["cancelled"])
    assert (cancelled.cancelled_by, cancelled.cancel_reason) == ("override", "Facilitator ill")


def test_an_ended_series_gets_no_new_sessions_from_the_horizon_job(db, now, running_series):
    end(db, running_series, date(2027, 3, 10), now)
    before = stored(db, running_series)
    later = now + timedelta(days=90)

    with clock.frozen(later):
        assert series_service.extend_horizon(db, later, HORIZON_DAYS) == 0
        db.commit()

    assert stored(db, running_series) == before


def test_ending_a_series_on_a_past_date_keeps_its_history(db, now, running_series):
    past = _past(db, running_series, now)

    end(db, running_series, date(2027, 2, 5), now)

    assert _past(db, running_series, now) == past
    future = [r for r in rows_of(db, running_series) if r.starts_at > now]
    assert future and {(r.status, r.cancelled_by) for r in future} == {("cancelled", "series_end")}


def test_a_series_with_a_field_it_does_not_have_is_refused_before_anything_is_written(
    make, db, now
):
    with pytest.raises(InvalidField) as refused:
        make.series(materialized_until=HORIZON)
    db.rollback()
    assert list(refused.value.fields) == ["materialized_until"]
    assert db.scalars(select(SessionSeries)).all() == []


def test_an_end_date_before_the_start_is_refused(db, now, running_series):
    with pytest.raises(InvalidField) as refused:
        series_service.end_series(db, ACTOR, running_series, date(2027, 1, 1), now=now)
    assert list(refused.value.fields) == ["end_date"]


def test_shrinking_end_date_by_an_edit_ends_overrides_after_it_too(
    db, now, running_series, overridden
):
    """Editing end_date and ending the series must leave the same sessions meeting."""
    edit(db, running_series, now, end_date=date(2027, 2, 28))

    substituted = db.get(Session, overridden["substituted"])
    assert (substituted.status, substituted.cancelled_by) == ("cancelled", "series_end")
    scheduled = [r for r in rows_of(db, running_series) if r.status == "scheduled"]
    assert max(local_day(r.original_start) for r in scheduled) <= date(2027, 2, 28)


def test_moving_the_end_date_out_again_brings_the_same_sessions_back(
    db, now, running_series, overridden
):
    before = {r.id: (r.status, r.cancelled_by, r.starts_at) for r in rows_of(db, running_series)}
    end(db, running_series, date(2027, 2, 28), now)

    result = edit(db, running_series, now, end_date=None)

    assert result.created == 0
    after = {r.id: (r.status, r.cancelled_by, r.starts_at) for r in rows_of(db, running_series)}
    assert after == before
    substituted = db.get(Session, overridden["substituted"])
    assert [f.name for f in substituted.facilitators] == ["Sam Substitute"]


def test_series_rows_are_never_deleted_by_any_edit(make, db, now, running_series, overridden):
    ids = set(stored(db, running_series))
    edit(db, running_series, now, rrule="FREQ=WEEKLY;BYDAY=FR")
    edit(db, running_series, now, start_date=date(2027, 4, 1))
    end(db, running_series, date(2027, 4, 2), now)
    assert ids <= set(stored(db, running_series))
    assert db.get(SessionSeries, running_series.id) is not None


def test_moving_the_end_date_out_reopens_an_ended_series(db, now, running_series):
    end(db, running_series, date(2027, 3, 10), now)
    edit(db, running_series, now, end_date=date(2027, 4, 30))

    assert running_series.status == "active"
    last = max(r.starts_at for r in rows_of(db, running_series) if r.status == "scheduled")
    assert local_day(last) == date(2027, 4, 29)


def test_a_session_restored_after_the_end_survives_later_edits(db, now, running_series):
    """A make-up meeting the coordinator brings back past the end is their decision to keep."""
    end(db, running_series, date(2027, 3, 10), now)
    make_up = by_day(db, running_series)[date(2027, 3, 15)]
    override(db, make_up, status="scheduled")

    edit(db, running_series, now, title="Relapse prevention")

    row = db.get(Session, make_up.id)
    assert (row.status, row.is_overridden, row.title) == ("scheduled", True, "Evening group")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"duration_minutes": None}, "duration_minutes"),
        ({"start_time": None}, "start_time"),
        ({"start_date": None}, "start_date"),
        ({"title": ""}, "title"),
        ({"kind": "yoga"}, "kind"),
        ({"duration_minutes": 0}, "duration_minutes"),
        ({"end_date": date(2027, 1, 1)}, "end_date"),
        ({"rrule": "FREQ=HOURLY"}, "rrule"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"materialized_until": None}, "materialized_until"),
    ],
)
def test_a_bad_series_edit_is_refused_naming_the_field_and_changes_nothing(
    db, now, running_series, changes, field
):
    before = stored(db, running_series)
    with pytest.raises(InvalidField) as refused:
        series_service.update_series(
            db, ACTOR, running_series, changes, now=now, horizon_days=HORIZON_DAYS
        )
    db.rollback()

    assert list(refused.value.fields) == [field]
    assert stored(db, running_series) == before
    assert running_series.materialized_until == HORIZON
