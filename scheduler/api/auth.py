"""Bearer tokens for API callers."""

from flask import current_app, request
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import abort
from marshmallow import Schema, fields, validate

from scheduler import clock, rate_limits
from scheduler.api.access import current_actor, require_login, roles_required
from scheduler.api.common import ApiSchema, Text
from scheduler.api.parsing import Blueprint
from scheduler.extensions import db
from scheduler.models.users import USER_ROLES
from scheduler.services import accounts, mfa
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
        db.session.commit()
        return {"token": token, "token_type": "Bearer", "expires_at": row.expires_at}


@blp.route("/me")
class CurrentUser(MethodView):
    @blp.response(200, Me)
    def get(self):
        """The account the request is authenticated as."""
        require_login()
        return current_user


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
