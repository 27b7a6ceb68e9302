"""Login accounts: admins list and manage every login, coordinators the clients' logins;
invitations by email."""

from flask import current_app
from flask.views import MethodView
from flask_login import current_user
from marshmallow import RAISE, Schema, fields, validate

from scheduler import clock, outbox
from scheduler.api.access import current_actor, log_read, roles_required
from scheduler.api.common import (
    ApiSchema,
    BoundedList,
    Id,
    PageArgs,
    list_schema,
    offset_limit,
    page_of,
)
from scheduler.api.parsing import Blueprint
from scheduler.extensions import db
from scheduler.models import User
from scheduler.models.users import COORDINATORS, USER_ROLES
from scheduler.services import account_links, accounts, mfa, sites
from scheduler.services import users as logins_admin
from scheduler.services.lookup import get_or_404

URL_PREFIX = "/users"
blp = Blueprint("users", __name__, description="Login accounts")


class AccountLockOut(Schema):
    id = fields.Integer(required=True)
    email = fields.String(required=True)
    failed_logins = fields.Integer(required=True)
    locked_until = fields.AwareDateTime(allow_none=True)


class LoginListArgs(PageArgs):
    class Meta:
        # A misspelt filter must not silently widen the list to every login.
        unknown = RAISE

    email = fields.String(validate=validate.Length(min=1, max=254), metadata={
        "description": "Logins whose email contains this text, ignoring case."})
    role = fields.String(validate=validate.OneOf(USER_ROLES))
    is_active = fields.Boolean(metadata={"description": "true: active logins; false: "
                                         "deactivated ones."})


class LoginOut(Schema):
    id = fields.Integer(required=True)
    email = fields.String(required=True)
    role = fields.String(required=True)
    is_active = fields.Boolean(required=True)
    client_id = fields.Integer(allow_none=True)
    staff_id = fields.Integer(allow_none=True)
    last_sign_in_at = fields.AwareDateTime(allow_none=True, attribute="last_login_at")
    mfa_enabled = fields.Function(logins_admin.mfa_enabled, dump_only=True,
                                  metadata={"type": "boolean"})
    locked_until = fields.AwareDateTime(allow_none=True)
    site_ids = fields.Function(
        lambda user: [site.id for site in user.sites],
        metadata={"type": "array", "items": {"type": "integer"},
                  "description": "A coordinator's sites; empty: every site."})


class JsonBoolean(fields.Boolean):
    """true or false in a JSON body; "no", 0 and null are refused, not guessed at."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class LoginPatch(ApiSchema):
    is_active = JsonBoolean(metadata={
        "description": "false ends the login's sign-ins, calendar links and kiosk PIN at "
                       "once; true lets it sign in again, with none of them back."})
    role = fields.String(validate=validate.OneOf(USER_ROLES), metadata={
        "description": "Admins only; ends the login's sign-ins. A client role needs a "
                       "client (client_id, unless the login already has one)."})
    client_id = Id(metadata={"description": "With a client role: the client this login "
                             "belongs to (admins only); a client has at most one login."})


def viewer() -> logins_admin.Viewer:
    return logins_admin.Viewer(current_user.id, current_user.role, current_actor())


@blp.route("")
class Logins(MethodView):
    @roles_required(*COORDINATORS)
    @blp.arguments(LoginListArgs, location="query", unknown=RAISE)
    @blp.response(200, list_schema(LoginOut, "LoginList"))
    def get(self, args):
        """Logins by email, filtered by email text, role and status (admins: all;
        coordinators: clients' logins only)."""
        where = logins_admin.LoginFilter(email=args.get("email"), role=args.get("role"),
                                         is_active=args.get("is_active"))
        offset, limit = offset_limit(args)
        items, total = logins_admin.list_logins(db.session, current_user.role, where,
                                                offset=offset, limit=limit)
        # A client's login, listed, tells the caller that person is a client here.
        log_read([u.client_id for u in items if u.client_id], "login_list")
        return page_of(items, total, args)


@blp.route("/<int:user_id>")
class LoginById(MethodView):
    @roles_required(*COORDINATORS)
    @blp.arguments(LoginPatch)
    @blp.response(200, LoginOut)
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def patch(self, changes, user_id):
        """Deactivate, reactivate or change the role of a login; coordinators may only
        deactivate and reactivate clients' logins. Deactivating ends every sign-in at once."""
        user = logins_admin.update_login(db.session, viewer(), user_id, changes, clock.now())
        db.session.commit()
        return user


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


class UserSitesIn(ApiSchema):
    site_ids = BoundedList(Id(), 1000, required=True, metadata={
        "description": "The sites a coordinator's login sees; an empty list means every site."})


class UserSitesOut(Schema):
    site_ids = fields.List(fields.Integer(), required=True)


@blp.route("/<int:user_id>/sites")
class LoginSites(MethodView):
    @roles_required("admin")
    @blp.arguments(UserSitesIn)
    @blp.response(200, UserSitesOut)
    @blp.alt_response(404, response="NOT_FOUND")
    def put(self, data, user_id):
        """Scope a coordinator's login to sites (admins only); [] means every site."""
        user = get_or_404(db.session, User, user_id, "user")
        site_ids = sites.set_user_sites(db.session, current_actor(), user, data["site_ids"])
        db.session.commit()
        return {"site_ids": site_ids}


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
    @roles_required(*COORDINATORS)
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
