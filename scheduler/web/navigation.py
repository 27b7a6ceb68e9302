"""The navigation each role sees: only pages that role may open."""

from flask import current_app, url_for

LINKS = (
    # (endpoint, label, roles)
    ("calendar.week", "Week", ("admin", "coordinator")),
    ("client_pages.index", "Clients", ("admin", "coordinator")),
    ("client_pages.intake", "Intake", ("admin", "coordinator")),
    ("report_pages.index", "Reports", ("admin", "coordinator")),
    ("report_pages.follow_up", "Follow-up", ("admin", "coordinator", "clinician")),
    ("clinician.today", "Today", ("admin", "coordinator", "clinician")),
    ("kiosk_pages.index", "Kiosk", ("admin", "coordinator", "clinician")),
    ("audit_pages.index", "Audit log", ("admin",)),
    ("portal.home", "My sessions", ("client",)),
)


def links_for(user) -> list[tuple[str, str, str]]:
    """(endpoint, url, label) for the user's role; none when signed out."""
    if not getattr(user, "is_authenticated", False):
        return []
    views = current_app.view_functions
    return [(endpoint, url_for(endpoint), label)
            for endpoint, label, roles in LINKS if user.role in roles and endpoint in views]
