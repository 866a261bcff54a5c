"""Intake's HTTP/1.1 connections: limits enforced before a request reaches the app.

uvicorn's httptools protocol with header count and size caps (431), a deadline for the
headers and one for the body (408, against clients that send a byte every few seconds), a
cap on open connections (503), and problem+json instead of text/plain for requests that
are not valid HTTP (a bad Content-Length, NUL or bare CR/LF in a header, Content-Length
together with Transfer-Encoding).
"""

from __future__ import annotations

import asyncio
import json
from asyncio import TimerHandle
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from services.intake.api import fhir_errors
from services.intake.api.headers import NOSNIFF
from services.intake.api.problems import PROBLEM, problem_body
from vrp.fhir.outcomes import Issue, outcome
from vrp.settings import Settings


@dataclass(frozen=True)
class EdgeLimits:
    """What one connection may send, and how many may be open at once."""

    max_header_bytes: int
    max_headers: int
    header_timeout: float
    body_timeout: float
    max_connections: int

    @classmethod
    def of(cls, settings: Settings) -> EdgeLimits:
        """The limits configured in the settings."""
        return cls(
            settings.max_header_bytes,
            settings.max_headers,
            settings.header_timeout_seconds,
            settings.body_timeout_seconds,
            settings.max_connections,
        )


LINGER_SECONDS = 2.0
"""How long a refused connection's further input is read and dropped before closing."""


class _Refused(Exception):
    """Raised from a parser callback to stop parsing; the status is already chosen."""


_REFUSALS: dict[int, tuple[str, str]] = {
    400: ("malformed-request", "The request is not valid HTTP/1.1"),
    408: ("request-timeout", "The request was not received in time"),
    431: ("headers-too-large", "Request headers too large"),
    503: ("unavailable", "Too many connections"),
}


class EdgeProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with the edge limits; `limits` is set by `edge_protocol`."""

    limits: EdgeLimits

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._head_bytes = 0  # bytes received since the current request began
        self._header_count = 0
        self._in_body = False
        self._deadline: TimerHandle | None = None
        self._discarding = False  # refused: the rest of the stream is read and dropped

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Refuse connections above the cap; give the first request's headers a deadline."""
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self._refuse(503, f"At most {self.limits.max_connections} connections; retry.")
            return
        self._arm(self.limits.header_timeout, "headers")

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the deadline with the connection."""
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feed the parser, counting what arrives before the headers are complete (a single
        endless header never reaches a callback, so the raw bytes are what is capped)."""
        if self._discarding:
            return
        self._unset_keepalive_if_required()
        if not self._in_body:
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except _Refused:
            return
        except httptools.HttpParserUpgrade:
            # As uvicorn does: the request is served, the upgrade (e.g. h2c) ignored.
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _Refused):
                return
            self._refuse(400, "The request could not be parsed as HTTP/1.1.")
            return
        if not self._in_body and self._head_bytes > self.limits.max_header_bytes:
            self._too_large()  # still within the headers: every byte so far was header

    def send_400_response(self, msg: str) -> None:
        """Invalid HTTP, answered as problem+json like every other error."""
        self._refuse(400, "The request could not be parsed as HTTP/1.1.")

    def on_message_begin(self) -> None:
        """A new request on this connection: its headers get their own count and deadline."""
        super().on_message_begin()
        self._header_count = 0
        if self._deadline is None:
            self._arm(self.limits.header_timeout, "headers")

    def on_header(self, name: bytes, value: bytes) -> None:
        """Count the headers; too many is 431 at once."""
        self._header_count += 1
        if self._header_count > self.limits.max_headers:
            self._too_large()
            raise _Refused
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        """Headers in time: the body (if any) now has its own deadline."""
        self._disarm()
        # The chunk that ended the headers may hold body bytes too: count what was parsed.
        parsed = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
        if parsed > self.limits.max_header_bytes:
            self._too_large()
            raise _Refused
        self._in_body = True
        super().on_headers_complete()
        self._arm(self.limits.body_timeout, "body")

    def on_message_complete(self) -> None:
        """The whole request arrived: nothing more to wait for."""
        self._disarm()
        self._in_body = False
        self._head_bytes = 0
        super().on_message_complete()

    def _arm(self, seconds: float, part: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._timed_out, part, seconds)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self, part: str, seconds: float) -> None:
        self._deadline = None
        self._refuse(408, f"The request {part} must arrive within {seconds:g} s.")

    def _too_large(self) -> None:
        self._refuse(
            431,
            f"Request headers are limited to {self.limits.max_headers} fields and "
            f"{self.limits.max_header_bytes} bytes in all.",
        )

    def _refuse(self, status: int, detail: str) -> None:
        """Answer (unless the app already did) and close: the rest of the stream is unread,
        so the connection cannot be reused."""
        self._disarm()
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the app's receive() says so; its sends are dropped
            cycle.message_event.set()
            if cycle.response_started:
                self.transport.close()
                return
        slug, title = _REFUSALS[status]
        path = self.scope.get("path", "/") if self.scope else "/"
        media, answer = PROBLEM, problem_body(status, slug, title, detail, path)
        if fhir_errors.on_fhir_door(path):
            media, answer = fhir_errors.FHIR_JSON, outcome(status, [Issue(detail)])
        body = json.dumps(answer).encode()
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: " + media.encode() + b"\r\n",
            b"%s: %s\r\n" % NOSNIFF,
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n",
        ]
        if status == 503:
            head.append(b"retry-after: 1\r\n")
        self.transport.write(b"".join([*head, b"\r\n", body]))
        self._linger()

    def _linger(self) -> None:
        # Closing with unread input makes the kernel send a reset, and the client may then
        # lose the answer. So: end our side, drop whatever still arrives, close soon after.
        self._discarding = True
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        try:
            self.transport.write_eof()
        except OSError:  # the client is already gone
            self.transport.close()
            return
        self._deadline = self.loop.call_later(LINGER_SECONDS, self.transport.close)


def edge_protocol(limits: EdgeLimits) -> type[EdgeProtocol]:
    """The protocol class uvicorn should build each connection with."""
    return type("IntakeEdgeProtocol", (EdgeProtocol,), {"limits": limits})
