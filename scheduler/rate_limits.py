"""Rate limits on the routes that take guesses: sign-in, bearer tokens, check-in, kiosk PINs
(checking in with one, and setting one).

Each limit is shared by the page and the API route that take the same guess, so switching
between them buys no extra tries; sign-in counts only refused attempts. Limits come from
configuration at request time. Feeds keep their own miss counter (scheduler/feeds/views.py):
only unknown tokens count there, and only they are refused.
"""

from flask import current_app
from flask_limiter.util import get_remote_address
from flask_login import current_user

from scheduler.extensions import limiter
from scheduler.i18n import gettext as _


def _configured(name: str):
    return lambda: current_app.config[name]


def _refused(response) -> bool:
    """A wrong password, an unknown email or a locked account: the 401 both routes answer.

    Only those count, so thirty staff signing in from one clinic address at 08:00 are never
    held up, while guessing is. Flask-Limiter tests the count before the view and adds to it
    after, from the response; a burst of simultaneous guesses may pass a few over the limit
    before the first of them is counted.
    """
    if response.status_code != 401:
        return False
    # The right password of an account with two-step sign-in, asked for its code: no guess.
    body = response.get_json(silent=True) if response.is_json else None
    return not (isinstance(body, dict) and body.get("mfa_required") is True)


def _account_or_address() -> str:
    """The signed-in account: a clinic's tablets and phones often share one address."""
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    return get_remote_address()


sign_in = limiter.shared_limit(
    _configured("RATELIMIT_SIGN_IN"), scope="sign-in", key_func=get_remote_address,
    methods=["POST"], deduct_when=_refused,
    error_message=lambda: _("Too many sign-in attempts from this address; wait a minute and "
                            "try again."))
self_checkin = limiter.shared_limit(
    _configured("RATELIMIT_CHECKIN"), scope="self-checkin", key_func=_account_or_address,
    methods=["POST"],
    error_message=lambda: _("Too many check-in attempts; wait a minute and try again."))
kiosk_pin = limiter.shared_limit(
    _configured("RATELIMIT_KIOSK"), scope="kiosk-pin", key_func=_account_or_address,
    methods=["POST"],
    error_message=lambda: _("Too many PIN attempts at this kiosk; wait a minute and try again."))
# Setting a PIN, by the front desk or the client: the page forms and the API count together.
kiosk_pin_change = limiter.shared_limit(
    _configured("RATELIMIT_PIN_CHANGE"), scope="kiosk-pin-change", key_func=_account_or_address,
    methods=["POST", "PUT"],
    error_message=lambda: _("Too many PIN changes; wait a minute and try again."))
password_reset = limiter.shared_limit(
    _configured("RATELIMIT_PASSWORD_RESET"), scope="password-reset", key_func=get_remote_address,
    methods=["POST"],
    error_message=lambda: _("Too many password-reset requests from this address; wait and "
                            "try again."))
