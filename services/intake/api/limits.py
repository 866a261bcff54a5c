"""Request limits: body size and requests in progress (ASGI middleware), per-partner rate,
in-flight idempotency keys, attempts in progress per key."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.intake.api import fhir_errors
from services.intake.api.problems import PROBLEM, problem_body
from vrp.fhir.outcomes import Issue, outcome


class BodySizeLimit:
    """413 problem+json for bodies above max_bytes, without ever reading more than that."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the declared length, or buffer a chunked body up to the limit."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.isdigit() or int(declared) > self.max_bytes:
                await self._too_large(scope, send)
                return
            await self.app(scope, receive, send)
            return
        if b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)
            return
        buffered: list[Message] = []
        size = 0
        while True:
            message = await receive()
            buffered.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._too_large(scope, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return buffered.pop(0) if buffered else await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, send: Send) -> None:
        body = problem_body(
            413,
            "payload-too-large",
            "Request body too large",
            f"Request bodies are limited to {self.max_bytes} bytes.",
            scope["path"],
        )
        await _send_problem(send, body, [])


class ConcurrencyLimit:
    """503 problem+json with Retry-After while max_in_flight requests are being handled, so
    a flood queues in clients rather than in this process's memory and database pool.

    The console (people) and everything else (the partner API) are counted apart, each up
    to max_in_flight: a sign-in flood cannot take the places partner systems need, nor a
    partner's burst lock people out. The console's sign-in has its own admission control
    besides (per-address and per-account limits, a bounded password queue)."""

    _EXEMPT = frozenset({"/health", "/metrics"})  # liveness must answer under load
    _CONSOLE = "/console"

    def __init__(self, app: ASGIApp, max_in_flight: int) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.in_flight = {"api": 0, "console": 0}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count the request in, or refuse it when its side of the process is full."""
        if scope["type"] != "http" or scope["path"] in self._EXEMPT:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        side = "console" if path == self._CONSOLE or path.startswith("/console/") else "api"
        if self.in_flight[side] >= self.max_in_flight:
            await _send_problem(
                send,
                problem_body(
                    503,
                    "unavailable",
                    "Too many requests in progress",
                    f"This process handles at most {self.max_in_flight} requests at once; "
                    "retry shortly.",
                    path,
                ),
                [(b"retry-after", b"1")],
            )
            return
        self.in_flight[side] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight[side] -= 1


async def _send_problem(
    send: Send, body: dict[str, object], headers: list[tuple[bytes, bytes]]
) -> None:
    status, media = int(str(body["status"])), PROBLEM
    if fhir_errors.on_fhir_door(str(body["instance"])):
        # The FHIR door answers every refusal as an OperationOutcome, these two included.
        body, media = outcome(status, [Issue(str(body["detail"]))]), fhir_errors.FHIR_JSON
    raw = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", media.encode()),
                (b"content-length", str(len(raw)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": raw})


class RateLimiter:
    """A token bucket per organisation, in this process (each replica limits separately)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(max(burst, 1))
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> int:
        """0 when a request may proceed, else whole seconds to wait (for Retry-After)."""
        now = time.monotonic()
        tokens, last = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return 0
        self._buckets[key] = (tokens, now)
        return max(1, math.ceil((1.0 - tokens) / self.rate))


class InFlight:
    """Idempotency keys whose first request is still being committed in this process."""

    def __init__(self) -> None:
        self._claimed: set[tuple[str, str]] = set()

    @contextmanager
    def claim(self, organisation: str, key: str) -> Iterator[bool]:
        """Yields True when this request owns the key, False when another one is in flight."""
        token = (organisation, key)
        if token in self._claimed:
            yield False
            return
        self._claimed.add(token)
        try:
            yield True
        finally:
            self._claimed.discard(token)


class Slots:
    """At most `limit` attempts in progress per key (e.g. a sign-in name), in this process."""

    def __init__(self, limit: int) -> None:
        self.limit = max(limit, 1)
        self._taken: dict[str, int] = {}

    @contextmanager
    def slot(self, key: str) -> Iterator[bool]:
        """Yields True holding one of the key's slots, False when all are taken."""
        taken = self._taken.get(key, 0)
        if taken >= self.limit:
            yield False
            return
        self._taken[key] = taken + 1
        try:
            yield True
        finally:
            left = self._taken[key] - 1
            if left:
                self._taken[key] = left
            else:
                del self._taken[key]
