"""Email channels: a real SMTP server, or .eml files in a folder when none is configured."""

from __future__ import annotations

import os
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

import aiosmtplib


class DeliveryFailed(Exception):
    """Delivery failed; retryable tells whether trying again may succeed."""

    def __init__(self, reason: str, retryable: bool) -> None:
        super().__init__(reason)
        self.retryable = retryable


class MailTransport(Protocol):
    """Where alert emails go."""

    async def send(self, message: EmailMessage) -> None:
        """Deliver or raise DeliveryFailed."""

    def describe(self) -> str:
        """Where mail goes, for start-up messages."""


class SmtpTransport:
    """Real SMTP (aiosmtplib); 5xx replies are permanent, everything else is retried."""

    def __init__(self, host: str, port: int, timeout: float = 10.0) -> None:
        self._host, self._port, self._timeout = host, port, timeout

    async def send(self, message: EmailMessage) -> None:
        """Deliver one message."""
        try:
            await aiosmtplib.send(
                message, hostname=self._host, port=self._port, timeout=self._timeout
            )
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryFailed(f"smtp {exc.code}", retryable=exc.code < 500) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise DeliveryFailed(f"smtp {type(exc).__name__}", retryable=True) from None

    def describe(self) -> str:
        """The SMTP server."""
        return f"smtp://{self._host}:{self._port}"


class FileTransport:
    """Writes each message to <folder>/<Message-ID>.eml (atomically), for demos and pilots."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder

    async def send(self, message: EmailMessage) -> None:
        """Write the message; the same Message-ID overwrites rather than duplicates."""
        self._folder.mkdir(parents=True, exist_ok=True)
        name = str(message["Message-ID"]).strip("<>").replace("/", "_")
        target = self._folder / f"{name}.eml"
        tmp = target.with_suffix(".tmp")
        try:
            tmp.write_bytes(bytes(message))
            os.replace(tmp, target)
        except OSError as exc:
            raise DeliveryFailed(f"file sink {type(exc).__name__}", retryable=True) from None

    def describe(self) -> str:
        """The folder."""
        return f"files in {self._folder.resolve()}"
