"""Part 2 consent (issue 20): the one rule every outbound path asks, and the disclosure log.

The clinic's clock stands at Tue 16 February 2027 12:00 UTC (07:00 in New York).
"""

from datetime import UTC, date, datetime, timedelta

import pytest

from scheduler import clock
from scheduler.models import AuditEvent, Disclosure
from scheduler.services import consents, disclosures, fhir_auth, recipients
from scheduler.services.errors import InvalidField, StateConflict
from tests.helpers import ACTOR

NOW = datetime(2027, 2, 16, 12, 0, tzinfo=UTC)


@pytest.fixture
def world(db, make):
    program = make.program(name="Evening IOP", timezone="America/New_York")
    avery = make.client(program, name="Avery Stone")
    blake = make.client(program, name="Blake Moss")
    kipu = recipients.create_recipient(db, ACTOR, name="Kipu EHR", kind="ehr")
    billing = recipients.create_recipient(db, ACTOR, name="Claims Co", kind="billing")
    db.commit()
    return {"avery": avery, "blake": blake, "kipu": kipu, "billing": billing}


def consent(db, world, **kw):
    fields = dict(recipient_id=world["kipu"].id, purpose="Coordination of care",
                  scope=["appointments"], signed_on=date(2027, 2, 10),
                  expires_on=date(2027, 8, 10), now=NOW)
    fields.update(kw)
    row = consents.record(db, ACTOR, kw.pop("client", world["avery"]), **{
        k: v for k, v in fields.items() if k != "client"})
    db.commit()
    return row


def test_a_live_consent_names_the_recipient_and_covers_only_its_scope(db, world):
    row = consent(db, world, scope=["appointments", "demographics"])

    assert consents.live(db, world["avery"].id, world["kipu"].id, "appointments", NOW) == row
    assert consents.live(db, world["avery"].id, world["kipu"].id, "demographics", NOW) == row
    assert consents.live(db, world["avery"].id, world["kipu"].id, "attendance", NOW) is None
    assert consents.live(db, world["avery"].id, world["billing"].id, "appointments", NOW) is None
    assert consents.live(db, world["blake"].id, world["kipu"].id, "appointments", NOW) is None
    ids = set(db.scalars(consents.live_client_ids(world["kipu"].id, "appointments", NOW)))
    assert ids == {world["avery"].id}
    assert row.scope == ["appointments", "demographics"]


def test_it_runs_to_the_end_of_its_expiry_day_on_the_programs_calendar(db, world):
    row = consent(db, world, expires_on=date(2027, 3, 1))
    # 1 March ends at midnight New York time: 05:00 UTC on 2 March.
    last_moment = datetime(2027, 3, 2, 4, 59, tzinfo=UTC)
    assert consents.live(db, world["avery"].id, world["kipu"].id, "appointments", last_moment)
    after = datetime(2027, 3, 2, 5, 0, tzinfo=UTC)
    assert consents.live(db, world["avery"].id, world["kipu"].id, "appointments", after) is None
    assert consents.state(row, after) == "expired"
    # Signed on 10 February: live from that day's start in New York, not before.
    before_signing = datetime(2027, 2, 10, 4, 59, tzinfo=UTC)
    assert consents.live(db, world["avery"].id, world["kipu"].id, "appointments",
                         before_signing) is None


def test_revoking_stops_it_from_that_instant_and_is_audited(db, world):
    row = consent(db, world)
    consents.revoke(db, ACTOR, row, NOW + timedelta(minutes=5), reason="Client asked")
    db.commit()

    assert consents.live(db, world["avery"].id, world["kipu"].id, "appointments", NOW)
    assert consents.live(db, world["avery"].id, world["kipu"].id, "appointments",
                         NOW + timedelta(minutes=5)) is None
    assert consents.state(row, NOW + timedelta(minutes=6)) == "revoked"
    with pytest.raises(StateConflict):
        consents.revoke(db, ACTOR, row, NOW + timedelta(minutes=7))
    actions = [e.action for e in db.query(AuditEvent).filter_by(entity_type="consent")
               .order_by(AuditEvent.id)]
    assert actions == ["create", "revoke"]


def test_an_inactive_recipient_gets_nothing_whatever_its_consents(db, world):
    consent(db, world)
    recipients.update_recipient(db, ACTOR, world["kipu"], {"is_active": False})
    db.commit()
    assert consents.live(db, world["avery"].id, world["kipu"].id, "appointments", NOW) is None


@pytest.mark.parametrize("fields, field", [
    ({"scope": []}, "scope"),
    ({"scope": ["everything"]}, "scope"),
    ({"purpose": "   "}, "purpose"),
    ({"signed_on": date(2027, 2, 17)}, "signed_on"),
    ({"expires_on": date(2027, 2, 9)}, "expires_on"),
    ({"signed_on": date(2026, 1, 1), "expires_on": date(2027, 2, 15)}, "expires_on"),
    ({"recipient_id": 2**63}, "recipient_id"),
])
def test_what_a_consent_form_could_not_say_is_refused_naming_the_field(db, world, fields,
                                                                        field):
    with pytest.raises(InvalidField) as refused:
        consent(db, world, **fields)
    assert field in refused.value.fields


def test_every_disclosure_is_logged_against_its_consent(db, world):
    row = consent(db, world)
    disclosures.log(db, row, channel="fhir", scope="appointments", what="Appointment/12",
                    at=NOW)
    db.commit()
    logged, total = disclosures.for_client(db, world["avery"].id)
    assert total == 1
    assert (logged[0].recipient.name, logged[0].what, logged[0].consent_id) == (
        "Kipu EHR", "Appointment/12", row.id)
    assert disclosures.for_client(db, world["blake"].id) == ([], 0)
    assert db.query(Disclosure).count() == 1


def test_an_api_client_secret_is_kept_only_as_a_hash_and_tokens_end_with_the_client(db, world):
    row, secret = recipients.create_fhir_client(db, ACTOR, world["kipu"],
                                                scopes=["system/Appointment.read"])
    db.commit()
    assert secret not in row.secret_hash
    assert recipients.fhir_client_for_credentials(db, row.client_id, secret) == row
    assert recipients.fhir_client_for_credentials(db, row.client_id, secret + "x") is None
    assert recipients.fhir_client_for_credentials(db, "fc_nobody", secret) is None

    assert fhir_auth.granted_scopes(row, "system/Patient.read system/Appointment.read") == [
        "system/Appointment.read"]
    issued = fhir_auth.issue(db, row, ["system/Appointment.read"], clock.now())
    db.commit()
    assert fhir_auth.token_for(db, issued.access_token, clock.now()).client == row
    assert fhir_auth.token_for(db, issued.access_token,
                               clock.now() + timedelta(seconds=issued.expires_in)) is None
    recipients.revoke_fhir_client(db, ACTOR, row, clock.now())
    db.commit()
    assert fhir_auth.token_for(db, issued.access_token, clock.now()) is None
    with pytest.raises(InvalidField):
        recipients.create_fhir_client(db, ACTOR, world["kipu"], scopes=["user/*.*"])
