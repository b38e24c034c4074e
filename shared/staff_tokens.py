"""Verifying staff access tokens (OAuth 2.0 JWTs) against the OpenID provider's published keys.

Only asymmetric signatures from an allow-list are accepted (RS256 by default), so `alg: none` and
HS256 signed with the provider's public key as a shared secret are refused before any key is
looked up. Issuer, audience and expiry are required and checked. The provider's JWKS is cached;
a token naming an unknown key id makes the cache fetch again (key rotation), at most once per
`refetch_interval` however many such tokens arrive, so forged key ids cannot hammer the provider.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


class TokenRefused(Exception):
    """The token is not acceptable. The message is for the service's log, never for the caller."""


@dataclass(frozen=True)
class TokenPolicy:
    issuer: str
    audience: str
    algorithms: tuple[str, ...] = ("RS256",)
    leeway_seconds: int = 30

    def __post_init__(self) -> None:
        unsafe = set(self.algorithms) - ASYMMETRIC_ALGORITHMS
        if unsafe or not self.algorithms:
            raise ValueError(f"staff tokens must use asymmetric signatures, not {sorted(unsafe)}")


class JwksCache:
    """The provider's signing keys by key id, fetched over HTTP and kept for `max_age` seconds."""

    def __init__(
        self,
        jwks_url: str | None,
        *,
        issuer: str,
        max_age: float = 600.0,
        refetch_interval: float = 30.0,
        timeout: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._jwks_url, self._issuer = jwks_url, issuer
        self._max_age, self._refetch_interval, self._timeout = max_age, refetch_interval, timeout
        self._monotonic = monotonic
        self._keys: dict[str, Mapping[str, Any]] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0  # how many times the JWKS was fetched (tests show the bound)

    async def key(self, kid: str) -> Mapping[str, Any]:
        if self._fresh() and kid in self._keys:
            return self._keys[kid]
        async with self._lock:  # one fetch at a time; waiters see its result
            if not self._fresh() or (kid not in self._keys and self._may_refetch()):
                await self._fetch()
        if kid not in self._keys:
            raise TokenRefused("unknown key id")
        return self._keys[kid]

    def _fresh(self) -> bool:
        return self._fetched_at is not None and self._age() < self._max_age

    def _may_refetch(self) -> bool:
        return self._fetched_at is None or self._age() >= self._refetch_interval

    def _age(self) -> float:
        assert self._fetched_at is not None
        return self._monotonic() - self._fetched_at

    async def _fetch(self) -> None:
        # Recorded first: a provider that is down is asked again after the interval, not per request.
        self._fetched_at = self._monotonic()
        self.fetches += 1
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                url = self._jwks_url or await self._discover(client)
                response = await client.get(url)
                response.raise_for_status()
                document = response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise TokenRefused(f"the provider's keys could not be fetched: {error!r}") from None
        self._keys = {
            key["kid"]: key
            for key in document.get("keys", [])
            if isinstance(key, dict)
            and isinstance(key.get("kid"), str)
            and key.get("use", "sig") == "sig"
            and key.get("kty") != "oct"
        }

    async def _discover(self, client: httpx.AsyncClient) -> str:
        """The JWKS address from the provider's discovery document (which must name our issuer)."""
        response = await client.get(f"{self._issuer.rstrip('/')}/.well-known/openid-configuration")
        response.raise_for_status()
        document = response.json()
        if document.get("issuer") != self._issuer or not isinstance(document.get("jwks_uri"), str):
            raise ValueError("the discovery document names another issuer or no jwks_uri")
        self._jwks_url = document["jwks_uri"]
        return self._jwks_url


class TokenVerifier:
    def __init__(self, policy: TokenPolicy, keys: JwksCache) -> None:
        self.policy, self.keys = policy, keys

    async def claims(self, token: str) -> dict[str, Any]:
        """The token's claims, once its algorithm, key, signature, issuer, audience and times are
        all right; otherwise TokenRefused with the reason (for the log)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise TokenRefused(f"malformed: {type(error).__name__}") from None
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in self.policy.algorithms:
            raise TokenRefused(f"algorithm {str(algorithm)[:16]!r} is not allowed")
        if not isinstance(kid, str):
            raise TokenRefused("no key id")
        jwk = await self.keys.key(kid)
        if jwk.get("alg", algorithm) != algorithm:
            raise TokenRefused("the key is published for another algorithm")
        try:
            key = jwt.PyJWK(dict(jwk), algorithm=algorithm)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=self.policy.audience,
                issuer=self.policy.issuer,
                leeway=self.policy.leeway_seconds,
                options={"require": ["exp", "iat", "iss", "aud"]},
            )
        except (jwt.PyJWTError, ValueError, TypeError) as error:
            raise TokenRefused(f"{type(error).__name__}: {error}") from None
        return claims


def claim_at(claims: Mapping[str, Any], path: str) -> Any:
    """A claim by dotted path, e.g. `realm_access.roles` (Keycloak) or `roles` (Entra ID)."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value
