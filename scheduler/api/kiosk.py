"""The front-desk kiosk: a kiosk login (or staff) signs the tablet in; clients check in with
a personal PIN."""


from functools import wraps

from flask import current_app
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import abort
from marshmallow import fields, validate

from scheduler import clock, rate_limits
from scheduler.api.access import current_actor, require_login, roles_required
from scheduler.api.attendance import AttendanceOut
from scheduler.api.common import ApiSchema, Id
from scheduler.api.parsing import Blueprint
from scheduler.extensions import db
from scheduler.models.users import KIOSK_RUNNERS
from scheduler.services import attendance, kiosk

URL_PREFIX = ""
blp = Blueprint(
    "kiosk",
    __name__,
    description="Kiosk check-in with a 4–6 digit PIN, stored hashed, by a front-desk tablet's "
    "kiosk login (which may use nothing else) or by staff. After 5 wrong PINs (or "
    "self check-in codes) a client's check-in pauses (1, 2, 4 … minutes, at most an hour) "
    "and answers 429.",
)

PIN = validate.Regexp(r"^\d{4,6}$", error="Must be 4 to 6 digits.")


class KioskCheckinIn(ApiSchema):
    client_id = Id(required=True)
    pin = fields.String(required=True, load_only=True, validate=PIN)


class PinIn(ApiSchema):
    pin = fields.String(required=True, load_only=True, validate=PIN,
                        metadata={"description": "The new PIN, 4 to 6 digits."})
    current_pin = fields.String(
        load_only=True, validate=PIN,
        metadata={"description": "The client's current PIN: required when a client changes "
                  "their own PIN and has one. Staff setting or resetting it leave it out."})


def pin_setter(view):
    """Staff (the front desk) for any client; a client for their own. Checked before the body."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        require_login()
        if not kiosk.may_set_pin(current_user.role, current_user.client_id,
                                 kwargs["client_id"]):
            abort(403, message="Only the client themselves or staff may set a kiosk PIN.")
        return view(*args, **kwargs)

    return wrapper


@blp.route("/kiosk/checkin")
class KioskCheckin(MethodView):
    @rate_limits.kiosk_pin
    @roles_required(*KIOSK_RUNNERS)
    @blp.arguments(KioskCheckinIn)
    @blp.response(200, AttendanceOut)
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    def post(self, data):
        """Check a client in at the front desk with their PIN."""
        outcome = kiosk.check_in(
            db.session, current_actor(), data["client_id"], data["pin"],
            now=clock.now(), policy=attendance.Policy.from_config(current_app.config),
        )
        # Saved either way: a wrong PIN must count even though the request fails.
        db.session.commit()
        if outcome.error is not None:
            raise outcome.error
        return outcome.attendance


@blp.route("/clients/<int:client_id>/kiosk-pin")
class KioskPin(MethodView):
    @rate_limits.kiosk_pin_change
    @pin_setter
    @blp.arguments(PinIn)
    @blp.response(204)
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    def put(self, data, client_id):
        """Set or reset the client's kiosk PIN: staff, or the client themselves.

        A client who has a PIN gives it as `current_pin`; a wrong one counts towards the same
        pause as wrong PINs at the kiosk. The PIN is never shown back.
        """
        if current_user.role in kiosk.FRONT_DESK:
            kiosk.set_pin(db.session, current_actor(), client_id, data["pin"])
            db.session.commit()
            return
        error = kiosk.change_own_pin(db.session, current_actor(), client_id,
                                     data.get("current_pin"), data["pin"], now=clock.now())
        # Saved either way: a wrong current PIN must count even though the request fails.
        db.session.commit()
        if error is not None:
            raise error
