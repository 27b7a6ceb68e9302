"""Every error on a page is an HTML page; the API keeps its JSON, feeds plain text and the
health check JSON.

flask-smorest answers every HTTP error in JSON, and the API's handlers answer refusals
(DomainError) and lost races (IntegrityError) in JSON; here each of them is wrapped so a page
gets HTML instead, whatever the status: 4xx, an uncaught exception's 500, or any other.
"""

from flask import Flask, Response, current_app, g, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException, ServiceUnavailable, default_exceptions

from scheduler import outage
from scheduler.api.errors import error_body
from scheduler.extensions import api, db, login_manager
from scheduler.fhir.errors import outcome_for
from scheduler.i18n import gettext as _
from scheduler.i18n import lazy_gettext as _l
from scheduler.services.access_log import AccessLogUnavailable
from scheduler.services.errors import DomainError, NotFound
from scheduler.web.query_args import BadQuery
from scheduler.web.refusals import describe

PAGES_FOR = {400: "errors/400.html", 403: "errors/403.html", 404: "errors/404.html",
             405: "errors/404.html", 413: "errors/413.html", 429: "errors/429.html",
             500: "errors/500.html"}
# Any other status: its name and what went wrong.
OTHER_PAGE = "errors/other.html"
# Flask-WTF's refusals of a form's CSRF token, which it words in English only.
CSRF_WORDS = {
    "The CSRF token is missing.": _l("The CSRF token is missing."),
    "The CSRF session token is missing.": _l("The CSRF session token is missing."),
    "The CSRF token has expired.": _l("The CSRF token has expired."),
    "The CSRF token is invalid.": _l("The CSRF token is invalid."),
    "The CSRF tokens do not match.": _l("The CSRF tokens do not match."),
    "The referrer header is missing.": _l("The referrer header is missing."),
    "The referrer does not match the host.": _l("The referrer does not match the host."),
}


def too_large_message() -> str:
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if limit % 2**20 == 0:
        return _("The request is larger than the %(size)s MB this service accepts.",
                 size=limit // 2**20)
    return _("The request is larger than the %(size)s bytes this service accepts.", size=limit)


def _is_page() -> bool:
    return not request.path.startswith(("/api/", "/feeds/", "/healthz", "/fhir/"))


def _html(error: HTTPException, address: bool = False, headers: dict | None = None):
    """The error's page, with its headers (Allow, Retry-After) but HTML's content type."""
    code = error.code or 500
    template = PAGES_FOR.get(code) or ("errors/500.html" if code >= 500 else OTHER_PAGE)
    kept = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
    return (render_template(template, error=error, address=address), code,
            kept + list((headers or {}).items()))


def install(app: Flask) -> None:
    # Every HTTP error (flask-smorest's JSON handler is registered on the same class, and
    # replaced), and the InternalServerError Flask makes of an uncaught exception.
    app.register_error_handler(HTTPException, _page_or_json)

    for kind in (DomainError, IntegrityError):
        _html_on_pages(app, kind)

    app.register_error_handler(AccessLogUnavailable, _access_log_down)

    for error_type in outage.ERROR_TYPES:
        app.register_error_handler(error_type, _database_unavailable)


def _page_or_json(error: HTTPException):
    if error.code == 413:
        # werkzeug's words do not say what the limit is.
        error.description = too_large_message()
    if _is_page():
        if isinstance(error, CSRFError) and error.description in CSRF_WORDS:
            error.description = str(CSRF_WORDS[error.description])
        if (error.code or 500) >= 500:
            db.session.rollback()  # an uncaught error may leave a failed transaction
        return _html(error)
    if request.path.startswith("/fhir/"):
        return outcome_for(error)
    if request.path.startswith("/feeds/"):
        # A calendar app shows nothing of a body; a person debugging a link reads it.
        return Response(f"{error.name}\n", status=error.code, mimetype="text/plain")
    if not getattr(error, "data", None):
        _add_api_message(error)
    return api.handle_http_exception(error)


def _add_api_message(error: HTTPException) -> None:
    """The API's error handler reads a message only from `data`; give it ours where werkzeug's
    default would not say enough."""
    if error.code in (413, 429):
        # The limit's words: how large, or which attempts were too many.
        error.data = {"message": error.description}
    elif error.code == 404 and request.path.startswith("/api/"):
        # No route matched: an unknown path, or an id no row can have.
        error.data = {"message": "No resource at this address; check the path and its ids."}


def _access_log_down(error: AccessLogUnavailable):
    # Fail closed: a read that cannot be logged is not served, on pages as in the API.
    outage.discard(db.session)
    retry = _retry_after()
    if _is_page():
        return render_template("errors/503.html", error=error), error.status, retry
    unavailable = ServiceUnavailable()
    # How flask-smorest's abort passes them.
    unavailable.data = {"message": error.message, "headers": retry}
    return api.handle_http_exception(unavailable)


def _retry_after() -> dict[str, str]:
    """When to ask again while the database (or the access log) is away."""
    return {"Retry-After": str(current_app.config["DATABASE_RETRY_AFTER"])}


def _database_unavailable(error: Exception):
    """503 with Retry-After while the database is away; any other database error is a
    bug, raised on to the 500 handling as if this handler did not exist."""
    if not outage.is_outage(error):
        raise error
    outage.discard(db.session)
    outage.notice(current_app, "requests answer 503 with Retry-After").away(error)
    retry = _retry_after()
    if request.path.startswith("/api/"):
        return error_body(503, outage.MESSAGE), 503, retry
    if not _is_page():
        return Response(outage.MESSAGE + "\n", status=503, mimetype="text/plain",
                        headers=retry)
    if "_login_user" not in g:
        # The page's header shows who is signed in; loading them needs the database, so
        # this page is drawn signed out rather than failing again.
        g._login_user = login_manager.anonymous_user()
    return render_template("errors/database_unavailable.html"), 503, retry


def _html_on_pages(app: Flask, kind: type[Exception]) -> None:
    """Wrap the API's handler for `kind`: a page gets the HTML page of the same status."""
    json_handler = app.error_handler_spec[None][None].get(kind)
    if json_handler is None:
        raise RuntimeError(f"install the API's {kind.__name__} handler before the pages'")

    def handler(error):
        if not _is_page():
            return json_handler(error)
        db.session.rollback()  # nothing of a refused or failed change is kept
        if isinstance(error, NotFound):
            status, message = 404, None  # its message names an id; the page says enough
        elif isinstance(error, DomainError):
            # In words: a field by its label, a clash by what it clashes with.
            status, message = error.status, describe(error)
        else:
            status, message = 409, _("The change conflicts with one saved at the same moment; "
                                    "retry.")
        page = default_exceptions.get(status, HTTPException)(description=message)
        page.code = status
        return _html(page, address=isinstance(error, BadQuery),
                     headers=getattr(error, "headers", None))

    app.register_error_handler(kind, handler)
