"""Login accounts: invitations by email, and an admin lifts a sign-in lock."""

from flask import current_app
from flask.views import MethodView
from flask_login import current_user
from marshmallow import Schema, fields, validate

from scheduler import clock, outbox
from scheduler.api.access import WRITE, current_actor, roles_required
from scheduler.api.common import ApiSchema, Id
from scheduler.api.parsing import Blueprint
from scheduler.extensions import db
from scheduler.models.users import USER_ROLES
from scheduler.services import account_links, accounts

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


class InvitationIn(ApiSchema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    role = fields.String(required=True, validate=validate.OneOf(USER_ROLES))
    client_id = Id(allow_none=True)
    staff_id = Id(allow_none=True)


class InvitationOut(Schema):
    id = fields.Integer(required=True, metadata={"description": "The invited account's id."})
    expires_at = fields.AwareDateTime(required=True)


@blp.route("/invitations")
class Invitations(MethodView):
    @roles_required(*WRITE)
    @blp.arguments(InvitationIn)
    @blp.response(201, InvitationOut)
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, data):
        """Invite a person by email to set their own password (a link valid 72 hours).

        Coordinators invite clients (`client_id` required); admins invite anyone. Inviting an
        email that already has a password answers 409; inviting again an email whose
        invitation is still open sends a new link, and the old one stops working.
        """
        sent = account_links.invite(
            db.session, current_user, email=data["email"], role=data["role"],
            client_id=data.get("client_id"), staff_id=data.get("staff_id"), now=clock.now(),
            base_url=outbox.base_url(), public_name=current_app.config["PUBLIC_NAME"],
            address=outbox.remote_address())
        db.session.commit()
        outbox.send_after_response(sent.message_key)
        return {"id": sent.token.user_id, "expires_at": sent.token.expires_at}
