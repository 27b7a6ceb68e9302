"""Overriding one occurrence via PATCH /api/v1/sessions/{id}: cancel, restore, move, room, staff."""

from datetime import date

import pytest
from sqlalchemy import func, select

from scheduler.models import AuditEvent, Session

API = "/api/v1"


@pytest.fixture
def coordinator(make):
    return make.user("coordinator")


@pytest.fixture
def headers(auth, coordinator):
    return auth.for_user(coordinator)


@pytest.fixture
def group(make, db):
    """Mon/Wed/Thu 18:00-21:00 New York in room A with facilitator A, through March."""
    program = make.program()
    room_a, room_b = make.room(name="Room A"), make.room(name="Room B")
    staff_a, staff_b, staff_c = make.staff(), make.staff(), make.staff()
    series = make.series(program, room_id=room_a.id, facilitator_ids=[staff_a.id],
                         end_date=date(2027, 3, 31))
    sessions = db.scalars(
        select(Session).where(Session.series_id == series.id).order_by(Session.starts_at)
    ).all()
    return {"series": series, "room_a": room_a, "room_b": room_b, "staff_a": staff_a,
            "staff_b": staff_b, "staff_c": staff_c, "wednesday": sessions[1],
            "count": len(sessions)}


def patch(client, headers, session_id, body):
    response = client.patch(f"{API}/sessions/{session_id}", json=body, headers=headers)
    assert response.status_code == 200, response.json
    return response.json


def last_event(db, session_id) -> AuditEvent:
    return db.scalars(
        select(AuditEvent)
        .where(AuditEvent.entity_type == "session", AuditEvent.entity_id == session_id)
        .order_by(AuditEvent.id.desc())
    ).first()


def events_for(db, session_id) -> int:
    return db.scalar(select(func.count(AuditEvent.id)).where(
        AuditEvent.entity_type == "session", AuditEvent.entity_id == session_id))


# --- cancel and restore ----------------------------------------------------------------------


def test_cancelling_keeps_the_session_and_raises_its_sequence(client, headers, group):
    """A cancelled session is marked, not deleted, so history and feeds can tell."""
    session = group["wednesday"]
    body = patch(client, headers, session.id, {"status": "cancelled", "reason": "Snow closure"})

    assert body["status"] == "cancelled"
    assert body["cancel_reason"] == "Snow closure"
    assert body["sequence"] == 1
    assert body["is_overridden"] is True
    assert client.get(f"{API}/sessions/{session.id}", headers=headers).json == body
    listed = client.get(f"{API}/sessions", query_string={"series_id": group["series"].id},
                        headers=headers).json
    assert listed["total"] == group["count"]
    cancelled = client.get(f"{API}/sessions", query_string={
        "series_id": group["series"].id, "status": "cancelled"}, headers=headers).json
    assert [item["id"] for item in cancelled["items"]] == [session.id]


def test_restoring_a_cancelled_session_schedules_it_again(client, headers, group):
    """status=scheduled undoes a cancellation and clears its reason; the sequence rises again."""
    session = group["wednesday"]
    patch(client, headers, session.id, {"status": "cancelled", "reason": "Snow closure"})
    body = patch(client, headers, session.id, {"status": "scheduled", "reason": "Roads clear"})

    assert body["status"] == "scheduled"
    assert body["cancel_reason"] is None
    assert body["sequence"] == 2
    assert body["is_overridden"] is True


def test_cancelling_twice_changes_nothing_the_second_time(client, headers, group, db):
    """A repeated cancel is idempotent: no new sequence, no new audit event."""
    session = group["wednesday"]
    patch(client, headers, session.id, {"status": "cancelled", "reason": "Snow closure"})
    events = events_for(db, session.id)
    body = patch(client, headers, session.id, {"status": "cancelled", "reason": "Still snowing"})

    assert (body["sequence"], body["cancel_reason"]) == (1, "Snow closure")
    assert events_for(db, session.id) == events


# --- move ------------------------------------------------------------------------------------


def test_moving_a_session_raises_its_sequence_and_keeps_its_original_start(
    client, headers, group
):
    """A moved occurrence remembers which rule occurrence it was."""
    session = group["wednesday"]  # Wed 2027-03-03 18:00 New York
    body = patch(client, headers, session.id, {
        "starts_at": "2027-03-05T17:00:00-05:00", "ends_at": "2027-03-05T19:30:00-05:00"})

    assert body["starts_at"] == "2027-03-05T17:00:00-05:00"
    assert body["ends_at"] == "2027-03-05T19:30:00-05:00"
    assert body["original_start"] == "2027-03-03T18:00:00-05:00"
    assert body["sequence"] == 1
    assert body["is_overridden"] is True
    assert body["status"] == "scheduled"


