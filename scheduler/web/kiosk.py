"""Placeholder: filled in by the page work for this area."""

from flask import Blueprint

bp = Blueprint("kiosk_pages", __name__)
