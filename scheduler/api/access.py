"""Who is calling: bearer tokens or the login session, and the role each route needs."""

from functools import wraps

from flask import Flask, g, request
from flask_login import current_user
from flask_smorest import abort

from scheduler import clock
from scheduler.extensions import db, login_manager
from scheduler.models import User
from scheduler.models.users import COORDINATORS, STAFF
from scheduler.services import access_log, accounts
from scheduler.services.audit import Actor

# The API's names for the role groups: staff read, coordinators write.
STAFF_READ = STAFF
WRITE = COORDINATORS


def install(app: Flask) -> None:
    login_manager.user_loader(_load_session_user)
    login_manager.request_loader(_load_bearer_user)


def _load_session_user(user_id: str) -> User | None:
    user = db.session.get(User, int(user_id)) if user_id.isdigit() else None
    return user if user is not None and user.is_active else None


def _load_bearer_user(req) -> User | None:
    header = req.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    row = accounts.live_token(db.session, token.strip(), clock.now())
    if row is None:
        return None
    g.api_token_id = row.id
    return row.user


def current_token_id() -> int | None:
    """The id of the bearer token this request came with; None for a page sign-in."""
    return g.get("api_token_id")


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


def client_or_staff(resource: str, client_id_arg: str = "client_id"):
    """Staff readers pass; a client passes only for their own client id. Either read is logged."""

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
