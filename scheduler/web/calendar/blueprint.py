"""The calendar pages' one blueprint, which each route module registers its views on."""

from flask import Blueprint

bp = Blueprint("calendar", "scheduler.web.calendar")
