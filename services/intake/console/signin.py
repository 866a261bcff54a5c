"""Signing in and out of the console."""

from __future__ import annotations

import hmac
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from services.intake.api.dependencies import failure_subjects, reserve, settle
from services.intake.api.hashing import Busy
from services.intake.api.state import intake_state
from services.intake.console import access, web
from vrp.domain.people import Permission, Role, may
from vrp.store import accounts
from vrp.store.accounts import LockoutPolicy, Session
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


_NOT_RIGHT = (
    "The username or password is not right, or the account is locked. After several failed "
    "attempts an account is locked for a while; your administrator can unlock it."
)


def _refused(request: Request, target: str, status: int, wait: int, error: str) -> HTMLResponse:
    page = _sign_in_page(request, target, error, status)
    page.headers["Retry-After"] = str(wait)
    return page


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
    # one place is stopped although no single account reaches its lockout. The attempt is
    # reserved before anything is read or hashed, so concurrent guesses count at once.
    address = failure_subjects(request, None)
    wait = reserve(address)
    if wait:
        return _refused(
            request,
            target,
            429,
            wait,
            f"Too many failed sign-ins from your network. Try again in {wait} seconds.",
        )
    state = intake_state(request)
    failed = False
    try:
        # No more attempts at one name in progress than its lockout allows (known or not,
        # so that this answer does not tell which names exist).
        with state.sign_in_slots.slot(username.strip().lower()) as free:
            if not free:
                return _refused(
                    request, target, 429, 1, "Too many sign-ins at once. Try again shortly."
                )
            with state.password_checks.admission():
                opened = await _check(request, username, password)
        failed = opened is None
    except Busy:
        return _refused(request, target, 503, 1, "The service is busy. Try again shortly.")
    finally:
        settle(address, failed)
    if opened is None:
        # One message for a wrong password, an unknown name, a locked or disabled account:
        # telling them apart would tell a guesser which accounts exist.
        return _sign_in_page(request, target, _NOT_RIGHT, 401)
    token, session = opened
    if target == web.PREFIX + "/":
        target = home(session.person.role)
    response = web.redirect(target)
    web.set_session_cookie(response, token, request)
    response.delete_cookie(web.PRE_CSRF_COOKIE, path=web.PREFIX)
    return response


async def _check(request: Request, username: str, password: str) -> tuple[str, Session] | None:
    """The new session's cookie token, or None. No database connection is held while the
    password is hashed: the attempt is counted in one short unit of work, checked on a
    worker thread, then settled (session or failure, with its records) in another."""
    db, settings = web.db_of(request), web.settings_of(request)
    now = web.now()
    async with unit_of_work(db) as unit:
        claim = await accounts.claim(
            unit, username, now, LockoutPolicy(after=settings.console_lockout_after)
        )
    right = await intake_state(request).password_checks.check(
        claim.password_hash if claim else None, password
    )
    async with unit_of_work(db) as unit:
        if claim is not None and claim.usable and right:
            await accounts.signed_in(unit, claim.person.id)
            lifetime = timedelta(hours=settings.console_session_hours)
            opened = await accounts.open_session(unit, claim.person, now, lifetime)
            access.signed_in(unit, claim.person)
            return opened
        access.failed(unit, claim)
    return None


def home(role: Role) -> str:
    """Where a role starts: the inbox, the triage queue, the referrals sent, the evidence
    (an analyst) or the dashboard."""
    if may(role, Permission.INBOX):
        return f"{web.PREFIX}/inbox"
    if may(role, Permission.TRIAGE):
        return f"{web.PREFIX}/triage"
    if may(role, Permission.SENT):
        return f"{web.PREFIX}/sent"
    if role is Role.ANALYST:
        return f"{web.PREFIX}/evidence"
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
        access.signed_out(unit, session.person)
    response = web.redirect(f"{web.PREFIX}/sign-in")
    response.delete_cookie(web.SESSION_COOKIE, path=web.PREFIX)
    return response
