"""Hostile requests get a 4xx naming the problem, never a 500, and cost the server little.

Each case here answered 500 (or held a whole huge body in memory) before; both databases,
since PostgreSQL refuses some values (NUL, ids past 32 bits) that SQLite stores or ignores.
"""

import io

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
