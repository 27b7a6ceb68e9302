"""Setting a client's kiosk PIN: the front desk on the client page and at intake, the client on
/me and through the API. One rule (services/kiosk.py), never shown back, audited, limited."""

import re

import pytest
from sqlalchemy import select

from scheduler.models import AuditEvent, Client
from scheduler.services import kiosk
from tests.helpers import ACTOR, sign_in

API = "/api/v1"


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


@pytest.fixture
def avery(make):
    return make.client(make.program(name="Evening IOP"), name="Avery Stone")


@pytest.fixture
def member(make, avery):
    return make.user("client", client_id=avery.id)


def pin_hash(db, client_id):
    db.expire_all()
    return db.get(Client, client_id).kiosk_pin_hash


def pin_events(db, client_id):
    return db.scalars(select(AuditEvent).where(
        AuditEvent.action == "set_kiosk_pin", AuditEvent.entity_id == client_id)
        .order_by(AuditEvent.id)).all()


def post_pin(client, path, page, **fields):
    return client.post(path, data={"csrf_token": csrf(page), **fields})


# --- the API ----------------------------------------------------------------------------------


def test_a_client_with_a_pin_gives_the_current_one_to_change_it(client, auth, db, member):
    headers = auth.for_user(member)
    url = f"{API}/clients/{member.client_id}/kiosk-pin"
    assert client.put(url, json={"pin": "4821"}, headers=headers).status_code == 204
    missing = client.put(url, json={"pin": "1357"}, headers=headers)
    assert missing.status_code == 422
    assert "current_pin" in missing.json["errors"]["json"]
    wrong = client.put(url, json={"pin": "1357", "current_pin": "0000"}, headers=headers)
    assert wrong.status_code == 422
    assert wrong.json["errors"]["json"]["current_pin"] == ["does not match."]
    right = client.put(url, json={"pin": "1357", "current_pin": "4821"}, headers=headers)
    assert right.status_code == 204
    assert kiosk.passwords.matches(pin_hash(db, member.client_id), "1357")


def test_wrong_current_pins_pause_like_wrong_pins_at_the_kiosk(client, auth, db, member):
    headers = auth.for_user(member)
    url = f"{API}/clients/{member.client_id}/kiosk-pin"
    client.put(url, json={"pin": "4821"}, headers=headers)
    answers = [client.put(url, json={"pin": "1357", "current_pin": "0000"},
                          headers=headers).status_code for _ in range(5)]
    assert answers == [422] * 4 + [429]
    # Even the right one waits; the front desk can still reset it for them.
    assert client.put(url, json={"pin": "1357", "current_pin": "4821"},
                      headers=headers).status_code == 429
    assert client.put(url, json={"pin": "1357"}, headers=auth("clinician")).status_code == 204
    assert db.get(Client, member.client_id).checkin_locked_until is None


def test_staff_reset_a_pin_without_the_old_one_and_the_audit_never_holds_it(client, auth, db,
                                                                            avery):
    url = f"{API}/clients/{avery.id}/kiosk-pin"
    assert client.put(url, json={"pin": "4821"}, headers=auth("coordinator")).status_code == 204
    reset = client.put(url, json={"pin": "9753"}, headers=auth("clinician"))
    assert reset.status_code == 204 and not reset.data
    first, second = pin_events(db, avery.id)
    assert (first.before, first.after) == ({"kiosk_pin": None}, {"kiosk_pin": "set"})
    assert (second.before, second.after) == ({"kiosk_pin": "set"}, {"kiosk_pin": "reset"})
    assert second.actor.startswith("clinician")
    assert "4821" not in str(first.after) and "9753" not in str(second.after)


def test_setting_pins_is_rate_limited_per_account(app, client, auth, avery):
    app.config["RATELIMIT_PIN_CHANGE"] = "3 per minute"
    headers = auth("clinician")
    url = f"{API}/clients/{avery.id}/kiosk-pin"
    answers = [client.put(url, json={"pin": "4821"}, headers=headers).status_code
               for _ in range(4)]
    assert answers == [204, 204, 204, 429]


# --- the client page and intake ---------------------------------------------------------------


