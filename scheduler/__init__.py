"""IOP Scheduler: the app factory."""

import os
import secrets

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from config import CONFIGS, ProductionConfig, check_public_name
from scheduler import log_privacy, routing
from scheduler.request_body import BoundedRequest


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: configuration, extensions, blueprints and CLI commands."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    app = Flask(
        __name__,
        instance_path=os.path.join(root, "instance"),
        instance_relative_config=True,
        template_folder=os.path.join(root, "templates"),
    )
    app.request_class = BoundedRequest
    routing.install(app)
    config_name = (test_config or {}).get("CONFIG_NAME") or os.environ.get(
        "SCHEDULER_CONFIG", "development"
    )
    if config_name not in CONFIGS:
        raise RuntimeError(
            f"SCHEDULER_CONFIG={config_name!r} is not one of {', '.join(CONFIGS)}."
        )
    app.config.from_object(CONFIGS[config_name])
    # Before anything logs: no record may carry a feed token or a database error's values.
    log_privacy.install()
    if test_config:
        app.config.update(test_config)

    check_public_name(app.config)
    from scheduler.services.mfa import check_required_roles

    check_required_roles(app.config)
    if config_name == "production":
        ProductionConfig.check(app.config)
    else:
        _development_defaults(app)
    proxies = app.config.get("TRUSTED_PROXIES", 0)
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)
    if str(app.config.get("SQLALCHEMY_DATABASE_URI") or "").startswith("sqlite"):
        # A file on this machine cannot drop a connection: pinging it costs every checkout.
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            **app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}), "pool_pre_ping": False}

    from scheduler.extensions import api, csrf, db, limiter, login_manager, migrate
    from scheduler.services import passwords

    passwords.use_method(app.config["PASSWORD_HASH_METHOD"])

    db.init_app(app)
    limiter.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(root, "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    from scheduler import i18n

    i18n.install(app)
    from scheduler.api.errors import Error

    # Set before init_app, which documents every error response with it.
    api.ERROR_SCHEMA = Error
    api.init_app(app)

    from scheduler import (
        models,  # noqa: F401  (registers every table)
        security_headers,
    )
    from scheduler.api import register_api
    from scheduler.cli import register_cli
    from scheduler.feeds import versions
    from scheduler.feeds import views as feed_views
    from scheduler.fhir import views as fhir_views
    from scheduler.web import register_web

    versions.install()
    security_headers.install(app)
    register_api(app, api)
    register_web(app)
    app.register_blueprint(feed_views.bp)
    fhir_views.register(app)
    register_cli(app)
    app.before_request(_open_write_transaction)
    return app


def _open_write_transaction() -> None:
    """Give every write request its transaction before it reads what it will decide on."""
    from flask import request

    from scheduler.extensions import db
    from scheduler.services.locks import begin_write

    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        begin_write(db.session)


def _development_defaults(app: Flask) -> None:
    """Give a local run a SQLite file and a per-install secret in instance/."""
    os.makedirs(app.instance_path, exist_ok=True)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        path = os.path.join(app.instance_path, "scheduler.sqlite")
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{path}"
    if not app.config.get("SECRET_KEY"):
        key_file = os.path.join(app.instance_path, "secret_key")
        if not os.path.exists(key_file):
            with open(key_file, "w") as fh:
                fh.write(secrets.token_hex(32))
            os.chmod(key_file, 0o600)
        with open(key_file) as fh:
            app.config["SECRET_KEY"] = fh.read().strip()
