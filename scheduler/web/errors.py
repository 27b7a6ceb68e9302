"""HTML error pages for the pages; the API, feeds and health check keep their own errors."""

from flask import Flask, current_app, render_template, request
from werkzeug.exceptions import HTTPException, ServiceUnavailable

from scheduler.extensions import api, db
from scheduler.services.access_log import AccessLogUnavailable

PAGES_FOR = {400: "errors/400.html", 403: "errors/403.html", 404: "errors/404.html",
             405: "errors/404.html", 413: "errors/413.html", 429: "errors/429.html"}


def too_large_message() -> str:
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    size = f"{limit // 2**20} MB" if limit % 2**20 == 0 else f"{limit} bytes"
    return f"The request is larger than the {size} this service accepts."


def _is_page() -> bool:
    return not request.path.startswith(("/api/", "/feeds/", "/healthz"))


def install(app: Flask) -> None:
    def page_or_json(error: HTTPException):
        if error.code == 413:
            # werkzeug's words do not say what the limit is.
            error.description = too_large_message()
        if _is_page():
            template = PAGES_FOR.get(error.code)
            if template:
                return render_template(template, error=error), error.code
        if not getattr(error, "data", None):
            # The API's error handler reads a message only from `data`.
            if error.code in (413, 429):
                # The limit's words: how large, or which attempts were too many.
                error.data = {"message": error.description}
            elif error.code == 404 and request.path.startswith("/api/"):
                # No route matched: an unknown path, or an id no row can have.
                error.data = {"message": "No resource at this address; check the path and "
                              "its ids."}
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
