"""Bearer tokens for API callers; the caller's own sign-ins (page sessions and tokens)."""

from flask import current_app, request
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import abort
from marshmallow import RAISE, Schema, fields, validate

from scheduler import clock, outbox, rate_limits
from scheduler.api.access import (
    current_actor,
    current_login_session_id,
    current_token_id,
    idle_timeout,
    require_login,
    roles_required,
    where,
)
from scheduler.api.common import ApiSchema, QueryId, Text
from scheduler.api.parsing import Blueprint
from scheduler.extensions import db
from scheduler.models import ApiToken
from scheduler.models.users import USER_ROLES
from scheduler.services import account_links, accounts, logins, mfa
from scheduler.services.errors import DomainError
from scheduler.services.mfa import Outcome

URL_PREFIX = "/auth"
blp = Blueprint("auth", __name__, description="Authentication")


class TokenRequest(ApiSchema):
    email = fields.String(required=True)
    # Held to the multi-line rule, not to one line: a password set with a tab must still work.
    password = Text(required=True, load_only=True)
    otp = fields.String(load_only=True, validate=validate.Length(max=64), metadata={
        "description": "The code from the authenticator app (or a recovery code), for an "
                       "account with two-step sign-in."})


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


class CodeNeeded(DomainError):
    """The right password for an account with two-step sign-in, and no code."""

    status = 401
    body = {"mfa_required": True}

    def __init__(self):
        super().__init__("Enter the code from your authenticator app as otp (or one of your "
                         "recovery codes).")


class EnrolFirst(DomainError):
    """The right password for an account whose role must enrol in two-step sign-in first."""

    status = 403
    body = {"mfa_enrolment_required": True}

    def __init__(self):
        super().__init__("Your role must use two-step sign-in. Sign in on the web page once to "
                         "set it up with an authenticator app; then ask for a token with the "
                         "app's code as otp.")


@blp.route("/token")
class Token(MethodView):
    @rate_limits.sign_in
    @blp.doc(security=[])
    @blp.arguments(TokenRequest)
    @blp.response(200, TokenResponse)
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    def post(self, credentials):
        """Exchange email and password (and the two-step code) for a bearer token.

        By default, after 5 wrong passwords in a row the account locks (15 minutes, doubling
        with each further wrong one, at most a day); meanwhile every attempt answers the same
        401. After 10 refused attempts in a minute from one address, every attempt from it
        gets 429 until the minute is over; successful sign-ins do not count.

        An account with two-step sign-in sends `otp` too: without it, the right password
        answers 401 with `"mfa_required": true` (and is not counted as a refusal). A wrong
        code counts towards the lock like a wrong password. A recovery code works in its place,
        once. An account whose role must use two-step sign-in (MFA_REQUIRED_ROLES) and has not
        enrolled gets 403 and no token: it enrols on the page first (/account/mfa).
        """
        now = clock.now()
        result = mfa.sign_in(db.session, credentials["email"], credentials["password"],
                             credentials.get("otp"), now,
                             accounts.LockoutPolicy.from_config(current_app.config),
                             mfa.MfaSettings.from_config(current_app.config),
                             address=request.remote_addr)
        # Kept either way: a wrong password or code must count towards the lock.
        db.session.commit()
        if result.outcome is Outcome.CODE_NEEDED:
            raise CodeNeeded()
        if result.outcome is Outcome.MUST_ENROL:
            raise EnrolFirst()
        if result.user is None or result.outcome is not Outcome.SIGNED_IN:
            abort(401, message="Email or password is wrong.")
        token, row = accounts.issue_api_token(
            db.session, result.user, now, current_app.config["API_TOKEN_TTL_HOURS"]
        )
        logins.record_token_sign_in(db.session, result.user, row, where())
        db.session.commit()
        return {"token": token, "token_type": "Bearer", "expires_at": row.expires_at}

    @blp.response(204)
    @blp.alt_response(400, response="DEFAULT_ERROR")
    @blp.alt_response(401, response="UNAUTHORIZED")
    def delete(self):
        """Revoke the bearer token this request is sent with; the next call with it gets 401."""
        require_login()
        token_id = current_token_id()
        if token_id is None:
            abort(400, message="This request carries no bearer token to revoke; a page "
                               "sign-in ends with the Sign out button.")
        row = db.session.get(ApiToken, token_id)
        assert row is not None  # it authenticated this request
        logins.revoke_token(db.session, current_actor(), row, clock.now(), where())
        db.session.commit()


@blp.route("/me")
class CurrentUser(MethodView):
    @blp.response(200, Me)
    def get(self):
        """The account the request is authenticated as."""
        require_login()
        return current_user


class SignInOut(Schema):
    id = fields.Integer(required=True, metadata={
        "description": "Numbered apart for each kind: DELETE /api/v1/auth/sessions/{id} ends "
                       "a page sign-in, DELETE /api/v1/auth/tokens/{id} a bearer token."})
    kind = fields.String(required=True, metadata={"description": "`session` or `token`"})
    user_id = fields.Integer(required=True)
    created_at = fields.AwareDateTime(required=True)
    last_used_at = fields.AwareDateTime(allow_none=True, metadata={
        "description": "Moves at most once a minute."})
    expires_at = fields.AwareDateTime(allow_none=True, metadata={
        "description": "A token's end; a page sign-in ends after idle time or at sign-out."})
    ip_address = fields.String(allow_none=True)
    user_agent = fields.String(allow_none=True)
    current = fields.Boolean(required=True, metadata={
        "description": "The sign-in this request came with."})


