"""Sharing outside the clinic on the pages (issue 20 §1): the client page records and revokes
consents and shows what was shared; /me shows the client the same in their words; admins set up
recipients and their API clients, whose secret is shown once.

The clinic's clock stands at Tue 16 February 2027 12:00 UTC (07:00 in New York).
"""

import re
from datetime import date, datetime, timedelta
from html import unescape

import pytest
from sqlalchemy import select

from scheduler.models import AuditEvent, Consent, FhirClient, Recipient
from scheduler.services import consents, disclosures, plans, recipients
from tests.helpers import ACTOR, beside, sign_in

VALID = {"purpose": "Coordination of care", "scope": ["appointments", "attendance"],
         "signed_on": "2027-02-10", "expires_on": "2027-08-10",
         "document_ref": "Scanned forms/avery-kipu.pdf"}


def csrf(client, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def text(answer) -> str:
    main = answer.get_data(as_text=True).split("<main", 1)[-1].split("</main>", 1)[0]
    words = unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main)))
    # A tag closed before punctuation leaves a space there: "<b>Kipu</b>, a" reads "Kipu , a".
    return re.sub(r" ([,.:])", r"\1", words)


@pytest.fixture
def clinic(db, make):
    program = make.program(name="Evening IOP")
    therapist = make.staff(name="Dana Whitfield")
    avery = make.client(program, name="Avery Stone")
    blake = make.client(program, name="Blake Moss")
    kipu = recipients.create_recipient(db, ACTOR, name="Kipu EHR", kind="ehr")
    recipients.create_recipient(db, ACTOR, name="Old Billing", kind="billing", is_active=False)
    plans.create_plan(db, ACTOR, avery.id, start_date=date(2027, 2, 1),
                      primary_therapist_id=therapist.id)
    db.commit()
    return {"therapist": therapist, "avery": avery, "blake": blake, "kipu": kipu}


@pytest.fixture
def coordinator(client, make):
    user = make.user("coordinator")
    sign_in(client, user)
    return user


def page_of(clinic, who="avery") -> str:
    return f"/clients/{clinic[who].id}"


def post_consent(client, clinic, **changes):
    path = page_of(clinic)
    data = {**VALID, "recipient_id": str(clinic["kipu"].id), **changes,
            "csrf_token": csrf(client, path)}
    return client.post(f"{path}/consents", data=data)


def test_the_client_page_records_a_consent_and_lists_it(client, coordinator, clinic, db):
    page = text(client.get(page_of(clinic)))
    assert "Sharing outside the clinic" in page
    assert "No consents on record" in page
    assert "Record a signed consent" in page
    # Only active recipients are offered.
    offered = client.get(page_of(clinic)).get_data(as_text=True).split(
        'id="consent-recipient_id"', 1)[1].split("</select>", 1)[0]
    assert "Kipu EHR" in offered and "Old Billing" not in offered

    answer = post_consent(client, clinic)
    assert answer.status_code == 303
    assert answer.headers["Location"].endswith(f"{page_of(clinic)}#sharing")
    shown = text(client.get(page_of(clinic)))
    assert "Consent recorded: Kipu EHR may receive appointments and attendance until " \
        "10 Aug 2027." in shown
    assert re.search(r"Kipu EHR Coordination of care Appointments and attendance "
                     r"10 Feb 2027 10 Aug 2027 In force", shown), shown
    [row] = db.scalars(select(Consent)).all()
    assert (row.scope, row.document_ref, row.created_by_user_id) == (
        ["appointments", "attendance"], "Scanned forms/avery-kipu.pdf", coordinator.id)


