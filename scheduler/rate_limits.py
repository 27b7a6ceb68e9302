"""Rate limits on the routes that take guesses: sign-in, bearer tokens, check-in, kiosk PINs.

Each limit is shared by the page and the API route that take the same guess, so switching
between them buys no extra tries. Limits come from configuration at request time. Feeds keep
their own miss counter (scheduler/feeds/views.py): only unknown tokens count there.
"""

from flask import current_app
from flask_limiter.util import get_remote_address
from flask_login import current_user

from scheduler.extensions import limiter


def _configured(name: str):
    return lambda: current_app.config[name]


def _account_or_address() -> str:
    """The signed-in account: a clinic's tablets and phones often share one address."""
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    return get_remote_address()


sign_in = limiter.shared_limit(
    _configured("RATELIMIT_SIGN_IN"), scope="sign-in", key_func=get_remote_address,
    methods=["POST"],
    error_message="Too many sign-in attempts from this address; wait a minute and try again.")
self_checkin = limiter.shared_limit(
    _configured("RATELIMIT_CHECKIN"), scope="self-checkin", key_func=_account_or_address,
    methods=["POST"],
    error_message="Too many check-in attempts; wait a minute and try again.")
kiosk_pin = limiter.shared_limit(
    _configured("RATELIMIT_KIOSK"), scope="kiosk-pin", key_func=_account_or_address,
    methods=["POST"],
    error_message="Too many PIN attempts at this kiosk; wait a minute and try again.")
