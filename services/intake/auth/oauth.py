"""OAuth 2.0 client credentials with a signed JWT client assertion (RFC 7523 private_key_jwt).

The NHS API platform pattern: a partner registers a public key (JWKS); to get an access
token it POSTs a short-lived JWT signed with the private key (iss = sub = client id,
aud = our token endpoint URL, exp at most 5 minutes ahead, a unique jti). Tokens are
opaque random strings, stored only as hashes, usable as Bearer tokens for 5 minutes.
"""

from __future__ import annotations

import hashlib
import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from services.intake.auth.keys import SCOPES, Partner, audit_credential
from vrp.store import credentials
from vrp.store.database import Database
from vrp.store.unit import Unit, unit_of_work

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384")
MAX_ASSERTION_LIFETIME = 300
LEEWAY = 30
MAX_JTI_LENGTH = 200  # the width of oauth_assertions.jti
TOKEN_PREFIX = "vat_"  # noqa: S105 - a prefix, not a secret
_ALPHABET = string.ascii_lowercase + string.digits


class OAuthError(Exception):
    """An RFC 6749 section 5.2 error; the description never quotes the request."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


@dataclass(frozen=True)
class Token:
    """An issued access token (shown once to the client)."""

    access_token: str
    expires_in: int
    scope: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class InvalidJwks(ValueError):
    """A JWKS document that cannot be registered; the message names the rule, not the key."""


def parse_jwks(document: object) -> jwt.PyJWKSet:
    """Validate a JWKS document of public keys (raises InvalidJwks when invalid)."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise InvalidJwks("a JWKS is a JSON object with a 'keys' list")
    for jwk in document["keys"]:
        # A shared secret (kty oct, HS256 ...) would let anyone who reads our database sign
        # assertions: only public keys are registered.
        if not isinstance(jwk, dict) or jwk.get("kty") == "oct" or "d" in jwk:
            raise InvalidJwks("only public keys are accepted (no symmetric or private keys)")
    try:
        keys = jwt.PyJWKSet.from_dict(document)
    except (jwt.PyJWKError, jwt.PyJWKSetError) as exc:
        raise InvalidJwks(f"the JWKS is not usable ({type(exc).__name__})") from None
    for key in keys.keys:
        if key.algorithm_name not in ALGORITHMS:
            accepted = ", ".join(ALGORITHMS)
            raise InvalidJwks(f"algorithm {key.algorithm_name} is not accepted; use {accepted}")
    return keys


async def register(
    unit: Unit,
    organisation: str,
    jwks: dict[str, Any],
    scopes: tuple[str, ...] = SCOPES,
    client_id: str | None = None,
    actor: str = "cli",
) -> str:
    """Register an OAuth client with its public keys; returns the client id."""
    parse_jwks(jwks)
    client_id = client_id or f"{organisation}-" + "".join(
        secrets.choice(_ALPHABET) for _ in range(10)
    )
    await credentials.add_client(
        unit, client_id, organisation, jwks, " ".join(scopes), datetime.now(UTC)
    )
    kids = ",".join(sorted(str(k.get("kid", "")) for k in jwks.get("keys", [])))
    detail = {"scopes": " ".join(scopes), "kids": kids}
    audit_credential(unit, actor, "oauth-client-registered", organisation, [client_id], **detail)
    return client_id


async def revoke_clients(unit: Unit, organisation: str, actor: str = "cli") -> int:
    """Revoke every OAuth client of an organisation and its live tokens; returns how many."""
    revoked = await credentials.revoke_clients(unit, organisation, datetime.now(UTC))
    audit_credential(unit, actor, "oauth-clients-revoked", organisation, revoked)
    return len(revoked)


def claimed_client(assertion: str, client_id: str | None) -> str | None:
    """The client an assertion claims to come from (unverified: for counting failures)."""
    try:
        issuer = _claims(assertion).get("iss")
    except OAuthError:
        issuer = None
    claimed = client_id or issuer
    return f"client:{claimed[:200]}" if isinstance(claimed, str) and claimed else None


