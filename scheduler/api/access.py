"""Who is calling: bearer tokens or the login session, and the role each route needs."""

from datetime import timedelta
from functools import wraps
from urllib.parse import urlsplit

from flask import Flask, current_app, g, request, session
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_smorest import abort
from flask_wtf.csrf import validate_csrf
from wtforms.validators import ValidationError

from scheduler import clock
from scheduler.api.errors import error_body
from scheduler.extensions import db, login_manager
from scheduler.fhir import BASE as FHIR_BASE
from scheduler.models import User
from scheduler.models.users import COORDINATORS, STAFF
from scheduler.services import access_log, caseload, logins, scope
from scheduler.services.audit import Actor

# The API's names for the role groups: staff read, coordinators write.
STAFF_READ = STAFF
WRITE = COORDINATORS


WRITES = ("POST", "PUT", "PATCH", "DELETE")


def install(app: Flask) -> None:
    login_manager.user_loader(_load_session_user)
    login_manager.request_loader(_load_bearer_user)
    # Registered before create_app's write transaction opens, so what the check writes (a
    # sign-in's last use, an idle one's end) is committed apart from the request's own work.
    app.before_request(_check_sign_in)
    app.teardown_request(lambda _error: scope.end())


def where() -> logins.Where:
    """The caller's address and browser, for the audit trail and the sign-in lists."""
    return logins.Where(request.remote_addr, request.headers.get("User-Agent"))


def idle_timeout() -> timedelta:
    return timedelta(minutes=current_app.config["SESSION_IDLE_MINUTES"])


def _load_session_user(user_id: str) -> User | None:
    """The page sign-in the cookie names, if it is live; an explicit bearer token wins."""
    key = session.get(logins.COOKIE_KEY)
    if not isinstance(key, str) or not key or request.headers.get("Authorization"):
        return None
    row, changed = logins.session_for_key(db.session, key, clock.now(), idle_timeout())
    g.sign_in_changed = changed
    if row is None or str(row.user_id) != user_id:
        return None
    g.login_session_id = row.id
    return row.user


def _load_bearer_user(req) -> User | None:
    if req.path.startswith(FHIR_BASE + "/"):
        return None  # a FHIR system client's token (fhir/access.py), never a person's
    header = req.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    row, changed = logins.token_for_secret(db.session, token.strip(), clock.now(), where())
    g.sign_in_changed = g.get("sign_in_changed") or changed
    if row is None:
        return None
    g.api_token_id = row.id
    return row.user


def current_login_session_id() -> int | None:
    """The page sign-in this request came with, if it came with one."""
    return g.get("login_session_id")


def current_token_id() -> int | None:
    """The bearer token this request came with, if it came with one."""
    return g.get("api_token_id")


def may_be_signed_in() -> bool:
    """Whether the request carries a sign-in at all (a session cookie's or a bearer token);
    without one there is nobody to load, and nothing to look up in the database."""
    if request.path.startswith(FHIR_BASE + "/"):
        return False
    return "_user_id" in session or "Authorization" in request.headers


def _check_sign_in() -> ResponseReturnValue | None:
    """Load the caller once, before the request's own transaction, and guard the API's
    cookie-authenticated writes against cross-site requests."""
    if request.endpoint == "static" or not may_be_signed_in():
        return None
    user = current_user._get_current_object()  # noqa: SLF001 - loads (and checks) the sign-in
    # The caller's sites bound every lookup of this request (services/scope.py).
    scope.begin(db.session, user if user.is_authenticated else None)
    if g.pop("sign_in_changed", False) or request.method in WRITES:
        # A write request's own transaction must begin afresh (SQLite's BEGIN IMMEDIATE).
        db.session.commit()
    if (request.method in WRITES and current_login_session_id() is not None
            and request.path.startswith("/api/")):
        refusal = _cross_site_refusal()
        if refusal:
            return error_body(403, refusal), 403
    return None


