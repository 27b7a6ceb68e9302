"""Recurrence rules: wall-clock expansion in the series' zone, RRULE parts, and bad input."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import select

from scheduler.models import Session, SessionSeries
from scheduler.services.errors import InvalidField
from scheduler.services.recurrence import Schedule, parse_rrule, rule_to_text, zone

NEW_YORK = zone("America/New_York")
BERLIN = zone("Europe/Berlin")
SYDNEY = zone("Australia/Sydney")
END_OF_2027 = datetime(2028, 1, 1, tzinfo=UTC)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def schedule(rrule: str, start: date, at: time = time(18, 0), tz=NEW_YORK, end=None):
    return Schedule(rule=parse_rrule(rrule), start_date=start, start_time=at, tz=tz, end_date=end)


def starts(rrule: str, start: date, until: datetime = END_OF_2027, **kw) -> list[datetime]:
    return schedule(rrule, start, **kw).starts_between(None, until)


def by_local_date(instants, tz) -> dict[date, datetime]:
    return {i.astimezone(tz).date(): i for i in instants}


# --- DST: an 18:00 group stays at 18:00 on the wall clock ---------------------------------

# (zone, first day, {local date: expected UTC instant}) with offsets worked out by hand:
# New York is UTC-5 in winter and UTC-4 in summer (2027: Mar 14 to Nov 7);
# Berlin UTC+1 / UTC+2 (Mar 28 to Oct 31); Sydney UTC+11 in its summer, UTC+10 from Apr 4
# to Oct 3, so its clocks go back in April and forward in October.
DST_CASES = {
    "new_york": (
        NEW_YORK,
        date(2027, 3, 1),
        {
            date(2027, 3, 11): utc(2027, 3, 11, 23, 0),  # Thursday before, EST
            date(2027, 3, 15): utc(2027, 3, 15, 22, 0),  # Monday after, EDT
            date(2027, 11, 4): utc(2027, 11, 4, 22, 0),  # Thursday before, EDT
            date(2027, 11, 8): utc(2027, 11, 8, 23, 0),  # Monday after, EST
        },
    ),
    "berlin": (
        BERLIN,
        date(2027, 3, 1),
        {
            date(2027, 3, 25): utc(2027, 3, 25, 17, 0),  # Thursday before, CET
            date(2027, 3, 29): utc(2027, 3, 29, 16, 0),  # Monday after, CEST
            date(2027, 10, 28): utc(2027, 10, 28, 16, 0),  # Thursday before, CEST
            date(2027, 11, 1): utc(2027, 11, 1, 17, 0),  # Monday after, CET
        },
    ),
    "sydney": (
        SYDNEY,
        date(2027, 3, 1),
        {
            date(2027, 4, 1): utc(2027, 4, 1, 7, 0),  # Thursday before, AEDT
            date(2027, 4, 5): utc(2027, 4, 5, 8, 0),  # Monday after, AEST
            date(2027, 9, 30): utc(2027, 9, 30, 8, 0),  # Thursday before, AEST
            date(2027, 10, 4): utc(2027, 10, 4, 7, 0),  # Monday after, AEDT
        },
    ),
}


@pytest.mark.parametrize("case", DST_CASES, ids=list(DST_CASES))
def test_an_evening_group_stays_at_1800_local_across_both_dst_changes(case):
    """Every occurrence is 18:00 local; UTC shifts by the hour the clocks change."""
    tz, first, expected = DST_CASES[case]
    found = starts("FREQ=WEEKLY;BYDAY=MO,WE,TH", first, tz=tz)

    assert all(s.tzinfo == UTC for s in found)
    assert {s.astimezone(tz).time() for s in found} == {time(18, 0)}
    assert {s.astimezone(tz).weekday() for s in found} == {0, 2, 3}
    # Mon Mar 1 to Thu Dec 30: 44 whole weeks, three meetings each, one per day.
    assert len(found) == len({s.astimezone(tz).date() for s in found}) == 3 * 44
    on = by_local_date(found, tz)
    for day, instant in expected.items():
        assert on[day] == instant, day


def test_new_york_occurrences_straddling_the_change_are_23_hours_apart_in_utc():
    """Thursday-to-Monday across spring forward is 4 days minus the lost hour."""
    on = by_local_date(starts("FREQ=WEEKLY;BYDAY=MO,WE,TH", date(2027, 3, 1)), NEW_YORK)
    assert on[date(2027, 3, 15)] - on[date(2027, 3, 11)] == timedelta(days=4, hours=-1)
    assert on[date(2027, 11, 8)] - on[date(2027, 11, 4)] == timedelta(days=4, hours=1)


@pytest.mark.parametrize("case", DST_CASES, ids=list(DST_CASES))
def test_materialised_sessions_keep_1800_local_across_dst(make, db, now, case):
    """The stored sessions carry the right UTC instants, not just the pure expansion."""
    tz, first, expected = DST_CASES[case]
    program = make.program(timezone=tz.key)
    series = make.series(program=program, start_date=first, horizon_days=330)

    rows = db.scalars(
        select(Session).where(Session.series_id == series.id).order_by(Session.starts_at)
    ).all()
    assert rows, "the series made no sessions"
    assert {r.starts_at.astimezone(tz).time() for r in rows} == {time(18, 0)}
    assert {(r.ends_at - r.starts_at) for r in rows} == {timedelta(hours=3)}
    assert all(r.original_start == r.starts_at for r in rows)
    on = {r.starts_at.astimezone(tz).date(): r.starts_at for r in rows}
    for day, instant in expected.items():
        assert on[day] == instant, day


# --- which days: start date, INTERVAL, COUNT, UNTIL, end_date ---------------------------------


def test_a_start_date_off_the_rule_is_not_an_occurrence():
    """Starting on a Tuesday with BYDAY=MO,WE, the first meeting is the Wednesday."""
    found = starts("FREQ=WEEKLY;BYDAY=MO,WE", date(2027, 3, 2), until=utc(2027, 3, 12))
    assert [s.astimezone(NEW_YORK).date() for s in found] == [
        date(2027, 3, 3),
        date(2027, 3, 8),
        date(2027, 3, 10),
    ]


def test_a_start_date_on_the_rule_is_the_first_occurrence():
    found = starts("FREQ=WEEKLY;BYDAY=MO,WE", date(2027, 3, 1), until=utc(2027, 3, 6))
    assert [s.astimezone(NEW_YORK).date() for s in found] == [date(2027, 3, 1), date(2027, 3, 3)]


def test_weekly_without_byday_repeats_the_start_dates_weekday():
    found = starts("FREQ=WEEKLY", date(2027, 3, 2), until=utc(2027, 3, 20))
    assert [s.astimezone(NEW_YORK).date() for s in found] == [
        date(2027, 3, 2),
        date(2027, 3, 9),
        date(2027, 3, 16),
    ]


def test_interval_two_meets_every_other_week_counted_from_the_start_week():
    found = starts("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE", date(2027, 3, 3), until=utc(2027, 4, 1))
    # The week of Mar 8 and the week of Mar 22 are skipped.
    assert [s.astimezone(NEW_YORK).date() for s in found] == [
        date(2027, 3, 3),
        date(2027, 3, 15),
        date(2027, 3, 17),
        date(2027, 3, 29),
        date(2027, 3, 31),
    ]


def test_daily_interval_two_meets_every_other_day():
    found = starts("FREQ=DAILY;INTERVAL=2", date(2027, 3, 1), until=utc(2027, 3, 8))
    assert [s.astimezone(NEW_YORK).day for s in found] == [1, 3, 5, 7]


def test_count_stops_after_that_many_meetings_including_the_first():
    found = starts("FREQ=WEEKLY;BYDAY=MO,TH;COUNT=5", date(2027, 3, 1))
    assert [s.astimezone(NEW_YORK).date() for s in found] == [
        date(2027, 3, 1),
        date(2027, 3, 4),
        date(2027, 3, 8),
        date(2027, 3, 11),
        date(2027, 3, 15),
    ]


def test_count_is_counted_from_the_start_not_from_the_window():
    """A later window still sees only the rule's first COUNT meetings."""
    sched = schedule("FREQ=WEEKLY;BYDAY=MO;COUNT=3", date(2027, 3, 1))
    assert sched.starts_between(utc(2027, 3, 9), END_OF_2027) == [utc(2027, 3, 15, 22, 0)]
    assert sched.last_possible_start() == utc(2027, 3, 15, 22, 0)


