"""Domain errors, each carrying what its 4xx answer needs."""


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
        super().__init__(f"No {entity} with id {entity_id}.")
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