def _cross_site_refusal() -> str | None:
    """Why a cookie-authenticated API write may have come from another site, or None."""
    own = f"{request.scheme}://{request.host}".lower()
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        referer = request.headers.get("Referer")
        if not referer:
            return ("A signed-in page's change must say where it comes from (an Origin "
                    "header); send it from this site's pages, or use a bearer token.")
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    if origin.lower() != own:
        return "Changes from another site are refused."
    try:
        validate_csrf(request.headers.get("X-CSRFToken"))
    except ValidationError:
        return ("The page's security token (X-CSRFToken header) is missing or out of date; "
                "reload the page and try again.")
    return None


def current_actor() -> Actor:
    """The logged-in user as the audit trail names them."""
    return Actor(current_user.id, current_user.email, request.remote_addr)


def log_read(client_ids, resource: str, action: str = "read") -> None:
    """Put the caller's read of these clients' records in the access log (fail closed)."""
    access_log.record_access(db.session, current_actor(), client_ids, resource, action=action)


def require_login() -> None:
    if not current_user.is_authenticated:
        abort(
            401,
            message="Authentication required: send Authorization: Bearer <token> "
            "from POST /api/v1/auth/token.",
            headers={"WWW-Authenticate": "Bearer"},
        )


def roles_required(*roles: str):
    """Let only these roles through: 401 when anonymous, 403 for any other role."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            require_login()
            if current_user.role not in roles:
                abort(
                    403,
                    message=f"Your role ({current_user.role}) may not "
                    f"{request.method} this resource.",
                )
            return view(*args, **kwargs)

        return wrapper

    return decorator


def caseload_policy() -> caseload.Policy:
    return caseload.Policy.from_config(current_app.config)


def caseload_within():
    """The client ids the signed-in user's lists of attendance, reports and alerts are held
    to (a clinician's caseload, as a subquery), or None for every client."""
    return caseload.within(current_user, clock.now(), caseload_policy())


def require_caseload(client_id: int, resource: str) -> None:
    """A clinician outside the client's caseload gets 403 saying how to break the glass; the
    refused look is logged. Everyone else passes (the route's roles decide who gets here)."""
    try:
        caseload.require_clinical_read(db.session, current_user, client_id, clock.now(),
                                       caseload_policy())
    except caseload.OutsideCaseload as refusal:
        if request.method == "GET":
            # Logged on reads only: a write request already holds SQLite's write lock, and
            # the log row goes in on a connection of its own.
            log_read([client_id], resource, action="denied")
        abort(403, message=refusal.message)


def caseload_of(resource: str, client_of):
    """Refuse a clinician outside the caseload of the client `client_of(**path args)` names,
    before the body is read (a refusal is the door's, not the input's)."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            client_id = client_of(**kwargs)
            if client_id is not None:  # nothing there: the view's own 404
                require_caseload(client_id, resource)
            return view(*args, **kwargs)

        return wrapper

    return decorator


def client_or_staff(resource: str, client_id_arg: str = "client_id", clinical: bool = False):
    """Staff readers pass; a client passes only for their own client id. Either read is logged.

    A clinical record (`clinical`) is read by a clinician only within their caseload.
    """

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            require_login()
            client_id = kwargs.get(client_id_arg)
            own = current_user.role == "client" and client_id == current_user.client_id
            if current_user.role not in STAFF_READ and not own:
                # Someone reaching for another person's record is what an access log is for.
                log_read([client_id], resource, action="denied")
                abort(403, message="You may only read your own records.")
            if clinical and not own:
                require_caseload(client_id, resource)
            answer = view(*args, **kwargs)
            log_read([client_id], resource)
            return answer

        return wrapper

    return decorator


def own_client_or_writer(view):
    """Coordinators and admins, or the client whose record it is; checked before the body."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        require_login()
        own = current_user.role == "client" and current_user.client_id == kwargs.get("client_id")
        if not own and current_user.role not in WRITE:
            abort(403, message="Only the client themselves or a coordinator may change this.")
        return view(*args, **kwargs)

    return wrapper
