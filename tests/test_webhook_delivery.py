"""Webhook delivery (issue 20): a real receiver on 127.0.0.1 verifies every signature with the
standardwebhooks package; retries, back-off on the clinic's clock, disabling, idempotency and
Part 2 consent gating, down to a queued delivery whose consent was revoked.

The clinic's clock stands at Tue 16 February 2027 12:00 UTC; the job runs at times the tests
move it to. WEBHOOK_ALLOW_PRIVATE is set here, since the receiver listens on loopback.
"""

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from scheduler import clock
from scheduler.jobs.runner import run_job
from scheduler.models import (
    Alert,
    Disclosure,
    Notification,
    Session,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from scheduler.models.interop import WEBHOOK_EVENTS
from scheduler.services import booking, consents, recipients, sessions, webhooks
from tests.helpers import ACTOR
from tests.webhook_receiver import running_receiver

NOW = datetime(2027, 2, 16, 12, 0, tzinfo=UTC)
TIMEOUT = 0.5


@pytest.fixture
def app_config():
    return {"WEBHOOK_ALLOW_PRIVATE": True, "WEBHOOK_TIMEOUT_SECONDS": TIMEOUT}


@pytest.fixture
def receiver(monkeypatch):
    with running_receiver(monkeypatch) as listening:
        listening.hold_seconds = TIMEOUT * 3
        yield listening


def settings(app) -> webhooks.Settings:
    return webhooks.Settings.from_config(app.config)


@pytest.fixture
def world(app, db, make, receiver):
    """Avery and Blake booked into one group session; Kipu holds Avery's consent only, and
    listens for every event at the receiver."""
    program = make.program(name="Evening IOP")
    group = make.series(program, title="Relapse prevention group")
    session = db.scalars(select(Session).where(Session.series_id == group.id)
                         .order_by(Session.starts_at)).first()
    avery = make.client(program, name="Avery Stone")
    blake = make.client(program, name="Blake Moss")
    avery_booking, _ = booking.book_client(db, ACTOR, session.id, avery.id, now=NOW)
    blake_booking, _ = booking.book_client(db, ACTOR, session.id, blake.id, now=NOW)
    kipu = recipients.create_recipient(db, ACTOR, name="Kipu EHR", kind="ehr")
    consent = consents.record(db, ACTOR, avery, recipient_id=kipu.id,
                              purpose="Coordination of care",
                              scope=["appointments", "attendance"],
                              signed_on=date(2027, 2, 10), expires_on=date(2027, 3, 31), now=NOW)
    endpoint, secret = webhooks.create(db, ACTOR, settings(app), recipient_id=kipu.id,
                                       url=receiver.url, events=list(WEBHOOK_EVENTS), now=NOW)
    admin = make.user("admin")
    db.commit()
    return {"session": session, "avery": avery, "blake": blake, "kipu": kipu,
            "consent": consent, "endpoint": endpoint, "secret": secret, "admin": admin,
            "avery_booking": avery_booking, "blake_booking": blake_booking}


def run(app, db, at: datetime | None = None):
    """Run the deliver-webhooks job as the worker would, at `at` on the clinic's clock."""
    db.commit()
    with clock.frozen(at or clock.now()):
        finished = run_job(app, "deliver-webhooks", trigger="cli")
    db.expire_all()
    return finished


def cancel(db, world) -> None:
    sessions.change_session(db, ACTOR, world["session"], {"status": "cancelled"},
                            reason="Facilitator ill")
    db.commit()


def the_delivery(db) -> WebhookDelivery:
    (delivery,) = db.scalars(select(WebhookDelivery)).all()
    return delivery


def verified(received, secret: str, at: datetime) -> dict:
    with clock.frozen(at):
        return received.verify(secret)


def test_a_cancelled_group_names_only_the_consented_clients_appointment(app, db, world,
                                                                          receiver):
    cancel(db, world)
    run(app, db)

    (got,) = receiver.got
    body = verified(got, world["secret"], NOW)
    appointment = f"Appointment/{world['avery_booking'].id}"
    assert body == {"type": "session.cancelled", "timestamp": "2027-02-16T12:00:00Z",
                    "data": {"id": str(world["avery_booking"].id), "fhir": appointment}}
    # No co-member, no name, no title: Blake is in the same group and has no consent.
    raw = got.body.decode()
    for secret_word in ("Blake", "Avery", "Relapse", str(world["blake_booking"].id) + '"'):
        assert secret_word not in raw
    assert got.headers["webhook-id"].startswith("msg_")
    assert got.headers["Content-Type"] == "application/json"
    delivery = the_delivery(db)
    assert (delivery.status, delivery.attempts, delivery.client_id) == (
        "delivered", 1, world["avery"].id)
    (disclosure,) = db.scalars(select(Disclosure)).all()
    assert (disclosure.client_id, disclosure.recipient_id, disclosure.consent_id,
            disclosure.channel, disclosure.scope, disclosure.webhook_endpoint_id) == (
        world["avery"].id, world["kipu"].id, world["consent"].id, "webhook", "appointments",
        world["endpoint"].id)
    assert disclosure.what.startswith(f"session.cancelled {appointment}")


def test_500_backs_off_retry_after_is_honoured_and_410_disables_at_once(app, db, world,
                                                                         receiver):
    receiver.answer((500, {}), (503, {"Retry-After": "120"}), (410, {}))
    cancel(db, world)

    run(app, db)
    delivery = the_delivery(db)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    # The first back-off is a minute, give or take the 10 % jitter.
    wait = delivery.next_attempt_at - NOW
    assert timedelta(seconds=54) <= wait <= timedelta(seconds=66)

    # Running again before it is due sends nothing twice.
    run(app, db, NOW + timedelta(seconds=30))
    assert len(receiver.got) == 1

    second = delivery.next_attempt_at
    run(app, db, second)
    delivery = the_delivery(db)
    assert delivery.attempts == 2
    assert delivery.next_attempt_at == second + timedelta(seconds=120)  # as Retry-After said

    third = delivery.next_attempt_at
    run(app, db, third)
    delivery = the_delivery(db)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 3, 410)
    endpoint = db.get(WebhookEndpoint, world["endpoint"].id)
    assert not endpoint.is_enabled and "410" in endpoint.disabled_reason

    # The same webhook-id every time, each one signed.
    assert len({got.headers["webhook-id"] for got in receiver.got}) == 1
    for got, at in zip(receiver.got, (NOW, second, third), strict=True):
        assert verified(got, world["secret"], at)["type"] == "session.cancelled"
    assert [a.status_code for a in db.scalars(
        select(WebhookAttempt).order_by(WebhookAttempt.id))] == [500, 503, 410]
    # One disclosure for the delivery, however many attempts reached the receiver.
    assert len(db.scalars(select(Disclosure)).all()) == 1

    # The admins hear of it, in plain words and by email; nothing more goes out.
    (alert,) = db.scalars(select(Alert)).all()
    assert (alert.kind, alert.client_id, alert.detail["endpoint_id"]) == (
        "webhook_disabled", None, endpoint.id)
    mail = db.scalars(select(Notification).where(Notification.kind == "alert")).all()
    assert [m.to_address for m in mail] == [world["admin"].email]
    assert "Kipu EHR" in mail[0].body and "Avery" not in mail[0].body
    run(app, db, third + timedelta(days=1))
    assert len(receiver.got) == 3


