"""The last step of every page sign-in, shared by the password page and the code page."""

from flask import redirect, session, url_for
from flask_login import login_user

from scheduler import clock
from scheduler.api import access
from scheduler.extensions import db
from scheduler.services import logins
from scheduler.web.access import home_endpoint

# What signing in or out leaves of the last person in this browser: no cached page and no offline
# copy of a client's schedule (static/js/offline-worker.js), nor the worker that keeps it.
CLEAR_SITE_DATA = '"cache", "storage"'


def finish_sign_in(user, next_path: str | None):
    """Every step passed: a tracked sign-in in the cookie, then where the user was going."""
    now = clock.now()
    # A new sign-in in this browser ends the one its cookie held.
    logins.sign_out_key(db.session, session.get(logins.COOKIE_KEY), now, access.where())
    key, _ = logins.start_session(db.session, user, now, access.where())
    db.session.commit()
    # Permanent so PERMANENT_SESSION_LIFETIME ends it, not only closing the browser.
    session.permanent = True
    session[logins.COOKIE_KEY] = key
    login_user(user)
    response = redirect(next_path or url_for(home_endpoint()))
    # Whoever used this phone before (their login may simply have run out) leaves nothing here.
    response.headers["Clear-Site-Data"] = CLEAR_SITE_DATA
    return response