@pytest.mark.parametrize("changes, field, words", [
    ({"purpose": ""}, "consent-purpose", "Say what the sharing is for"),
    ({"purpose": "x" * 1001}, "consent-purpose", "At most 1000 characters."),
    ({"purpose": "care\x00"}, "consent-purpose", "Must not contain NUL characters."),
    ({"scope": []}, "scope", "Tick at least one."),
    ({"scope": ["everything"]}, "scope", "is not a valid choice"),
    ({"recipient_id": ""}, "consent-recipient_id", "Choose who the client agreed to share with."),
    ({"recipient_id": str(2**63)}, "consent-recipient_id", "Choose who the client agreed"),
    ({"signed_on": "9999-01-01"}, "consent-signed_on", "Must be between 2000-01-01"),
    ({"signed_on": "2027-02-17"}, "consent-signed_on", "cannot be signed after today"),
    ({"expires_on": "2027-02-30"}, "consent-expires_on", "Not a valid date value."),
    ({"expires_on": "2027-02-09"}, "consent-expires_on", "on or after the day it was signed"),
    ({"document_ref": "f" * 501}, "consent-document_ref", "At most 500 characters."),
])
def test_a_refused_consent_says_why_next_to_the_field(client, coordinator, clinic, db, changes,
                                                      field, words):
    answer = post_consent(client, clinic, **changes)
    assert answer.status_code == 422, text(answer)
    html = answer.get_data(as_text=True)
    error_id = f"{field}-error"
    assert f'id="{error_id}"' in html, text(answer)
    # Beside the field, and announced itself (role="alert" after the id).
    error = html.split(f'id="{error_id}" role="alert">', 1)[1].split("</span>", 1)[0]
    assert words in unescape(error), error
    # Announced: the flash is an alert, and the input points at its error.
    assert 'role="alert" id="consent-error">Consent not recorded: please fix the fields ' \
        'marked below.' in html
    if field != "scope":
        assert f'aria-describedby="{error_id}"' in html
    # The form stays open with what was typed.
    assert '<details class="card record-consent" open>' in html
    assert db.scalar(select(Consent.id)) is None


def test_an_inactive_recipient_posted_by_hand_is_refused_by_name(client, coordinator, clinic,
                                                                 db):
    old = db.scalar(select(Recipient).where(Recipient.name == "Old Billing"))
    answer = post_consent(client, clinic, recipient_id=str(old.id))
    assert answer.status_code == 422
    assert "Old Billing is no longer an active recipient." in text(answer)


def record(db, clinic, who="avery", **kw):
    fields = dict(recipient_id=clinic["kipu"].id, purpose="Coordination of care",
                  scope=["appointments"], signed_on=date(2027, 2, 10),
                  expires_on=date(2027, 8, 10), now=datetime.fromisoformat(
                      "2027-02-16T12:00:00+00:00"))
    fields.update(kw)
    row = consents.record(db, ACTOR, clinic[who], **fields)
    db.commit()
    return row


def test_revoking_asks_first_takes_a_reason_and_stops_it(client, coordinator, clinic, db):
    row = record(db, clinic)
    html = client.get(page_of(clinic)).get_data(as_text=True)
    assert "Yes, revoke: stop sharing with Kipu EHR" in html
    assert "<details class=\"revoke\">" in html  # folded: the first click only opens it
    path = f"{page_of(clinic)}/consents/{row.id}/revoke"
    answer = client.post(path, data={"reason": "Client asked by phone",
                                     "csrf_token": csrf(client, page_of(clinic))})
    assert answer.status_code == 303
    shown = text(client.get(page_of(clinic)))
    assert "Consent revoked: nothing more goes to Kipu EHR from now on." in shown
    assert "Revoked 16 Feb 2027 (Client asked by phone)" in shown
    db.expire_all()
    assert consents.state(db.get(Consent, row.id), row.created_at + timedelta(minutes=1)) \
        == "revoked"
    assert db.scalar(select(AuditEvent.reason).where(
        AuditEvent.action == "revoke", AuditEvent.entity_type == "consent")) == \
        "Client asked by phone"

    again = client.post(path, data={"csrf_token": csrf(client, page_of(clinic))})
    assert again.status_code == 409
    assert "Not revoked: This consent was already revoked" in text(again)


