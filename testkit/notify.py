"""A stand-in for GOV.UK Notify's v2 send API on loopback: real HTTP (uvicorn in a thread), the
same JWT checks and error bodies as Notify, templates with placeholders, programmable failures."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import jwt
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

TemplateType = Literal["sms", "email"]
_PLACEHOLDER = re.compile(r"\(\(([^()?]+?)(?:\?\?[^()]*)?\)\)")
_UK_MOBILE = re.compile(r"(?:\+44|0044|44|0)7\d{9}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_IAT_BOUND = 30  # seconds either side of now, as Notify allows
_FAILURES = {
    400: ("BadRequestError", "Bad request"),
    403: ("AuthError", "Invalid token: API key not found"),
    429: ("RateLimitError", "Exceeded rate limit for key type LIVE of 3000 requests per 60s"),
}


@dataclass(frozen=True)
class Template:
    """A template the stand-in knows; placeholders are its ((name)) fields, lower-cased."""

    id: str
    type: TemplateType
    body: str
    subject: str | None
    placeholders: frozenset[str]


@dataclass(frozen=True)
class Received:
    """One request as it arrived, and what the stand-in answered."""

    path: str
    body: Any
    headers: dict[str, str]
    arrived: float
    """time.monotonic() when the request arrived."""
    client_port: int | None
    """The caller's TCP port: the same port twice means a reused connection."""
    status: int
    response: Any


class _Rejected(Exception):
    """A request Notify would refuse: status, Notify's error code and message."""

    def __init__(self, message: str, error: str = "BadRequestError", status: int = 400) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


def _auth(message: str, status: int = 403) -> _Rejected:
    return _Rejected(message, "AuthError", status)


def _invalid(message: str) -> _Rejected:
    return _Rejected(message, "ValidationError")


def _error_body(status: int, error: str, message: str) -> dict[str, Any]:
    return {"status_code": status, "errors": [{"error": error, "message": message}]}