def _claims(assertion: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        raise OAuthError("invalid_client", "client_assertion is not a JWT", 401) from None
    return claims


async def issue_token(
    db: Database,
    assertion: str,
    token_url: str,
    ttl: int,
    requested_scope: str | None,
    client_id: str | None = None,
) -> Token:
    """Verify a client assertion and issue an access token."""
    issuer = _claims(assertion).get("iss")
    if not isinstance(issuer, str) or (client_id is not None and client_id != issuer):
        raise OAuthError("invalid_client", "iss must be the client id", 401)
    now = datetime.now(UTC)
    async with unit_of_work(db) as unit:
        row = await credentials.live_client(unit, issuer)
        if row is None:
            raise OAuthError("invalid_client", "unknown or revoked client", 401)
        claims = _verify(assertion, row.jwks, issuer, token_url)
        expires = _expiry(claims["exp"], now)
        jti = _jti(claims["jti"])
        await credentials.forget_expired(unit, now)
        if not await credentials.first_use(unit, issuer, jti, expires):
            raise OAuthError("invalid_client", "this client_assertion (jti) was already used", 401)
        allowed = set(row.scopes.split())
        wanted = set(requested_scope.split()) if requested_scope else allowed
        if not wanted or not wanted <= allowed:
            raise OAuthError("invalid_scope", "the requested scope is not granted to this client")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        scope = " ".join(sorted(wanted))
        await credentials.add_access_token(
            unit, _hash(token), issuer, row.organisation, scope, now + timedelta(seconds=ttl)
        )
    return Token(token, ttl, scope)


def _expiry(exp: object, now: datetime) -> datetime:
    # Compared as a number before any datetime is made: a far-future exp (beyond year 9999)
    # must be refused, not overflow. A numeric string is not a NumericDate (RFC 7519 2).
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        raise OAuthError("invalid_client", "exp must be a JSON number (NumericDate)", 401)
    if exp > now.timestamp() + MAX_ASSERTION_LIFETIME + LEEWAY:
        raise OAuthError("invalid_client", "exp is more than 5 minutes ahead", 401)
    return datetime.fromtimestamp(int(exp), UTC)


def _jti(jti: object) -> str:
    # Stored and compared whole: a longer jti is refused rather than cut, so two assertions
    # differing after the cut can never be taken for the same one.
    if not isinstance(jti, str) or not jti.strip() or len(jti) > MAX_JTI_LENGTH:
        raise OAuthError(
            "invalid_client", f"jti must be a non-empty string of at most {MAX_JTI_LENGTH}", 401
        )
    return jti


def _verify(assertion: str, jwks: dict[str, Any], client_id: str, token_url: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(assertion)
        keys = parse_jwks(jwks)
        kid = header.get("kid")
        candidates = [k for k in keys.keys if kid is None or k.key_id == kid]
        if not candidates:
            raise OAuthError("invalid_client", "no registered key has this kid", 401)
        key = candidates[0]
        claims: dict[str, Any] = jwt.decode(
            assertion,
            key=key.key,
            algorithms=[key.algorithm_name],
            audience=token_url,
            issuer=client_id,
            leeway=LEEWAY,
            options={"require": ["iss", "sub", "aud", "exp", "jti"]},
        )
    except (jwt.InvalidTokenError, jwt.PyJWKError, jwt.PyJWKSetError, InvalidJwks) as exc:
        raise OAuthError(
            "invalid_client", f"client_assertion rejected: {type(exc).__name__}", 401
        ) from None
    if claims.get("sub") != client_id:
        raise OAuthError("invalid_client", "sub must equal iss (the client id)", 401)
    return claims


async def authenticate(unit: Unit, token: str) -> Partner | None:
    """The partner an access token was issued to, or None when unknown or expired."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = await credentials.live_access_token(unit, _hash(token), datetime.now(UTC))
    if row is None:
        return None
    return Partner(
        row.organisation, f"oauth:{row.client_id}", frozenset(row.scopes.split()), row.expires_at
    )
