"""The console's web plumbing: templates, the session cookie, CSRF, and who is signed in."""

from __future__ import annotations

import hmac
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context

from services.intake.api.state import intake_state
from services.intake.console import names
from services.intake.console.evidence_results import EvidenceResults
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.people import ROLE_LABELS, Permission, may
from vrp.domain.sla import demo_clock_banner
from vrp.settings import Settings
from vrp.store import accounts
from vrp.store.accounts import Session
from vrp.store.database import Database
from vrp.store.unit import unit_of_work

HERE = Path(__file__).parent
SESSION_COOKIE = "vrp_session"
PRE_CSRF_COOKIE = "vrp_signin"
"""Guards the sign-in form itself (double submit), before there is a session to hold one."""
PREFIX = "/console"


def environment() -> Environment:
    """The Jinja2 environment: autoescaped HTML templates shipped with the package."""
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["role_label"] = lambda role: ROLE_LABELS.get(role, role)
    env.filters["when"] = _when
    env.filters["span"] = _span
    _names(env)
    return env


def _names(env: Environment) -> None:
    """Filters that put names to codes (`_names.html` has the tags built on them). Those
    needing the configuration read it from the page's request, so a macro using them is
    imported `with context`."""

    def config(ctx: Context) -> RoutingConfiguration:
        return config_of(ctx["request"])

    env.filters["area"] = names.area
    env.filters["state_label"] = names.state
    env.filters["org_name"] = pass_context(lambda ctx, org: names.organisation(config(ctx), org))
    env.filters["intervention_name"] = pass_context(
        lambda ctx, i: names.intervention(config(ctx), i)
    )
    env.filters["vocab_label"] = pass_context(
        lambda ctx, code, vocabulary: names.label(config(ctx), vocabulary, code)
    )
    env.filters["due"] = lambda when: names.due(when, now())
    env.globals["risk_class"] = names.risk_class


def _when(value: datetime | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC).strftime("%d %b %Y %H:%M UTC")


def _span(value: timedelta | None) -> str:
    """A duration as a person says it: 30 min, 4 h, 1 h 30 min, 2 days."""
    if value is None:
        return "never"
    minutes = int(value // timedelta(minutes=1))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [f"{days} day{'s' if days != 1 else ''}"] if days else []
    parts += [f"{hours} h"] if hours else []
    parts += [f"{mins} min"] if mins else []
    return " ".join(parts) or "0 min"


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page, with the signed-in session (if any) and its CSRF token available to forms."""
    env: Environment = request.app.state.console_templates
    session: Session | None = getattr(request.state, "console_session", None)
    html = env.get_template(template).render(
        request=request,
        session=session,
        person=session.person if session else None,
        csrf=session.csrf if session else "",
        may=(lambda p: session is not None and may(session.person.role, Permission(p))),
        prefix=PREFIX,
        demo_clock=demo_clock_banner(settings_of(request).demo_speed),
        **context,
    )
    response = HTMLResponse(html, status_code=status_code)
    _no_store(response)
    return response


def _no_store(response: HTMLResponse | RedirectResponse) -> None:
    # Pages carry personal data: keep them out of shared and browser caches.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["Referrer-Policy"] = "no-referrer"


def redirect(url: str) -> RedirectResponse:
    """A 303 See Other (the answer to a successful form post)."""
    response = RedirectResponse(url, status_code=303)
    _no_store(response)
    return response


ERRORS = {
    "choose-response": "Choose a response.",
    "choose-reason": "Choose a reason.",
    "choose-outcome": "Choose an outcome.",
    "choose-justification": "Choose a justification.",
}
"""The problems a page's `?error=` may name; any other text shows nothing, so a link
cannot put words of its own in the console's "There is a problem" box."""


def error_message(code: str | None) -> str | None:
    """The console's own message for an `?error=` code (None for anything else)."""
    return ERRORS.get(code or "")


def with_error(page: str, code: str) -> str:
    """A page's address showing one of the console's own problems."""
    assert code in ERRORS
    return f"{page}?error={code}"


def safe_next(target: str | None) -> str:
    """Where to go after sign-in: only a path inside the console (no open redirect)."""
    if target and target.startswith(PREFIX + "/") and "//" not in target and "\\" not in target:
        return target
    return PREFIX + "/"


class SignInRequired(Exception):
    """No live session: the person is sent to sign in, then back to `target`."""

    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.target = target


class Forbidden(Exception):
    """The person's role does not allow this page."""


class BadToken(Exception):
    """A form post without the session's CSRF token."""


def now() -> datetime:
    """The current time (UTC)."""
    return datetime.now(UTC)


def settings_of(request: Request) -> Settings:
    """The process's settings."""
    return intake_state(request).settings


def db_of(request: Request) -> Database:
    """The process's database."""
    return intake_state(request).db


def evidence_of(request: Request) -> EvidenceResults:
    """The evidence pages' prepared figures."""
    return intake_state(request).evidence


def config_of(request: Request) -> RoutingConfiguration:
    """The routing configuration in force now."""
    return intake_state(request).config()


async def current_session(request: Request) -> Session:
    """The signed-in session, or SignInRequired (sent back here afterwards)."""
    token = request.cookies.get(SESSION_COOKIE)
    found = None
    if token:
        settings = settings_of(request)
        async with unit_of_work(db_of(request)) as unit:
            found = await accounts.session(
                unit, token, now(), timedelta(minutes=settings.console_idle_minutes)
            )
    if found is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target)
    request.state.console_session = found
    return found


SessionDep = Annotated[Session, Depends(current_session)]


def allowed(session: Session, permission: Permission) -> None:
    """Refuse a page the person's role does not carry."""
    if not may(session.person.role, permission):
        raise Forbidden


def check_csrf(session: Session, token: str | None) -> None:
    """Every form post must carry the session's token (a cross-site form cannot know it)."""
    if not token or not hmac.compare_digest(token, session.csrf):
        raise BadToken


def secure_cookies(settings: Settings) -> bool:
    """Cookies are Secure when the console is served over TLS."""
    return settings.public_url.startswith("https://")


def set_session_cookie(
    response: HTMLResponse | RedirectResponse, token: str, request: Request
) -> None:
    """The session cookie: HttpOnly, SameSite=Lax (links in emails still sign in), Secure
    over TLS, scoped to the console, ending with the browser or the session's lifetime."""
    settings = settings_of(request)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(settings.console_session_hours * 3600),
        path=PREFIX,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(settings),
    )


def pre_csrf(request: Request) -> str:
    """The sign-in form's token: the cookie's if the browser has one, else a new one."""
    return request.cookies.get(PRE_CSRF_COOKIE) or secrets.token_urlsafe(24)


def sign_in_url(target: str) -> str:
    """The sign-in page, returning to `target` afterwards."""
    return f"{PREFIX}/sign-in?next={quote(target, safe='/')}"
