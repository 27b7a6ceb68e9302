"""The landing page: signed-in users go to their own start page."""

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user

from scheduler.web.access import home_endpoint

bp = Blueprint("home", __name__)


@bp.get("/")
def index():
    if current_user.is_authenticated:
        return redirect(url_for(home_endpoint()))
    return render_template("home.html")
