"""The account pages reached by email links, and changing one's own password.

/invite/<token> and /reset/<token> set a password from an emailed one-time link;
/forgot-password asks for a reset link; /account/password changes one's own password.
"""

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, logout_user
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired

from scheduler import clock, outbox, rate_limits
from scheduler.api import access
from scheduler.extensions import db
from scheduler.i18n import gettext as _
from scheduler.i18n import lazy_gettext as _l
from scheduler.models.users import USER_ROLES
from scheduler.services import account_links, accounts
from scheduler.services.errors import InvalidField
from scheduler.web.access import page_roles
from scheduler.web.form_fields import PageForm, at_most

bp = Blueprint("account_pages", __name__)

MAX_PASSWORD = 200
# Tokens are 43 characters; anything much longer is no token of ours and is not looked up.
MAX_TOKEN = 100


class SetPasswordForm(PageForm):
    password = PasswordField(_l("New password"), validators=[
        DataRequired(_l("Choose a password.")), at_most(MAX_PASSWORD)])
    confirm = PasswordField(_l("New password again"), validators=[
        DataRequired(_l("Type the password again.")), at_most(MAX_PASSWORD)])

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if valid and self.password.data != self.confirm.data:
            self.confirm.errors = [_("The two passwords differ.")]
            return False
        return valid


class ForgotForm(PageForm):
    email = EmailField(_l("Email"), validators=[DataRequired(_l("Enter your email.")),
                                              at_most(254)])


class ChangePasswordForm(SetPasswordForm):
    current_password = PasswordField(_l("Current password"), validators=[
        DataRequired(_l("Enter your current password.")), at_most(MAX_PASSWORD)])


def _gone(purpose: str):
    """The page saying the link is over; a GET is an ordinary visit (200), a POST is refused."""
    return (render_template("account/link_gone.html", purpose=purpose),
            410 if request.method == "POST" else 200)


def _set_password_page(purpose: str, token: str):
    """The page of an invitation or reset link: a form while the link is live."""
    if len(token) > MAX_TOKEN:
        return _gone(purpose)
    now = clock.now()
    try:
        user = account_links.check_link(db.session, token, purpose, now)
    except account_links.LinkGone:
        db.session.rollback()
        return _gone(purpose)
    form = SetPasswordForm()
    status = 200
    if request.method == "POST":
        status = 422
        if form.validate_on_submit():
            done = (account_links.accept_invitation if purpose == "invite"
                    else account_links.reset_password)
            try:
                done(db.session, token, form.password.data, now, outbox.remote_address())
            except InvalidField as error:
                db.session.rollback()
                form.password.errors = [m for ms in error.fields.values() for m in ms]
            else:
                db.session.commit()
                flash(_("Your password is set. Sign in with it."), "success")
                if current_user.is_authenticated:
                    logout_user()
                return redirect(url_for("signin.login"), code=303)
    return render_template("account/set_password.html", form=form, purpose=purpose,
                           email=user.email), status


@bp.route("/invite/<token>", methods=["GET", "POST"])
def invitation(token: str):
    return _set_password_page("invite", token)


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset(token: str):
    return _set_password_page("reset", token)


@bp.route("/forgot-password", methods=["GET", "POST"])
@rate_limits.password_reset
def forgot_password():
    form = ForgotForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            return render_template("account/forgot.html", form=form), 422
        outbox.work_after_response(account_links.reset_request(
            form.email.data, clock.now(), base_url=outbox.base_url(),
            public_name=current_app.config["PUBLIC_NAME"], address=outbox.remote_address()))
        return render_template("account/forgot.html", form=None), 202
    return render_template("account/forgot.html", form=form)


@bp.route("/account/password", methods=["GET", "POST"])
@page_roles(*USER_ROLES)
def change_password():
    form = ChangePasswordForm()
    if request.method == "GET":
        return render_template("account/change_password.html", form=form)
    if not form.validate_on_submit():
        return render_template("account/change_password.html", form=form), 422
    try:
        # This page's own sign-in goes on; every other sign-in and token of the account ends.
        account_links.change_password(
            db.session, current_user, form.current_password.data, form.password.data,
            clock.now(), policy=accounts.LockoutPolicy.from_config(current_app.config),
            keep_session_id=access.current_login_session_id(), address=outbox.remote_address())
    except account_links.WrongCurrentPassword:
        db.session.commit()  # the wrong password counts towards the lock
        form.current_password.errors = [_("This is not your current password.")]
        return render_template("account/change_password.html", form=form), 422
    except InvalidField as error:
        db.session.rollback()
        form.password.errors = [m for ms in error.fields.values() for m in ms]
        return render_template("account/change_password.html", form=form), 422
    db.session.commit()
    flash(_("Your password is changed; your other sign-ins have ended."), "success")
    return redirect(url_for("account_pages.change_password"), code=303)