class NotifyStandIn:
    """Serves POST /v2/notifications/sms and /email on 127.0.0.1 (a free port unless given).
    It runs its own event loop in a thread, so async tests and other processes can use it."""

    def __init__(self, port: int = 0, key_name: str = "vrp-test") -> None:
        self.host, self.port = "127.0.0.1", port
        self.service_id = str(uuid.uuid4())
        self._secret = str(uuid.uuid4())
        self._key_name = key_name
        self._templates: dict[str, Template] = {}
        self._scripted: deque[tuple[int, dict[str, str], dict[str, Any]]] = deque()
        self._stalls: deque[float] = deque()
        self._received: list[Received] = []
        self._in_flight = 0
        self.max_in_flight = 0
        """The most requests the stand-in was handling at once."""
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        routes = [
            Route(f"/v2/notifications/{kind}", partial(self._handle, kind=kind), methods=["POST"])
            for kind in ("sms", "email")
        ]
        self._app = Starlette(routes=routes)

    @property
    def url(self) -> str:
        """The base URL to give the Notify client."""
        return f"http://{self.host}:{self.port}"

    def api_key(self, name: str | None = None) -> str:
        """A valid API key for this stand-in: <key name>-<service id>-<secret>."""
        return f"{name or self._key_name}-{self.service_id}-{self._secret}"

    def add_template(self, type: TemplateType, body: str, subject: str | None = None) -> str:
        """Register a template and return its id; its ((placeholders)) become required."""
        found = _PLACEHOLDER.findall(body + (subject or ""))
        names = frozenset(n.strip().lower() for n in found)
        template = Template(str(uuid.uuid4()), type, body, subject, names)
        with self._lock:
            self._templates[template.id] = template
        return template.id

    def fail_next(
        self,
        status: int,
        times: int = 1,
        retry_after: int | None = None,
        error: str | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next `times` requests, before any check, with `status` and a Notify-shaped
        error body (429 RateLimitError, 500 Exception, ...), plus Retry-After when given."""
        code, text = _FAILURES.get(status, ("Exception", "Internal server error"))
        body = _error_body(status, error or code, message or text)
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        with self._lock:
            self._scripted.extend([(status, headers, body)] * times)

    def stall_next(self, seconds: float, times: int = 1) -> None:
        """Hold the next `times` requests for `seconds` before answering them."""
        with self._lock:
            self._stalls.extend([seconds] * times)

    def received(self) -> list[Received]:
        """Every request so far, in arrival order."""
        with self._lock:
            return list(self._received)

    def accepted(self) -> list[Received]:
        """The requests answered 201."""
        return [r for r in self.received() if r.status == 201]

    async def until(
        self, predicate: Callable[[list[Received]], bool], timeout: float, interval: float = 0.05
    ) -> bool:
        """Whether `predicate(received)` became true within `timeout` seconds; sleeps with
        asyncio so the caller's event loop keeps running."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.received()):
                return True
            await asyncio.sleep(interval)
        return predicate(self.received())

    def start(self) -> None:
        """Serve in a thread; returns once the port accepts connections (same port on restart)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self._app, log_level="warning", access_log=False, lifespan="off", loop="asyncio"
        )
        # Bounded, so stop() returns even while a stalled request is still being held.
        config.timeout_graceful_shutdown = 2
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, args=([sock],), daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                sock.close()
                raise RuntimeError("the Notify stand-in did not start")
            time.sleep(0.01)
        self._server, self._thread = server, thread

    def stop(self) -> None:
        """Stop serving and close every connection: callers then see connection refused."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def restart(self) -> None:
        """Serve again on the same port, keeping templates and what was received."""
        self.stop()
        self.start()

    def __enter__(self) -> NotifyStandIn:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> NotifyStandIn:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    async def _handle(self, request: Request, kind: TemplateType) -> JSONResponse:
        arrived = time.monotonic()
        try:
            body: Any = json.loads(await request.body())
        except ValueError:
            body = None
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            stall = self._stalls.popleft() if self._stalls else 0.0
            scripted = self._scripted.popleft() if self._scripted else None
        try:
            await asyncio.sleep(stall)
            if scripted is not None:
                status, headers, answer = scripted
            else:
                headers = {}
                try:
                    auth = request.headers.get("authorization")
                    _check_token(auth, self.service_id, self._secret)
                    status, answer = 201, self._accept(kind, body)
                except _Rejected as exc:
                    status, answer = exc.status, _error_body(exc.status, exc.error, exc.message)
        finally:
            with self._lock:
                self._in_flight -= 1
        port = request.client.port if request.client else None
        record = Received(
            request.url.path, body, dict(request.headers), arrived, port, status, answer
        )
        with self._lock:
            self._received.append(record)
        return JSONResponse(answer, status_code=status, headers=headers)

    def _accept(self, kind: TemplateType, body: Any) -> dict[str, Any]:
        """Validate a send as Notify does and answer with Notify's 201 body."""
        with self._lock:
            templates = dict(self._templates)
        template, values, reference = _check_send(kind, body, templates)
        notification_id = str(uuid.uuid4())
        content: dict[str, Any] = {"body": _render(template.body, values)}
        if kind == "sms":
            content["from_number"] = "VRP"
        else:
            content["subject"] = _render(template.subject or "", values)
            content["from_email"] = "vrp.alerts@notifications.service.gov.uk"
        template_uri = f"{self.url}/services/{self.service_id}/templates/{template.id}"
        return {
            "id": notification_id,
            "reference": reference,
            "content": content,
            "uri": f"{self.url}/v2/notifications/{notification_id}",
            "template": {"id": template.id, "version": 1, "uri": template_uri},
            "scheduled_for": None,
        }


def _check_token(header: str | None, service_id: str, secret: str) -> None:
    """Notify's checks: a Bearer JWT, HS256, iss = the service id, signed with the key's secret,
    iat within 30 seconds of now. No header (or not Bearer) is 401; a bad token is 403."""
    if not header:
        raise _auth("Unauthorized: authentication token must be provided", 401)
    if header[:7].title() != "Bearer ":
        raise _auth("Unauthorized: authentication bearer scheme must be used", 401)
    token = header[7:]
    try:
        issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
    except jwt.PyJWTError:
        raise _auth("Invalid token: signature, api token is not valid") from None
    if issuer is None:
        raise _auth("Invalid token: iss field not provided")
    if issuer != service_id:
        raise _auth("Invalid token: service not found")
    try:
        claims = jwt.decode(token, secret, ["HS256"], options={"verify_iat": False})
    except jwt.InvalidAlgorithmError:
        raise _auth("Invalid token: algorithm used is not HS256") from None
    except jwt.PyJWTError:
        raise _auth("Invalid token: API key not found") from None
    if not isinstance(claims.get("iat"), int | float):
        raise _auth("Invalid token: iat field not provided")
    if abs(time.time() - claims["iat"]) > _IAT_BOUND:
        raise _auth("Error: Your system clock must be accurate to within 30 seconds")


def _check_send(
    kind: TemplateType, body: Any, templates: dict[str, Template]
) -> tuple[Template, dict[str, str], str | None]:
    """The template, personalisation and reference of a valid send; _Rejected otherwise."""
    if not isinstance(body, dict):
        raise _Rejected("Invalid JSON supplied in POST data")
    field = "phone_number" if kind == "sms" else "email_address"
    address = body.get(field)
    if not isinstance(address, str):
        raise _invalid(f"{field} is a required property")
    if kind == "sms" and not _uk_mobile(address):
        raise _invalid("phone_number Not a UK mobile number")
    if kind == "email" and not _EMAIL.fullmatch(address):
        raise _invalid("email_address Not a valid email address")
    try:
        template_id = str(uuid.UUID(str(body.get("template_id"))))
    except ValueError:
        raise _invalid("template_id is not a valid UUID") from None
    template = templates.get(template_id)
    if template is None:
        raise _Rejected("Template not found")
    if template.type != kind:
        raise _Rejected(f"{template.type} template is not suitable for {kind} notification")
    personalisation = body.get("personalisation") or {}
    if not isinstance(personalisation, dict):
        raise _invalid("personalisation is not of type object")
    reference = body.get("reference")
    if reference is not None and not isinstance(reference, str):
        raise _invalid("reference is not of type string")
    values = {str(k).strip().lower(): str(v) for k, v in personalisation.items()}
    missing = sorted(template.placeholders - values.keys())
    if missing:
        raise _Rejected(f"Missing personalisation: {', '.join(missing)}")
    return template, values, reference


def _uk_mobile(number: str) -> bool:
    """Whether the number is a UK mobile (07..., +447..., 00447...), ignoring spacing."""
    return _UK_MOBILE.fullmatch(re.sub(r"[\s()\-.]", "", number)) is not None


def _render(text: str, values: dict[str, str]) -> str:
    """Fill each ((name)) with its value (a conditional ((name??text)) too, simply)."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1).strip().lower(), ""), text)
