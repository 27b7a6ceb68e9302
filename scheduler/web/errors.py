"""HTML error pages for the pages; the API, feeds and health check keep their own errors."""

from flask import Flask, Response, current_app, g, render_template, request
from werkzeug.exceptions import HTTPException, ServiceUnavailable

from scheduler import outage
from scheduler.api.errors import error_body
from scheduler.extensions import api, db, login_manager
from scheduler.services.access_log import AccessLogUnavailable

PAGES_FOR = {400: "errors/400.html", 403: "errors/403.html", 404: "errors/404.html",
             405: "errors/404.html", 429: "errors/429.html"}


def _is_page() -> bool:
    return not request.path.startswith(("/api/", "/feeds/", "/healthz"))


def install(app: Flask) -> None:
    def page_or_json(error: HTTPException):
        if _is_page():
            template = PAGES_FOR.get(error.code)
            if template:
                return render_template(template, error=error), error.code
        if error.code == 429 and not getattr(error, "data", None):
            # The rate limiter's words say which attempts were too many; the API's error
            # handler reads a message only from `data`.
            error.data = {"message": error.description}
        return api.handle_http_exception(error)

    for code in PAGES_FOR:
        app.register_error_handler(code, page_or_json)

    @app.errorhandler(AccessLogUnavailable)
    def access_log_down(error: AccessLogUnavailable):
        # Fail closed: a read that cannot be logged is not served, on pages as in the API.
        outage.discard(db.session)
        retry = {"Retry-After": str(current_app.config["DATABASE_RETRY_AFTER"])}
        if _is_page():
            return render_template("errors/503.html", error=error), error.status, retry
        unavailable = ServiceUnavailable()
        # How flask-smorest's abort passes them.
        unavailable.data = {"message": error.message, "headers": retry}
        return api.handle_http_exception(unavailable)

    def database_unavailable(error: Exception):
        """503 with Retry-After while the database is away; any other database error is a
        bug, raised on to the 500 handling as if this handler did not exist."""
        if not outage.is_outage(error):
            raise error
        outage.discard(db.session)
        outage.notice(current_app, "requests answer 503 with Retry-After").away(error)
        retry = {"Retry-After": str(current_app.config["DATABASE_RETRY_AFTER"])}
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

    for error_type in outage.ERROR_TYPES:
        app.register_error_handler(error_type, database_unavailable)
