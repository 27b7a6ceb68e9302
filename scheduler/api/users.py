"""Login accounts: an admin lifts a sign-in lock."""

from flask.views import MethodView
from marshmallow import Schema, fields

from scheduler import clock
from scheduler.api.access import current_actor, roles_required
from scheduler.api.parsing import Blueprint
from scheduler.extensions import db
from scheduler.services import accounts, mfa

URL_PREFIX = "/users"
blp = Blueprint("users", __name__, description="Login accounts")


class AccountLockOut(Schema):
    id = fields.Integer(required=True)
    email = fields.String(required=True)
    failed_logins = fields.Integer(required=True)
    locked_until = fields.AwareDateTime(allow_none=True)


@blp.route("/<int:user_id>/unlock")
class Unlock(MethodView):
    @roles_required("admin")
    @blp.response(200, AccountLockOut)
    @blp.alt_response(404, response="NOT_FOUND")
    def post(self, user_id):
        """Lift the sign-in lock after wrong passwords and reset the count (admins only)."""
        user = accounts.unlock(db.session, current_actor(), user_id)
        db.session.commit()
        return user


@blp.route("/<int:user_id>/mfa")
class MfaReset(MethodView):
    @roles_required("admin")
    @blp.response(204)
    @blp.alt_response(404, response="NOT_FOUND")
    def delete(self, user_id):
        """Reset the account's two-step sign-in (a lost phone) and end its sign-ins (admins only).

        If the account's role must use two-step sign-in, it enrols afresh at its next sign-in.
        """
        mfa.reset(db.session, current_actor(), user_id, clock.now())
        db.session.commit()