def test_a_refused_reason_comes_back_under_it_with_the_box_open(client, coordinator, clinic, db):
    row = record(db, clinic)
    answer = client.post(f"{page_of(clinic)}/consents/{row.id}/revoke",
                         data={"reason": "r" * 501, "csrf_token": csrf(client, page_of(clinic))})
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    assert '<details class="revoke" open>' in html
    assert f'aria-describedby="revoke-{row.id}-reason-error"' in html
    assert "At most 500 characters." in text(answer)
    assert consents.state(db.get(Consent, row.id), row.created_at) == "live"


def test_another_clients_consent_cannot_be_revoked_through_this_page(client, coordinator,
                                                                     clinic, db):
    blakes = record(db, clinic, who="blake")
    answer = client.post(f"{page_of(clinic)}/consents/{blakes.id}/revoke",
                         data={"csrf_token": csrf(client, page_of(clinic))})
    assert answer.status_code == 404
    db.expire_all()
    assert db.get(Consent, blakes.id).revoked_at is None


def shared(db, row, at, scope="appointments", channel="fhir"):
    disclosures.log(db, row, channel=channel, scope=scope, what="Appointment/12", at=at)
    db.commit()


def test_the_client_page_shows_what_was_shared_in_words(client, coordinator, clinic, db):
    row = record(db, clinic)
    # 19:05 UTC is 14:05 in New York.
    shared(db, row, datetime.fromisoformat("2027-03-03T19:05:00+00:00"))
    shared(db, row, datetime.fromisoformat("2027-03-04T19:05:00+00:00"), scope="attendance",
           channel="webhook")
    shown = text(client.get(page_of(clinic)))
    first = shown.index("Shared with Kipu EHR on 4 Mar 2027 14:05: attendance (sent to their "
                        "system), under the consent signed 10 Feb 2027 for Coordination of care.")
    second = shown.index("Shared with Kipu EHR on 3 Mar 2027 14:05: appointment (read by their "
                         "system), under the consent signed 10 Feb 2027 for Coordination of care.")
    assert first < second
    assert "Appointment/12" not in shown


def test_one_search_of_many_appointments_reads_as_one_line(client, coordinator, make, clinic,
                                                          db):
    """An EHR's search discloses a page of appointments at once: fifty identical lines would
    bury the webhook sent the same minute, so each run of the same kind is one line."""
    row = record(db, clinic)
    at = datetime.fromisoformat("2027-03-03T19:05:00+00:00")
    for second in range(12):
        shared(db, row, at.replace(second=second))
    shared(db, row, at.replace(second=30), channel="webhook")
    shared(db, row, at.replace(second=40))
    shown = text(client.get(page_of(clinic)))
    assert "(14 in all)" in shown
    lines = shown[shown.index("(14 in all)"):].split("Shared with ")[1:]
    assert [line.split(" (")[0] for line in lines] == [
        "Kipu EHR on 3 Mar 2027 14:05: appointment",
        "Kipu EHR on 3 Mar 2027 14:05: appointment",
        "Kipu EHR on 3 Mar 2027 14:05: 12 appointments"]
    assert "sent to their system" in lines[1] and "read by their system" in lines[2]
    sign_in(client, make.user("client", client_id=clinic["avery"].id))
    assert ("3 March 2027, 14:05: Kipu EHR received 12 of your appointments, as you agreed on "
            "10 February 2027.") in text(client.get("/me"))


def test_a_clinician_outside_the_caseload_sees_no_sharing_section(client, make, clinic, db):
    record(db, clinic, who="blake")
    sign_in(client, make.user("clinician", staff_id=clinic["therapist"].id))
    own = text(client.get(page_of(clinic)))
    assert "Sharing outside the clinic" in own and "Record a signed consent" not in own
    outside = text(client.get(page_of(clinic, "blake")))
    assert "Sharing outside the clinic" not in outside and "Kipu EHR" not in outside