def test_count_and_an_end_date_together_stop_at_whichever_comes_first():
    """COUNT with end_date must not hand dateutil COUNT and UNTIL together (deprecated there)."""
    early_end = schedule("FREQ=WEEKLY;BYDAY=MO;COUNT=5", date(2027, 3, 1), end=date(2027, 3, 10))
    assert early_end.starts_between(None, END_OF_2027) == [
        utc(2027, 3, 1, 23, 0),
        utc(2027, 3, 8, 23, 0),
    ]
    assert early_end.last_possible_start() == utc(2027, 3, 8, 23, 0)
    late_end = schedule("FREQ=WEEKLY;BYDAY=MO;COUNT=2", date(2027, 3, 1), end=date(2027, 6, 1))
    assert late_end.starts_between(None, END_OF_2027) == [
        utc(2027, 3, 1, 23, 0),
        utc(2027, 3, 8, 23, 0),
    ]


def test_until_as_a_date_includes_that_day():
    found = starts("FREQ=WEEKLY;BYDAY=MO;UNTIL=20270315", date(2027, 3, 1))
    assert found[-1] == utc(2027, 3, 15, 22, 0)
    assert len(found) == 3


def test_until_as_a_utc_time_includes_a_meeting_at_exactly_that_instant():
    """18:00 EDT on Mar 15 is 22:00Z: UNTIL at 22:00Z keeps it, one second earlier drops it."""
    at = starts("FREQ=WEEKLY;BYDAY=MO;UNTIL=20270315T220000Z", date(2027, 3, 1))
    before = starts("FREQ=WEEKLY;BYDAY=MO;UNTIL=20270315T215959Z", date(2027, 3, 1))
    assert at[-1] == utc(2027, 3, 15, 22, 0)
    assert before[-1] == utc(2027, 3, 8, 23, 0)


