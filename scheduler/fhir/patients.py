"""Patient: a client, as much as their Part 2 consent lets the calling recipient see.

Read and search need system/Patient.read and show only clients with a live consent naming the
caller's recipient and covering "demographics": anyone else is absent from searches, and a
read answers the same 404 as a record that does not exist. "Demographics" is, on the consent
form, name, date of birth and identifiers (services/consents.SCOPE_WORDS), so a Patient shows
those and no more: no phone, email or address. Every Patient sent is logged as a disclosure
in the same transaction.

POST /Patient (system/Patient.write) is a referral: it makes a client awaiting intake
(services/referrals.py).
"""

from datetime import date

from flask import request, url_for
from sqlalchemy import select

from scheduler import clock
from scheduler.api.parsing import JsonTooComplex, loads
from scheduler.extensions import db
from scheduler.fhir import ids, search
from scheduler.fhir.access import (
    consent_for,
    consented_client_ids,
    current_client,
    disclose,
    require_scope,
)
from scheduler.fhir.blueprint import bp
from scheduler.fhir.directory import COUNT, bundle, page_by_id
from scheduler.fhir.metadata import declare
from scheduler.fhir.responses import FHIR_JSON, instant, operation_outcome, resource
from scheduler.models import Client
from scheduler.services import referrals
from scheduler.services.audit import Actor
from scheduler.services.dates import EARLIEST_BIRTH
from scheduler.services.errors import InvalidField
from scheduler.services.lookup import MAX_ID, find
from scheduler.services.search import filtered
from scheduler.services.text import text_problem

SCOPE = "demographics"
# How a client is named in identifiers: their id here, stable for the record's life.
IDENTIFIER_SYSTEM = "urn:iop-scheduler:client-id"
# The program a referral is for: valueReference HealthcareService/{program id}.
PROGRAM_EXTENSION = "urn:iop-scheduler:referral-program"
SEARCH = (("identifier", "token", f"The client id, as {IDENTIFIER_SYSTEM}|7 or 7."),
          ("name", "string", "Each word typed begins the name or one of its words, "
                             "ignoring case."),
          ("birthdate", "date", "A full date, YYYY-MM-DD, with eq, lt, le, gt or ge before "
                                "it; repeat it for a range."), COUNT)
# Referral bodies are small; one past this is refused before it is parsed.
MAX_REFERRAL = 64 * 1024

declare("Patient", ("read", "search-type", "create"), search=SEARCH, documentation=(
    "A client. Reading and searching need system/Patient.read, and show only clients whose "
    "live Part 2 consent names the caller's recipient and covers demographics (name, date of "
    "birth, identifiers; no contact details); others are absent, and read as 404. Every "
    "Patient sent is logged in the client's accounting of disclosures. Create "
    "(system/Patient.write) is a referral: a client awaiting intake in the program named by "
    f"the extension {PROGRAM_EXTENSION} (valueReference HealthcareService/<id>). A referral "
    "for a person the caller may already see answers 200 with that record."))


def patient(client: Client) -> dict:
    body: dict = {
        "resourceType": "Patient", "id": str(client.id),
        "meta": {"lastUpdated": instant(client.updated_at)},
        "identifier": [{"use": "usual", "system": IDENTIFIER_SYSTEM, "value": str(client.id)}],
        "active": client.status == "active",
        "name": [{"use": "official", "text": client.name}],
    }
    if client.date_of_birth is not None:
        body["birthDate"] = client.date_of_birth.isoformat()
    return body


def _not_found(resource_id: str):
    # The same words for a record that is missing and for one the caller may not see.
    return operation_outcome(404, f"There is no Patient {resource_id[:64]!r} here.")


@bp.get("/Patient/<resource_id>")
@require_scope("system/Patient.read")
def read_patient(resource_id: str):
    number = ids.number(resource_id)
    client = find(db.session, Client, number) if number is not None else None
    consent = consent_for(client.id, SCOPE) if client is not None else None
    if client is None or consent is None:
        return _not_found(resource_id)
    body = patient(client)
    disclose(consent, SCOPE, ids.patient(client.id))
    db.session.commit()
    return resource(body)


