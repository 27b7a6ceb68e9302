"""Who is calling /fhir/R4, what their token lets them do, and what a client's consent allows.

`require_scope` guards a view: a live bearer token (services/fhir_auth.py) holding the scope,
else 401 (with WWW-Authenticate) or 403, each an OperationOutcome. `consent_for` is the one
question a view asks before showing anything of a client; `disclose` logs what it showed.
"""

from functools import wraps

from flask import g, request

from scheduler import clock
from scheduler.extensions import db
from scheduler.fhir.responses import operation_outcome
from scheduler.models import Consent, FhirClient
from scheduler.services import consents, disclosures, fhir_auth


def _bearer() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def require_scope(scope: str | None):
    """The view needs a live token holding `scope` (e.g. system/Appointment.read); with None,
    any live token (what holds no client data: Practitioner, Location, HealthcareService)."""

    def decorate(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            token = _bearer()
            row = fhir_auth.token_for(db.session, token, clock.now()) if token else None
            if row is None:
                return operation_outcome(
                    401, "A valid access token is needed: get one from /fhir/R4/auth/token.",
                    headers={"WWW-Authenticate": 'Bearer realm="fhir"'})
            if scope is not None and scope not in row.scopes:
                return operation_outcome(
                    403, f"This token does not hold the scope {scope}.",
                    headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", '
                                                 f'scope="{scope}"'})
            g.fhir_token = row
            return view(*args, **kwargs)

        return guarded

    return decorate


def current_client() -> FhirClient:
    return g.fhir_token.client


def consent_for(client_id: int, scope: str) -> Consent | None:
    """The calling recipient's live consent for this client and scope, or None (then the
    client is, to this caller, a record that does not exist)."""
    return consents.live(db.session, client_id, current_client().recipient_id, scope,
                         clock.now())


def consented_client_ids(scope: str):
    """A subquery of the clients the calling recipient may see in `scope`: searches filter
    on it, so a client without consent is absent, never counted or hinted at."""
    return consents.live_client_ids(current_client().recipient_id, scope, clock.now())


def disclose(consent: Consent, scope: str, what: str) -> None:
    """Log that `what` (e.g. "Appointment/12") went to the calling recipient under `consent`.

    The view commits after building its answer, so the log holds exactly what was sent.
    """
    disclosures.log(db.session, consent, channel="fhir", scope=scope, what=what,
                    at=clock.now(), api_client_id=current_client().id)
