"""The /fhir/R4 blueprint every FHIR module registers its routes and handlers on."""

from flask import Blueprint

from scheduler.fhir import BASE

bp = Blueprint("fhir", __name__, url_prefix=BASE)
