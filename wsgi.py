"""WSGI entry point for gunicorn, waitress and `flask --app wsgi`."""

from scheduler import create_app

app = create_app()
