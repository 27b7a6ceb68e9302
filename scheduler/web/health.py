"""Liveness for load balancers: 200 only while the database answers."""

from flask import Blueprint, current_app
from sqlalchemy import text

from scheduler import outage
from scheduler.extensions import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as error:  # any driver error means "not healthy"
        outage.discard(db.session)
        return ({"status": "unavailable", "database": type(error).__name__}, 503,
                {"Retry-After": str(current_app.config["DATABASE_RETRY_AFTER"])})
    return {"status": "ok", "database": "ok"}
