"""Mounting the console on intake's app: pages, error pages, and its own static assets."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from services.intake.console import (
    dashboard,
    directory,
    evidence,
    inbox,
    sent,
    signin,
    triage,
    web,
)


async def _sign_in_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, web.SignInRequired)
    response = RedirectResponse(web.sign_in_url(exc.target), status_code=303)
    response.headers["Cache-Control"] = "no-store"
    return response


async def _forbidden(request: Request, exc: Exception) -> HTMLResponse:
    return web.render(request, "forbidden.html", 403)


async def _bad_token(request: Request, exc: Exception) -> HTMLResponse:
    return web.render(request, "bad_token.html", 403)


def mount(app: FastAPI) -> None:
    """Add the console's routes, error pages and assets to the intake app."""
    app.state.console_templates = web.environment()
    app.include_router(signin.router)
    app.include_router(inbox.router)
    app.include_router(sent.router)
    app.include_router(triage.router)
    app.include_router(dashboard.router)
    app.include_router(directory.router)
    app.include_router(evidence.router)
    app.mount(
        f"{web.PREFIX}/static", StaticFiles(directory=web.HERE / "static"), name="console-static"
    )
    app.add_exception_handler(web.SignInRequired, _sign_in_required)
    app.add_exception_handler(web.Forbidden, _forbidden)
    app.add_exception_handler(web.BadToken, _bad_token)
