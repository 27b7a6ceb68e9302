"""The languages the clinic's pages, emails and calendars speak.

A plain constant, apart from scheduler/i18n.py (Flask-Babel), so models and services can name
the languages without importing the web layer.
"""

# English first: the language of a person who chose none, and of every catalog's msgid.
LANGUAGES = ("en", "es")
DEFAULT = "en"
# Each in its own words: a toggle says "Español" to the person who reads it.
NAMES = {"en": "English", "es": "Español"}
