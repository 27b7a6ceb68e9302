"""Bearer tokens for API callers; the caller's own sign-ins (page sessions and tokens)."""

from flask import current_app
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import abort
from marshmallow import RAISE, Schema, fields

from scheduler import clock, rate_limits
from scheduler.api.access import (
    current_actor,
    current_login_session_id,
    current_token_id,
    idle_timeout,
    require_login,
    where,
)
from scheduler.api.common import ApiSchema, QueryId, Text
from scheduler.api.parsing import Blueprint
from scheduler.extensions import db
from scheduler.models import ApiToken
from scheduler.services import accounts, logins

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
        logins.record_token_sign_in(db.session, user, row, where())
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