def test_the_admins_hear_of_a_disabled_endpoint_each_in_their_language(app, db, make, world,
                                                                        receiver):
    """One admin reads Spanish, another English: the same alert, each in their own words."""
    world["admin"].language = "es"
    english = make.user("admin")
    db.commit()
    receiver.answer((410, {}))
    cancel(db, world)

    run(app, db)

    mail = {m.to_address: m for m in db.scalars(
        select(Notification).where(Notification.kind == "alert"))}
    spanish = mail[world["admin"].email]
    endpoint_id = world["endpoint"].id
    assert spanish.subject == "Se desactivó un endpoint de webhook"
    assert spanish.body.startswith(
        f"Se desactivó el endpoint de webhook n.º {endpoint_id} de Kipu EHR: ")
    assert (f"No se le enviará nada más hasta que un administrador lo vuelva a activar (PATCH "
            f"/api/v1/webhooks/{endpoint_id} con is_enabled true).") in spanish.body
    assert mail[english.email].subject == "A webhook endpoint was disabled"
    assert mail[english.email].body.startswith(
        f"Webhook endpoint #{endpoint_id} of Kipu EHR was disabled: ")


def test_ten_failed_attempts_over_about_three_days_disable_the_endpoint(app, db, world,
                                                                         receiver):
    receiver.answer("timeout", *[(500, {})] * 9)
    cancel(db, world)
    at = NOW
    times = []
    for _ in range(webhooks.MAX_ATTEMPTS):
        run(app, db, at)
        times.append(at)
        delivery = the_delivery(db)
        if delivery.status != "pending":
            break
        assert delivery.next_attempt_at > at
        at = delivery.next_attempt_at

    assert delivery.status == "failed" and delivery.attempts == webhooks.MAX_ATTEMPTS
    assert len(receiver.got) == webhooks.MAX_ATTEMPTS
    first, *_ = db.scalars(select(WebhookAttempt).order_by(WebhookAttempt.id)).all()
    assert first.status_code is None and first.error.startswith("No answer within")
    # Exponential: each wait at least twice the one before until the day-long cap.
    waits = [b - a for a, b in zip(times, times[1:], strict=False)]
    for before, after in zip(waits, waits[1:], strict=False):
        assert after >= min(before * 2, timedelta(hours=20))
    assert timedelta(days=2.4) <= times[-1] - times[0] <= timedelta(days=3.3)
    assert not db.get(WebhookEndpoint, world["endpoint"].id).is_enabled
    assert db.scalar(select(Alert.kind)) == "webhook_disabled"
    # The timed-out request had gone out: that first attempt is the one disclosure.
    (disclosure,) = db.scalars(select(Disclosure)).all()
    assert disclosure.disclosed_at == NOW


