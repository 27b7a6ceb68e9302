"""The favicon, the web app manifest and the service worker: what lets a client keep the portal
on their home screen, and see their schedule there without a connection.

All are public (a browser fetches the manifest without cookies) and say only PUBLIC_NAME. The
icons themselves are static files drawn by tools/make_icons.py.
"""

import functools
import os

from flask import Blueprint, Response, current_app, jsonify, request, url_for

bp = Blueprint("brand", __name__)

# The top bar's navy and the page's white (scheduler/static/app.css): a standalone app's status
# bar and splash screen then match the pages. templates/base.html's theme-color says the same.
THEME_COLOR = "#12263f"
BACKGROUND_COLOR = "#ffffff"
# Neither file changes between releases, nor holds anything private: shared caches may keep
# them; after max-age the ETag makes the check cheap.
FAVICON_MAX_AGE = 7 * 24 * 3600
# A day, so a new PUBLIC_NAME reaches installed home-screen apps soon.
MANIFEST_MAX_AGE = 24 * 3600
ICONS = (
    ("icons/icon-192.png", "192x192", "any"),
    ("icons/icon-512.png", "512x512", "any"),
    ("icons/icon-maskable-512.png", "512x512", "maskable"),
)


@functools.cache
def _favicon(static_folder: str) -> bytes:
    with open(os.path.join(static_folder, "icons", "favicon.ico"), "rb") as icon:
        return icon.read()


@functools.cache
def _worker(static_folder: str) -> bytes:
    with open(os.path.join(static_folder, "js", "offline-worker.js"), "rb") as script:
        return script.read()


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for it on every site, linked or not. Two kilobytes, kept in memory."""
    response = Response(_favicon(current_app.static_folder), mimetype="image/vnd.microsoft.icon")
    return _cacheable(response, FAVICON_MAX_AGE)


@bp.get("/sw.js")
def service_worker():
    """The portal's service worker (static/js/offline-worker.js, registered by
    static/js/portal-offline.js on /me only).

    Served from the root because a worker's scope can be no wider than its own folder without
    a Service-Worker-Allowed header, and the home-screen app starts at "/". no-cache: browsers
    check a worker for updates at most daily anyway, and a fix (or a change to what it keeps)
    must reach phones at their next visit; the ETag keeps that check cheap.
    """
    response = Response(_worker(current_app.static_folder), mimetype="text/javascript")
    response.cache_control.no_cache = True
    response.add_etag()
    return response.make_conditional(request)


@bp.get("/manifest.webmanifest")
def manifest():
    name = current_app.config["PUBLIC_NAME"]
    response = jsonify({
        # The portal is what a client puts on their home screen (its id, kept so an installed
        # app stays the same app). It starts at the landing page, which sends each sign-in to
        # its own start: the client to the portal, the front desk's tablet to the kiosk
        # (the portal itself would be a 403 there).
        "id": url_for("portal.home"),
        "start_url": url_for("home.index"),
        "scope": url_for("home.index"),
        "name": name,
        "short_name": name,
        "display": "standalone",
        "lang": "en",
        "theme_color": THEME_COLOR,
        "background_color": BACKGROUND_COLOR,
        "icons": [{"src": url_for("static", filename=path), "sizes": sizes,
                   "type": "image/png", "purpose": purpose}
                  for path, sizes, purpose in ICONS],
    })
    response.mimetype = "application/manifest+json"
    return _cacheable(response, MANIFEST_MAX_AGE)


def _cacheable(response: Response, max_age: int) -> Response:
    response.cache_control.public = True
    response.cache_control.max_age = max_age
    response.add_etag()
    return response.make_conditional(request)
