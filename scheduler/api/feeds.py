"""Feed links: create or rotate (POST) and revoke (DELETE) the secret URL of a calendar feed."""

from flask.views import MethodView
from flask_login import current_user
from flask_smorest import abort
from marshmallow import Schema, fields

from scheduler import clock
from scheduler.api.access import STAFF_READ, WRITE, current_actor, require_login
from scheduler.api.parsing import Blueprint
from scheduler.extensions import db
from scheduler.feeds import tokens
from scheduler.feeds.links import links_for

URL_PREFIX = ""
blp = Blueprint(
    "feed_links", __name__,
    description="Calendar feed links. The token in the link is shown once, when it is made; "
    "POST again to rotate it (the old link stops at once) and DELETE to revoke it.",
)


class FeedLinkOut(Schema):
    url = fields.String(metadata={"description": "https (or http) address of the .ics feed."})
    webcal = fields.String(metadata={"description": "The same feed as webcal://, which phones "
                                     "open in their calendar app."})
    google = fields.String(metadata={"description": "Google Calendar's add-by-URL link."})
    qr_svg = fields.String(metadata={"description": "SVG QR code of the webcal link."})


def _allowed(kind: str, owner_id: int) -> bool:
    if current_user.role in WRITE:
        return True
    if kind == "client":
        return current_user.role == "client" and current_user.client_id == owner_id
    if kind == "staff":
        # By role as well as by link: a client login linked to a staff record is still a client.
        return (current_user.role in STAFF_READ and current_user.staff_id is not None
                and current_user.staff_id == owner_id)
    return False


def _guard(kind: str, owner_id: int) -> None:
    require_login()
    if not _allowed(kind, owner_id):
        abort(403, message=f"You may only manage your own feed link, not this {kind}'s.")


def _feed_view(kind: str, arg: str):
    class FeedLink(MethodView):
        @blp.response(201, FeedLinkOut)
        def post(self, **kwargs):
            owner_id = kwargs[arg]
            _guard(kind, owner_id)
            token = tokens.issue(db.session, current_actor(), kind, owner_id, clock.now())
            db.session.commit()
            return links_for(token)

        @blp.response(204)
        def delete(self, **kwargs):
            owner_id = kwargs[arg]
            _guard(kind, owner_id)
            tokens.revoke(db.session, current_actor(), kind, owner_id, clock.now())
            db.session.commit()

    FeedLink.__name__ = f"{kind.title()}FeedLink"
    FeedLink.post.__doc__ = f"Create or rotate the {kind}'s feed link; the old one stops at once."
    FeedLink.delete.__doc__ = f"Revoke the {kind}'s feed link; it answers 404 from now on."
    return FeedLink


for _kind, _path, _arg in (
    ("client", "/clients/<int:client_id>/feed", "client_id"),
    ("staff", "/staff/<int:staff_id>/feed", "staff_id"),
    ("room", "/rooms/<int:room_id>/feed", "room_id"),
    ("program", "/programs/<int:program_id>/feed", "program_id"),
):
    blp.route(_path, endpoint=f"{_kind}_feed")(_feed_view(_kind, _arg))
