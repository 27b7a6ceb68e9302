"""Hostile requests get a 4xx naming the problem, never a 500, and cost the server little.

Each case here answered 500 (or held a whole huge body in memory) before; both databases,
since PostgreSQL refuses some values (NUL, ids past 32 bits) that SQLite stores or ignores.
"""

import io
import re

import pytest

from scheduler import create_app
from tests.helpers import sign_in

API = "/api/v1"
MB = 1024 * 1024


@pytest.fixture(autouse=True)
def _clinic_clock(now):
    """Every request at the frozen clinic 'now', so tokens and horizons agree."""


class HugeBody(io.RawIOBase):
    """A request body of `size` bytes that exists only as it is read, counting what was read.

    Seekable because the test client measures the body by seeking to its end; only reads
    produce (and count) bytes, so the test holds no 50 MB and sees what the app consumed.
    """

    def __init__(self, size: int, fill: bytes = b"["):
        super().__init__()
        self.size = size
        self.fill = fill
        self.position = 0
        self.bytes_read = 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self.position

    def seek(self, offset, whence=io.SEEK_SET):
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = base + offset
        return self.position

    def readinto(self, buffer):
        count = max(0, min(len(buffer), self.size - self.position))
        buffer[:count] = self.fill * count
        self.position += count
        self.bytes_read += count
        return count


# --- size limits --------------------------------------------------------------------------------


def test_an_anonymous_50_mb_body_is_refused_with_413_before_it_is_read(client):
    """A body announcing 50 MB is refused on its Content-Length: not one byte of it is read."""
    body = HugeBody(50 * MB)

    response = client.post(f"{API}/auth/token", input_stream=body,
                           content_type="application/json")

    assert response.status_code == 413
    assert response.json["code"] == 413
    assert response.json["status"] == "Request Entity Too Large"
    assert "1 MB" in response.json["message"]
    assert body.bytes_read == 0


def test_a_chunked_body_without_a_length_is_cut_off_at_the_limit(client):
    """With no Content-Length (chunked), reading stops just past 1 MB instead of at 50 MB."""
    body = HugeBody(50 * MB)

    response = client.post(
        f"{API}/auth/token", input_stream=body, content_type="application/json",
        headers={"Transfer-Encoding": "chunked"},
        # What a WSGI server that decodes chunked bodies (gunicorn) tells the app.
        environ_overrides={"wsgi.input_terminated": True})

    assert response.status_code == 413
    assert response.json["code"] == 413
    assert body.bytes_read <= 2 * MB


def test_a_too_large_form_gets_an_html_page(client):
    """Pages answer 413 with a page saying what happened, not a JSON body."""
    body = HugeBody(50 * MB, fill=b"a")

    response = client.post("/login", input_stream=body,
                           content_type="application/x-www-form-urlencoded")

    assert response.status_code == 413
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "too large" in page
    assert "1 MB" in page
    assert body.bytes_read == 0


def test_a_body_under_the_limit_is_read_as_usual(client):
    """The limit refuses only what is too large: a 900 kB sign-in is read, and simply wrong."""
    response = client.post(f"{API}/auth/token",
                           json={"email": "x" * 900_000 + "@clinic.test", "password": "nope"})
    assert response.status_code == 401


def test_the_limit_is_a_setting(database_url):
    """MAX_CONTENT_LENGTH (from the environment, like every setting) moves the limit."""
    app = create_app({"CONFIG_NAME": "testing", "SQLALCHEMY_DATABASE_URI": database_url,
                      "MAX_CONTENT_LENGTH": 1000})
    response = app.test_client().post(f"{API}/auth/token",
                                      json={"email": "x" * 2000, "password": "y"})
    assert response.status_code == 413
    assert "1000 bytes" in response.json["message"]


# --- JSON nesting and numbers -----------------------------------------------------------------


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def assert_bad_json(response, words: str):
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert response.json["code"] == 400
    assert words in response.json["message"]
    assert words in response.json["errors"]["json"][0]


@pytest.mark.parametrize("body", [
    '{"email": ' + nested(1000) + ', "password": "x"}',
    nested(1000),
    nested(400_000),  # as deep as 1 MB allows
    '{"a":' * 1000 + "1" + "}" * 1000,
])
def test_a_deeply_nested_body_is_refused_with_400(client, body):
    """1,000 levels used to raise RecursionError (500) on the anonymous token endpoint."""
    response = client.post(f"{API}/auth/token", data=body, content_type="application/json")
    assert_bad_json(response, "nested at most 32 levels")


def test_nesting_up_to_the_limit_reaches_the_schema(client):
    """32 levels are read, and the schema says what is wrong with them; 33 are not read."""
    at_limit = '{"email": ' + nested(31) + ', "password": "x"}'
    response = client.post(f"{API}/auth/token", data=at_limit, content_type="application/json")
    assert response.status_code == 422
    assert "email" in response.json["errors"]["json"]

    past_limit = '{"email": ' + nested(32) + ', "password": "x"}'
    response = client.post(f"{API}/auth/token", data=past_limit, content_type="application/json")
    assert_bad_json(response, "nested at most 32 levels")


def test_brackets_inside_text_are_not_nesting(client, make):
    """A password of brackets and quotes is text: it signs in."""
    password = '[{"[\\' * 30 + "]]]"
    user = make.user("coordinator", password=password)
    response = client.post(f"{API}/auth/token", json={"email": user.email, "password": password})
    assert response.status_code == 200, response.json


@pytest.mark.parametrize("number", ["9" * 5000, "-" + "9" * 5000, "1." + "9" * 5000,
                                    "9" * 51, "1e" + "9" * 60])
def test_a_number_with_too_many_digits_is_refused_with_400(client, number):
    """A 5,000-digit password raised ValueError past Python's int-digit limit (500)."""
    response = client.post(f"{API}/auth/token", data='{"email": "a@clinic.test", "password": '
                           + number + "}", content_type="application/json")
    assert_bad_json(response, "at most 50 digits")


def test_a_long_but_sane_number_still_reaches_the_schema(client, auth):
    """20 digits are read; the id's range check names the field as before."""
    response = client.post(f"{API}/clients", json={
        "name": "Sam", "program_id": 10**20, "admitted_on": "2027-02-01"},
        headers=auth("coordinator"))
    assert response.status_code == 422
    assert "program_id" in response.json["errors"]["json"]


def _with_json_body(app) -> list[tuple[str, str]]:
    """(method, path) of every API operation that reads a JSON body, ids set to 1."""
    document = app.test_client().get(f"{API}/openapi.json").json
    operations = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "requestBody" in operation:
                operations.append((method, re.sub(r"\{[^}]+\}", "1", path)))
    return operations


def test_every_json_body_of_the_api_has_the_limits(app, client, auth):
    """Not only the token endpoint: every operation with a body answers 400, never a 500."""
    callers = [auth("admin"), auth("client")]
    operations = _with_json_body(app)
    assert len(operations) > 20
    for method, path in operations:
        for body in (nested(1000), '{"x": ' + "7" * 5000 + "}"):
            for headers in callers:  # a client-only operation refuses admins first
                response = client.open(path, method=method, data=body, headers=headers,
                                       content_type="application/json")
                if response.status_code != 403:
                    break
            assert response.status_code == 400, (method, path, response.json)
            assert response.json["errors"]["json"], (method, path)
