"""A real HTTP server on loopback that verifies Standard Webhooks deliveries and keeps them."""

from __future__ import annotations

import asyncio
import base64
import binascii
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

from standardwebhooks import Webhook, WebhookVerificationError

ERROR_BODY = b"receiver internals: stack trace, tokens, things a sender must not echo"
"""The body of every non-2xx reply, so tests can check that no reason repeats it."""


def new_secret() -> str:
    """A fresh Standard Webhooks secret: `whsec_` and base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True)
class Delivery:
    """A request whose signature verified, and what the receiver answered."""

    id: str
    type: str
    data: dict[str, Any]
    headers: dict[str, str]
    """Lower-cased names."""
    body: bytes
    path: str
    status: int
    arrived: float
    """time.monotonic() on arrival."""


@dataclass(frozen=True)
class Rejection:
    """A request that failed verification (answered 401)."""

    reason: str
    headers: dict[str, str]
    body: bytes
    arrived: float


@dataclass(frozen=True)
class _Reply:
    status: int
    retry_after: str | None
    delay: float


class WebhookReceiver:
    """Listens on 127.0.0.1 (a free port unless given) in its own thread. Verifies each POST
    against the accepted secrets, answers from the programmed replies, then 204; thread-safe."""

    def __init__(self, accepted: Sequence[str], port: int = 0, path: str = "/hooks") -> None:
        self.host = "127.0.0.1"
        self.port = port
        self.path = path
        self.requests = 0
        """Every HTTP request seen, verified or not (a followed redirect would show here)."""
        self._accepted = list(accepted)
        self._replies: deque[_Reply] = deque()
        self._deliveries: list[Delivery] = []
        self._rejections: list[Rejection] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Where to POST deliveries."""
        return f"http://{self.host}:{self.port}{self.path}"

    def accept(self, accepted: Sequence[str]) -> None:
        """Verify with these secrets from now on."""
        with self._lock:
            self._accepted = list(accepted)

    def respond_with(
        self, statuses: Iterable[int], retry_after: float | str | None = None, delay: float = 0.0
    ) -> None:
        """Answer the next verified deliveries with these statuses (then 204 again), each with
        a Retry-After header when given and after `delay` seconds."""
        header = None if retry_after is None else _header_value(retry_after)
        with self._lock:
            self._replies.extend(_Reply(status, header, delay) for status in statuses)

    def deliveries(self) -> list[Delivery]:
        """The verified deliveries so far, in arrival order."""
        with self._lock:
            return list(self._deliveries)

    def rejections(self) -> list[Rejection]:
        """The requests that failed verification so far."""
        with self._lock:
            return list(self._rejections)

    async def until(
        self, predicate: Callable[[list[Delivery]], bool], timeout: float, interval: float = 0.05
    ) -> bool:
        """Whether `predicate(deliveries)` became true within `timeout` seconds. Sleeps with
        asyncio, so the test's event loop (and whatever it is serving) keeps running."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.deliveries()):
                return True
            await asyncio.sleep(interval)
        return predicate(self.deliveries())

    def start(self) -> None:
        """Listen (on the same port as before after a stop, so senders see an outage end)."""
        server = _Server((self.host, self.port), _Handler)
        server.receiver = self
        self.port = int(server.server_address[1])
        self._server = server
        # A short poll interval keeps stop() quick.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop listening; what was received is kept, and connections are then refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def restart(self) -> None:
        """Serve again on the same port, keeping what was received (after an outage)."""
        self.stop()
        self.start()

    def __enter__(self) -> WebhookReceiver:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, _Reply]:
        """Verify and record one POST; the reply to give."""
        arrived = time.monotonic()
        with self._lock:
            self.requests += 1
            accepted = list(self._accepted)
        payload, reason = _verify(body, headers, accepted)
        if payload is None:
            with self._lock:
                self._rejections.append(Rejection(reason, headers, body, arrived))
            return 401, _Reply(401, None, 0.0)
        with self._lock:
            reply = self._replies.popleft() if self._replies else _Reply(204, None, 0.0)
            self._deliveries.append(
                Delivery(
                    id=headers["webhook-id"],
                    type=str(payload.get("type")),
                    data=payload.get("data") or {},
                    headers=headers,
                    body=body,
                    path=path,
                    status=reply.status,
                    arrived=arrived,
                )
            )
        return reply.status, reply

    def _count_other(self) -> None:
        with self._lock:
            self.requests += 1


def _verify(
    body: bytes, headers: dict[str, str], accepted: Sequence[str]
) -> tuple[dict[str, Any] | None, str]:
    """The payload when some accepted secret verifies the request, else why not."""
    reason = "no accepted secrets"
    for secret in accepted:
        try:
            payload = Webhook(secret).verify(body, headers)
        except WebhookVerificationError as exc:
            reason = str(exc)
            continue
        except (ValueError, binascii.Error) as exc:
            # The library unpacks each "v1,<sig>" itself, so a malformed header or body
            # surfaces as ValueError rather than as a verification error.
            reason = f"malformed request ({type(exc).__name__})"
            continue
        if not isinstance(payload, dict):
            return None, "payload is not a JSON object"
        return payload, ""
    return None, reason


def _header_value(retry_after: float | str) -> str:
    if isinstance(retry_after, str):
        return retry_after
    return str(int(retry_after)) if float(retry_after).is_integer() else str(retry_after)


class _Server(ThreadingHTTPServer):
    receiver: WebhookReceiver


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection, so nothing lingers on a kept-alive connection
    # after stop() and a stopped receiver really refuses.
    protocol_version = "HTTP/1.0"

    def do_POST(self) -> None:
        receiver = cast(_Server, self.server).receiver
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        headers = {name.lower(): value for name, value in self.headers.items()}
        status, reply = receiver._handle(self.path, headers, body)
        if reply.delay:
            time.sleep(reply.delay)  # the server's thread, never the test's event loop
        self.send_response(status)
        if reply.retry_after is not None:
            self.send_header("Retry-After", reply.retry_after)
        if 300 <= status < 400:
            # Somewhere to be redirected to: a sender that followed would show in `requests`.
            self.send_header("Location", f"http://{receiver.host}:{receiver.port}/elsewhere")
        payload = b"" if status < 300 or status == 304 else ERROR_BODY
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        cast(_Server, self.server).receiver._count_other()
        self.send_error(405)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the records, not the log."""