def _identifier(value: str) -> int | None:
    system, bar, code = value.rpartition("|")
    if bar and system and system != IDENTIFIER_SYSTEM:
        return None  # another system's identifier names none of ours
    number = ids.number(code)
    return number if number is not None and number <= MAX_ID else None


@bp.get("/Patient")
@require_scope("system/Patient.read")
def search_patients():
    search.refuse_unknown(tuple(name for name, _, _ in SEARCH))
    query = select(Client).where(Client.id.in_(consented_client_ids(SCOPE)))
    identifier = search.one("identifier")
    if identifier is not None:
        query = query.where(Client.id == (_identifier(identifier) or 0))
    query = filtered(query, Client.name, search.one("name"))
    query = query.where(*_birth_dates())
    rows, total, following = page_by_id(query, Client.id, "fhir.search_patients")
    entries = []
    for client in rows:
        consent = consent_for(client.id, SCOPE)
        if consent is None:  # revoked between the two reads: not sent
            continue
        entries.append(patient(client))
        disclose(consent, SCOPE, ids.patient(client.id))
    answer = bundle(entries, total, following)
    db.session.commit()
    return answer


def _birth_dates() -> list:
    """birthdate=[prefix]YYYY-MM-DD, each value one condition on the date of birth (a date,
    not an instant: search.date_bounds reads instants in session time zones)."""
    conditions = []
    column = Client.date_of_birth
    for value in search.values("birthdate"):
        prefix, day = (value[:2], value[2:]) if value[:2].isalpha() else ("eq", value)
        if prefix not in search.DATE_PREFIXES:
            raise search.BadSearch("birthdate", f"the prefix {prefix!r} is not supported; use "
                                                f"one of {', '.join(search.DATE_PREFIXES)}.")
        try:
            if len(day) != 10:
                raise ValueError(day)
            wanted = date.fromisoformat(day)
        except ValueError:
            raise search.BadSearch("birthdate", "must be a full date, YYYY-MM-DD, such as "
                                                "birthdate=ge1980-01-01.") from None
        conditions.append({"eq": column == wanted, "lt": column < wanted,
                           "le": column <= wanted, "gt": column > wanted,
                           "ge": column >= wanted}[prefix])
    return conditions


# --- referrals ---------------------------------------------------------------------------------


class Refused(InvalidField):
    """A referral body we cannot take: `status` 400 (not a Patient) or 422 (a bad element)."""

    def __init__(self, element: str, message: str, status: int = 422):
        super().__init__(element, message)
        self.status = status


