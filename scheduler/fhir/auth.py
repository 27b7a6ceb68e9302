"""POST /fhir/R4/auth/token and the SMART configuration: how a recipient's system gets a token.

Two ways to prove who is asking, both with grant_type=client_credentials (RFC 6749 §4.4):
- the client secret by HTTP Basic (client_secret_basic);
- a signed JWT assertion (SMART Backend Services, private_key_jwt, RFC 7523), checked in
  services/fhir_assertions.py against the public keys the admin registered for the client.

Answers and refusals are OAuth's JSON (RFC 6749 §5.1, §5.2), never an OperationOutcome: token
clients are OAuth libraries and read `error`. Every answer says Cache-Control: no-store.
Refused credentials count against the caller's address as unknown feed links do
(scheduler/feeds/views.py): past FHIR_TOKEN_MISS_LIMIT the address hears 429 until the window
passes, while a client that proves itself is always served.
"""

import math
import time as wall_clock
from functools import lru_cache
from urllib.parse import unquote

from flask import Response, current_app, jsonify, request, url_for
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from scheduler import clock
from scheduler.extensions import db, limiter
from scheduler.fhir.blueprint import bp
from scheduler.models.interop import FHIR_SCOPES
from scheduler.services import fhir_assertions, fhir_auth, recipients
from scheduler.services.fhir_assertions import ASSERTION_TYPE, SIGNING_ALGORITHMS
from scheduler.services.text import text_problem

# A token request is a few hundred bytes; a signed assertion a few kilobytes.
MAX_BODY = 16 * 1024
FORM = "application/x-www-form-urlencoded"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class OAuthError(Exception):
    """A refusal in RFC 6749 §5.2's words; `counts` when it was a wrong credential."""

    def __init__(self, error: str, description: str, status: int = 400,
                 counts: bool = False):
        super().__init__(description)
        self.error, self.description, self.status, self.counts = (
            error, description, status, counts)


def _answer(body: dict, status: int = 200, headers: dict | None = None) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers.update({**NO_STORE, **(headers or {})})
    return response


def _refusal(problem: OAuthError) -> Response:
    headers = {}
    if problem.status == 401:
        # RFC 6749 §5.2: invalid_client by 401 names the scheme the client should use.
        headers["WWW-Authenticate"] = 'Basic realm="fhir"'
    return _answer({"error": problem.error, "error_description": problem.description},
                   problem.status, headers)


@lru_cache(maxsize=16)
def _parsed(limit: str) -> RateLimitItem:
    return parse(limit)


def _misses() -> tuple[RateLimitItem, list[str]]:
    key = ["fhir-token-misses", get_remote_address()]
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX")
    return _parsed(current_app.config["FHIR_TOKEN_MISS_LIMIT"]), [prefix, *key] if prefix else key


def _count_miss(problem: OAuthError) -> Response:
    """Count a refused credential; past the limit the address hears 429 instead."""
    item, key = _misses()
    if limiter.limiter.hit(item, *key):
        return _refusal(problem)
    reset_at = limiter.limiter.get_window_stats(item, *key).reset_time
    wait = max(1, math.ceil(reset_at - wall_clock.time()))
    return _answer({"error": "invalid_client",
                    "error_description": "Too many refused token requests from this address; "
                                         f"try again in {wait} seconds."},
                   429, {"Retry-After": str(wait)})


def token_url() -> str:
    """The token endpoint's own address: what a SMART assertion's `aud` must name."""
    return url_for("fhir.token", _external=True)


def _form() -> dict[str, str]:
    """The request's form fields, each given once; anything else is invalid_request."""
    if (request.content_length or 0) > MAX_BODY:
        raise OAuthError("invalid_request", f"The request body may be at most {MAX_BODY} "
                                            "bytes.")
    if request.mimetype != FORM:
        raise OAuthError("invalid_request", f"Send the request as {FORM} form fields "
                                            "(RFC 6749 §4.4.2).")
    try:
        fields = request.form
    except HTTPException:  # werkzeug's 413 for a body past the app's limit, chunked or not
        raise OAuthError("invalid_request", f"The request body may be at most {MAX_BODY} "
                                            "bytes.") from None
    form: dict[str, str] = {}
    for name, values in fields.lists():
        if len(values) > 1:
            raise OAuthError("invalid_request", f"The field {name} is given more than once.")
        value = values[0]
        if text_problem(value, multiline=False):
            raise OAuthError("invalid_request", f"The field {name} holds characters no "
                                                "request may carry.")
        form[name] = value
    return form


