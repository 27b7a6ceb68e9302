"""The links a subscriber is given for a feed token: https, webcal, Google, and a QR code."""

from urllib.parse import quote

from flask import current_app, url_for

from scheduler import i18n
from scheduler.feeds import qr
from scheduler.languages import DEFAULT


def links_for(token: str) -> dict:
    """The feed's https, webcal and Google links, and a QR code of the webcal one."""
    path = url_for("feeds.feed", token=token)
    base = current_app.config.get("FEED_BASE_URL")
    url = base.rstrip("/") + path if base else url_for("feeds.feed", token=token, _external=True)
    webcal = "webcal://" + url.split("://", 1)[1]
    google = "https://calendar.google.com/calendar/render?cid=" + quote(webcal, safe="")
    language = i18n.current_language()
    if language != DEFAULT:
        # Google's "add this calendar" page in the language of the page that offers it.
        google += "&hl=" + language
    return {"url": url, "webcal": webcal, "google": google, "qr_svg": qr.svg(webcal)}
