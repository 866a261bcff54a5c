"""Partner authentication by OAuth 2.0 client credentials with a private_key_jwt client
assertion (RFC 7523), as a partner's client does it: keys, their JWKS, signed assertions,
registration and the token request."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from services.intake.auth import oauth
from services.runtime import Runtime
from vrp.store.unit import unit_of_work

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass
class Server:
    """An intake serving OAuth, and where its token endpoint is."""

    runtime: Runtime
    client: httpx.AsyncClient
    token_url: str


def rsa_key() -> rsa.RSAPrivateKey:
    """A fresh RSA key of the size partners are told to use."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwks_of(key: PrivateKey, kid: str) -> dict[str, Any]:
    """The public half of the key as the JWKS a partner registers."""
    if isinstance(key, rsa.RSAPrivateKey):
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
        jwk["alg"] = "RS256"
    else:
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
        jwk["alg"] = "ES256"
    return {"keys": [{**jwk, "kid": kid, "use": "sig"}]}


def assertion(key: PrivateKey, client_id: str, aud: str, **claims: Any) -> str:
    """A signed client assertion (RFC 7523), valid for a minute unless claims say otherwise."""
    now = int(time.time())
    body = {"iss": client_id, "sub": client_id, "aud": aud, "jti": str(uuid.uuid4())}
    body |= {"iat": now, "exp": now + 60} | claims
    alg = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
    return jwt.encode(body, key, algorithm=alg, headers={"kid": "k1"})


async def register(server: Server, org: str, key: PrivateKey, **kw: Any) -> str:
    """Register an OAuth client for the organisation with the key; its client id."""
    async with unit_of_work(server.runtime.db) as unit:
        return await oauth.register(unit, org, jwks_of(key, "k1"), **kw)


async def token_request(server: Server, client_assertion: str, **form: str) -> httpx.Response:
    """POST the client-credentials grant with the assertion (and any other form fields)."""
    data = {
        "grant_type": "client_credentials",
        "client_assertion_type": oauth.ASSERTION_TYPE,
        "client_assertion": client_assertion,
    } | form
    return await server.client.post("/oauth2/token", data=data)
