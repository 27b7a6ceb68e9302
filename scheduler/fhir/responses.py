"""FHIR answers: the media type, OperationOutcome and searchset Bundles."""

import json
from datetime import UTC, datetime

from flask import Response

from scheduler.clock import now

FHIR_JSON = "application/fhir+json"
# R4's issue-type codes used here (http://hl7.org/fhir/R4/valueset-issue-type.html).
ISSUE_CODES = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found",
               405: "not-supported", 406: "not-supported", 409: "conflict", 410: "deleted",
               413: "too-costly", 415: "not-supported", 422: "processing", 429: "throttled",
               500: "exception", 503: "transient"}


def resource(body: dict, status: int = 200, headers: dict | None = None) -> Response:
    """A resource (or Bundle) as application/fhir+json."""
    return Response(json.dumps(body, separators=(",", ":"), ensure_ascii=False), status=status,
                    headers=headers or {}, content_type=f"{FHIR_JSON}; charset=utf-8")


def operation_outcome(status: int, diagnostics: str, *, code: str | None = None,
                      severity: str = "error", expression: list[str] | None = None,
                      headers: dict | None = None) -> Response:
    """A refusal in FHIR's words: one issue, its R4 code, and what went wrong in plain words."""
    issue: dict = {"severity": severity, "code": code or ISSUE_CODES.get(status, "processing"),
                   "diagnostics": diagnostics}
    if expression:
        issue["expression"] = expression
    return resource({"resourceType": "OperationOutcome", "issue": [issue]}, status, headers)


def instant(value: datetime) -> str:
    """A FHIR instant from an aware datetime: UTC, to the second, with a Z."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def searchset(entries: list[dict], *, self_url: str, next_url: str | None = None,
              total: int | None = None, base: str) -> dict:
    """A searchset Bundle of resources, with `self` and (when there is more) `next` links."""
    links = [{"relation": "self", "url": self_url}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    bundle: dict = {"resourceType": "Bundle", "type": "searchset",
                    "meta": {"lastUpdated": instant(now())}, "link": links,
                    "entry": [{"fullUrl": f"{base}/{item['resourceType']}/{item['id']}",
                               "resource": item, "search": {"mode": "match"}}
                              for item in entries]}
    if total is not None:
        bundle["total"] = total
    return bundle
