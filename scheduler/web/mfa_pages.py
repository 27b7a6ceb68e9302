"""Two-step sign-in on the pages: the code step after the password, and one's own set-up page.

The password step (web/auth.py) keeps the half-signed-in account in the login session only,
for MFA_CODE_STEP_MINUTES; nothing is signed in until the code is right. Roles that must use
two-step sign-in and have not enrolled are held on the set-up page (`install_gate`): every other
page sends them there, and the API answers them 403.
"""

from datetime import datetime, timedelta

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user
from markupsafe import Markup
from wtforms import StringField
from wtforms.validators import DataRequired

from scheduler import clock, rate_limits
from scheduler.extensions import db
from scheduler.feeds import qr
from scheduler.i18n import gettext as _
from scheduler.i18n import lazy_gettext as _l
from scheduler.models.users import USER_ROLES
from scheduler.services import accounts, mfa
from scheduler.services.errors import InvalidField
from scheduler.services.locks import begin_write
from scheduler.web.access import page_actor, page_roles
from scheduler.web.form_fields import REQUIRED, PageForm, at_most
from scheduler.web.sign_in import finish_sign_in

bp = Blueprint("mfa_pages", __name__)

PENDING_KEY = "mfa_pending"
# What an account that must enrol may still reach: the set-up page and its API, signing out,
# and what every page loads (static files, icons, the health check).
OPEN_WHILE_ENROLLING = frozenset({
    "mfa_pages.enrol", "mfa_pages.start", "mfa_pages.confirm", "mfa_pages.code",
    "signin.logout", "signin.login", "language.choose", "static", "brand.favicon", "brand.manifest",
    "health.healthz", "auth.MfaEnrolment", "auth.MfaConfirm", "auth.CurrentUser",
})
WRITES = ("POST", "PUT", "PATCH", "DELETE")


class CodeForm(PageForm):
    otp = StringField(_l("Code"), validators=[DataRequired(REQUIRED),
                                             at_most(64)])


def _settings() -> mfa.MfaSettings:
    return mfa.MfaSettings.from_config(current_app.config)


def _policy() -> accounts.LockoutPolicy:
    return accounts.LockoutPolicy.from_config(current_app.config)


# --- the code step of signing in --------------------------------------------------------------


def ask_for_code(user, next_path: str | None):
    """Remember the half-signed-in account in the login session, briefly, and ask for the code."""
    until = clock.now() + timedelta(minutes=current_app.config["MFA_CODE_STEP_MINUTES"])
    session[PENDING_KEY] = {"user_id": user.id, "until": until.isoformat(), "next": next_path}
    return redirect(url_for("mfa_pages.code"))


def _pending_user_id() -> int | None:
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict):
        return None
    try:
        until = datetime.fromisoformat(pending["until"])
        user_id = int(pending["user_id"])
    except (KeyError, TypeError, ValueError):
        return None
    return user_id if until > clock.now() else None


@bp.route("/login/code", methods=["GET", "POST"])
@rate_limits.sign_in
def code():
    user_id = _pending_user_id()
    if user_id is None:
        session.pop(PENDING_KEY, None)
        if request.method == "POST":
            flash(_("Signing in took too long; enter your email and password again."), "error")
        return redirect(url_for("signin.login"))
    form = CodeForm()
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("auth/code.html", form=form), status
    try:
        user = mfa.second_step(db.session, user_id, form.otp.data, clock.now(), _policy(),
                               _settings(), address=request.remote_addr)
    except InvalidField as problem:
        form.otp.errors = list(problem.fields[mfa.CODE_FIELD])
        return render_template("auth/code.html", form=form), 422
    # Kept either way: a wrong code counts towards the lock.
    db.session.commit()
    if user is None:
        flash(_("That code is not right, or the account is locked for now."), "error")
        return render_template("auth/code.html", form=form), 401
    return finish_sign_in(user, session.pop(PENDING_KEY, {}).get("next"))


# --- one's own set-up page --------------------------------------------------------------------


