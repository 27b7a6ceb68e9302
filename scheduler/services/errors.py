"""Domain errors, each carrying what its 4xx answer needs."""

from scheduler.i18n import lazy_gettext as _l

# "No <thing> with id N." for each thing a request can point at, whole sentences so each
# language can agree its words with the thing ("ningún cliente", "ninguna sesión").
NO_SUCH = {
    "API client": _l("No API client with id %(id)s."),
    "alert": _l("No alert with id %(id)s."),
    "assessment": _l("No assessment with id %(id)s."),
    "booking": _l("No booking with id %(id)s."),
    "client": _l("No client with id %(id)s."),
    "closure": _l("No closure with id %(id)s."),
    "consent": _l("No consent with id %(id)s."),
    "delivery": _l("No delivery with id %(id)s."),
    "program": _l("No program with id %(id)s."),
    "recipient": _l("No recipient with id %(id)s."),
    "room": _l("No room with id %(id)s."),
    "schedule proposal": _l("No schedule proposal with id %(id)s."),
    "series": _l("No series with id %(id)s."),
    "session": _l("No session with id %(id)s."),
    "site": _l("No site with id %(id)s."),
    "staff member": _l("No staff member with id %(id)s."),
    "time off": _l("No time off with id %(id)s."),
    "treatment plan": _l("No treatment plan with id %(id)s."),
    "user": _l("No user with id %(id)s."),
    "webhook endpoint": _l("No webhook endpoint with id %(id)s."),
}


def no_such(entity: str, entity_id) -> str:
    """"No client with id 7." in the reader's language; the one way a missing row is named."""
    words = NO_SUCH.get(entity)
    if words is None:
        return f"No {entity} with id {entity_id}."
    # What gettext(msgid, id=…) does, on the words looked up in the reader's language now.
    return str(words) % {"id": entity_id}


class DomainError(Exception):
    """A request the domain refuses; `status` is the HTTP code it maps to."""

    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def errors(self) -> dict | None:
        return None


class NotFound(DomainError):
    status = 404

    def __init__(self, entity: str, entity_id):
        super().__init__(no_such(entity, entity_id))
        self.entity = entity
        self.entity_id = entity_id


class InvalidField(DomainError):
    """One or more request fields are wrong; answered as 422 naming each field."""

    status = 422

    def __init__(self, field: str, message: str, location: str = "json"):
        super().__init__(f"{field}: {message}")
        self.fields = {field: [message]}
        self.location = location

    def errors(self) -> dict:
        # "records.3.status" nests as marshmallow nests list items: records → 3 → status.
        nested: dict = {}
        for path, messages in self.fields.items():
            *parents, leaf = path.split(".")
            node = nested
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = messages
        return {self.location: nested}


class PermissionDenied(DomainError):
    status = 403


class TooManyAttempts(DomainError):
    """Refused for now after repeated wrong guesses; `retry_after` is in seconds."""

    status = 429

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(retry_after)}


class StateConflict(DomainError):
    """The request is well formed but the record's state forbids it."""

    status = 409
