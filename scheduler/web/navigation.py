"""The navigation each role sees: only pages that role may open."""

from flask import current_app, url_for

from scheduler.models.users import COORDINATORS, KIOSK_RUNNERS, STAFF, USER_ROLES

LINKS = (
    # (endpoint, label, roles)
    ("calendar.week", "Week", COORDINATORS),
    ("calendar.closures_page", "Closures", COORDINATORS),
    ("client_pages.index", "Clients", COORDINATORS),
    ("client_pages.intake", "Intake", COORDINATORS),
    ("staff_pages.index", "Staff", COORDINATORS),
    ("site_pages.index", "Sites", ("admin",)),
    ("report_pages.index", "Reports", COORDINATORS),
    ("report_pages.follow_up", "Follow-up", STAFF),
    ("alert_pages.index", "Alerts", STAFF),
    ("clinician.today", "Today", STAFF),
    # A kiosk login's only page: offered wherever it lands (a 403 page), as the way back.
    ("kiosk_pages.index", "Kiosk", KIOSK_RUNNERS),
    ("user_pages.index", "Logins", COORDINATORS),
    ("audit_pages.index", "Audit log", ("admin",)),
    ("portal.home", "My sessions", ("client",)),
    # A kiosk login's own password too (its pages show the kiosk's bar instead of this menu).
    ("account_pages.change_password", "Password", USER_ROLES),
)


def links_for(user) -> list[tuple[str, str, str]]:
    """(endpoint, url, label) for the user's role; none when signed out."""
    if not getattr(user, "is_authenticated", False):
        return []
    views = current_app.view_functions
    return [(endpoint, url_for(endpoint), label)
            for endpoint, label, roles in LINKS if user.role in roles and endpoint in views]
