"""The front-desk kiosk: a client checks in with a personal PIN on a staff-signed-in device."""

from datetime import datetime

from sqlalchemy.orm import Session as DbSession

from scheduler.models import Client
from scheduler.services import attendance, audit, passwords
from scheduler.services.audit import Actor
from scheduler.services.errors import InvalidField, StateConflict
from scheduler.services.locks import lock_rows
from scheduler.services.lookup import get_or_404


def set_pin(db: DbSession, actor: Actor, client_id: int, pin: str) -> Client:
    """Set a client's 4–6 digit kiosk PIN; only its hash is kept."""
    if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 6):
        raise InvalidField("pin", "must be 4 to 6 digits.")
    client = get_or_404(db, Client, client_id, "client")
    client.kiosk_pin_hash = passwords.hash_secret(pin)
    client.checkin_failed_attempts = 0
    client.checkin_locked_until = None
    db.flush()
    audit.record(db, actor, "set_kiosk_pin", "client", client.id, after={"kiosk_pin": "set"})
    return client


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
    client = db.get(Client, client_id) if isinstance(client_id, int) else None
    if client is None or client.kiosk_pin_hash is None:
        # One answer for "no such client" and "no PIN", so the kiosk reveals nobody.
        return attendance.CheckinOutcome(error=InvalidField("pin", "does not match."))
    lock_rows(db, Client, [client.id])
    refusal = attendance.locked_out(client, now)
    if refusal is not None:
        return attendance.CheckinOutcome(error=refusal)
    if not passwords.matches(client.kiosk_pin_hash, pin):
        return attendance.CheckinOutcome(
            error=attendance.wrong_guess(client, now, "pin", "does not match."))
    attendance.right_guess(client)
    sessions = attendance.open_sessions_of(db, client.id, now)
    if not sessions:
        return attendance.CheckinOutcome(error=StateConflict(
            "No session is open for check-in now for this client."))
    row = attendance.check_in(db, actor, client.id, sessions[0], now=now, policy=policy,
                              method="kiosk")
    return attendance.CheckinOutcome(attendance=row)
