"""Webhook endpoints and events (issue 20): the admins' API, the secret shown once, hostile
input, and each change of the clinic queueing its event, for consented clients only.

The clinic's clock stands at Tue 16 February 2027 12:00 UTC. Delivery itself, with a real
receiver, is tests/test_webhook_delivery.py.
"""

import base64
import io
import re
from datetime import UTC, date, datetime, timedelta

import pytest
import requests
from sqlalchemy import select

from scheduler import clock
from scheduler.models import (
    Alert,
    AuditEvent,
    Booking,
    Session,
    SessionSeries,
    WebhookDelivery,
    WebhookEndpoint,
)
from scheduler.models.interop import WEBHOOK_EVENTS
from scheduler.services import (
    attendance,
    booking,
    closures,
    consents,
    recipients,
    series,
    sessions,
    webhooks,
)
from scheduler.services.recurrence import local_date, zone
from tests.helpers import ACTOR, sign_in

NOW = datetime(2027, 2, 16, 12, 0, tzinfo=UTC)
URL = "https://ehr.example.test/hooks/iop"


@pytest.fixture
def world(db, make):
    program = make.program(name="Evening IOP")
    group = make.series(program, title="Relapse prevention group", capacity=1)
    first, second = db.scalars(select(Session).where(Session.series_id == group.id)
                               .order_by(Session.starts_at).limit(2)).all()
    avery = make.client(program, name="Avery Stone")
    blake = make.client(program, name="Blake Moss")
    kipu = recipients.create_recipient(db, ACTOR, name="Kipu EHR", kind="ehr")
    db.commit()
    return {"program": program, "first": first, "second": second, "avery": avery,
            "blake": blake, "kipu": kipu}


@pytest.fixture
def admin(auth):
    return auth("admin")


def consent(db, world, who="avery", scope=("appointments",)):
    row = consents.record(db, ACTOR, world[who], recipient_id=world["kipu"].id,
                          purpose="Coordination of care", scope=list(scope),
                          signed_on=date(2027, 2, 10), expires_on=date(2027, 8, 10), now=NOW)
    db.commit()
    return row


def endpoint(db, app, world, events=WEBHOOK_EVENTS):
    row, _ = webhooks.create(db, ACTOR, webhooks.Settings.from_config(app.config),
                             recipient_id=world["kipu"].id, url=URL, events=list(events),
                             now=NOW)
    db.commit()
    return row


def queued(db) -> list[tuple[str, int, str]]:
    return [(d.event_type, d.client_id, d.payload["data"]["fhir"]) for d in db.scalars(
        select(WebhookDelivery).order_by(WebhookDelivery.id))]


# --- the API ---------------------------------------------------------------------------------