def test_until_as_utc_is_compared_as_an_instant_not_as_local_digits():
    """In Sydney 18:00 on Mar 15 is 07:00Z, so UNTIL=...T060000Z ends the day before."""
    found = starts(
        "FREQ=DAILY;UNTIL=20270315T060000Z", date(2027, 3, 13), tz=SYDNEY
    )
    assert [s.astimezone(SYDNEY).date() for s in found] == [date(2027, 3, 13), date(2027, 3, 14)]


def test_end_date_is_inclusive_and_ends_the_series():
    found = starts("FREQ=WEEKLY;BYDAY=MO,WE,TH", date(2027, 3, 1), end=date(2027, 3, 8))
    assert [s.astimezone(NEW_YORK).date() for s in found] == [
        date(2027, 3, 1),
        date(2027, 3, 3),
        date(2027, 3, 4),
        date(2027, 3, 8),
    ]


def test_end_date_and_until_stop_at_whichever_comes_first():
    sched = schedule("FREQ=WEEKLY;BYDAY=MO;UNTIL=20270322", date(2027, 3, 1), end=date(2027, 3, 8))
    assert sched.starts_between(None, END_OF_2027)[-1] == utc(2027, 3, 8, 23, 0)
    sched = schedule("FREQ=WEEKLY;BYDAY=MO;UNTIL=20270308", date(2027, 3, 1), end=date(2027, 3, 22))
    assert sched.starts_between(None, END_OF_2027)[-1] == utc(2027, 3, 8, 23, 0)


def test_an_open_ended_rule_has_no_last_start():
    assert schedule("FREQ=WEEKLY;BYDAY=MO", date(2027, 3, 1)).last_possible_start() is None


def test_windows_are_after_exclusive_until_inclusive_so_consecutive_windows_never_overlap():
    """The horizon job relies on this: back-to-back windows give each meeting exactly once."""
    sched = schedule("FREQ=WEEKLY;BYDAY=MO,WE,TH", date(2027, 3, 1))
    whole = sched.starts_between(None, END_OF_2027)
    cuts = [utc(2027, 3, 15, 22, 0), utc(2027, 3, 20), utc(2027, 11, 4, 22, 0), END_OF_2027]
    pieces, after = [], None
    for cut in cuts:
        pieces += sched.starts_between(after, cut)
        after = cut
    assert pieces == whole
    assert sched.starts_between(utc(2027, 3, 15, 22, 0), utc(2027, 3, 17, 22, 0)) == [
        utc(2027, 3, 17, 22, 0)
    ]


# --- wall times that do not exist or happen twice --------------------------------------------


def test_a_skipped_wall_time_in_the_southern_hemisphere_shifts_forward():
    """Sydney skips 02:00-03:00 on Oct 3 2027; 02:30 becomes 03:30 AEDT."""
    found = starts("FREQ=DAILY", date(2027, 10, 2), at=time(2, 30), tz=SYDNEY,
                   until=utc(2027, 10, 4))
    assert found == [
        utc(2027, 10, 1, 16, 30),  # Oct 2 02:30 AEST
        utc(2027, 10, 2, 16, 30),  # Oct 3 03:30 AEDT
        utc(2027, 10, 3, 15, 30),  # Oct 4 02:30 AEDT
    ]


