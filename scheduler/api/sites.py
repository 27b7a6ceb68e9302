"""Sites: the buildings of a clinic network, each with its address and time zone."""

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from scheduler.api.access import STAFF_READ, current_actor, roles_required
from scheduler.api.common import (
    ApiSchema,
    RequiredText,
    SearchPageArgs,
    domain_validator,
    list_schema,
    offset_limit,
    page_of,
    patch_schema,
)
from scheduler.api.parsing import Blueprint
from scheduler.extensions import db
from scheduler.models import Site
from scheduler.services import sites
from scheduler.services.lookup import get_or_404
from scheduler.services.recurrence import zone

URL_PREFIX = "/sites"
blp = Blueprint("sites", __name__, description="Sites")


class SiteIn(ApiSchema):
    name = RequiredText(required=True, metadata={"description": "Unique in the network."})
    address = fields.String(allow_none=True, validate=validate.Length(max=300))
    timezone = fields.String(required=True, validate=domain_validator(zone), metadata={
        "description": "IANA zone: the default of the site's new programs."})
    is_active = fields.Boolean()


class SiteOut(Schema):
    id = fields.Integer()
    name = fields.String()
    address = fields.String(allow_none=True)
    timezone = fields.String()
    is_active = fields.Boolean()


SitePatch = patch_schema(SiteIn, "SitePatch")
SiteList = list_schema(SiteOut, "SiteList")


@blp.route("")
class Sites(MethodView):
    @roles_required(*STAFF_READ)
    @blp.arguments(SearchPageArgs, location="query")
    @blp.response(200, SiteList)
    def get(self, args):
        """List sites by name, optionally those whose name contains `q`."""
        offset, limit = offset_limit(args)
        items, total = sites.list_sites(db.session, args.get("q"), offset=offset, limit=limit)
        return page_of(items, total, args)

    @roles_required("admin")
    @blp.arguments(SiteIn)
    @blp.response(201, SiteOut)
    def post(self, data):
        """Add a site (admins only)."""
        site = sites.create_site(db.session, current_actor(), **data)
        db.session.commit()
        return site


@blp.route("/<int:site_id>")
class SiteById(MethodView):
    @roles_required(*STAFF_READ)
    @blp.response(200, SiteOut)
    def get(self, site_id):
        """Read one site."""
        return get_or_404(db.session, Site, site_id, "site")

    @roles_required("admin")
    @blp.arguments(SitePatch)
    @blp.response(200, SiteOut)
    def patch(self, changes, site_id):
        """Rename, move or re-zone a site (admins only); its programs keep their own zones."""
        site = get_or_404(db.session, Site, site_id, "site")
        sites.update_site(db.session, current_actor(), site, changes)
        db.session.commit()
        return site
