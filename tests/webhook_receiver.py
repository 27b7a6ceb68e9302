"""A real HTTP receiver for the webhook tests: http.server on 127.0.0.1, a free port, answering
from a script (a status with headers, or "timeout": no answer until the sender gave up), and
keeping every request it got so a test can verify its signature with standardwebhooks."""

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import standardwebhooks.webhooks
from standardwebhooks import Webhook

from scheduler import clock


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes

    def verify(self, secret: str):
        """The payload, if the signature verifies with this secret (else it raises)."""
        return Webhook(secret).verify(self.body, self.headers)


@dataclass
class Receiver:
    url: str = ""
    # Each request takes the next answer: (status, headers) or "timeout"; then 200.
    script: list = field(default_factory=list)
    got: list[Received] = field(default_factory=list)
    hold_seconds: float = 2.0

    def answer(self, *answers) -> None:
        self.script.extend(answers)


class _ClinicTime(datetime):
    """The receiver's clock is the clinic's: standardwebhooks checks the webhook-timestamp
    against its own now (5 minutes either way), and the tests freeze and move the clock."""

    @classmethod
    def now(cls, tz=None):
        return clock.now().astimezone(tz) if tz is not None else clock.now()


@contextmanager
def running_receiver(monkeypatch):
    receiver = Receiver()
    monkeypatch.setattr(standardwebhooks.webhooks, "datetime", _ClinicTime)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            receiver.got.append(Received(self.path, dict(self.headers.items()), body))
            answer = receiver.script.pop(0) if receiver.script else (200, {})
            if answer == "timeout":
                time.sleep(receiver.hold_seconds)
                answer = (200, {})
            status, headers = answer
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:
                pass  # the sender gave up waiting

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/iop"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