def test_a_skipped_wall_time_shifts_forward_by_the_gap():
    """02:30 does not exist in New York on Mar 14 2027; RFC 5545 makes it 03:30 EDT."""
    found = starts("FREQ=DAILY", date(2027, 3, 12), at=time(2, 30), until=utc(2027, 3, 16))
    assert found == [
        utc(2027, 3, 12, 7, 30),  # 02:30 EST
        utc(2027, 3, 13, 7, 30),  # 02:30 EST
        utc(2027, 3, 14, 7, 30),  # 03:30 EDT: the instant 02:30 EST would be
        utc(2027, 3, 15, 6, 30),  # 02:30 EDT
    ]
    assert found[2].astimezone(NEW_YORK).time() == time(3, 30)


def test_an_ambiguous_wall_time_takes_its_first_instant():
    """01:30 happens twice in New York on Nov 7 2027; the first (EDT) one is meant, once."""
    found = starts("FREQ=DAILY", date(2027, 11, 6), at=time(1, 30), until=utc(2027, 11, 9))
    assert found == [
        utc(2027, 11, 6, 5, 30),  # 01:30 EDT
        utc(2027, 11, 7, 5, 30),  # 01:30 EDT, not the repeat at 06:30Z
        utc(2027, 11, 8, 6, 30),  # 01:30 EST
    ]


def test_an_ambiguous_wall_time_in_the_southern_hemisphere_takes_its_first_instant():
    """Sydney repeats 02:00-03:00 on Apr 4 2027; 02:30 AEDT is 15:30Z the day before."""
    found = starts("FREQ=DAILY", date(2027, 4, 3), at=time(2, 30), tz=SYDNEY,
                   until=utc(2027, 4, 5))
    assert found == [
        utc(2027, 4, 2, 15, 30),  # Apr 3 02:30 AEDT
        utc(2027, 4, 3, 15, 30),  # Apr 4 02:30 AEDT, the first of the two
        utc(2027, 4, 4, 16, 30),  # Apr 5 02:30 AEST
    ]


def test_materialised_skipped_and_repeated_wall_times_give_one_session_a_day(make, db, now):
    """A daily 02:30 meets at 03:30 EDT on Mar 14; a daily 01:30 meets once on Nov 7."""
    skipped = make.series(start_date=date(2027, 3, 12), start_time=time(2, 30),
                          rrule="FREQ=DAILY", end_date=date(2027, 3, 15), horizon_days=330)
    repeated = make.series(start_date=date(2027, 11, 6), start_time=time(1, 30),
                           rrule="FREQ=DAILY", end_date=date(2027, 11, 8), horizon_days=330)

    def starts_of(series):
        return list(db.scalars(select(Session.starts_at).where(Session.series_id == series.id)
                               .order_by(Session.starts_at)))

    assert starts_of(skipped) == [
        utc(2027, 3, 12, 7, 30), utc(2027, 3, 13, 7, 30), utc(2027, 3, 14, 7, 30),
        utc(2027, 3, 15, 6, 30),
    ]
    assert starts_of(repeated) == [
        utc(2027, 11, 6, 5, 30), utc(2027, 11, 7, 5, 30), utc(2027, 11, 8, 6, 30),
    ]


def test_a_counted_series_with_an_end_date_materialises_up_to_the_earlier(make, db, now):
    series = make.series(rrule="FREQ=WEEKLY;BYDAY=MO;COUNT=5", end_date=date(2027, 3, 10))
    starts = db.scalars(select(Session.starts_at).where(Session.series_id == series.id)).all()
    assert sorted(starts) == [utc(2027, 3, 1, 23, 0), utc(2027, 3, 8, 23, 0)]


# --- bad input names the field ---------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "Mars/Olympus_Mons",
        "america/new_york",
        "EST5EDT ",
        "",
        "posixrules",
        "localtime",  # whatever the host happens to be set to
        "../../etc/passwd",
        "A" * 300,
        None,
    ],
)
def test_an_unknown_time_zone_is_refused_naming_the_field(name):
    with pytest.raises(InvalidField) as refused:
        zone(name)
    assert list(refused.value.fields) == ["timezone"]
    assert "Unknown time zone" in refused.value.fields["timezone"][0]


