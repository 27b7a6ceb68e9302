"""What a client can reach the clinic with: their login and their calendar link, in one look.

Discharge stops the client's calendar link (booking.discharge_client) and leaves their login as
it is; re-admission brings neither back on its own, and a deactivated login stays deactivated
until someone lets it in again (services/users.update_login). The pages ask here what a
returning client still has, so that they offer what works: no invitation to someone who can
sign in, the way back for a deactivated login, and a new calendar link where the old one
stopped.
"""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from scheduler.feeds import tokens as feed_tokens
from scheduler.models import User
from scheduler.services import day_sheet
from scheduler.services.booking import DISCHARGED

# A login's state as the pages word it.
NO_LOGIN, INVITED, CAN_SIGN_IN, DEACTIVATED = "none", "invited", "can_sign_in", "deactivated"


@dataclass(frozen=True)
class ClientAccess:
    login: User | None
    login_state: str
    has_feed: bool
    feed_stopped: feed_tokens.Stopped | None

    @property
    def may_be_invited(self) -> bool:
        """An invitation can work: no login yet, or one whose invitation was never accepted."""
        return self.login_state in (NO_LOGIN, INVITED)

    @property
    def feed_stopped_at_discharge(self) -> bool:
        return self.feed_stopped is not None and self.feed_stopped.reason == DISCHARGED


def login_state(user: User | None) -> str:
    if user is None:
        return NO_LOGIN
    if not user.is_active:
        return DEACTIVATED
    return CAN_SIGN_IN if user.password_hash else INVITED


def login_of(db: DbSession, client_id: int) -> User | None:
    """The client's login; a client has at most one (accounts.check_links)."""
    return db.scalar(select(User).where(User.client_id == client_id).limit(1))


def of(db: DbSession, client_id: int) -> ClientAccess:
    login = login_of(db, client_id)
    stopped = feed_tokens.stopped(db, "client", client_id)
    has_feed = stopped is None and day_sheet.has_live_feed(db, "client", client_id)
    return ClientAccess(login, login_state(login), has_feed, stopped)