def _basic_credentials() -> tuple[str, str] | None:
    """client_secret_basic's id and secret, form-decoded (RFC 6749 §2.3.1), or None."""
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("basic "):
        return None
    auth = request.authorization
    if auth is None or auth.type != "basic" or not auth.username or auth.password is None:
        raise OAuthError("invalid_client", "The Authorization header is not valid HTTP Basic "
                                           "(client_id:client_secret in base64).", 401, True)
    client_id = unquote(auth.username.replace("+", " "))
    secret = unquote(auth.password.replace("+", " "))
    if any(text_problem(part, multiline=False) or len(part) > 200
           for part in (client_id, secret)):
        raise OAuthError("invalid_client", "The client_id or client_secret holds characters no "
                                           "credential of ours has.", 401, True)
    return client_id, secret


def _authenticate(form: dict[str, str]):
    """The API client proving itself, and the assertion's jti when it signed one."""
    if "client_assertion_type" in form or "client_assertion" in form:
        if request.headers.get("Authorization"):
            raise OAuthError("invalid_request", "Use one way to authenticate: the Authorization "
                                                "header or a client assertion, not both.")
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise OAuthError("invalid_request", f"client_assertion_type must be "
                                                f"{ASSERTION_TYPE}.")
        if not form.get("client_assertion"):
            raise OAuthError("invalid_request", "client_assertion is missing.")
        try:
            return fhir_assertions.verify(db.session, form["client_assertion"],
                                          audience=token_url(), now=clock.now(),
                                          client_id=form.get("client_id"))
        except fhir_assertions.AssertionRefused as refused:
            raise OAuthError("invalid_client", str(refused), 401, True) from None
    credentials = _basic_credentials()
    if credentials is None:
        raise OAuthError("invalid_client", "Authenticate with HTTP Basic (client_id and "
                                           "client_secret) or a signed client assertion.", 401)
    client = recipients.fhir_client_for_credentials(db.session, *credentials)
    if client is None:
        raise OAuthError("invalid_client", "Unknown client, wrong secret, or a client that "
                                           "was revoked.", 401, True)
    return client, None


@bp.post("/auth/token")
@limiter.exempt
def token():
    """Issue an access token for client credentials (RFC 6749 §4.4, SMART Backend Services)."""
    try:
        form = _form()
        grant = form.get("grant_type")
        if not grant:
            raise OAuthError("invalid_request", "grant_type is missing; send "
                                                "grant_type=client_credentials.")
        if grant != "client_credentials":
            raise OAuthError("unsupported_grant_type", "Only grant_type=client_credentials "
                                                       "is supported.")
        client, jti = _authenticate(form)
        scopes = fhir_auth.granted_scopes(client, form.get("scope"))
        if not scopes:
            raise OAuthError("invalid_scope", "None of the asked scopes is held by this client; "
                                              f"it holds {' '.join(client.scopes)}.")
        issued = fhir_auth.issue(db.session, client, scopes, clock.now(), assertion_jti=jti)
        try:
            db.session.commit()
        except IntegrityError:
            # The same assertion sent twice at once: the unique jti lets only one through.
            raise OAuthError("invalid_client", "This client assertion was already used; sign "
                                               "a new one with a fresh jti.", 401, True) from None
    except OAuthError as problem:
        db.session.rollback()
        return _count_miss(problem) if problem.counts else _refusal(problem)
    return _answer({"access_token": issued.access_token, "token_type": "bearer",
                    "expires_in": issued.expires_in, "scope": " ".join(issued.scopes)})


@bp.get("/.well-known/smart-configuration")
def smart_configuration():
    """What a SMART Backend Services client needs to find and use the token endpoint."""
    return jsonify({
        "token_endpoint": token_url(),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": list(SIGNING_ALGORITHMS),
        "scopes_supported": list(FHIR_SCOPES),
        "capabilities": ["client-confidential-symmetric", "client-confidential-asymmetric"],
    })
