"""Choosing the language of the pages: the switch in the top bar, the signed-out pages and the
kiosk all post here.

Whose choice it is decides where it is kept: a client's on their record (their emails and
calendar follow it), a staff member's on their profile, and the kiosk's or a signed-out
browser's in the session only (the kiosk drops it after each check-in, so the next person at
the desk starts in the tablet's own language).
"""

from flask import Blueprint, Flask, redirect, request, url_for
from flask_login import current_user

from scheduler import i18n
from scheduler.extensions import db
from scheduler.i18n import gettext as _
from scheduler.i18n import lazy_gettext as _l
from scheduler.languages import LANGUAGES
from scheduler.models.users import STAFF
from scheduler.services import clients, users
from scheduler.services.errors import InvalidField
from scheduler.web.access import page_actor
from scheduler.web.auth import safe_next
from scheduler.web.form_fields import posted_text
from scheduler.web.script_words import script_words

bp = Blueprint("language", __name__)

# A path back to the page the switch was on; a longer one is no page of ours.
MAX_NEXT = 2000
# The role in the top bar ("a@b.org (client)"), in the reader's words.
ROLE_WORDS = {"admin": _l("admin"), "coordinator": _l("coordinator"),
              "clinician": _l("clinician"), "client": _l("client"), "kiosk": _l("kiosk")}


def return_path() -> str:
    """Where the switch sends the browser back to: this page if it can be fetched again, else
    the start page (a refused form post, say, has no address of its own to reload)."""
    rule = request.url_rule
    if request.method == "GET" and rule is not None:
        full = request.full_path.rstrip("?")
        return full if len(full) <= MAX_NEXT else request.path
    if rule is not None and "GET" in (rule.methods or ()):
        return request.path
    return url_for("home.index")


def install(app: Flask) -> None:
    @app.context_processor
    def language_switch():
        return {"language_next": return_path, "role_words": ROLE_WORDS,
                "script_words": script_words}


@bp.post("/language")
def choose():
    """Speak `language` from now on; back to `next` (a path on this site) or the start page."""
    language = posted_text("language")
    if language not in LANGUAGES:
        raise InvalidField("language", _("choose one of the languages offered."), "form")
    target = posted_text("next") or ""
    if len(target) > MAX_NEXT:
        raise InvalidField("next", _("is too long to be a page of this site."), "form")
    # The kiosk's toggle is for the person at the desk, whoever signed the tablet in: a
    # clinician running it keeps their own profile's language.
    kept_by_person = current_user.is_authenticated and posted_text("for") != "kiosk"
    if kept_by_person and current_user.role == "client":
        clients.set_language(db.session, page_actor(), current_user.client_id, language)
        db.session.commit()
    elif kept_by_person and current_user.role in STAFF:
        users.set_own_language(db.session, page_actor(), current_user, language)
        db.session.commit()
    # The session's choice too: the pages after signing out keep speaking it. A kiosk's and a
    # signed-out browser's choice is kept only here.
    i18n.choose(language)
    return redirect(safe_next(target) or url_for("home.index"), code=303)
