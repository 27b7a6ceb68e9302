"""A kiosk login reaches the kiosk and nothing else: deny by default, for pages and API alike.

One check before every request, not a rule on each view, so a page or API route added later is
closed to a kiosk tablet until it is listed here. The views' own role checks still apply on top.
"""

from flask import Flask, current_app, request
from flask_login import current_user
from flask_smorest import abort

from scheduler.api.access import may_be_signed_in
from scheduler.extensions import db
from scheduler.i18n import lazy_gettext as _l
from scheduler.models.users import KIOSK
from scheduler.services import access_log, mfa
from scheduler.services.audit import Actor
from scheduler.services.locks import begin_write
from scheduler.web.mfa_pages import OPEN_WHILE_ENROLLING, WRITES

# (endpoint, method) a kiosk login may use. HEAD goes as GET.
KIOSK_OPEN = frozenset({
    ("kiosk_pages.index", "GET"), ("kiosk_pages.index", "POST"),
    ("kiosk.KioskCheckin", "POST"),
    ("home.index", "GET"),  # sends it on to /kiosk
    ("signin.logout", "POST"),
    ("language.choose", "POST"),  # the kiosk's language toggle: this browser's session only
    # The tablet's own password, behind the current one (a client at the desk cannot know it).
    ("account_pages.change_password", "GET"), ("account_pages.change_password", "POST"),
    ("auth.Token", "DELETE"),  # the API's sign-out: a device revoking its own token
    ("health.healthz", "GET"),
    ("static", "GET"), ("brand.favicon", "GET"), ("brand.manifest", "GET"),
})
REFUSAL = _l("A kiosk login may only check clients in at the kiosk.")


def may_reach(endpoint: str | None, method: str) -> bool:
    """Whether a kiosk login may make this request (before the MFA set-up exception)."""
    return (endpoint, "GET" if method == "HEAD" else method) in KIOSK_OPEN


def install(app: Flask) -> None:
    @app.before_request
    def keep_kiosk_in_the_kiosk():
        # An unknown URL or method is a 404/405 for anyone; it shows nothing.
        if request.endpoint is None or not may_be_signed_in():
            return None
        if request.method in WRITES:
            # Reading the (expired) user starts a transaction: a write request's must be the
            # write transaction (SQLite's BEGIN IMMEDIATE), or its locks come too late.
            begin_write(db.session)
        if not current_user.is_authenticated:
            return None
        if current_user.role != KIOSK or may_reach(request.endpoint, request.method):
            return None
        if request.endpoint in OPEN_WHILE_ENROLLING and _must_enrol():
            # Admins may require two-step sign-in of kiosks: the set-up must then be reachable.
            return None
        client_id = (request.view_args or {}).get("client_id")
        if request.method == "GET" and isinstance(client_id, int):
            # Someone at the desk reaching for a client's record is what an access log is for.
            access_log.record_access(
                db.session, Actor(current_user.id, current_user.email, request.remote_addr),
                [client_id], request.endpoint, action="denied",
                via="api" if request.path.startswith("/api/") else "page")
        abort(403, message=str(REFUSAL))  # str: a lazy string is no JSON


def _must_enrol() -> bool:
    return mfa.must_enrol(db.session, current_user,
                          mfa.MfaSettings.from_config(current_app.config))