def test_coordinators_without_recipients_are_told_who_adds_them(client, coordinator, clinic, db):
    recipients.update_recipient(db, ACTOR, clinic["kipu"], {"is_active": False})
    db.commit()
    shown = text(client.get(page_of(clinic)))
    assert "No outside services are set up to receive information yet. An admin adds them " \
        "under Setup." in shown


# --- the client's own page ---------------------------------------------------------------------


def test_the_client_sees_whom_they_share_with_and_what_went_in_plain_words(client, make, clinic,
                                                                         db):
    row = record(db, clinic, scope=["appointments", "demographics"])
    ended = record(db, clinic, purpose="Billing", signed_on=date(2027, 1, 5),
                   expires_on=date(2027, 12, 31))
    consents.revoke(db, ACTOR, ended, datetime.fromisoformat("2027-02-12T15:00:00+00:00"))
    db.commit()
    shared(db, row, datetime.fromisoformat("2027-02-15T19:05:00+00:00"))
    record(db, clinic, who="blake", purpose="Blake's referral")
    sign_in(client, make.user("client", client_id=clinic["avery"].id))
    answer = client.get("/me")
    shown = text(answer)
    assert "Who sees my information" in shown
    assert ("Kipu EHR, a health record service For: Coordination of care What: your "
            "appointments and your name, date of birth and identifiers From 10 February 2027 "
            "until 10 August 2027 Sharing") in shown
    assert "For: Billing" in shown and "Stopped on 12 February 2027" in shown
    assert "15 February 2027, 14:05: Kipu EHR received one of your appointments, as you " \
        "agreed on 10 February 2027." in shown
    assert "Blake" not in shown
    for jargon in ("FHIR", "fhir", "webhook", "Appointment/", "scope", "recipient", "consent_id",
                   "EHR)", "demographics"):
        assert jargon not in shown, jargon


def test_a_client_with_nothing_shared_is_told_so(client, make, clinic):
    sign_in(client, make.user("client", client_id=clinic["avery"].id))
    shown = text(client.get("/me"))
    assert "You have not agreed to share with anyone outside the clinic" in shown
    assert "Nothing has been shared yet." in shown


# --- the recipients setup page -------------------------------------------------------------------


@pytest.fixture
def admin(client, make):
    user = make.user("admin")
    sign_in(client, user)
    return user


def test_admins_add_deactivate_and_reactivate_a_recipient(client, admin, clinic, db):
    page = client.get("/recipients")
    assert page.status_code == 200
    assert 'href="/recipients" aria-current="page">Recipients</a>' in page.get_data(
        as_text=True)
    token = csrf(client, "/recipients")
    clash = client.post("/recipients", data={"name": "kipu ehr", "kind": "ehr",
                                             "csrf_token": token})
    assert clash.status_code == 422
    assert beside(clash.get_data(as_text=True), "name") == \
        "A recipient named 'kipu ehr' already exists."
    added = client.post("/recipients", data={"name": "Harbor Referrals", "kind": "referral",
                                             "contact": "Intake desk, 555-0199",
                                             "csrf_token": token})
    assert added.status_code == 303
    shown = text(client.get("/recipients"))
    assert "Harbor Referrals added." in shown
    assert "Harbor Referrals Referral partner Intake desk, 555-0199 None Receiving" in shown
    harbor = db.scalar(select(Recipient).where(Recipient.name == "Harbor Referrals"))
    assert client.post(f"/recipients/{harbor.id}/deactivate",
                       data={"csrf_token": token}).status_code == 303
    db.expire_all()
    assert db.get(Recipient, harbor.id).is_active is False
    assert "is deactivated" in text(client.get("/recipients"))
    client.post(f"/recipients/{harbor.id}/reactivate", data={"csrf_token": token})
    db.expire_all()
    assert db.get(Recipient, harbor.id).is_active is True


