"""A server span per HTTP request, continuing the caller's W3C trace if it sent one."""

from __future__ import annotations

from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vrp.telemetry import extract, tracer


class TracingMiddleware:
    """Spans carry method, route and status only: no query strings, bodies or headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._tracer = tracer("vrp.intake")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Wrap one HTTP request in a span."""
        if scope["type"] != "http" or scope["path"] == "/metrics":
            # A scrape every few seconds would bury the referrals' traces in noise.
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        method = scope["method"]
        with self._tracer.start_as_current_span(
            f"{method} {scope['path']}",
            context=extract(headers),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": scope["path"]},
        ) as span:
            status = 500

            async def send_wrapper(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            await self.app(scope, receive, send_wrapper)
            route = scope.get("route")
            if route is not None and hasattr(route, "path"):
                span.update_name(f"{method} {route.path}")
                span.set_attribute("http.route", route.path)
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR))
