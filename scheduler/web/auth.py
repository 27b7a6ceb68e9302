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
from flask_login import current_user, login_user, logout_user
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from scheduler import clock, rate_limits
from scheduler.api import access
from scheduler.extensions import db
from scheduler.models import LoginSession
from scheduler.services import accounts, logins
from scheduler.web.access import home_endpoint
from scheduler.web.form_fields import PageForm

bp = Blueprint("signin", __name__)


class LoginForm(PageForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site: an open redirect would hand a phishing page our login."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
@rate_limits.sign_in
def login():
    if current_user.is_authenticated and request.method == "GET":
        return redirect(url_for(home_endpoint()))
    form = LoginForm()
    if form.validate_on_submit():
        user = accounts.authenticate(db.session, form.email.data, form.password.data, clock.now(),
                                     accounts.LockoutPolicy.from_config(current_app.config))
        # Kept either way: a wrong password must count towards the lock.
        db.session.commit()
        if user is None:
            flash("Email or password is wrong.", "error")
            return render_template("auth/login.html", form=form), 401
        logins.sign_out_key(db.session, session.get(logins.COOKIE_KEY), clock.now(),
                            access.where())
        key, _ = logins.start_session(db.session, user, clock.now(), access.where())
        db.session.commit()
        # Permanent so PERMANENT_SESSION_LIFETIME ends it, not only closing the browser.
        session.permanent = True
        session[logins.COOKIE_KEY] = key
        login_user(user)
        return redirect(_safe_next(request.args.get("next")) or url_for(home_endpoint()))
    status = 400 if request.method == "POST" else 200
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
def logout():
    session_id = access.current_login_session_id()
    row = db.session.get(LoginSession, session_id) if session_id is not None else None
    if row is not None:
        logins.sign_out(db.session, row, clock.now(), access.where())
        db.session.commit()
    logout_user()
    session.pop(logins.COOKIE_KEY, None)
    flash("You are signed out.", "info")
    return redirect(url_for("signin.login"))
