"""The app factory and its configuration."""

import pytest

from scheduler import create_app


def test_testing_config_is_used_when_asked(app):
    assert app.testing
    assert app.config["SESSION_HORIZON_DAYS"] == 120


def test_production_refuses_to_start_without_database_url_and_secret(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="DATABASE_URL and SECRET_KEY"):
        create_app({"CONFIG_NAME": "production", "SQLALCHEMY_DATABASE_URI": None,
                    "SECRET_KEY": None})


def test_production_refuses_to_start_without_secret_key():
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app({"CONFIG_NAME": "production", "SQLALCHEMY_DATABASE_URI": "sqlite://",
                    "SECRET_KEY": None})


def test_production_starts_with_both_set():
    app = create_app({"CONFIG_NAME": "production", "SQLALCHEMY_DATABASE_URI": "sqlite://",
                      "SECRET_KEY": "x" * 32, "RATELIMIT_ONE_PROCESS": True})
    assert not app.testing
    assert app.config["SESSION_COOKIE_SECURE"]


def test_unknown_config_name_is_refused():
    with pytest.raises(RuntimeError, match="not one of"):
        create_app({"CONFIG_NAME": "staging"})


def test_healthz_answers_200_when_the_database_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}


def test_healthz_answers_503_when_the_database_is_gone(tmp_path):
    app = create_app({"CONFIG_NAME": "testing",
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/missing/dir/db.sqlite"})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"


def test_openapi_document_and_docs_are_served(client):
    spec = client.get("/api/v1/openapi.json")
    assert spec.status_code == 200
    assert "/api/v1/series" in spec.json["paths"]
    assert client.get("/api/v1/docs").status_code == 200


def test_api_docs_load_their_assets_from_the_app_not_a_cdn(client):
    page = client.get("/api/v1/docs").get_data(as_text=True)
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower()
    for asset in ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css"):
        response = client.get(f"/static/vendor/swagger-ui/{asset}")
        assert response.status_code == 200
        response.close()