def test_a_move_given_in_utc_is_shown_in_the_series_zone(client, headers, group):
    """Any offset is accepted; the answer is in the session's own zone."""
    body = patch(client, headers, group["wednesday"].id, {
        "starts_at": "2027-03-03T22:00:00Z", "ends_at": "2027-03-04T01:00:00Z"})
    assert body["starts_at"] == "2027-03-03T17:00:00-05:00"
    assert body["ends_at"] == "2027-03-03T20:00:00-05:00"


def test_moving_only_the_start_keeps_the_length(client, headers, group):
    """starts_at alone shifts the whole session; it stays three hours long."""
    body = patch(client, headers, group["wednesday"].id,
                 {"starts_at": "2027-03-03T19:00:00-05:00"})
    assert (body["starts_at"], body["ends_at"]) == ("2027-03-03T19:00:00-05:00",
                                                    "2027-03-03T22:00:00-05:00")


def test_changing_only_the_end_shortens_the_session(client, headers, group):
    """ends_at alone keeps the start."""
    body = patch(client, headers, group["wednesday"].id, {"ends_at": "2027-03-03T20:00:00-05:00"})
    assert (body["starts_at"], body["ends_at"]) == ("2027-03-03T18:00:00-05:00",
                                                    "2027-03-03T20:00:00-05:00")
    assert body["sequence"] == 1


def test_moving_across_the_dst_change_shows_the_new_offset(client, headers, group):
    """A session moved past 14 March is shown at -04:00."""
    body = patch(client, headers, group["wednesday"].id, {
        "starts_at": "2027-03-16T18:00:00-04:00", "ends_at": "2027-03-16T21:00:00-04:00"})
    assert body["starts_at"] == "2027-03-16T18:00:00-04:00"
    assert body["original_start"] == "2027-03-03T18:00:00-05:00"


def test_a_moved_session_keeps_its_time_when_the_series_is_re_timed(
    client, headers, group, make
):
    """History is never rewritten: a series edit leaves a per-occurrence move alone."""
    session = group["wednesday"]
    # To Friday: on Thursday it would clash with the series' own Thursday session.
    patch(client, headers, session.id, {"starts_at": "2027-03-05T17:00:00-05:00"})
    edit = client.patch(f"{API}/series/{group['series'].id}", json={"start_time": "19:00"},
                        headers=headers)
    assert edit.status_code == 200, edit.json

    body = client.get(f"{API}/sessions/{session.id}", headers=headers).json
    assert body["starts_at"] == "2027-03-05T17:00:00-05:00"
    untouched = client.get(f"{API}/sessions/{session.id + 1}", headers=headers).json
    assert untouched["starts_at"].endswith("T19:00:00-05:00")


def test_a_cancelled_session_stays_cancelled_when_the_series_is_edited(client, headers, group):
    """A series edit does not revive an occurrence a coordinator cancelled."""
    session = group["wednesday"]
    patch(client, headers, session.id, {"status": "cancelled", "reason": "Holiday"})
    client.patch(f"{API}/series/{group['series'].id}", json={"title": "Relapse prevention"},
                 headers=headers)
    body = client.get(f"{API}/sessions/{session.id}", headers=headers).json
    assert (body["status"], body["cancel_reason"]) == ("cancelled", "Holiday")


# --- room and video --------------------------------------------------------------------------


def test_changing_the_room_raises_the_sequence(client, headers, group):
    """A new room is a change of place, which calendars must pick up."""
    body = patch(client, headers, group["wednesday"].id, {"room_id": group["room_b"].id})
    assert body["room_id"] == group["room_b"].id
    assert body["sequence"] == 1
    assert body["is_overridden"] is True


def test_a_session_can_go_virtual_for_one_occurrence(client, headers, group):
    """room_id null plus an https video link turns one occurrence into a video session."""
    link = "https://video.clinic.test/room/42"
    body = patch(client, headers, group["wednesday"].id, {"room_id": None, "video_url": link})
    assert (body["room_id"], body["video_url"]) == (None, link)
    assert body["sequence"] == 1


def test_sending_the_current_room_changes_nothing(client, headers, group, db):
    """A PATCH that repeats the current values is not an override."""
    session = group["wednesday"]
    body = patch(client, headers, session.id, {"room_id": group["room_a"].id})
    assert (body["sequence"], body["is_overridden"]) == (0, False)
    assert events_for(db, session.id) == 0


def test_a_room_that_is_out_of_use_is_refused(client, headers, group, make, db):
    """Sessions may not be put in a room the clinic has taken out of use."""
    group["room_b"].is_active = False
    db.commit()
    response = client.patch(f"{API}/sessions/{group['wednesday'].id}",
                            json={"room_id": group["room_b"].id}, headers=headers)
    assert response.status_code == 422
    assert "room_id" in response.json["errors"]["json"]


