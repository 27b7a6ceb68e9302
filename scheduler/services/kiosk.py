"""The front-desk kiosk: a client checks in with a personal PIN on a kiosk-signed-in device;
who sets that PIN, and how."""

from datetime import datetime

from sqlalchemy.orm import Session as DbSession

from scheduler.i18n import gettext as _
from scheduler.models import Client
from scheduler.models.users import STAFF
from scheduler.services import attendance, audit, passwords
from scheduler.services.audit import Actor
from scheduler.services.errors import DomainError, InvalidField, StateConflict
from scheduler.services.locks import lock_rows
from scheduler.services.lookup import find as lookup_find
from scheduler.services.lookup import get_or_404

# Who sets or resets any client's PIN: the front desk, which is any staff member (the client
# page is open to them all). A client changes only their own, giving the current one if set.
FRONT_DESK = STAFF
CURRENT_PIN = "current_pin"


def may_set_pin(role: str, own_client_id: int | None, client_id: int) -> bool:
    """Whether a login of this role (a client login: linked to own_client_id) may set the PIN."""
    return role in FRONT_DESK or (role == "client" and own_client_id == client_id)


def _check_pin(pin: str, field: str = "pin") -> None:
    if not (isinstance(pin, str) and pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 6):
        raise InvalidField(field, _("must be 4 to 6 digits."))


def set_pin(db: DbSession, actor: Actor, client_id: int, pin: str) -> Client:
    """Set or reset a client's 4–6 digit kiosk PIN (the front desk); only its hash is kept.

    A reset also lifts a pause after wrong PINs: the client is standing at the desk.
    """
    _check_pin(pin)
    client = get_or_404(db, Client, client_id, "client")
    had_pin = client.kiosk_pin_hash is not None
    client.kiosk_pin_hash = passwords.hash_secret(pin)
    client.checkin_failed_attempts = 0
    client.checkin_locked_until = None
    db.flush()
    # The audit says a PIN was set or replaced ("reset"), never what it is; "set" to "set"
    # would look like no change, which the audit trail drops.
    audit.record(db, actor, "set_kiosk_pin", "client", client.id,
                 before={"kiosk_pin": "set" if had_pin else None},
                 after={"kiosk_pin": "reset" if had_pin else "set"})
    return client


def change_own_pin(db: DbSession, actor: Actor, client_id: int, current_pin: str | None,
                   pin: str, *, now: datetime) -> DomainError | None:
    """A client changes their own PIN: with one set, only after giving it.

    A wrong current PIN counts like a wrong one at the kiosk, towards the same pause, so a
    borrowed phone cannot guess it here instead. Returns the refusal, or None once changed; the
    caller commits either way, so a wrong guess is kept.
    """
    _check_pin(pin)
    client = get_or_404(db, Client, client_id, "client")
    if client.kiosk_pin_hash is not None:
        lock_rows(db, Client, [client.id])
        refusal = attendance.locked_out(client, now)
        if refusal is not None:
            return refusal
        if not current_pin:
            return InvalidField(CURRENT_PIN, _("give your current PIN to change it."))
        if not passwords.matches(client.kiosk_pin_hash, current_pin):
            return attendance.wrong_guess(client, now, CURRENT_PIN, _("does not match."))
    set_pin(db, actor, client.id, pin)
    return None


def check_in(
    db: DbSession,
    actor: Actor,
    client_id: int,
    pin: str,
    *,
    now: datetime,
    policy: attendance.Policy,
) -> attendance.CheckinOutcome:
    """Check the PIN, counting wrong ones, then check the client into their open session."""
    # Another site's client is as good as missing to a scoped coordinator (services/scope.py).
    client = lookup_find(db, Client, client_id) if isinstance(client_id, int) else None
    if client is None or client.kiosk_pin_hash is None:
        # One answer for "no such client" and "no PIN", so the kiosk reveals nobody.
        return attendance.CheckinOutcome(error=InvalidField("pin", _("does not match.")))
    lock_rows(db, Client, [client.id])
    refusal = attendance.locked_out(client, now)
    if refusal is not None:
        return attendance.CheckinOutcome(error=refusal)
    if not passwords.matches(client.kiosk_pin_hash, pin):
        return attendance.CheckinOutcome(
            error=attendance.wrong_guess(client, now, "pin", _("does not match.")))
    attendance.right_guess(client)
    sessions = attendance.open_sessions_of(db, client.id, now)
    if not sessions:
        return attendance.CheckinOutcome(error=StateConflict(
            _("No session is open for check-in now for this client.")))
    row = attendance.check_in(db, actor, client.id, sessions[0], now=now, policy=policy,
                              method="kiosk")
    return attendance.CheckinOutcome(attendance=row)
