"""Request metrics: count and time every HTTP answer by route template, method and status
class (pure ASGI: one counter and one histogram per request, nothing buffered)."""

from __future__ import annotations

import time
from collections.abc import Iterator

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vrp.metrics import Metrics

UNMATCHED = "unmatched"
"""The route label of a path no route answers (the path itself would be unbounded)."""

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetrics:
    """Outermost middleware, so the limits' 413 and 503 answers are counted too; labels are
    the route's template (`/v1/referrals/{referral_id}`), never the path with its ids."""

    def __init__(self, app: ASGIApp, metrics: Metrics, routes: list[BaseRoute]) -> None:
        self.app = app
        self._metrics = metrics
        self._routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on and record its answer."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0
        path, root = scope["path"], scope.get("root_path", "")

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observed)
        finally:
            # An exception that escapes is answered 500 by Starlette's outermost handler.
            method = scope["method"] if scope["method"] in _METHODS else "other"
            route = scope.get("route")
            template = str(route.path) if route is not None else self._match(path, root, method)
            self._metrics.answered(template, method, status or 500, time.perf_counter() - started)

    def _match(self, path: str, root: str, method: str) -> str:
        # Answered before routing (a limit), by a mount (static files) or by no route: match
        # the request as it came in (routing rewrites the scope), which only these pay for.
        scope = {"type": "http", "path": path, "root_path": root, "method": method}
        for candidate in _flat(self._routes):
            match, _ = candidate.matches(scope)
            if match is not Match.NONE:
                return str(getattr(candidate, "path", UNMATCHED))
        return UNMATCHED


def _flat(routes: list[BaseRoute]) -> Iterator[BaseRoute]:
    """The app's routes with included routers opened: FastAPI keeps each included router
    as one entry that matches every path (its routes carry their full paths here, since
    no router is included under a prefix of its own)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _flat(included.routes)
        else:
            yield route