def test_a_zone_error_names_the_field_the_caller_gives():
    with pytest.raises(InvalidField) as refused:
        zone("Nowhere/Town", field="program.timezone")
    assert list(refused.value.fields) == ["program.timezone"]


@pytest.mark.parametrize("name", ["America/New_York", "Europe/Berlin", "Australia/Sydney", "UTC"])
def test_iana_zone_names_are_accepted(name):
    assert zone(name).key == name


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("FREQ=HOURLY", "FREQ=DAILY or FREQ=WEEKLY"),
        ("FREQ=MONTHLY;BYMONTHDAY=1", "BYMONTHDAY is not supported"),
        ("FREQ=WEEKLY;BYMONTH=3", "BYMONTH is not supported"),
        ("FREQ=WEEKLY;COUNT=4;UNTIL=20270401", "COUNT or UNTIL, not both"),
        ("FREQ=WEEKLY;BYDAY=XX", "BYDAY value 'XX'"),
        ("FREQ=WEEKLY;BYDAY=1MO", "BYDAY value '1MO'"),
        ("FREQ=WEEKLY;BYDAY=MO,,WE", "BYDAY value ''"),
        ("FREQ=WEEKLY;COUNT=0", "COUNT must be a whole number"),
        ("FREQ=WEEKLY;COUNT=-3", "COUNT must be a whole number"),
        ("FREQ=WEEKLY;COUNT=²", "COUNT must be a whole number"),
        ("FREQ=WEEKLY;COUNT=" + "9" * 5000, "COUNT must be a whole number"),
        ("FREQ=WEEKLY;INTERVAL=53", "INTERVAL must be a whole number"),
        ("FREQ=WEEKLY;UNTIL=2027-04-01", "UNTIL '2027-04-01' is not a date"),
        ("FREQ=WEEKLY;UNTIL=20271301", "UNTIL '20271301' is not a date"),
        ("FREQ=WEEKLY;WKST=XX", "WKST value 'XX'"),
        ("FREQ=WEEKLY;FREQ=DAILY", "FREQ appears twice"),
        ("BYDAY=MO", "FREQ=DAILY or FREQ=WEEKLY"),
        ("every monday at six", "is not NAME=VALUE"),
        ("FREQ=WEEKLY;BYDAY", "is not NAME=VALUE"),
        ("FREQ=", "is not NAME=VALUE"),
        ("", "An RRULE is required"),
        ("   ", "An RRULE is required"),
    ],
)
def test_a_bad_rrule_is_refused_naming_the_field_and_the_problem(text, says):
    with pytest.raises(InvalidField) as refused:
        parse_rrule(text)
    assert list(refused.value.fields) == ["rrule"]
    assert says in refused.value.fields["rrule"][0]


def test_a_non_string_rrule_is_refused_naming_the_field():
    with pytest.raises(InvalidField) as refused:
        parse_rrule(None)
    assert list(refused.value.fields) == ["rrule"]


def test_a_bad_rrule_or_zone_writes_no_series(make, db, now):
    """Refused input leaves nothing half-written."""
    program = make.program()
    with pytest.raises(InvalidField) as refused:
        make.series(program=program, rrule="FREQ=WEEKLY;BYDAY=XX")
    assert list(refused.value.fields) == ["rrule"]
    db.rollback()
    with pytest.raises(InvalidField) as refused:
        make.series(program=program, timezone="Mars/Olympus_Mons")
    assert list(refused.value.fields) == ["timezone"]
    db.rollback()
    assert db.scalars(select(SessionSeries)).all() == []
    assert db.scalars(select(Session)).all() == []


def test_rrule_text_is_accepted_case_insensitively_and_stored_canonically():
    rule = parse_rrule("rrule:freq=weekly;byday=th,mo,we,mo;until=20270630")
    assert rule_to_text(rule) == "FREQ=WEEKLY;BYDAY=MO,WE,TH;UNTIL=20270630"
    assert rule_to_text(parse_rrule(rule_to_text(rule))) == rule_to_text(rule)
    counted = parse_rrule("FREQ=DAILY;INTERVAL=2;COUNT=10;WKST=SU")
    assert rule_to_text(counted) == "FREQ=DAILY;INTERVAL=2;WKST=SU;COUNT=10"
    assert rule_to_text(parse_rrule("FREQ=DAILY;UNTIL=20270630T220000Z")) == (
        "FREQ=DAILY;UNTIL=20270630T220000Z"
    )
