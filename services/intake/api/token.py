"""POST /oauth2/token: client credentials with a private_key_jwt client assertion."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from services.intake.api.dependencies import (
    DbDep,
    SettingsDep,
    check_lockout,
    failure_subjects,
    record_failure,
)
from services.intake.api.problems import Problem
from services.intake.api.schemas import TokenResponse, operation_id, problems
from services.intake.auth import oauth

router = APIRouter(tags=["auth"], generate_unique_id_function=operation_id)
_Field = Annotated[str | None, Form(max_length=8000)]


def _oauth_problem(exc: oauth.OAuthError) -> Problem:
    return Problem(
        exc.status,
        f"oauth-{exc.error.replace('_', '-')}",
        "Token request refused",
        exc.description,
        headers={"Cache-Control": "no-store"},
        extensions={"error": exc.error, "error_description": exc.description},
    )


@router.post(
    "/oauth2/token",
    response_model=TokenResponse,
    responses=problems(400, 401, 413, 422, 429),
    openapi_extra={
        "requestBody": {
            "content": {
                "application/x-www-form-urlencoded": {
                    "example": {
                        "grant_type": "client_credentials",
                        "client_assertion_type": oauth.ASSERTION_TYPE,
                        "client_assertion": "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.e30.sig",
                    }
                }
            }
        }
    },
)
async def token(
    db: DbDep,
    settings: SettingsDep,
    request: Request,
    response: Response,
    grant_type: _Field = None,
    client_assertion_type: _Field = None,
    client_assertion: _Field = None,
    scope: _Field = None,
    client_id: _Field = None,
) -> TokenResponse:
    """Exchange a signed JWT client assertion (RFC 7523: iss = sub = client id, aud = this
    URL, exp at most 5 minutes ahead, unique jti) for a 5-minute Bearer access token."""
    response.headers["Cache-Control"] = "no-store"
    try:
        if grant_type != "client_credentials":
            raise oauth.OAuthError(
                "unsupported_grant_type", "grant_type must be client_credentials"
            )
        if client_assertion_type != oauth.ASSERTION_TYPE or not client_assertion:
            raise oauth.OAuthError(
                "invalid_request",
                f"send client_assertion_type={oauth.ASSERTION_TYPE} and a client_assertion",
            )
        subjects = failure_subjects(request, oauth.claimed_client(client_assertion, client_id))
        check_lockout(request, subjects)
        try:
            issued = await oauth.issue_token(
                db,
                client_assertion,
                f"{settings.public_url}/oauth2/token",
                settings.access_token_ttl,
                scope,
                client_id,
            )
        except oauth.OAuthError as exc:
            if exc.status == 401:  # a failed client authentication, not a malformed request
                record_failure(request, subjects)
            raise
    except oauth.OAuthError as exc:
        raise _oauth_problem(exc) from None
    return TokenResponse(
        access_token=issued.access_token, expires_in=issued.expires_in, scope=issued.scope
    )