def test_a_redirect_is_a_failure_and_is_not_followed(app, db, world, receiver):
    receiver.answer((302, {"Location": receiver.url + "/elsewhere"}))
    cancel(db, world)
    run(app, db)

    assert [got.path for got in receiver.got] == ["/hooks/iop"]
    delivery = the_delivery(db)
    assert (delivery.status, delivery.last_status_code) == ("pending", 302)
    assert "redirect" in delivery.last_error


def test_private_addresses_are_refused_at_delivery_without_the_flag(app, db, world, receiver):
    cancel(db, world)
    refusing = webhooks.Settings(key=settings(app).key, allow_private=False, timeout=TIMEOUT)
    counts = webhooks.deliver_due(db, refusing, NOW)

    assert receiver.got == [] and counts.retrying == 1
    delivery = the_delivery(db)
    assert "private or local address" in delivery.last_error
    # Nothing left the building: no disclosure.
    assert db.scalars(select(Disclosure)).all() == []


def test_a_name_resolving_to_a_private_address_is_refused_dns_rebinding():
    def rebinding(address):
        return lambda host, port, **kw: [(2, 1, 6, "", (address, port))]

    with pytest.raises(webhooks.AddressRefused, match="10.0.0.5"):
        webhooks.resolve("hooks.example.com", 443, False, getaddrinfo=rebinding("10.0.0.5"))
    with pytest.raises(webhooks.AddressRefused):
        webhooks.resolve("hooks.example.com", 443, False, getaddrinfo=rebinding("169.254.1.1"))
    with pytest.raises(webhooks.AddressRefused):
        webhooks.resolve("hooks.example.com", 443, False, getaddrinfo=rebinding("::1"))
    assert webhooks.resolve("hooks.example.com", 443, False,
                            getaddrinfo=rebinding("93.184.216.34")) == "93.184.216.34"
    assert webhooks.resolve("hooks.example.com", 443, True,
                            getaddrinfo=rebinding("10.0.0.5")) == "10.0.0.5"


