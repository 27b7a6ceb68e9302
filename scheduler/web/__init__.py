"""HTML pages and the health check."""

from flask import Flask


def register_web(app: Flask) -> None:
    from scheduler.web import health, home

    app.register_blueprint(health.bp)
    app.register_blueprint(home.bp)
