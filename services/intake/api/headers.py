"""Headers every answer of intake carries, whatever produced it (API, console, docs,
static files, metrics, the limits' own refusals)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

NOSNIFF = (b"x-content-type-options", b"nosniff")
"""Browsers must take the declared type as it is: a JSON answer is never run as a script
or rendered as a page, whatever bytes a caller got into it."""


class AlwaysHeaders:
    """ASGI middleware adding X-Content-Type-Options: nosniff to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the header to the response's start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != NOSNIFF[0]]
                message = {**message, "headers": [*headers, NOSNIFF]}
            await send(message)

        await self.app(scope, receive, sending)
