"""The documentation pages (/docs, /redoc) may load nothing from anywhere but this service.

Their scripts, style sheets and favicon are the pinned fastapi-offline package's copies,
served by intake. ReDoc still names one image on a public CDN (its "by Redocly" logo); the
Content-Security-Policy below stops the browser from asking for it (ReDoc then leaves the
logo out), so no visit tells a third party who reads the API.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DOC_PAGES = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})
POLICY = (
    "default-src 'self'; "
    # The pages start Swagger UI and ReDoc with an inline script, and both style inline.
    "script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


class DocsPolicy:
    """Adds the Content-Security-Policy to the documentation pages' answers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, stamping the policy on a documentation page."""
        if scope["type"] != "http" or scope["path"] not in DOC_PAGES:
            await self.app(scope, receive, send)
            return

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"content-security-policy", POLICY.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, stamped)
