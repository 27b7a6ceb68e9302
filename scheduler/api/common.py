"""Schemas and helpers shared by the API resources."""

from collections.abc import Mapping
from zoneinfo import ZoneInfo

from marshmallow import Schema, ValidationError, fields, pre_load, utils, validate

from scheduler.services.dates import (
    BETWEEN,
    EARLIEST_BIRTH,
    EARLIEST_DATE,
    EARLIEST_INSTANT,
    LATEST_DATE,
    LATEST_INSTANT,
)
from scheduler.services.errors import InvalidField
from scheduler.services.lookup import MAX_ID
from scheduler.services.search import MAX_QUERY
from scheduler.services.text import text_problem

# Keeps OFFSET inside a 64-bit integer for any per_page.
MAX_PAGE = 1_000_000
# Seats in one session or series.
MAX_CAPACITY = 500
# Staff running one session: more than any clinic puts in a room, few enough to check quickly.
MAX_FACILITATORS = 20


class Text(fields.String):
    """Free text that may run over several lines: keeps tab, line feed and carriage return.

    Every other string of a request is one line (names, titles, reasons, query values); a
    line break there would split a CSV row, an email header or a calendar line.
    """

    multiline = True


class BoundedList(fields.List):
    """A list in a request, refused when longer than `max_items` before any item is loaded.

    validate.Length alone runs after every item has been loaded: a body of half a million
    ids would be checked one by one first. The bound is also a Length validator, which is
    how it reaches the OpenAPI document (maxItems).
    """

    def __init__(self, inner, max_items: int, **kwargs):
        self.max_items = max_items
        self.too_many = f"Must have at most {max_items} items."
        given = kwargs.pop("validate", None)
        given = [] if given is None else [given] if callable(given) else list(given)
        super().__init__(inner, validate=[validate.Length(max=max_items, error=self.too_many),
                                          *given], **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if utils.is_collection(value) and len(value) > self.max_items:
            raise ValidationError(self.too_many)
        return super()._deserialize(value, attr, data, **kwargs)


def _text_errors(value, field):
    """Why the text in `value` cannot be taken, nested as marshmallow nests errors; or None.

    `field` is the field that will load `value` (None for a key the schema does not know,
    which is held to one line).
    """
    if isinstance(value, str):
        why = text_problem(value, multiline=getattr(field, "multiline", False))
        return [why] if why else None
    if isinstance(value, list):
        if isinstance(field, BoundedList) and len(value) > field.max_items:
            return None  # refused by the field, unread
        item_field = field.inner if isinstance(field, fields.List) else field
        errors = {i: e for i, item in enumerate(value) if (e := _text_errors(item, item_field))}
        return errors or None
    if isinstance(value, Mapping):
        known = _fields_by_key(field.schema) if isinstance(field, fields.Nested) else {}
        errors = {key: e for key, item in value.items()
                  if (e := _text_errors(item, known.get(key)))}
        return errors or None
    return None


def _fields_by_key(schema: Schema) -> dict:
    return {field.data_key or name: field for name, field in schema.load_fields.items()}


class ApiSchema(Schema):
    """Base of every request schema: refuses text no database column can hold."""

    @pre_load
    def storable_text(self, data, **kwargs):
        # PostgreSQL rejects NUL in text and every driver rejects lone surrogates; caught
        # here the answer is a 422 naming the field instead of a 500 from the database.
        # Query values arrive as webargs' MultiDictProxy, a Mapping but not a dict.
        if isinstance(data, Mapping):
            known = _fields_by_key(self)
            errors = {key: e for key, value in data.items()
                      if (e := _text_errors(value, known.get(key)))}
            if errors:
                raise ValidationError(errors)
        return data


class Id(fields.Integer):
    """A row id in a request body: a whole number (not 12.5, "12" or true) that can exist."""

    def __init__(self, **kwargs):
        kwargs.setdefault("strict", True)
        super().__init__(validate=validate.Range(min=1, max=MAX_ID), **kwargs)


class QueryId(fields.Integer):
    """A row id in a query string; out-of-range ids are refused before they reach SQL."""

    def __init__(self, **kwargs):
        super().__init__(validate=validate.Range(min=1, max=MAX_ID), **kwargs)


class Count(fields.Integer):
    """A whole number in a request body: 12.5 is refused rather than truncated to 12."""

    def __init__(self, **kwargs):
        kwargs.setdefault("strict", True)
        super().__init__(**kwargs)


class Hours(fields.Decimal):
    """A number of hours from 0 to `most` in a request body."""

    def __init__(self, most: int, **kwargs):
        # apispec writes a Decimal's bounds through the field, as the strings "0" and "80.00",
        # which no OpenAPI client accepts; numbers here keep the document valid.
        kwargs["metadata"] = {**kwargs.get("metadata", {}), "minimum": 0, "maximum": most}
        super().__init__(
            allow_nan=False,
            validate=validate.Range(min=0, max=most, error=f"Must be between 0 and {most}."),
            **kwargs,
        )


class CalendarDate(fields.Date):
    """A date between 2000-01-01 and 2100-12-31."""

    def __init__(self, **kwargs):
        super().__init__(
            validate=validate.Range(
                min=EARLIEST_DATE,
                max=LATEST_DATE,
                error=f"Must be {BETWEEN}.",
            ),
            **kwargs,
        )


class BirthDate(fields.Date):
    """A date of birth: 1900-01-01 to 2100-12-31 here; the service refuses one in the future
    (the program's today decides it)."""

    def __init__(self, **kwargs):
        super().__init__(
            validate=validate.Range(
                min=EARLIEST_BIRTH, max=LATEST_DATE,
                error="Must be between 1900-01-01 and today.",
            ),
            **kwargs,
        )


class TimeOfDay(fields.Time):
    """A wall-clock time such as 18:00, without a UTC offset: the row's time zone decides it.

    "18:00+05:00" would make an aware time that the recurrence cannot combine with the zone.
    """

    default_error_messages = {
        "offset": "Must be a time of day without a UTC offset; the time zone decides it."}

    def _deserialize(self, value, attr, data, **kwargs):
        at = super()._deserialize(value, attr, data, **kwargs)
        if at.tzinfo is not None:
            raise self.make_error("offset")
        return at


class Instant(fields.AwareDateTime):
    """An ISO 8601 date-time with a UTC offset, in the years 2000 to 2100."""

    def __init__(self, **kwargs):
        super().__init__(
            validate=validate.Range(
                min=EARLIEST_INSTANT,
                max=LATEST_INSTANT,
                max_inclusive=False,
                error=f"Must be {BETWEEN}.",
            ),
            **kwargs,
        )


def patch_schema(base: type[Schema], name: str) -> type[Schema]:
    """A PATCH variant of `base`: every field optional, with its own OpenAPI name."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("partial", True)
        base.__init__(self, *args, **kwargs)

    return type(name, (base,), {"__init__": __init__})


class PageArgs(ApiSchema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class SearchPageArgs(PageArgs):
    """A page of a list that can be searched by name (services/search.py's rule)."""

    q = fields.String(validate=validate.Length(min=1, max=MAX_QUERY), metadata={
        "description": "Only rows whose name (a series: its title) or one of its words begins "
        "with each word typed, ignoring case: `jo sm` finds John Smith. `%` and `_` match "
        "themselves."})


class PageMeta(Schema):
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


def list_schema(item: type[Schema], name: str) -> type[Schema]:
    """A `{"items": [...], "page", "per_page", "total"}` envelope for `item`."""
    return type(name, (PageMeta,), {"items": fields.List(fields.Nested(item))})


def page_of(items, total: int, args: dict) -> dict:
    return {"items": items, "total": total, "page": args["page"], "per_page": args["per_page"]}


def offset_limit(args: dict) -> tuple[int, int]:
    return (args["page"] - 1) * args["per_page"], args["per_page"]


def domain_validator(check):
    """Run a service-level check as a marshmallow validator."""

    def validator(value):
        try:
            check(value)
        except InvalidField as error:
            raise ValidationError(next(iter(error.fields.values()))[0]) from None

    return validator


class LocalDateTime(fields.AwareDateTime):
    """An instant shown with the UTC offset of the owning row's time zone."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        tz = getattr(obj, "timezone", None)
        if tz:
            value = value.astimezone(ZoneInfo(tz))
        return value.isoformat()


class RequiredText(fields.String):
    """A non-blank string, trimmed."""

    def __init__(self, max_length: int = 200, **kwargs):
        super().__init__(validate=validate.Length(min=1, max=max_length), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not text:
            raise ValidationError("Must not be blank.")
        return text
