"""Messages a request queued, sent right after its answer has gone out.

Invitations and password resets cannot wait for the next job run. Sending after the answer
keeps a slow or absent mail server out of the response time, and keeps a password-reset
request for a known email exactly as fast as one for an unknown email. Without mail settings,
or with the server down, the message stays queued and the next mail job sends it.
"""

import logging
from collections.abc import Callable

from flask import after_this_request, current_app, request
from sqlalchemy.orm import Session as DbSession

from scheduler import clock
from scheduler.extensions import db
from scheduler.services import notifications
from scheduler.services.mail import MailConfigError, Mailer

log = logging.getLogger(__name__)


def send_after_response(*keys: str | None) -> None:
    """Deliver these queued messages (None is skipped) once the response is sent."""
    wanted = [key for key in keys if key]
    if wanted:
        work_after_response(lambda _db: wanted)


def work_after_response(work: Callable[[DbSession], list[str] | str | None]) -> None:
    """Once the response is sent: run `work` (it queues messages and returns their keys, in
    a transaction committed here), then deliver those messages.

    A password-reset request does all its work here, so its answer takes the same time
    whether or not the email has an account.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def deliver() -> None:
        with app.app_context():
            try:
                keys = work(db.session)
                db.session.commit()
                wanted = [keys] if isinstance(keys, str) else list(keys or ())
                if not wanted:
                    return
                notifications.deliver(db.session, Mailer.from_config(app.config), clock.now(),
                                      keys=wanted)
            except MailConfigError as error:
                log.warning("Message left queued for the mail job: %s", error)
            except Exception:  # the answer is gone; the mail job retries what is left
                log.exception("Sending a queued message after the response failed")
            finally:
                db.session.rollback()
                db.session.remove()

    @after_this_request
    def _hook(response):
        response.call_on_close(deliver)
        return response


def base_url() -> str:
    """The origin links in emails point at: PUBLIC_BASE_URL, FEED_BASE_URL or this host."""
    config = current_app.config
    return config.get("PUBLIC_BASE_URL") or config.get("FEED_BASE_URL") or request.host_url


def remote_address() -> str | None:
    return request.remote_addr