def test_an_api_clients_secret_is_shown_once_and_never_again(client, admin, clinic, db):
    path = f"/recipients/{clinic['kipu'].id}"
    token = csrf(client, path)
    none = client.post(f"{path}/api-clients", data={"csrf_token": token})
    assert none.status_code == 422
    assert 'id="scopes-error"' in none.get_data(as_text=True)

    made = client.post(f"{path}/api-clients", data={
        "scopes": ["system/Appointment.read", "system/Patient.read"], "csrf_token": token})
    assert made.status_code == 201
    assert made.headers["Cache-Control"] == "no-store"
    html = made.get_data(as_text=True)
    secret = re.search(r'id="new-client-secret"[^>]*value="([^"]+)"', html).group(1)
    client_id = re.search(r'id="new-client-id"[^>]*value="([^"]+)"', html).group(1)
    assert "cannot be shown again" in text(made)
    row = db.scalar(select(FhirClient))
    assert row.client_id == client_id and row.scopes == ["system/Appointment.read",
                                                         "system/Patient.read"]
    assert recipients.fhir_client_for_credentials(db, client_id, secret) is not None
    again = client.get(path).get_data(as_text=True)
    assert secret not in again and client_id in again

    revoked = client.post(f"{path}/api-clients/{row.id}/revoke", data={"csrf_token": token})
    assert revoked.status_code == 303
    db.expire_all()
    assert recipients.fhir_client_for_credentials(db, client_id, secret) is None
    assert "Revoked 16 Feb 2027" in text(client.get(path))


def test_an_api_client_of_another_recipient_is_404(client, admin, clinic, db):
    other = recipients.create_recipient(db, ACTOR, name="Claims Co", kind="billing")
    row, _ = recipients.create_fhir_client(db, ACTOR, other, scopes=["system/Slot.read"])
    db.commit()
    answer = client.post(f"/recipients/{clinic['kipu'].id}/api-clients/{row.id}/revoke",
                         data={"csrf_token": csrf(client, "/recipients")})
    assert answer.status_code == 404
    db.expire_all()
    assert db.get(FhirClient, row.id).revoked_at is None


def test_the_setup_bar_offers_recipients_to_admins_only(client, make):
    sign_in(client, make.user("coordinator"))
    assert "/recipients" not in client.get("/rooms").get_data(as_text=True)
    assert client.get("/recipients").status_code == 403
    sign_in(client, make.user("admin"))
    assert 'href="/recipients"' in client.get("/rooms").get_data(as_text=True)


def test_the_audit_page_names_consents_recipients_and_api_clients(client, admin, clinic, db):
    row = record(db, clinic)
    consents.revoke(db, ACTOR, row, datetime.fromisoformat("2027-02-16T12:30:00+00:00"),
                    reason="Client asked")
    recipients.create_fhir_client(db, ACTOR, clinic["kipu"], scopes=["system/Slot.read"])
    db.commit()
    shown = text(client.get("/audit"))
    assert "Created Avery Stone's consent to share with Kipu EHR" in shown
    assert "Revoked Avery Stone's consent to share with Kipu EHR" in shown
    assert "Created API client of Kipu EHR" in shown
    assert "Created Kipu EHR" in shown
    assert "no longer on record" not in shown


@pytest.mark.parametrize("form, field, words", [
    ({"name": "", "kind": "ehr"}, "name", "Give the service's name."),
    ({"name": "Harbor Referrals", "kind": "fax"}, "kind", "Not a valid choice."),
    ({"name": "Harbor Referrals", "kind": "ehr", "contact": "c" * 301}, "contact",
     "Field cannot be longer than 300 characters."),
])
def test_a_refused_recipient_says_why_next_to_the_field(client, admin, db, form, field, words):
    answer = client.post("/recipients", data={**form, "csrf_token": csrf(client, "/recipients")})
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    assert beside(html, field) == words
    assert html.count('aria-invalid="true"') == 1
    assert db.scalar(select(Recipient.id).where(Recipient.name == "Harbor Referrals")) is None
