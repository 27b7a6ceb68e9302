"""web/refusals.describe: the one way a refused request becomes page text."""

from datetime import UTC, datetime, timedelta

from scheduler.services.conflicts import Clash, ConflictDetected, Slot
from scheduler.services.errors import InvalidField, StateConflict
from scheduler.web.refusals import SHOWN_CLASHES, describe

START = datetime(2027, 3, 1, 23, 0, tzinfo=UTC)


def clash(n: int) -> Clash:
    end = START + timedelta(hours=1)
    return Clash("client", n, START, end, f"Booked into session {n}.", Slot(START, end, None))


def test_a_conflict_names_a_few_clashing_sessions_once_each_and_counts_the_rest():
    many = [clash(n) for n in range(SHOWN_CLASHES + 2)] + [clash(0)]
    text = describe(ConflictDetected(many), what="Not enrolled")
    shown = " ".join(f"Booked into session {n}." for n in range(SHOWN_CLASHES))
    assert text == f"Not enrolled: {shown} … and 2 more."
    assert "override" not in text  # the API's advice means nothing on a page


def test_a_field_refusal_is_named_by_the_pages_label():
    labels = {"reason_code": "Reason", "from": "From"}
    assert describe(InvalidField("records.0.reason_code", "is required."), labels) == \
        "Reason: is required."
    assert describe(InvalidField("from", "must be a date."), labels) == "From: must be a date."
    assert describe(InvalidField("room_id", "No room with id 9.")) == "Room: No room with id 9."


def test_any_other_refusal_is_its_message():
    assert describe(StateConflict("Session 4 was cancelled."), what="Not changed") == \
        "Not changed: Session 4 was cancelled."
