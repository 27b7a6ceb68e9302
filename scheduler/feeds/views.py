"""GET /feeds/<token>.ics: the feed with a strong ETag and Last-Modified, 304 when unchanged."""

import math
import time as wall_clock
from datetime import UTC, datetime, time
from functools import lru_cache

from flask import Blueprint, Response, current_app, request
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse
from werkzeug.http import http_date

from scheduler import clock
from scheduler.extensions import db, limiter
from scheduler.feeds import render, tokens
from scheduler.feeds.cache import RenderCache

bp = Blueprint("feeds", __name__)
NOT_FOUND = b"Not found\n"


def _cache() -> RenderCache:
    cache = current_app.extensions.get("feed_cache")
    if cache is None:
        cache = current_app.extensions["feed_cache"] = RenderCache(
            current_app.config["FEED_CACHE_SIZE"])
    return cache


@lru_cache(maxsize=16)
def _parsed(limit: str) -> RateLimitItem:
    return parse(limit)


def _guesses() -> tuple[RateLimitItem, list[str]]:
    """Misses counted per address in the limiter's storage (memory, or redis when shared),
    under the key prefix Flask-Limiter gives its own limits."""
    key = ["feed-guesses", get_remote_address()]
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX")
    return _parsed(current_app.config["FEED_GUESS_LIMIT"]), [prefix, *key] if prefix else key


def _miss() -> Response:
    """Count the miss; past the limit the address hears 429 instead of 404."""
    item, key = _guesses()
    if limiter.limiter.hit(item, *key):
        return Response(NOT_FOUND, status=404, mimetype="text/plain")
    reset_at = limiter.limiter.get_window_stats(item, *key).reset_time
    wait = max(1, math.ceil(reset_at - wall_clock.time()))
    return Response(b"Too many unknown feed links from this address; try again later.\n",
                    status=429, mimetype="text/plain", headers={"Retry-After": str(wait)})


@bp.get("/feeds/<token>.ics")
@limiter.exempt
def feed(token: str):
    """The calendar; unknown and revoked tokens get the same 404 from the same single lookup."""
    # The token is looked up first and a live one is always served: a clinic's calendars
    # share its Wi-Fi address with whoever guesses from it, and must not wait for them. Only
    # misses touch the limiter's storage (asked directly, not through its decorator, which
    # would cost every poll a round trip), and only misses are refused once over the limit.
    now = clock.now()
    found = tokens.resolve(db.engine, token)
    if found is None:
        return _miss()
    if tokens.mark_used(db.session, found, now):
        db.session.commit()
    first_day = render.window_start(now)
    # The public name is config, fixed for a process's life but not across restarts: in the
    # key, a new name gives new bytes and so a new ETag rather than a stale cached body.
    public_name = current_app.config["PUBLIC_NAME"]
    # The language too: a changed one moves the version as well (feeds/versions.py), but the
    # key alone keeps two languages from ever sharing a body.
    key = (found.kind, found.owner_id, found.version, first_day, public_name, found.language)
    cache = _cache()
    rendered = cache.get(key)
    if rendered is None:
        rendered = cache.put(key, render.render(db.session, found.kind, found.owner_id, first_day,
                                                public_name=public_name,
                                                language=found.language))
        db.session.rollback()
    # The window's first day moves at UTC midnight and can drop an old event, so the
    # resource may have changed then even when no row did.
    window_moved = datetime.combine(now.astimezone(UTC).date(), time.min,
                                    tzinfo=UTC)
    last_modified = max(found.changed_at, window_moved)
    headers = {
        "ETag": f'"{rendered.etag}"',
        "Last-Modified": http_date(last_modified),
        "Cache-Control": "private, max-age=0, must-revalidate",
    }
    if _unchanged(rendered.etag, last_modified):
        return Response(status=304, headers=headers)
    headers["Content-Disposition"] = 'inline; filename="calendar.ics"'
    return Response(rendered.body, headers=headers,
                    content_type="text/calendar; charset=utf-8")


def _unchanged(etag: str, last_modified: datetime) -> bool:
    """RFC 9110: If-None-Match decides when sent; else If-Modified-Since, to the second."""
    if request.if_none_match:
        return request.if_none_match.contains(etag)
    since = request.if_modified_since
    return since is not None and last_modified.replace(microsecond=0) <= since
