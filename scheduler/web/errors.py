"""HTML error pages for the pages; the API, feeds and health check keep their own errors."""

from flask import Flask, render_template, request
from werkzeug.exceptions import HTTPException, ServiceUnavailable

from scheduler.extensions import api, db
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
        db.session.rollback()
        if _is_page():
            return render_template("errors/503.html", error=error), error.status
        unavailable = ServiceUnavailable()
        unavailable.data = {"message": error.message}  # how flask-smorest's abort passes it
        return api.handle_http_exception(unavailable)