def test_an_admin_registers_an_endpoint_and_sees_its_secret_once(client, db, admin, world):
    answer = client.post("/api/v1/webhooks", headers=admin, json={
        "recipient_id": world["kipu"].id, "url": URL, "events": ["session.cancelled"],
        "description": "Kipu production"})

    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    secret = body["secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    assert body["recipient_name"] == "Kipu EHR" and body["is_enabled"] is True
    read = client.get(f"/api/v1/webhooks/{body['id']}", headers=admin).get_json()
    assert "secret" not in read and read["events"] == ["session.cancelled"]
    listed = client.get("/api/v1/webhooks", headers=admin).get_json()
    assert [item["id"] for item in listed["items"]] == [body["id"]]
    # Neither the row nor its audit trail holds the secret.
    row = db.get(WebhookEndpoint, body["id"])
    assert secret not in repr(vars(row)) and secret[6:] not in row.secret_seed
    events = db.scalars(select(AuditEvent).where(
        AuditEvent.entity_type == "webhook_endpoint")).all()
    assert [e.action for e in events] == ["create"]
    assert secret[6:] not in str(events[0].after)


def test_the_secret_is_derived_under_the_webhook_key_not_stored(app, db, world):
    row = endpoint(db, app, world)
    one = webhooks.Settings.from_config({"SECRET_KEY": "a", "WEBHOOK_SECRET_KEY": None})
    other = webhooks.Settings.from_config({"SECRET_KEY": "a", "WEBHOOK_SECRET_KEY": "b"})
    assert webhooks.secret_of(one, row.secret_seed) != webhooks.secret_of(other, row.secret_seed)
    assert webhooks.secret_of(one, row.secret_seed) == webhooks.secret_of(one, row.secret_seed)


def test_rotating_shows_a_new_secret_once_and_the_old_one_signs_for_a_day(client, db, admin,
                                                                          world):
    created = client.post("/api/v1/webhooks", headers=admin, json={
        "recipient_id": world["kipu"].id, "url": URL, "events": ["booking.created"]}).get_json()
    rotated = client.post(f"/api/v1/webhooks/{created['id']}/rotate-secret", headers=admin)

    assert rotated.status_code == 200
    body = rotated.get_json()
    assert body["secret"].startswith("whsec_") and body["secret"] != created["secret"]
    assert body["previous_secret_until"] == "2027-02-17T12:00:00+00:00"
    row = db.get(WebhookEndpoint, created["id"])
    settings = webhooks.Settings.from_config(client.application.config)
    assert webhooks.signing_secrets(settings, row, NOW) == [body["secret"], created["secret"]]
    assert webhooks.signing_secrets(settings, row, NOW + timedelta(days=1)) == [body["secret"]]


def test_patch_changes_events_and_re_enables_and_delete_stops_it(app, client, db, admin, world):
    row = endpoint(db, app, world)
    webhooks._disable(db, row, "The receiver answered 410 Gone.", NOW)
    db.commit()

    patched = client.patch(f"/api/v1/webhooks/{row.id}", headers=admin,
                           json={"events": ["session.moved"], "is_enabled": True})
    assert patched.status_code == 200, patched.get_json()
    assert patched.get_json()["is_enabled"] is True
    assert patched.get_json()["events"] == ["session.moved"]
    assert patched.get_json()["disabled_reason"] is None

    assert client.delete(f"/api/v1/webhooks/{row.id}", headers=admin).status_code == 204
    assert client.get(f"/api/v1/webhooks/{row.id}", headers=admin).status_code == 404
    assert client.get("/api/v1/webhooks", headers=admin).get_json()["items"] == []
    db.expire_all()
    assert db.get(WebhookEndpoint, row.id).deleted_at == NOW  # kept, with its history


def test_an_admin_pausing_an_endpoint_gives_up_its_queue_without_an_alert(client, db, admin,
                                                                          app, world):
    row = endpoint(db, app, world)
    consent(db, world)
    booking.book_client(db, ACTOR, world["first"].id, world["avery"].id, now=NOW)
    db.commit()
    paused = client.patch(f"/api/v1/webhooks/{row.id}", headers=admin,
                          json={"is_enabled": False})
    assert paused.get_json()["disabled_reason"] == "Paused by an admin."
    db.expire_all()
    (delivery,) = db.scalars(select(WebhookDelivery)).all()
    assert delivery.status == "failed"
    assert db.scalars(select(Alert)).all() == []
    # Re-enable first: a retry to a paused endpoint would wait for nothing.
    retried = client.post(f"/api/v1/webhooks/{row.id}/deliveries/{delivery.id}/retry",
                          headers=admin)
    assert retried.status_code == 409 and "re-enable" in retried.get_json()["message"]


@pytest.mark.parametrize(("change", "field"), [
    ({"events": ["session.exploded"]}, "events"),
    ({"events": []}, "events"),
    ({"events": "booking.created"}, "events"),
    ({"url": "https://ehr.example.test/" + "a" * 5000}, "url"),
    ({"url": "https://ehr.example.test/\u0000"}, "url"),
    ({"url": "http://ehr.example.test/hooks"}, "url"),
    ({"url": "https://kipu:hunter2@ehr.example.test/hooks"}, "url"),
    ({"url": "https://127.0.0.1/hooks"}, "url"),
    ({"url": "https://[::1]/hooks"}, "url"),
    ({"url": "https://10.1.2.3/hooks"}, "url"),
    ({"url": "https://localhost/hooks"}, "url"),
    ({"url": "ftp://ehr.example.test/"}, "url"),
    ({"url": "https://ehr.example.test:99999/"}, "url"),
    ({"recipient_id": 2**63}, "recipient_id"),
    ({"recipient_id": 999999}, "recipient_id"),
    ({"description": "x" * 301}, "description"),
])
def test_hostile_input_is_refused_naming_the_field(client, db, admin, world, change, field):
    body = {"recipient_id": world["kipu"].id, "url": URL, "events": ["booking.created"],
            **change}
    answer = client.post("/api/v1/webhooks", headers=admin, json=body)

    assert answer.status_code == 422, answer.get_json()
    assert field in answer.get_json()["errors"]["json"]
    assert db.scalars(select(WebhookEndpoint)).all() == []


def test_ids_past_the_range_are_404_not_500(client, admin):
    for path in (f"/api/v1/webhooks/{2**63}", f"/api/v1/webhooks/{2**63}/deliveries"):
        assert client.get(path, headers=admin).status_code == 404
    assert client.post(f"/api/v1/webhooks/1/deliveries/{2**63}/retry",
                       headers=admin).status_code == 404


def test_the_delivery_history_shows_each_attempt_and_an_admin_can_retry(app, client, db,
                                                                         admin, world):
    row = endpoint(db, app, world)
    consent(db, world)
    booking.book_client(db, ACTOR, world["first"].id, world["avery"].id, now=NOW)
    db.commit()

    def failing(url, body, headers, settings):
        response = requests.Response()
        response.status_code, response.raw = 500, io.BytesIO(b"")
        return response

    webhooks.deliver_due(db, webhooks.Settings.from_config(app.config), NOW, sender=failing)
    history = client.get(f"/api/v1/webhooks/{row.id}/deliveries", headers=admin).get_json()
    (item,) = history["items"]
    assert (item["event_type"], item["status"], item["attempts"]) == (
        "booking.created", "pending", 1)
    assert [a["status_code"] for a in item["attempt_history"]] == [500]
    assert item["message_id"].startswith("msg_")

    again = client.post(f"/api/v1/webhooks/{row.id}/deliveries/{item['id']}/retry",
                        headers=admin)
    assert again.status_code == 200
    assert again.get_json()["next_attempt_at"] == "2027-02-16T12:00:00+00:00"
    assert again.get_json()["message_id"] == item["message_id"]


def test_every_write_is_audited_with_the_admin_and_reading_deliveries_is_logged(
        app, client, db, make, auth, world):
    admin_user = make.user("admin")
    headers = auth.for_user(admin_user)
    consent(db, world)
    created = client.post("/api/v1/webhooks", headers=headers, json={
        "recipient_id": world["kipu"].id, "url": URL, "events": ["booking.created"]}).get_json()
    hook = created["id"]
    booking.book_client(db, ACTOR, world["first"].id, world["avery"].id, now=NOW)
    db.commit()
    (delivery,) = db.scalars(select(WebhookDelivery)).all()
    delivery.status, delivery.next_attempt_at, delivery.attempts = "failed", None, 10
    db.commit()
    assert client.post(f"/api/v1/webhooks/{hook}/rotate-secret", headers=headers).status_code \
        == 200
    assert client.post(f"/api/v1/webhooks/{hook}/deliveries/{delivery.id}/retry",
                       headers=headers).status_code == 200
    assert client.get(f"/api/v1/webhooks/{hook}/deliveries", headers=headers).status_code == 200
    assert client.patch(f"/api/v1/webhooks/{hook}", headers=headers,
                        json={"description": "Kipu"}).status_code == 200
    assert client.delete(f"/api/v1/webhooks/{hook}", headers=headers).status_code == 204

    events = db.scalars(select(AuditEvent).where(AuditEvent.actor_user_id == admin_user.id)
                        .order_by(AuditEvent.id)).all()
    trail = [(e.entity_type, e.action) for e in events if e.action != "sign_in"]
    assert trail == [("webhook_endpoint", "create"), ("webhook_endpoint", "rotate_secret"),
                     ("webhook_delivery", "retry"), ("client", "read"),
                     ("webhook_endpoint", "update"), ("webhook_endpoint", "delete")]
    read = next(e for e in events if e.action == "read")
    assert (read.entity_id, read.after["resource"]) == (world["avery"].id, "webhook_deliveries")
    update = next(e for e in events if e.action == "update")
    assert (update.before["description"], update.after["description"]) == (None, "Kipu")
    assert all(e.occurred_at == NOW for e in events)


# --- events: each change queues its own, for consented clients only --------------------------


def test_booking_cancelling_and_promotion_queue_their_events(app, db, world):
    endpoint(db, app, world)
    consent(db, world, "avery")
    consent(db, world, "blake")
    first = world["first"].id
    avery, _ = booking.book_client(db, ACTOR, first, world["avery"].id, now=NOW)
    blake, _ = booking.book_client(db, ACTOR, first, world["blake"].id, now=NOW)  # waitlisted
    booking.cancel_booking(db, ACTOR, avery.id, now=NOW)
    db.commit()

    assert queued(db) == [
        ("booking.created", world["avery"].id, f"Appointment/{avery.id}"),
        ("booking.created", world["blake"].id, f"Appointment/{blake.id}"),
        ("booking.cancelled", world["avery"].id, f"Appointment/{avery.id}"),
        ("waitlist.promoted", world["blake"].id, f"Appointment/{blake.id}"),
    ]


def test_no_consent_and_no_listening_endpoint_queue_nothing(app, db, world):
    endpoint(db, app, world, events=["session.cancelled"])
    consent(db, world, "avery")
    booking.book_client(db, ACTOR, world["first"].id, world["blake"].id, now=NOW)
    booking.book_client(db, ACTOR, world["second"].id, world["avery"].id, now=NOW)
    db.commit()
    assert queued(db) == []  # Blake has no consent; nobody listens for booking.created


def test_a_moved_session_goes_to_each_consented_client_naming_only_their_appointment(
        app, db, world):
    consent(db, world, "avery")
    session = world["first"]
    held, _ = booking.book_client(db, ACTOR, session.id, world["avery"].id, now=NOW)
    endpoint(db, app, world, events=["session.moved", "session.cancelled"])
    sessions.change_session(db, ACTOR, session,
                            {"starts_at": session.starts_at + timedelta(hours=1)})
    db.commit()
    assert queued(db) == [("session.moved", world["avery"].id, f"Appointment/{held.id}")]


def test_a_series_edit_announces_the_sessions_it_moves_and_cancels(app, db, world):
    """A coordinator re-timing a group moves every session ahead; ending it early cancels the
    rest: recipients hear each, as of a one-session change, for consented clients only."""
    consent(db, world, "avery")
    first, _ = booking.book_client(db, ACTOR, world["first"].id, world["avery"].id, now=NOW)
    second, _ = booking.book_client(db, ACTOR, world["second"].id, world["avery"].id, now=NOW)
    endpoint(db, app, world, events=["session.moved", "session.cancelled"])
    group = db.get(SessionSeries, world["first"].series_id)
    start = world["first"].starts_at
    series.update_series(db, ACTOR, group, {"start_time": (group.start_time.replace(
        hour=(group.start_time.hour + 1) % 24))}, now=NOW, horizon_days=60)
    db.commit()
    assert queued(db) == [("session.moved", world["avery"].id, f"Appointment/{first.id}"),
                          ("session.moved", world["avery"].id, f"Appointment/{second.id}")]
    assert db.get(Session, world["first"].id).starts_at == start + timedelta(hours=1)

    first_day = local_date(db.get(Session, world["first"].id).starts_at, zone(group.timezone))
    series.end_series(db, ACTOR, group, end_date=first_day, now=NOW)
    db.commit()
    assert queued(db)[2:] == [("session.cancelled", world["avery"].id,
                               f"Appointment/{second.id}")]


def test_a_walk_in_is_a_booking_the_recipient_hears_of_before_its_attendance(app, db, world):
    consent(db, world, "avery", scope=("appointments", "attendance"))
    endpoint(db, app, world, events=["booking.created", "attendance.recorded"])
    session = world["first"]
    attendance.record_roster(db, ACTOR, "clinician", session.id,
                             [{"client_id": world["avery"].id, "status": "present"}],
                             now=session.starts_at + timedelta(minutes=5),
                             policy=attendance.Policy())
    db.commit()
    seat = db.scalars(select(Booking).where(Booking.session_id == session.id)).one()
    assert queued(db) == [("booking.created", world["avery"].id, f"Appointment/{seat.id}"),
                          ("attendance.recorded", world["avery"].id, f"Appointment/{seat.id}")]


def test_a_closure_cancels_each_session_for_each_consented_client(app, db, world):
    consent(db, world, "avery")
    first, _ = booking.book_client(db, ACTOR, world["first"].id, world["avery"].id, now=NOW)
    second, _ = booking.book_client(db, ACTOR, world["second"].id, world["avery"].id, now=NOW)
    booking.book_client(db, ACTOR, world["second"].id, world["blake"].id, now=NOW)
    endpoint(db, app, world, events=["session.cancelled"])
    closures.create_closure(db, ACTOR, world["program"], starts_on=date(2027, 3, 1),
                            ends_on=date(2027, 3, 14), reason="Snow", now=NOW,
                            public_name="Appointments")
    db.commit()
    assert queued(db) == [("session.cancelled", world["avery"].id, f"Appointment/{first.id}"),
                          ("session.cancelled", world["avery"].id, f"Appointment/{second.id}")]


def test_attendance_goes_only_under_a_consent_covering_attendance(app, db, world):
    consent(db, world, "avery", scope=("appointments", "attendance"))
    consent(db, world, "blake", scope=("appointments",))
    session = world["second"]
    booking.book_client(db, ACTOR, world["first"].id, world["blake"].id, now=NOW)
    held, _ = booking.book_client(db, ACTOR, session.id, world["avery"].id, now=NOW)
    db.commit()
    endpoint(db, app, world, events=["attendance.recorded"])
    with clock.frozen(session.starts_at + timedelta(minutes=5)):
        attendance.record_roster(db, ACTOR, "coordinator", session.id,
                                 [{"client_id": world["avery"].id, "status": "present"}],
                                 now=clock.now(), policy=attendance.Policy())
    first = world["first"]
    with clock.frozen(first.starts_at + timedelta(minutes=5)):
        attendance.record_roster(db, ACTOR, "coordinator", first.id,
                                 [{"client_id": world["blake"].id, "status": "present"}],
                                 now=clock.now(), policy=attendance.Policy())
    db.commit()
    assert queued(db) == [("attendance.recorded", world["avery"].id, f"Appointment/{held.id}")]


def test_a_discharge_names_the_patient_and_cancels_the_appointments(app, db, world):
    consent(db, world, "avery")
    held, _ = booking.book_client(db, ACTOR, world["second"].id, world["avery"].id, now=NOW)
    endpoint(db, app, world, events=["client.discharged", "booking.cancelled"])
    booking.discharge_client(db, ACTOR, world["avery"].id, date(2027, 2, 16), now=NOW)
    db.commit()
    assert sorted(queued(db)) == [
        ("booking.cancelled", world["avery"].id, f"Appointment/{held.id}"),
        ("client.discharged", world["avery"].id, f"Patient/{world['avery'].id}"),
    ]


def test_an_inactive_recipient_hears_nothing(app, db, world):
    endpoint(db, app, world)
    consent(db, world, "avery")
    recipients.update_recipient(db, ACTOR, world["kipu"], {"is_active": False})
    booking.book_client(db, ACTOR, world["first"].id, world["avery"].id, now=NOW)
    db.commit()
    assert queued(db) == []


# --- the admins hear of a disabled endpoint --------------------------------------------------


def test_a_disabled_endpoint_is_an_admins_alert_in_plain_words(app, client, db, auth, make,
                                                               world):
    row = endpoint(db, app, world)
    webhooks._disable(db, row, "The receiver answered 410 Gone.", NOW)
    db.commit()
    (alert,) = db.scalars(select(Alert)).all()
    assert alert.kind == "webhook_disabled" and alert.client_id is None

    listed = client.get("/api/v1/alerts", headers=auth("admin")).get_json()["items"]
    assert [a["kind"] for a in listed] == ["webhook_disabled"]
    assert "Kipu EHR" in listed[0]["summary"] and "410" in listed[0]["summary"]
    assert client.get("/api/v1/alerts", headers=auth("coordinator")).get_json()["items"] == []

    sign_in(client, make.user("admin"))
    page = client.get("/alerts").get_data(as_text=True)
    assert "Webhook endpoint disabled" in page and "Kipu EHR" in page
    assert "Nothing more is sent to it until an admin re-enables it." in page
    acknowledged = client.post(f"/alerts/{alert.id}/acknowledge", data={
        "csrf_token": _csrf(client)}, follow_redirects=True)
    assert acknowledged.status_code == 200
    assert "acknowledged" in acknowledged.get_data(as_text=True)


def _csrf(client) -> str:
    page = client.get("/alerts").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