def test_no_consent_means_no_webhook(app, db, world, receiver):
    booking.cancel_booking(db, ACTOR, world["blake_booking"].id, now=NOW)
    db.commit()
    run(app, db)
    assert receiver.got == []
    assert db.scalars(select(WebhookDelivery)).all() == []


def test_a_consent_revoked_after_queueing_stops_the_queued_delivery(app, db, world, receiver):
    cancel(db, world)
    consents.revoke(db, ACTOR, world["consent"], NOW, reason="Client asked")
    db.commit()
    run(app, db, NOW + timedelta(seconds=1))

    assert receiver.got == []
    delivery = the_delivery(db)
    assert delivery.status == "failed" and "consent" in delivery.last_error
    assert db.scalars(select(Disclosure)).all() == []


def test_an_expired_consent_stops_retries(app, db, world, receiver):
    receiver.answer((500, {}))
    cancel(db, world)
    run(app, db)
    # The consent runs to the end of 31 March in New York; the retry comes after.
    with clock.frozen(datetime(2027, 4, 2, tzinfo=UTC)):
        counts = webhooks.deliver_due(db, settings(app), clock.now())
    assert counts.stopped == 1 and len(receiver.got) == 1
    assert the_delivery(db).status == "failed"


def test_both_secrets_sign_while_a_rotation_overlaps(app, db, world, receiver):
    endpoint = db.get(WebhookEndpoint, world["endpoint"].id)
    _, new_secret = webhooks.rotate_secret(db, ACTOR, settings(app), endpoint, NOW)
    db.commit()
    cancel(db, world)
    run(app, db)
    (got,) = receiver.got
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    assert verified(got, world["secret"], NOW)["type"] == "session.cancelled"
    assert verified(got, new_secret, NOW)["type"] == "session.cancelled"

    # A day later the old one has stopped signing.
    later = NOW + webhooks.ROTATION_OVERLAP + timedelta(minutes=1)
    with clock.frozen(later):
        booking.cancel_booking(db, ACTOR, world["avery_booking"].id, now=later)
        db.commit()
    run(app, db, later)
    last = receiver.got[-1]
    assert json.loads(last.body)["type"] == "booking.cancelled"
    assert verified(last, new_secret, later)
    with pytest.raises(Exception, match="signature"):
        verified(last, world["secret"], later)


def test_retry_after_reads_seconds_and_http_dates_and_is_capped():
    assert webhooks.retry_after("30", NOW) == timedelta(seconds=30)
    assert webhooks.retry_after("Tue, 16 Feb 2027 12:10:00 GMT", NOW) == timedelta(minutes=10)
    assert webhooks.retry_after("99999999", NOW) == webhooks.RETRY_AFTER_CAP
    assert webhooks.retry_after("Mon, 15 Feb 2027 12:00:00 GMT", NOW) == timedelta(0)
    assert webhooks.retry_after("soon", NOW) is None
    assert webhooks.retry_after(None, NOW) is None


def test_an_admins_retry_sends_a_failed_delivery_again_with_the_same_id(app, db, world,
                                                                          receiver):
    cancel(db, world)
    consents.revoke(db, ACTOR, world["consent"], NOW)
    db.commit()
    run(app, db)
    delivery = the_delivery(db)
    assert delivery.status == "failed"
    # The retry goes only under a live consent: a new one, signed today.
    consents.record(db, ACTOR, world["avery"], recipient_id=world["kipu"].id,
                    purpose="Coordination of care", scope=["appointments"],
                    signed_on=date(2027, 2, 16), expires_on=date(2027, 6, 30), now=NOW)
    endpoint = db.get(WebhookEndpoint, world["endpoint"].id)
    webhooks.retry(db, ACTOR, endpoint, delivery.id, NOW)
    db.commit()
    run(app, db)
    (got,) = receiver.got
    assert got.headers["webhook-id"] == delivery.message_id
    assert the_delivery(db).status == "delivered"
