"""GET /feeds/<token>.ics: the feed with a strong ETag and Last-Modified, 304 when unchanged."""

from datetime import datetime, time, timezone

from flask import Blueprint, Response, current_app, request

from scheduler.extensions import db, limiter
from scheduler.feeds import render, tokens
from scheduler.feeds.cache import RenderCache
from scheduler.services import clock

bp = Blueprint("feeds", __name__)
NOT_FOUND = b"Not found\n"


def _cache() -> RenderCache:
    cache = current_app.extensions.get("feed_cache")
    if cache is None:
        cache = current_app.extensions["feed_cache"] = RenderCache(
            current_app.config["FEED_CACHE_SIZE"])
    return cache


def _missed(response: Response) -> bool:
    return response.status_code == 404


def _guess_limit() -> str:
    return current_app.config["FEED_GUESS_LIMIT"]


@bp.get("/feeds/<token>.ics")
@limiter.limit(_guess_limit, deduct_when=_missed)
def feed(token: str):
    """The calendar; unknown and revoked tokens get the same 404 from the same single lookup."""
    now = clock.now()
    found = tokens.resolve(db.session, token)
    if found is None:
        db.session.rollback()
        return Response(NOT_FOUND, status=404, mimetype="text/plain")
    if tokens.mark_used(db.session, found, now):
        db.session.commit()
    first_day = render.window_start(now)
    key = (found.kind, found.owner_id, found.version, first_day)
    cache = _cache()
    rendered = cache.get(key)
    if rendered is None:
        rendered = cache.put(key, render.render(db.session, found.kind, found.owner_id, first_day))
    db.session.rollback()
    # The window's first day moves at UTC midnight and can drop an old event, so the
    # resource may have changed then even when no row did.
    window_moved = datetime.combine(now.astimezone(timezone.utc).date(), time.min,
                                    tzinfo=timezone.utc)
    last_modified = max(found.changed_at, window_moved)
    response = Response(rendered.body, mimetype="text/calendar")
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    response.set_etag(rendered.etag)
    response.last_modified = last_modified
    response.headers["Cache-Control"] = "private, max-age=0, must-revalidate"
    response.headers["Content-Disposition"] = 'inline; filename="calendar.ics"'
    return response.make_conditional(request)
