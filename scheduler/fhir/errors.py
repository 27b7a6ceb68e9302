"""Every refusal under /fhir/R4 is an OperationOutcome with the right status code."""

from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from scheduler.extensions import db
from scheduler.fhir.blueprint import bp
from scheduler.fhir.responses import operation_outcome
from scheduler.services.errors import DomainError, InvalidField


# Set up when first imported: the blueprint is registered on every app the process makes.
@bp.errorhandler(DomainError)
def domain_error(error: DomainError):
    db.session.rollback()
    expression = list(error.fields) if isinstance(error, InvalidField) else None
    return operation_outcome(error.status, error.message, expression=expression,
                             headers=getattr(error, "headers", None))


@bp.errorhandler(IntegrityError)
def integrity_error(_error: IntegrityError):
    db.session.rollback()
    return operation_outcome(409, "The change conflicts with data saved at the same "
                                  "moment; retry.")


@bp.errorhandler(HTTPException)
def http_error(error: HTTPException):
    return outcome_for(error)


def outcome_for(error: HTTPException):
    """An HTTP error as an OperationOutcome, keeping its Allow or Retry-After header. Also
    answers paths under /fhir/R4 that match no route (web/errors.py sends them here)."""
    kept = {k: v for k, v in error.get_headers() if k.lower() in ("allow", "retry-after")}
    return operation_outcome(error.code or 500, error.description or error.name,
                             headers=kept or None)
