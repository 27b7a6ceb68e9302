"""Outgoing email through SMTP, configured by MAIL_* settings and checked at start-up."""

import smtplib
from contextlib import contextmanager
from dataclasses import dataclass
from email import errors
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import parseaddr

MESSAGE_ID_DOMAIN = "scheduler.invalid"


class MailConfigError(RuntimeError):
    """The MAIL_* settings cannot deliver mail; the message says which and why."""


@dataclass(frozen=True)
class Mailer:
    server: str
    port: int
    use_tls: bool
    username: str | None
    password: str | None
    sender: str  # the From address alone
    # The From name every message shows: PUBLIC_NAME, whatever name MAIL_DEFAULT_SENDER gives,
    # since clients see it in their inbox (and on their lock screen) before they open anything.
    sender_name: str
    timeout: float = 10.0

    @classmethod
    def from_config(cls, config) -> "Mailer":
        """A mailer from the app's settings; a missing server or sender is refused here."""
        server = config.get("MAIL_SERVER")
        sender = config.get("MAIL_DEFAULT_SENDER")
        if not server:
            raise MailConfigError("MAIL_SERVER is not set: reminders and alerts cannot be sent.")
        if not sender:
            raise MailConfigError(
                "MAIL_DEFAULT_SENDER is not set: every message needs a From address.")
        name, address = config.get("PUBLIC_NAME"), parseaddr(sender)[1]
        if not name:
            raise MailConfigError("PUBLIC_NAME is not set: messages need a neutral From name.")
        try:
            # Built once here, so a bad address stops the worker at start-up, not every send.
            Address(display_name=name, addr_spec=address)
        except (ValueError, IndexError, errors.HeaderParseError):
            address = ""
        if "@" not in address:
            raise MailConfigError(f"MAIL_DEFAULT_SENDER={sender!r} is not an email address.")
        try:
            port = int(config.get("MAIL_PORT") or 25)
        except ValueError:
            raise MailConfigError(
                f"MAIL_PORT={config.get('MAIL_PORT')!r} is not a number."
            ) from None
        return cls(server=server, port=port, use_tls=bool(config.get("MAIL_USE_TLS")),
                   username=config.get("MAIL_USERNAME") or None,
                   password=config.get("MAIL_PASSWORD") or None, sender=address,
                   sender_name=name,
                   timeout=float(config.get("MAIL_TIMEOUT") or 10))

    @contextmanager
    def connect(self):
        """An open, logged-in SMTP connection; unreachable servers raise MailConfigError."""
        try:
            smtp = smtplib.SMTP(self.server, self.port, timeout=self.timeout)
        except (TimeoutError, OSError, smtplib.SMTPException) as error:
            raise MailConfigError(
                f"SMTP server {self.server}:{self.port} is unreachable: {error}") from error
        try:
            smtp.ehlo()
            if self.use_tls:
                smtp.starttls()
                smtp.ehlo()
            if self.username:
                smtp.login(self.username, self.password or "")
            yield smtp
        finally:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()

    def check(self) -> None:
        """Connect and say hello, so a worker with a bad mail setting stops at start-up."""
        with self.connect():
            pass

    def message(self, to: str, subject: str, body: str, notification_id: int) -> EmailMessage:
        email = EmailMessage()
        email["From"] = Address(display_name=self.sender_name, addr_spec=self.sender)
        email["To"] = to
        email["Subject"] = subject
        # Stable per notification, so a re-send after a crash can be recognised downstream.
        email["Message-ID"] = f"<notification-{notification_id}@{MESSAGE_ID_DOMAIN}>"
        email.set_content(body)
        return email
