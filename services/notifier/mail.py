"""Mail transports: a real SMTP server, or .eml files in a folder when none is configured."""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import aiosmtplib

from services.notifier.channels import DeliveryFailed


@dataclass(frozen=True)
class Mail:
    """One message, already rendered to its wire form (rendered once, sent as is)."""

    sender: str
    recipient: str
    message_id: str
    data: bytes


class Mailer(Protocol):
    """Where alert emails go."""

    async def send(self, message: Mail) -> None:
        """Deliver or raise DeliveryFailed."""

    async def close(self) -> None:
        """Release connections."""

    def describe(self) -> str:
        """Where mail goes, for start-up messages."""


class SmtpMailer:
    """Real SMTP (aiosmtplib) over a pool of reused connections; 5xx replies are permanent,
    everything else is retried."""

    def __init__(self, host: str, port: int, timeout: float = 10.0, pool_size: int = 8) -> None:
        self._host, self._port, self._timeout = host, port, timeout
        self._idle: list[aiosmtplib.SMTP] = []
        self._slots = asyncio.Semaphore(pool_size)

    async def send(self, message: Mail) -> None:
        """Deliver one message over a pooled connection (at most pool_size at once)."""
        async with self._slots:
            client = self._idle.pop() if self._idle else None
            if client is not None:
                try:
                    await client.sendmail(message.sender, [message.recipient], message.data)
                except aiosmtplib.SMTPResponseException as exc:
                    self._idle.append(client)
                    raise DeliveryFailed(
                        f"smtp {exc.code}", retryable=exc.code < 500, status_code=exc.code
                    ) from None
                except (aiosmtplib.SMTPException, OSError, TimeoutError):
                    # The server closed an idle connection: try once on a fresh one.
                    _discard(client)
                else:
                    self._idle.append(client)
                    return
            client = aiosmtplib.SMTP(hostname=self._host, port=self._port, timeout=self._timeout)
            try:
                await client.connect()
                await client.sendmail(message.sender, [message.recipient], message.data)
            except aiosmtplib.SMTPResponseException as exc:
                _discard(client)
                raise DeliveryFailed(
                    f"smtp {exc.code}", retryable=exc.code < 500, status_code=exc.code
                ) from None
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                _discard(client)
                raise DeliveryFailed(f"smtp {type(exc).__name__}", retryable=True) from None
            self._idle.append(client)

    async def close(self) -> None:
        """Say QUIT on every idle connection."""
        idle, self._idle = self._idle, []
        for client in idle:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                await client.quit()

    def describe(self) -> str:
        """The SMTP server."""
        return f"smtp://{self._host}:{self._port}"


def _discard(client: aiosmtplib.SMTP) -> None:
    client.close()


class FileMailer:
    """Writes each message to <folder>/<Message-ID>.eml (atomically), for demos and pilots."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder

    async def send(self, message: Mail) -> None:
        """Write the message; the same Message-ID overwrites rather than duplicates."""
        self._folder.mkdir(parents=True, exist_ok=True)
        name = message.message_id.strip("<>").replace("/", "_")
        target = self._folder / f"{name}.eml"
        tmp = target.with_suffix(".tmp")
        try:
            tmp.write_bytes(message.data)
            os.replace(tmp, target)
        except OSError as exc:
            raise DeliveryFailed(f"file sink {type(exc).__name__}", retryable=True) from None

    async def close(self) -> None:
        """Nothing to release."""

    def describe(self) -> str:
        """The folder."""
        return f"files in {self._folder.resolve()}"
