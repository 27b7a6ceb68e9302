"""A real SMTP server (aiosmtpd) for tests that read the emails the app sends."""

import re
import threading

import pytest
from aiosmtpd.controller import Controller

from tests.test_jobs import SENDER, Inbox, _free_port


class WaitingInbox(Inbox):
    """An inbox a test can wait on, for mail sent by a server thread after its answer."""

    def __init__(self):
        super().__init__()
        self.arrived = threading.Condition()

    async def handle_DATA(self, server, session, envelope):
        answer = await super().handle_DATA(server, session, envelope)
        with self.arrived:
            self.arrived.notify_all()
        return answer

    def wait_for(self, address: str, count: int = 1, timeout: float = 10.0) -> list:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.to(address)) >= count, timeout)
        found = self.to(address)
        assert len(found) >= count, f"no message to {address} within {timeout} s"
        return found


@pytest.fixture
def inbox(app):
    handler = WaitingInbox()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_DEFAULT_SENDER=SENDER,
                      MAIL_TIMEOUT=5, PUBLIC_BASE_URL="https://clinic.example.org")
    try:
        yield handler
    finally:
        controller.stop()


def link_in(message, path: str) -> str:
    """The token of the one https://clinic.example.org/<path>/<token> link in the message."""
    found = re.findall(rf"https://clinic\.example\.org/{path}/([A-Za-z0-9_-]+)",
                       message.get_content())
    assert len(found) == 1, message.get_content()
    return found[0]
