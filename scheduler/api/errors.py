"""Every API error as JSON in one shape: code, status, message and per-field errors."""

from flask import Flask
from flask_smorest import Api
from flask_smorest.error_handler import ErrorSchema
from marshmallow import Schema, fields
from sqlalchemy.exc import IntegrityError
from werkzeug.http import HTTP_STATUS_CODES

from scheduler.extensions import db
from scheduler.services.errors import DomainError


class ClashOut(Schema):
    """One clash as conflicts.Clash.as_dict gives it (times already ISO 8601 text)."""

    kind = fields.String(metadata={"description": "client, staff or room"})
    session_id = fields.Integer(allow_none=True)
    starts_at = fields.String(metadata={"format": "date-time"})
    ends_at = fields.String(metadata={"format": "date-time"})
    detail = fields.String()
    requested_session_id = fields.Integer(allow_none=True)
    requested_starts_at = fields.String(allow_none=True, metadata={"format": "date-time"})


class Error(ErrorSchema):
    """Every error body; a 409 for double booking also lists the clashes."""

    conflicts = fields.List(fields.Nested(ClashOut))
    # POST /auth/token: the password was right; send the two-step code too (or enrol first).
    mfa_required = fields.Boolean()
    mfa_enrolment_required = fields.Boolean()
    # POST /clients: the probable existing clients (as GET /clients/matches lists them).
    matches = fields.List(fields.Dict())


def error_body(code: int, message: str, errors: dict | None = None) -> dict:
    body = {"code": code, "status": HTTP_STATUS_CODES.get(code, "Error"), "message": message}
    if errors:
        body["errors"] = errors
    return body


def install(app: Flask, api: Api) -> None:
    @app.errorhandler(DomainError)
    def domain_error(error: DomainError):
        db.session.rollback()
        body = error_body(error.status, error.message, error.errors())
        extra = getattr(error, "body", None)
        if extra:
            body.update(extra)
        return body, error.status, getattr(error, "headers", None) or {}

    @app.errorhandler(IntegrityError)
    def integrity_error(error: IntegrityError):
        # A race lost to another request's insert; nothing was written.
        db.session.rollback()
        message = "The change conflicts with data saved at the same moment; retry."
        return error_body(409, message), 409