def _text(value, element: str, most: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Refused(element, "Must be text.")
    problem = text_problem(value, multiline=False)
    if problem:
        raise Refused(element, problem)
    value = " ".join(value.split())
    if len(value) > most:
        raise Refused(element, f"Must be at most {most} characters.")
    return value


def _name(body: dict) -> str:
    names = body.get("name")
    if not isinstance(names, list) or not names:
        raise Refused("Patient.name", "A referral must name the person (Patient.name).")
    first = names[0]
    if not isinstance(first, dict):
        raise Refused("Patient.name[0]", "Must be a HumanName.")
    if "text" in first:
        return _text(first["text"], "Patient.name[0].text", 200)
    given = first.get("given", [])
    if not isinstance(given, list) or len(given) > 10:
        raise Refused("Patient.name[0].given", "Must be a list of at most 10 names.")
    parts = [_text(part, "Patient.name[0].given", 100) for part in given]
    if "family" in first:
        parts.append(_text(first["family"], "Patient.name[0].family", 100))
    if not parts:
        raise Refused("Patient.name[0]", "Give text, or given and family names.")
    return _text(" ".join(parts), "Patient.name[0]", 200)


def _birth_date(body: dict) -> date | None:
    value = body.get("birthDate")
    if value is None:
        return None
    if not isinstance(value, str) or len(value) != 10:
        raise Refused("Patient.birthDate", "Must be a full date, YYYY-MM-DD.")
    try:
        born = date.fromisoformat(value)
    except ValueError:
        raise Refused("Patient.birthDate", "Must be a real date, YYYY-MM-DD.") from None
    if born < EARLIEST_BIRTH or born > clock.now().date():
        raise Refused("Patient.birthDate", "Must be between 1900-01-01 and today.")
    return born


def _telecom(body: dict) -> tuple[str | None, str | None]:
    """The first email and phone given: they help find a record already on file."""
    telecom = body.get("telecom", [])
    if not isinstance(telecom, list) or len(telecom) > 20:
        raise Refused("Patient.telecom", "Must be a list of at most 20 contact points.")
    email = phone = None
    for index, point in enumerate(telecom):
        element = f"Patient.telecom[{index}].value"
        if not isinstance(point, dict):
            raise Refused(f"Patient.telecom[{index}]", "Must be a ContactPoint.")
        if point.get("system") == "email" and email is None:
            email = _text(point.get("value"), element, 254)
            if "@" not in email or " " in email:
                raise Refused(element, "Must be an email address.")
        elif point.get("system") == "phone" and phone is None:
            phone = _text(point.get("value"), element, 40)
    return email, phone


def _program_id(body: dict) -> int:
    element = f"Patient.extension('{PROGRAM_EXTENSION}')"
    extensions = body.get("extension", [])
    if not isinstance(extensions, list):
        raise Refused("Patient.extension", "Must be a list of extensions.")
    for item in extensions:
        if isinstance(item, dict) and item.get("url") == PROGRAM_EXTENSION:
            reference = (item.get("valueReference") or {}).get("reference") if isinstance(
                item.get("valueReference"), dict) else None
            if not isinstance(reference, str) or not reference.startswith(
                    "HealthcareService/"):
                raise Refused(element, "Its valueReference must be HealthcareService/<id>.")
            number = ids.number(reference.removeprefix("HealthcareService/"))
            if number is None or number > MAX_ID:
                raise Refused(element, f"No program (HealthcareService) {reference!r}.")
            return number
    raise Refused(element, "Say which program the referral is for: an extension with url "
                           f"{PROGRAM_EXTENSION} and valueReference HealthcareService/<id> "
                           "(GET /HealthcareService lists them).")


def _referral(body) -> referrals.Referral:
    if not isinstance(body, dict) or body.get("resourceType") != "Patient":
        raise Refused("Patient", 'The body must be a Patient resource ("resourceType": '
                                 '"Patient").', 400)
    email, phone = _telecom(body)
    return referrals.Referral(name=_name(body), program_id=_program_id(body),
                              date_of_birth=_birth_date(body), email=email, phone=phone)


def _body() -> object:
    """The request's JSON, read within the API's limits (scheduler/api/parsing.py)."""
    if request.mimetype not in (FHIR_JSON, "application/json"):
        raise Refused("Patient", f"Send the Patient as {FHIR_JSON}.", 415)
    if (request.content_length or 0) > MAX_REFERRAL:
        raise Refused("Patient", f"A referral may be at most {MAX_REFERRAL} bytes.", 413)
    try:
        return loads(request.get_data(cache=True))
    except JsonTooComplex as problem:
        raise Refused("Patient", str(problem), 400) from None
    except ValueError:  # json's JSONDecodeError, or bytes that are not UTF-8
        raise Refused("Patient", "The body is not JSON.", 400) from None


@bp.post("/Patient")
@require_scope("system/Patient.write")
def create_patient():
    referral = _referral(_body())
    fhir_client = current_client()
    # The audit trail's actor column holds 254 characters; a recipient's name up to 200.
    actor = Actor(None, f"FHIR client {fhir_client.client_id} of "
                        f"{fhir_client.recipient.name}"[:254], request.remote_addr)
    try:
        outcome = referrals.refer(db.session, actor, fhir_client.recipient, referral,
                                  clock.now())
    except InvalidField as refused:
        # The service names its own fields; the referrer knows the Patient's elements.
        raise Refused(_ELEMENTS.get(next(iter(refused.fields)), "Patient"),
                      next(iter(refused.fields.values()))[0]) from None
    body = patient(outcome.client)
    if outcome.consent is not None:
        disclose(outcome.consent, SCOPE, ids.patient(outcome.client.id))
    db.session.commit()
    location = url_for("fhir.read_patient", resource_id=outcome.client.id, _external=True)
    return resource(body, 201 if outcome.created else 200, headers={"Location": location})


_ELEMENTS = {"name": "Patient.name", "date_of_birth": "Patient.birthDate",
             "program_id": f"Patient.extension('{PROGRAM_EXTENSION}')",
             "email": "Patient.telecom", "phone": "Patient.telecom"}
