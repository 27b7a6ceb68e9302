"""The last step of every page sign-in, shared by the password page and the code page."""

from flask import redirect, session, url_for
from flask_login import login_user

from scheduler.web.access import home_endpoint


def finish_sign_in(user, next_path: str | None):
    """Every step passed: the login session, then where the user was going."""
    # Permanent so PERMANENT_SESSION_LIFETIME ends it, not only closing the browser.
    session.permanent = True
    login_user(user)
    return redirect(next_path or url_for(home_endpoint()))
