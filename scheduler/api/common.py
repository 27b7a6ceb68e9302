"""Schemas and helpers shared by the API resources."""

from zoneinfo import ZoneInfo

from marshmallow import Schema, ValidationError, fields, validate

from scheduler.services.errors import InvalidField


def patch_schema(base: type[Schema], name: str) -> type[Schema]:
    """A PATCH variant of `base`: every field optional, with its own OpenAPI name."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("partial", True)
        base.__init__(self, *args, **kwargs)

    return type(name, (base,), {"__init__": __init__})


class PageArgs(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


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
