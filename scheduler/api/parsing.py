"""How the API reads a request: JSON bodies within limits no clinic's request comes near.

Every API blueprint is `Blueprint` from here, so every JSON body goes through `loads`, and
every request schema is an ApiSchema (text checks) whose lists are bounded.
Python's json module recurses once per nesting level (a body 1,000 levels deep raised
RecursionError, a 500) and turns any run of digits into an int (past 4,300 digits that is a
ValueError, another 500); webargs catches neither. Both answer 400 here, before the schema.
"""

import json
import re

from flask_smorest import Blueprint as SmorestBlueprint
from marshmallow import Schema, fields
from webargs import core
from webargs.flaskparser import FlaskParser, abort, is_json_request

from scheduler.api.common import ApiSchema, BoundedList

MAX_DEPTH = 32
MAX_NUMBER_DIGITS = 50

# A JSON string (escapes included) or a bracket; brackets inside strings are not nesting.
_STRING_OR_BRACKET = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


class JsonTooComplex(ValueError):
    """A body that is JSON, but nested or numbered beyond what the API reads."""


def _nesting_exceeds(text: str, limit: int) -> bool:
    if text.count("[") + text.count("{") <= limit:
        return False  # the usual body: too few brackets to be that deep, no scan needed
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        token = match.group()[0]
        if token in "[{":
            depth += 1
            if depth > limit:
                return True
        elif token in "]}":
            depth -= 1
    return False


def _bounded(parse):
    """parse_int/parse_float for json.loads, refusing a number literal with too many digits."""

    def parse_number(literal: str):
        if len(literal) > MAX_NUMBER_DIGITS and sum(map(str.isdigit, literal)) > MAX_NUMBER_DIGITS:
            raise JsonTooComplex(f"Numbers may have at most {MAX_NUMBER_DIGITS} digits.")
        return parse(literal)

    return parse_number


_parse_int = _bounded(int)
_parse_float = _bounded(float)


def loads(body: bytes | str):
    """The JSON value of a request body; JsonTooComplex past the limits, else as json.loads."""
    text = _text(body)
    if _nesting_exceeds(text, MAX_DEPTH):
        raise JsonTooComplex(f"JSON may be nested at most {MAX_DEPTH} levels deep.")
    try:
        return json.loads(text, parse_int=_parse_int, parse_float=_parse_float)
    except RecursionError:  # pragma: no cover - the scan above refuses such bodies first
        raise JsonTooComplex(f"JSON may be nested at most {MAX_DEPTH} levels deep.") from None


def _text(body: bytes | str) -> str:
    if isinstance(body, str):
        return body
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        # What webargs raises for undecodable bytes, so it answers its usual 400.
        raise json.JSONDecodeError(f"Bytes decoding error : {exc.reason}", doc=str(exc.object),
                                   pos=exc.start) from exc


class RequestParser(FlaskParser):
    def _raw_load_json(self, req):
        if not is_json_request(req):
            return core.missing
        try:
            return loads(req.get_data(cache=True))
        except JsonTooComplex as problem:
            abort(400, exc=problem, message=str(problem), messages={"json": [str(problem)]})


def _unbounded_lists(schema: Schema, path: str) -> list[str]:
    found = []
    for name, field in schema.load_fields.items():
        here = f"{path}.{name}"
        while isinstance(field, fields.List):
            if not isinstance(field, BoundedList):
                found.append(here)
            field, here = field.inner, here + "[]"
        if isinstance(field, fields.Nested):
            if field.many:
                found.append(here)
            found += _unbounded_lists(field.schema, here)
    return found


def check_request_schema(schema) -> None:
    """Refuse, as a route declares it, a request schema that skips the text or list checks."""
    instance = schema() if isinstance(schema, type) else schema
    name = type(instance).__name__
    if not isinstance(instance, ApiSchema):
        raise TypeError(f"{name} reads a request, so it must derive from ApiSchema.")
    unbounded = _unbounded_lists(instance, name)
    if unbounded:
        raise TypeError(f"{', '.join(unbounded)}: a list in a request must be a BoundedList.")


class Blueprint(SmorestBlueprint):
    """flask-smorest's Blueprint, reading arguments with RequestParser and checked schemas."""

    ARGUMENTS_PARSER = RequestParser()

    def arguments(self, schema, *args, **kwargs):
        check_request_schema(schema)
        return super().arguments(schema, *args, **kwargs)
