"""The navigation each role sees: only pages that role may open.

The main bar holds what a coordinator opens every day. The clinic's set-up (staff, rooms,
programs, sites, the outside recipients) sits behind one "Setup" entry, whose pages share a
second bar, so the main bar stays one line at desktop widths as the network grows.
"""

from flask import current_app, request, url_for

from scheduler.i18n import lazy_gettext as _l
from scheduler.models.users import COORDINATORS, KIOSK_RUNNERS, STAFF, USER_ROLES

SETUP = (
    # (endpoint, label, roles): the Setup bar, in the order a new clinic fills them in.
    ("site_pages.index", _l("Sites"), ("admin",)),
    # The outside systems clients may consent to share with, and their API clients.
    ("recipient_pages.index", _l("Recipients"), ("admin",)),
    ("program_pages.index", _l("Programs"), COORDINATORS),
    ("room_pages.index", _l("Rooms"), COORDINATORS),
    ("staff_pages.index", _l("Staff"), COORDINATORS),
)
# The pages that belong to Setup, for marking its entry current: blueprints, and the
# site pages' endpoints other than its own list.
SETUP_BLUEPRINTS = ("site_pages", "program_pages", "room_pages", "staff_pages",
                    "recipient_pages")

# The main bar's entry for Setup: base.html marks it current on every Setup page by this
# endpoint (spelt out there), not by its label, which is in the viewer's language.
SETUP_ENTRY = "staff_pages.index"

LINKS = (
    # (endpoint, label, roles)
    ("calendar.week", _l("Week"), COORDINATORS),
    ("calendar.closures_page", _l("Closures"), COORDINATORS),
    ("client_pages.index", _l("Clients"), COORDINATORS),
    ("client_pages.intake", _l("Intake"), COORDINATORS),
    ("report_pages.index", _l("Reports"), COORDINATORS),
    ("report_pages.follow_up", _l("Follow-up"), STAFF),
    ("alert_pages.index", _l("Alerts"), STAFF),
    ("clinician.today", _l("Today"), STAFF),
    # A kiosk login's only page: offered wherever it lands (a 403 page), as the way back.
    ("kiosk_pages.index", _l("Kiosk"), KIOSK_RUNNERS),
    (SETUP_ENTRY, _l("Setup"), COORDINATORS),
    ("user_pages.index", _l("Logins"), COORDINATORS),
    ("audit_pages.index", _l("Audit log"), ("admin",)),
    ("portal.home", _l("My sessions"), ("client",)),
    # A kiosk login's own password too (its pages show the kiosk's bar instead of this menu).
    ("account_pages.change_password", _l("Password"), USER_ROLES),
)


def in_setup() -> bool:
    """Whether this request shows a Setup page (the main bar then marks "Setup")."""
    return (request.blueprint in SETUP_BLUEPRINTS
            and request.endpoint not in ("site_pages.user_sites",))


def _links(user, links) -> list[tuple[str, str, str]]:
    if not getattr(user, "is_authenticated", False):
        return []
    views = current_app.view_functions
    return [(endpoint, url_for(endpoint), label)
            for endpoint, label, roles in links if user.role in roles and endpoint in views]


def links_for(user) -> list[tuple[str, str, str]]:
    """(endpoint, url, label) for the user's role; none when signed out."""
    return _links(user, LINKS)


def setup_links_for(user) -> list[tuple[str, str, str]]:
    """The Setup bar's (endpoint, url, label) for the user's role."""
    return _links(user, SETUP)