def _page(status: int = 200, form: CodeForm | None = None, recovery_codes=None):
    settings = _settings()
    pending = mfa.pending(db.session, current_user, settings)
    return render_template(
        "auth/mfa.html",
        form=form or CodeForm(),
        enrolled=mfa.is_enrolled(db.session, current_user),
        required=mfa.is_required(current_user, settings),
        pending=pending,
        qr_svg=Markup(qr.svg(pending.otpauth_uri)) if pending else None,
        codes_left=mfa.recovery_codes_left(db.session, current_user),
        recovery_codes=recovery_codes,
    ), status


@bp.get("/account/mfa")
@page_roles(*USER_ROLES)
def enrol():
    return _page()


@bp.post("/account/mfa/start")
@page_roles(*USER_ROLES)
def start():
    form = PageForm()
    if not form.validate_on_submit():
        return _page(400)
    if mfa.is_enrolled(db.session, current_user):
        flash(_("Two-step sign-in is already on."), "info")
        return redirect(url_for("mfa_pages.enrol"))
    mfa.begin(db.session, page_actor(), current_user, _settings(), clock.now())
    db.session.commit()
    return redirect(url_for("mfa_pages.enrol"))


@bp.post("/account/mfa")
@page_roles(*USER_ROLES)
def confirm():
    form = CodeForm()
    if not form.validate_on_submit():
        return _page(400, form)
    if mfa.pending(db.session, current_user, _settings()) is None:
        flash(_("Start setting up two-step sign-in first."), "error")
        return redirect(url_for("mfa_pages.enrol"))
    try:
        codes = mfa.confirm(db.session, page_actor(), current_user, form.otp.data, _settings(),
                            clock.now())
    except InvalidField as problem:
        form.otp.errors = list(problem.fields[mfa.CODE_FIELD])
        return _page(422, form)
    db.session.commit()
    if codes is None:
        form.otp.errors = [_("That is not the code your app shows now; try the next one.")]
        return _page(422, form)
    flash(_("Two-step sign-in is on."), "info")
    return _page(recovery_codes=codes)


@bp.post("/account/mfa/off")
@page_roles(*USER_ROLES)
def turn_off():
    form = CodeForm()
    if not form.validate_on_submit():
        return _page(400, form)
    if not mfa.is_enrolled(db.session, current_user):
        flash(_("Two-step sign-in is not on."), "info")
        return redirect(url_for("mfa_pages.enrol"))
    if mfa.is_required(current_user, _settings()):
        flash(_("Your role must use two-step sign-in; an admin can reset it if you lost your "
                "phone."), "error")
        return _page(403)
    try:
        done = mfa.turn_off(db.session, page_actor(), current_user, form.otp.data, clock.now(),
                            _policy(), _settings(), address=request.remote_addr)
    except InvalidField as problem:
        form.otp.errors = list(problem.fields[mfa.CODE_FIELD])
        return _page(422, form)
    db.session.commit()
    if not done:
        form.otp.errors = [_("That is not the code your app shows now.")]
        return _page(422, form)
    flash(_("Two-step sign-in is off."), "info")
    return redirect(url_for("mfa_pages.enrol"))


# --- holding those who must enrol ---------------------------------------------------------------


def install_gate(app: Flask) -> None:
    """Refuse everything but the set-up page to an account whose role must enrol and has not."""

    @app.before_request
    def hold_until_enrolled():
        if not str(current_app.config.get("MFA_REQUIRED_ROLES") or "").strip():
            return None
        if request.endpoint in OPEN_WHILE_ENROLLING or request.endpoint is None:
            return None
        if request.method in WRITES:
            begin_write(db.session)  # as every write request does, before it reads
        if not current_user.is_authenticated:
            return None
        if not mfa.must_enrol(db.session, current_user, _settings()):
            return None
        if request.path.startswith("/api/"):
            body = {"code": 403, "status": "Forbidden", "mfa_enrolment_required": True,
                    "message": "Your role must use two-step sign-in. Set it up on the page "
                               "(/account/mfa) before anything else."}
            return body, 403
        flash(_("Your role must use two-step sign-in. Set it up to continue."), "info")
        return redirect(url_for("mfa_pages.enrol"))
