"""Bearer tokens for API callers."""

from flask import current_app
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import abort
from marshmallow import Schema, fields, validate

from scheduler import clock, outbox, rate_limits
from scheduler.api.access import current_token_id, require_login, roles_required
from scheduler.api.common import ApiSchema, Text
from scheduler.api.parsing import Blueprint
from scheduler.extensions import db
from scheduler.models.users import USER_ROLES
from scheduler.services import account_links, accounts

URL_PREFIX = "/auth"
blp = Blueprint("auth", __name__, description="Authentication")


class TokenRequest(ApiSchema):
    email = fields.String(required=True)
    # Held to the multi-line rule, not to one line: a password set with a tab must still work.
    password = Text(required=True, load_only=True)


class TokenResponse(Schema):
    token = fields.String(required=True)
    token_type = fields.String(dump_default="Bearer")
    expires_at = fields.AwareDateTime()


class Me(Schema):
    id = fields.Integer()
    email = fields.String()
    role = fields.String()
    staff_id = fields.Integer(allow_none=True)
    client_id = fields.Integer(allow_none=True)


@blp.route("/token")
class Token(MethodView):
    @rate_limits.sign_in
    @blp.doc(security=[])
    @blp.arguments(TokenRequest)
    @blp.response(200, TokenResponse)
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    def post(self, credentials):
        """Exchange email and password for a bearer token.

        By default, after 5 wrong passwords in a row the account locks (15 minutes, doubling
        with each further wrong one, at most a day); meanwhile every attempt answers the same
        401. After 10 refused attempts in a minute from one address, every attempt from it
        gets 429 until the minute is over; successful sign-ins do not count.
        """
        now = clock.now()
        user = accounts.authenticate(db.session, credentials["email"], credentials["password"],
                                     now, accounts.LockoutPolicy.from_config(current_app.config))
        # Kept either way: a wrong password must count towards the lock.
        db.session.commit()
        if user is None:
            abort(401, message="Email or password is wrong.")
        token, row = accounts.issue_api_token(
            db.session, user, now, current_app.config["API_TOKEN_TTL_HOURS"]
        )
        db.session.commit()
        return {"token": token, "token_type": "Bearer", "expires_at": row.expires_at}


@blp.route("/me")
class CurrentUser(MethodView):
    @blp.response(200, Me)
    def get(self):
        """The account the request is authenticated as."""
        require_login()
        return current_user


# Long enough for any passphrase, short enough that hashing it costs nothing extra.
MAX_PASSWORD = 200
LINK_TOKEN = 100


class LinkPasswordIn(ApiSchema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=LINK_TOKEN))
    password = Text(required=True, load_only=True, validate=validate.Length(max=MAX_PASSWORD))


class ResetRequestIn(ApiSchema):
    email = fields.String(required=True, validate=validate.Length(min=1, max=254))


class ResetRequested(Schema):
    message = fields.String(required=True)


RESET_REQUESTED = ("If this email has an account, a link to choose a new password is on its "
                   "way; it works for 30 minutes.")


class PasswordChangeIn(ApiSchema):
    current_password = Text(required=True, load_only=True,
                            validate=validate.Length(max=MAX_PASSWORD))
    new_password = Text(required=True, load_only=True, validate=validate.Length(max=MAX_PASSWORD))


@blp.route("/invitations/accept")
class AcceptInvitation(MethodView):
    @blp.doc(security=[])
    @blp.arguments(LinkPasswordIn)
    @blp.response(204)
    @blp.alt_response(410, response="GONE")
    def post(self, data):
        """Set the first password of an invited account from the emailed link's token.

        A used, superseded or expired invitation answers 410.
        """
        account_links.accept_invitation(db.session, data["token"], data["password"],
                                        clock.now(), outbox.remote_address())
        db.session.commit()


@blp.route("/password-reset")
class PasswordReset(MethodView):
    @rate_limits.password_reset
    @blp.doc(security=[])
    @blp.arguments(ResetRequestIn)
    @blp.response(202, ResetRequested)
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    def post(self, data):
        """Email a password-reset link (valid 30 minutes) if the email has an active account.

        Always 202, whether or not the email is known, so nobody learns which emails have
        accounts. Limited per address, as sign-in is.
        """
        outbox.work_after_response(account_links.reset_request(
            data["email"], clock.now(), base_url=outbox.base_url(),
            public_name=current_app.config["PUBLIC_NAME"], address=outbox.remote_address()))
        return {"message": RESET_REQUESTED}


@blp.route("/password-reset/confirm")
class PasswordResetConfirm(MethodView):
    @blp.doc(security=[])
    @blp.arguments(LinkPasswordIn)
    @blp.response(204)
    @blp.alt_response(410, response="GONE")
    def post(self, data):
        """Set a new password from a reset link's token; every sign-in of the account ends.

        Also lifts a sign-in lock. A used, superseded or expired link answers 410.
        """
        account_links.reset_password(db.session, data["token"], data["password"], clock.now(),
                                     outbox.remote_address())
        db.session.commit()


@blp.route("/password")
class PasswordChange(MethodView):
    @roles_required(*USER_ROLES)
    @blp.arguments(PasswordChangeIn)
    @blp.response(204)
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    def post(self, data):
        """Change one's own password; every other sign-in and token of the account ends.

        A wrong current password answers 422 naming `current_password` and counts towards
        the sign-in lock as a wrong sign-in does.
        """
        now = clock.now()
        try:
            account_links.change_password(
                db.session, current_user, data["current_password"], data["new_password"], now,
                policy=accounts.LockoutPolicy.from_config(current_app.config),
                keep_token_id=current_token_id(), address=outbox.remote_address())
        except account_links.WrongCurrentPassword:
            db.session.commit()  # the wrong password counts
            raise
        db.session.commit()
