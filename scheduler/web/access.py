"""Who may open a page: the login session, the roles a page allows, and the 403 page."""

from functools import wraps

from flask import current_app, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from scheduler import clock
from scheduler.extensions import db
from scheduler.models import Client
from scheduler.services import access_log, caseload
from scheduler.services.audit import Actor

HOME_BY_ROLE = {
    "admin": "calendar.week",
    "coordinator": "calendar.week",
    "clinician": "clinician.today",
    "client": "portal.home",
    "kiosk": "kiosk_pages.index",
}


def forbidden(**context):
    """The HTML 403 page; it says what the role may not do, and where to go instead."""
    return render_template("errors/403.html", **context), 403


def may_read_clinical(client_id: int) -> bool:
    """Whether the signed-in staff member may read the client's clinical record (a clinician:
    within their caseload, or after breaking the glass)."""
    return caseload.may_read_clinical(db.session, current_user, client_id, clock.now(),
                                      caseload.Policy.from_config(current_app.config))


def caseload_within():
    """The client ids the signed-in user's lists of attendance, reports and alerts are held
    to (a clinician's caseload, as a subquery), or None for every client."""
    return caseload.within(current_user, clock.now(),
                           caseload.Policy.from_config(current_app.config))


def outside_caseload(client_id: int, resource: str):
    """The 403 page, saying how to break the glass, when a clinician reaches for a clinical
    record outside their caseload (logged on GET, as page reads are); None when they may."""
    if may_read_clinical(client_id):
        return None
    if request.method == "GET":
        log_page_read([client_id], resource, action="denied")
    name = db.session.scalar(select(Client.name).where(Client.id == client_id))
    minutes = caseload.Policy.from_config(current_app.config).break_glass_minutes
    return forbidden(outside_caseload=caseload.OutsideCaseload(client_id, name,
                                                               minutes).page_message,
                     caseload_client_id=client_id)


def page_roles(*roles: str):
    """Let only these roles open the page: anonymous users go to /login, others get 403."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                return redirect(url_for("signin.login", next=request.full_path.rstrip("?")))
            if current_user.role not in roles:
                if request.method == "GET" and "client_id" in kwargs:
                    log_page_read([kwargs["client_id"]], request.endpoint, action="denied")
                return forbidden()
            return view(*args, **kwargs)

        return wrapper

    return decorator


def home_endpoint() -> str:
    return HOME_BY_ROLE.get(getattr(current_user, "role", None), "home.index")


def page_actor() -> Actor:
    """The logged-in user as the audit trail names them."""
    return Actor(current_user.id, current_user.email, request.remote_addr)


def log_page_read(client_ids, resource: str, action: str = "read") -> None:
    """Put the signed-in user's view of these clients' records in the access log.

    Pages call it on GET only: a form post holds SQLite's write lock until it commits, and
    the log row is written on a connection of its own.
    """
    access_log.record_access(db.session, page_actor(), client_ids, resource, action=action,
                             via="page")
