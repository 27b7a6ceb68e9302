"""Bearer tokens for API callers."""

from flask import current_app
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import abort
from marshmallow import Schema, fields

from scheduler import clock, rate_limits
from scheduler.api.access import require_login
from scheduler.api.common import ApiSchema, Text
from scheduler.api.parsing import Blueprint
from scheduler.extensions import db
from scheduler.services import accounts

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