def test_a_clinician_sets_and_resets_a_pin_on_the_client_page(client, db, make, avery):
    sign_in(client, make.user("clinician"))
    page = client.get(f"/clients/{avery.id}").get_data(as_text=True)
    assert "Avery Stone has no kiosk PIN yet" in page
    done = post_pin(client, f"/clients/{avery.id}/kiosk-pin", page, pin="4821",
                    pin_again="4821")
    assert done.status_code == 303 and done.headers["Location"].endswith("#kiosk-pin")
    after = client.get(f"/clients/{avery.id}").get_data(as_text=True)
    assert "The kiosk PIN of Avery Stone is set." in after
    assert "Avery Stone has a PIN" in after and "Reset PIN" in after
    assert "4821" not in after
    assert kiosk.passwords.matches(pin_hash(db, avery.id), "4821")
    assert len(pin_events(db, avery.id)) == 1


@pytest.mark.parametrize(("pin", "again", "field", "message"), [
    ("4821", "4812", "pin_again", "does not match the new PIN; type it again."),
    ("48", "48", "pin", "must be 4 to 6 digits."),
    ("\x004821", "\x004821", "pin", "must be 4 to 6 digits."),
    ("9" * 5000, "9" * 5000, "pin", "must be 4 to 6 digits."),
])
def test_a_refused_pin_says_why_next_to_its_field(client, db, make, avery, pin, again, field,
                                                  message):
    sign_in(client, make.user("coordinator"))
    page = client.get(f"/clients/{avery.id}").get_data(as_text=True)
    refused = post_pin(client, f"/clients/{avery.id}/kiosk-pin", page, pin=pin, pin_again=again)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert (f'<span id="pin-field-{field}-error" class="field-error" role="alert">{message}</span>'
            in html)
    assert 'aria-invalid="true"' in html
    assert pin_hash(db, avery.id) is None


def test_a_pin_for_a_client_that_does_not_exist_is_404(client, make):
    sign_in(client, make.user("coordinator"))
    page = client.get("/kiosk").get_data(as_text=True)
    answer = post_pin(client, "/clients/999999/kiosk-pin", page, pin="4821", pin_again="4821")
    assert answer.status_code == 404


def test_intakes_last_step_offers_the_pin(client, db, make, avery):
    sign_in(client, make.user("coordinator"))
    page = client.get(f"/intake/{avery.id}/enrol").get_data(as_text=True)
    assert "Kiosk PIN" in page and 'name="back" value="intake"' in page
    done = post_pin(client, f"/clients/{avery.id}/kiosk-pin", page, pin="4821",
                    pin_again="4821", back="intake")
    assert done.status_code == 303
    assert done.headers["Location"] == f"/intake/{avery.id}/enrol"
    refused = post_pin(client, f"/clients/{avery.id}/kiosk-pin", page, pin="4821",
                       pin_again="1", back="intake")
    assert refused.headers["Location"] == f"/intake/{avery.id}/enrol"
    shown = client.get(f"/intake/{avery.id}/enrol").get_data(as_text=True)
    assert "PIN not set: New PIN again: does not match the new PIN" in shown


# --- the client on /me ------------------------------------------------------------------------


def test_a_client_sets_then_changes_their_pin_on_their_page(client, db, member):
    sign_in(client, member)
    page = client.get("/me").get_data(as_text=True)
    assert "My check-in PIN" in page and 'name="current_pin"' not in page
    done = post_pin(client, "/me/kiosk-pin", page, pin="4821", pin_again="4821")
    assert done.status_code == 303
    page = client.get("/me").get_data(as_text=True)
    assert "Your check-in PIN is changed." in page
    assert 'name="current_pin"' in page and "4821" not in page
    wrong = post_pin(client, "/me/kiosk-pin", page, current_pin="1111", pin="1357",
                     pin_again="1357")
    assert wrong.status_code == 422
    assert ('<span id="pin-field-current_pin-error" class="field-error" role="alert">'
            'does not match.</span>') in wrong.get_data(as_text=True)
    missing = post_pin(client, "/me/kiosk-pin", page, pin="1357", pin_again="1357")
    assert missing.status_code == 422
    assert "give your current PIN to change it." in missing.get_data(as_text=True)
    right = post_pin(client, "/me/kiosk-pin", page, current_pin="4821", pin="1357",
                     pin_again="1357")
    assert right.status_code == 303
    assert kiosk.passwords.matches(pin_hash(db, member.client_id), "1357")
    assert [e.actor.split()[0] for e in pin_events(db, member.client_id)] == [member.email] * 2


def test_the_pin_a_clerk_set_is_kept_when_the_kiosk_service_sets_it(db, avery):
    """The service is the one owner of the rule: the pages and the API call it alike."""
    kiosk.set_pin(db, ACTOR, avery.id, "4821")
    with pytest.raises(kiosk.InvalidField):
        kiosk.set_pin(db, ACTOR, avery.id, "48a1")
