"""The JSON API under /api/v1, documented by flask-smorest."""

from flask import Flask
from flask_smorest import Api

from scheduler.extensions import csrf


def register_api(app: Flask, api: Api) -> None:
    """Mount every API blueprint and the JSON error handling."""
    from scheduler.api import (
        access,
        attendance,
        audit_events,
        auth,
        availability,
        bookings,
        clients,
        closures,
        consents,
        errors,
        feeds,
        jobs,
        kiosk,
        plans,
        programs,
        proposals,
        recipients,
        reports,
        rooms,
        series,
        sessions,
        sites,
        staff,
        users,
        webhooks,
    )
    from scheduler.api.parsing import Blueprint

    access.install(app)
    errors.install(app, api)
    for module in (auth, sites, programs, closures, rooms, staff, clients, series, sessions,
                   bookings, availability, attendance, kiosk, plans, proposals, reports, feeds,
                   jobs, users, audit_events, recipients, consents, webhooks):
        if not isinstance(module.blp, Blueprint):
            # Only ours reads JSON within the depth and number limits.
            raise TypeError(f"{module.__name__}.blp must be a scheduler.api.parsing.Blueprint")
        api.register_blueprint(module.blp, url_prefix="/api/v1" + module.URL_PREFIX)
        # A cross-site form cannot send a JSON body, and bearer callers hold no cookie.
        csrf.exempt(module.blp)
