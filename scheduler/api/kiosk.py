"""The front-desk kiosk: a kiosk login (or staff) signs the tablet in; clients check in with
a personal PIN."""


from flask import current_app
from flask.views import MethodView
from marshmallow import fields, validate

from scheduler import clock, rate_limits
from scheduler.api.access import current_actor, own_client_or_writer, roles_required
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
    pin = fields.String(required=True, load_only=True, validate=PIN)


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
    @own_client_or_writer
    @blp.arguments(PinIn)
    @blp.response(204)
    def put(self, data, client_id):
        """Set the client's kiosk PIN: a coordinator, or the client themselves."""
        kiosk.set_pin(db.session, current_actor(), client_id, data["pin"])
        db.session.commit()
