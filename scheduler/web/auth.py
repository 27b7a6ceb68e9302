"""Login and logout for the pages (the login session; the API uses bearer tokens)."""

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, logout_user
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired

from scheduler import clock, i18n, rate_limits
from scheduler.api import access
from scheduler.extensions import db
from scheduler.i18n import gettext as _
from scheduler.i18n import lazy_gettext as _l
from scheduler.models import LoginSession
from scheduler.services import accounts, logins, mfa
from scheduler.web import mfa_pages
from scheduler.web.access import home_endpoint
from scheduler.web.form_fields import REQUIRED, PageForm, at_most
from scheduler.web.sign_in import CLEAR_SITE_DATA, finish_sign_in

bp = Blueprint("signin", __name__)


class LoginForm(PageForm):
    email = EmailField(_l("Email"), validators=[DataRequired(REQUIRED), at_most(254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(REQUIRED), at_most(200)])


def safe_next(target: str | None) -> str | None:
    """Only a path on this site: an open redirect would hand a phishing page our login.
    Browsers read a backslash as a slash ("/\\evil.example" is "//evil.example")."""
    if not target:
        return None
    parts = urlsplit(target)
    if (parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//")
            or "\\" in target or not target.isprintable()):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
@rate_limits.sign_in
def login():
    if current_user.is_authenticated and request.method == "GET":
        return redirect(url_for(home_endpoint()))
    form = LoginForm()
    if form.validate_on_submit():
        result = mfa.sign_in(db.session, form.email.data, form.password.data, None, clock.now(),
                             accounts.LockoutPolicy.from_config(current_app.config),
                             mfa.MfaSettings.from_config(current_app.config),
                             address=request.remote_addr)
        # Kept either way: a wrong password must count towards the lock.
        db.session.commit()
        if result.user is None:
            flash(_("Email or password is wrong."), "error")
            return render_template("auth/login.html", form=form), 401
        if result.outcome is mfa.Outcome.CODE_NEEDED:
            # Two-step sign-in: not signed in yet; the code page finishes (web/mfa_pages.py).
            return mfa_pages.ask_for_code(result.user, safe_next(request.args.get("next")))
        return finish_sign_in(result.user, safe_next(request.args.get("next")))
    status = 400 if request.method == "POST" else 200
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
def logout():
    session_id = access.current_login_session_id()
    row = db.session.get(LoginSession, session_id) if session_id is not None else None
    if row is not None:
        logins.sign_out(db.session, row, clock.now(), access.where())
        db.session.commit()
    if current_user.is_authenticated and current_user.role == "client":
        # The pages after signing out keep speaking the client's language (the switch is there).
        i18n.choose(i18n.current_language())
    logout_user()
    session.pop(logins.COOKIE_KEY, None)
    # A password step waiting for its code is part of signing in: it ends with the rest.
    session.pop(mfa_pages.PENDING_KEY, None)
    flash(_("You are signed out."), "info")
    response = redirect(url_for("signin.login"))
    # The portal's offline copy of the schedule (static/js/offline-worker.js) and the browser's
    # cached pages must not outlive the sign-out on a shared or lost phone. Cookies stay: the
    # one just emptied carries the "signed out" message.
    response.headers["Clear-Site-Data"] = CLEAR_SITE_DATA
    return response