# --- substitute facilitators -----------------------------------------------------------------


def test_substitute_facilitators_replace_the_series_staff_for_one_session(
    client, headers, group
):
    """facilitator_ids sets who runs this occurrence; the neighbours keep the series' staff."""
    session = group["wednesday"]
    substitutes = [group["staff_c"].id, group["staff_b"].id]
    body = patch(client, headers, session.id, {"facilitator_ids": substitutes})

    assert body["facilitator_ids"] == sorted(substitutes)
    assert body["is_overridden"] is True
    neighbour = client.get(f"{API}/sessions/{session.id + 1}", headers=headers).json
    assert neighbour["facilitator_ids"] == [group["staff_a"].id]
    by_staff = client.get(f"{API}/sessions", query_string={"staff_id": group["staff_c"].id},
                          headers=headers).json
    assert [item["id"] for item in by_staff["items"]] == [session.id]


def test_an_inactive_substitute_is_refused(client, headers, group, db):
    """A staff member who has left cannot be put on a session."""
    group["staff_b"].is_active = False
    db.commit()
    response = client.patch(f"{API}/sessions/{group['wednesday'].id}",
                            json={"facilitator_ids": [group["staff_b"].id]}, headers=headers)
    assert response.status_code == 422
    assert "facilitator_ids" in response.json["errors"]["json"]


# --- every override is audited ---------------------------------------------------------------


OVERRIDES = {
    # kind: group -> (request body, expected audit before, expected audit after)
    "cancel": lambda g: (
        {"status": "cancelled", "reason": "Snow closure"},
        {"status": "scheduled", "cancelled_by": None, "cancel_reason": None, "sequence": 0},
        {"status": "cancelled", "cancelled_by": "override", "cancel_reason": "Snow closure",
         "sequence": 1},
    ),
    "move": lambda g: (
        # Friday, when the series does not meet (Thursday 17:00 would clash with its own group).
        {"starts_at": "2027-03-05T17:00:00-05:00", "ends_at": "2027-03-05T18:30:00-05:00"},
        {"starts_at": "2027-03-03T23:00:00+00:00", "ends_at": "2027-03-04T02:00:00+00:00",
         "sequence": 0},
        {"starts_at": "2027-03-05T22:00:00+00:00", "ends_at": "2027-03-05T23:30:00+00:00",
         "sequence": 1},
    ),
    "room": lambda g: (
        {"room_id": g["room_b"].id},
        {"room_id": g["room_a"].id, "sequence": 0},
        {"room_id": g["room_b"].id, "sequence": 1},
    ),
    "substitute": lambda g: (
        {"facilitator_ids": [g["staff_c"].id]},
        {"facilitator_ids": [g["staff_a"].id]},
        {"facilitator_ids": [g["staff_c"].id]},
    ),
}


@pytest.mark.parametrize("kind", OVERRIDES)
def test_each_override_is_audited_with_before_after_and_the_actor(
    client, headers, group, db, coordinator, now, kind
):
    """Who, when, what it was and what it became, for every kind of override."""
    changes, before, after = OVERRIDES[kind](group)
    session = group["wednesday"]

    patch(client, headers, session.id, changes)
    event = last_event(db, session.id)

    assert event is not None
    # A cancellation is filed as one (issue 17 §5); the other changes are overrides.
    action = "cancel" if kind == "cancel" else "override"
    assert (event.action, event.actor_user_id, event.actor) == (action, coordinator.id,
                                                               coordinator.email)
    assert event.occurred_at == now
    assert {k: event.before[k] for k in before} == before
    assert {k: event.after[k] for k in after} == after
    assert (event.before["is_overridden"], event.after["is_overridden"]) == (False, True)
    assert set(event.before) == set(event.after)


def test_the_cancel_reason_is_kept_on_the_audit_event(client, headers, group, db):
    """The reason a coordinator gives travels with the audit record."""
    session = group["wednesday"]
    patch(client, headers, session.id, {"status": "cancelled", "reason": "Facilitator ill"})
    assert last_event(db, session.id).reason == "Facilitator ill"


def test_an_update_audit_holds_only_what_changed(client, headers, group, db):
    """A room change's audit event does not repeat the untouched times and staff."""
    session = group["wednesday"]
    patch(client, headers, session.id, {"room_id": group["room_b"].id})
    event = last_event(db, session.id)
    assert set(event.after) == {"room_id", "is_overridden", "sequence"}
    assert event.before == {"room_id": group["room_a"].id, "is_overridden": False,
                            "sequence": 0}

