"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives."""

from __future__ import annotations

import asyncio
import email
import threading
import time
from collections.abc import Callable
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller


class Mailbox:
    """Collects delivered messages; thread-safe."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self._lock:
            self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def for_reference(self, reference: str, kind: str | None = "new-referral") -> list[Message]:
        """Alerts about one referral, of one kind (the team's new-referral alert unless
        told otherwise; None: every kind, referrer updates included)."""
        with self._lock:
            return [
                m
                for m in self.messages
                if m["X-VRP-Referral"] == reference and kind in (None, m["X-VRP-Alert"])
            ]

    def snapshot(self) -> list[Message]:
        with self._lock:
            return list(self.messages)

    async def until(
        self, predicate: Callable[[list[Message]], bool], timeout: float, interval: float = 0.05
    ) -> bool:
        """Whether `predicate(messages)` became true within `timeout` seconds. Sleeps with
        asyncio, so the test's event loop (and whatever it is serving) keeps running."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.snapshot()):
                return True
            await asyncio.sleep(interval)
        return predicate(self.snapshot())


class SmtpServer:
    """Starts aiosmtpd in its own thread on 127.0.0.1."""

    def __init__(self, port: int) -> None:
        self.mailbox = Mailbox()
        self.host = "127.0.0.1"
        self.port = port
        self._controller = Controller(self.mailbox, hostname=self.host, port=port)

    def __enter__(self) -> SmtpServer:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

    def restart(self) -> None:
        """Serve again on the same port, keeping what was received (after an outage)."""
        self._controller = Controller(self.mailbox, hostname=self.host, port=self.port)
        self._controller.start()
