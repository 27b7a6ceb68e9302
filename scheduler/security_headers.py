"""Security headers on every response: pages, API, feeds, errors and static files."""

from flask import Flask, Response

# No inline script or style anywhere: the pages load their scripts and stylesheets from
# /static, and the API docs start Swagger UI from a static file too (templates/swagger_ui.html).
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "frame-ancestors 'none'",
    "form-action 'self'",
    "base-uri 'self'",
    "object-src 'none'",
))
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # Feed and set-password URLs carry secrets: no Referer may take them to another site.
    "Referrer-Policy": "no-referrer",
}


def install(app: Flask) -> None:
    hsts_max_age = app.config.get("HSTS_MAX_AGE", 0)

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if hsts_max_age:
            # Only behind https (production): over plain http it would lock browsers out.
            response.headers.setdefault(
                "Strict-Transport-Security", f"max-age={hsts_max_age}; includeSubDomains")
        return response
