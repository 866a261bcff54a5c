"""Signing in and out of the console."""

from __future__ import annotations

import hmac
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from services.intake.api.dependencies import failure_subjects, record_failure
from services.intake.console import web
from vrp.domain.people import Permission, Role, may
from vrp.store import accounts
from vrp.store.accounts import LockoutPolicy
from vrp.store.unit import unit_of_work

router = APIRouter(prefix=web.PREFIX, include_in_schema=False)


def _sign_in_page(request: Request, target: str, error: str | None, status: int) -> HTMLResponse:
    token = web.pre_csrf(request)
    response = web.render(request, "sign_in.html", status, next=target, pre_csrf=token, error=error)
    response.set_cookie(
        web.PRE_CSRF_COOKIE,
        token,
        path=web.PREFIX,
        httponly=True,
        samesite="strict",
        secure=web.secure_cookies(web.settings_of(request)),
    )
    return response


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_form(request: Request, next: str | None = None) -> HTMLResponse:
    """The sign-in page."""
    return _sign_in_page(request, web.safe_next(next), None, 200)


@router.post("/sign-in", response_model=None)
async def sign_in(
    request: Request,
    username: Annotated[str, Form(max_length=120)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> HTMLResponse | RedirectResponse:
    """Check the credentials; a session cookie and back to where the person was going."""
    target = web.safe_next(next)
    cookie = request.cookies.get(web.PRE_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie, csrf_token):
        return _sign_in_page(request, target, "The form expired. Please sign in again.", 403)
    # The API's per-address limit too: guessing one password across many accounts from
    # one place is stopped although no single account reaches its lockout.
    address = failure_subjects(request, None)
    wait = max(lockout.wait(subject) for lockout, subject in address)
    if wait:
        page = _sign_in_page(
            request,
            target,
            f"Too many failed sign-ins from your network. Try again in {wait} seconds.",
            429,
        )
        page.headers["Retry-After"] = str(wait)
        return page
    settings = web.settings_of(request)
    policy = LockoutPolicy(after=settings.console_lockout_after)
    now = web.now()
    async with unit_of_work(web.db_of(request)) as unit:
        person = await accounts.authenticate(unit, username, password, now, policy)
    if person is None:
        record_failure(request, address)
        # One message for a wrong password, an unknown name, a locked or disabled account:
        # telling them apart would tell a guesser which accounts exist.
        return _sign_in_page(
            request,
            target,
            "The username or password is not right, or the account is locked. After "
            "several failed attempts an account is locked for a while; your "
            "administrator can unlock it.",
            401,
        )
    async with unit_of_work(web.db_of(request)) as unit:
        token, _ = await accounts.open_session(
            unit, person, now, timedelta(hours=settings.console_session_hours)
        )
    if target == web.PREFIX + "/":
        target = home(person.role)
    response = web.redirect(target)
    web.set_session_cookie(response, token, request)
    response.delete_cookie(web.PRE_CSRF_COOKIE, path=web.PREFIX)
    return response


def home(role: Role) -> str:
    """Where a role starts: the inbox, the triage queue or the dashboard."""
    if may(role, Permission.INBOX):
        return f"{web.PREFIX}/inbox"
    if may(role, Permission.TRIAGE):
        return f"{web.PREFIX}/triage"
    return f"{web.PREFIX}/dashboard"


@router.get("/", response_model=None)
async def start(session: web.SessionDep) -> RedirectResponse:
    """The console's front door: the signed-in person's home page."""
    return web.redirect(home(session.person.role))


@router.post("/sign-out", response_model=None)
async def sign_out(
    request: Request,
    session: web.SessionDep,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> RedirectResponse:
    """End the session everywhere it is used."""
    web.check_csrf(session, csrf_token)
    token = request.cookies.get(web.SESSION_COOKIE, "")
    async with unit_of_work(web.db_of(request)) as unit:
        await accounts.end_session(unit, token, web.now())
    response = web.redirect(f"{web.PREFIX}/sign-in")
    response.delete_cookie(web.SESSION_COOKIE, path=web.PREFIX)
    return response