class SignInList(Schema):
    items = fields.List(fields.Nested(SignInOut), required=True)


class SignInArgs(ApiSchema):
    user_id = QueryId(metadata={"description": "Another account's sign-ins (admins only)."})


def _whose(user_id: int | None) -> int:
    """The account the caller may look at: their own, or any for an admin."""
    if user_id is None or user_id == current_user.id:
        return current_user.id
    if current_user.role != "admin":
        abort(403, message="Only an admin may see or end another person's sign-ins.")
    return user_id


@blp.route("/sessions")
class SignIns(MethodView):
    @blp.arguments(SignInArgs, location="query", unknown=RAISE)
    @blp.response(200, SignInList)
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, args):
        """The live sign-ins of the caller (or, for an admin, of `user_id`): page sessions and
        bearer tokens, newest first, marking the one this request came with."""
        require_login()
        user_id = _whose(args.get("user_id"))
        items = logins.live_sign_ins(db.session, user_id, clock.now(), idle_timeout(),
                                     current_session_id=current_login_session_id(),
                                     current_token_id=current_token_id())
        return {"items": items}


def _end(kind: str, sign_in_id: int) -> None:
    require_login()
    owner = None if current_user.role == "admin" else current_user.id
    logins.end_one(db.session, current_actor(), kind, sign_in_id, clock.now(),
                   user_id=owner, where=where())
    db.session.commit()


@blp.route("/sessions/<int:login_session_id>")
class OneSession(MethodView):
    @blp.response(204)
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(404, response="NOT_FOUND")
    def delete(self, login_session_id):
        """End one page sign-in at once (`kind` "session" in GET /auth/sessions). Your own, or
        anyone's for an admin; another person's is 404 to everyone else. Ending the one you
        call with signs you out."""
        _end("session", login_session_id)


@blp.route("/tokens/<int:token_id>")
class OneToken(MethodView):
    @blp.response(204)
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(404, response="NOT_FOUND")
    def delete(self, token_id):
        """Revoke one bearer token at once (`kind` "token" in GET /auth/sessions). Your own, or
        anyone's for an admin; another person's is 404 to everyone else."""
        _end("token", token_id)


class MfaEnrolmentOut(Schema):
    secret = fields.String(required=True, metadata={"description": "Base32, for typing in."})
    otpauth_uri = fields.String(required=True, metadata={"description": "For a QR code."})


class OtpIn(ApiSchema):
    otp = fields.String(required=True, validate=validate.Length(max=64), metadata={
        "description": "The code the authenticator app shows now."})


class RecoveryCodesOut(Schema):
    recovery_codes = fields.List(fields.String(), required=True, metadata={
        "description": "Ten codes, each good once in place of the app; shown only now."})


def _settings() -> mfa.MfaSettings:
    return mfa.MfaSettings.from_config(current_app.config)


@blp.route("/mfa")
class MfaEnrolment(MethodView):
    @roles_required(*USER_ROLES)
    @blp.response(200, MfaEnrolmentOut)
    @blp.alt_response(409, response="CONFLICT")
    def post(self):
        """Start two-step sign-in: a new secret for the authenticator app, pending until confirmed.

        Asking again before confirming replaces the pending secret. Refused (409) while
        two-step sign-in is already on.
        """
        pending = mfa.begin(db.session, current_actor(), current_user, _settings(), clock.now())
        db.session.commit()
        return {"secret": pending.secret, "otpauth_uri": pending.otpauth_uri}

    @roles_required(*USER_ROLES)
    @blp.arguments(OtpIn)
    @blp.response(204)
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.alt_response(409, response="CONFLICT")
    def delete(self, body):
        """Turn one's own two-step sign-in off with a current code.

        Refused (403) when one's role must use it: then only an admin's reset clears it.
        """
        done = mfa.turn_off(db.session, current_actor(), current_user, body["otp"], clock.now(),
                            accounts.LockoutPolicy.from_config(current_app.config), _settings(),
                            address=request.remote_addr)
        db.session.commit()
        if not done:
            _wrong_code()


def _wrong_code():
    abort(422, message="otp: that is not the code your authenticator app shows now.",
          errors={"json": {"otp": ["is not the code your authenticator app shows now."]}})


@blp.route("/mfa/confirm")
class MfaConfirm(MethodView):
    @roles_required(*USER_ROLES)
    @blp.arguments(OtpIn)
    @blp.response(200, RecoveryCodesOut)
    @blp.alt_response(409, response="CONFLICT")
    def post(self, body):
        """Turn two-step sign-in on with the first code; answers the ten recovery codes."""
        codes = mfa.confirm(db.session, current_actor(), current_user, body["otp"], _settings(),
                            clock.now())
        db.session.commit()
        if codes is None:
            _wrong_code()
        return {"recovery_codes": codes}


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
                keep_token_id=current_token_id(),
                keep_session_id=current_login_session_id(), address=outbox.remote_address())
        except account_links.WrongCurrentPassword:
            db.session.commit()  # the wrong password counts
            raise
        db.session.commit()
