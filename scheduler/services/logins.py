"""How an account is signed in (bearer tokens; page sign-ins once tracked), and ending it.

Every flow that must end an account's sign-ins (password reset and change, deactivation, role
change, MFA reset) calls `end_all`, so there is one place that knows what "signed in" means.
"""

from datetime import datetime

from sqlalchemy import CursorResult, update
from sqlalchemy.orm import Session as DbSession

from scheduler.models import ApiToken, User


def end_all(db: DbSession, user: User, now: datetime, *,
            keep_token_id: int | None = None) -> int:
    """End every live sign-in of the account except the one kept; returns how many ended."""
    query = (update(ApiToken)
             .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
             .values(revoked_at=now)
             .execution_options(synchronize_session=False))
    if keep_token_id is not None:
        query = query.where(ApiToken.id != keep_token_id)
    result = db.execute(query)
    assert isinstance(result, CursorResult)  # an UPDATE without RETURNING
    return result.rowcount or 0
