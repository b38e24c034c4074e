"""OpenID Connect sign-in: the authorization code flow with PKCE (RFC 7636, S256), as a relying
party of the organisation's provider.

Hand-made over httpx rather than Authlib: the flow is three small HTTP exchanges, the project
already verifies provider-signed JWTs (shared/staff_tokens.py, with its algorithm allow-list and
JWKS cache), and Authlib's Starlette integration keeps its state in a signed client-side cookie,
where this console keeps everything server-side (services/console/sessions.py)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from shared.staff_tokens import JwksCache, TokenPolicy, TokenRefused, TokenVerifier


class SignInFailed(Exception):
    """The provider's answer cannot be trusted or used; the message is for our log only."""


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str | None
    id_token: str | None
    expires_in: int


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    end_session_endpoint: str | None


def pkce_pair() -> tuple[str, str]:
    """A code verifier (43 characters of 32 random bytes) and its S256 challenge."""
    verifier = secrets.token_urlsafe(32)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OidcClient:
    def __init__(
        self,
        issuer: str,
        client_id: str,
        redirect_uri: str,
        *,
        client_secret: str | None = None,
        algorithms: tuple[str, ...] = ("RS256",),
        timeout: float = 10.0,
    ) -> None:
        self.issuer, self.client_id, self.redirect_uri = issuer, client_id, redirect_uri
        self._client_secret, self._timeout = client_secret, timeout
        self._provider: Provider | None = None
        # The ID token is for us (aud = our client id), signed with the provider's keys.
        self._id_tokens = TokenVerifier(
            TokenPolicy(issuer, client_id, algorithms), JwksCache(None, issuer=issuer)
        )

    async def provider(self) -> Provider:
        if self._provider is None:
            url = f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"
            try:
                async with httpx.AsyncClient(timeout=self._timeout) as client:
                    response = await client.get(url)
                    response.raise_for_status()
                    document = response.json()
            except (httpx.HTTPError, ValueError) as error:
                raise SignInFailed(f"discovery failed: {type(error).__name__}") from None
            if document.get("issuer") != self.issuer:
                raise SignInFailed("the discovery document names another issuer")
            self._provider = Provider(
                self.issuer,
                document["authorization_endpoint"],
                document["token_endpoint"],
                document.get("end_session_endpoint"),
            )
        return self._provider

    async def authorization_url(self, state: str, nonce: str, challenge: str) -> str:
        provider = await self.provider()
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": self.redirect_uri,
                "scope": "openid",
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        return f"{provider.authorization_endpoint}?{query}"

    async def exchange(self, code: str, verifier: str, nonce: str) -> Tokens:
        """The code for tokens; the ID token must be ours, fresh, and carry the nonce we sent."""
        tokens = await self._token_request(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.redirect_uri,
                "code_verifier": verifier,
            }
        )
        if tokens.id_token is None:
            raise SignInFailed("no ID token")
        try:
            claims = await self._id_tokens.claims(tokens.id_token)
        except TokenRefused as refused:
            raise SignInFailed(f"ID token refused: {refused}") from None
        if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise SignInFailed("ID token nonce does not match")
        return tokens

    async def refresh(self, refresh_token: str) -> Tokens:
        return await self._token_request(
            {"grant_type": "refresh_token", "refresh_token": refresh_token}
        )

    async def logout_url(self, id_token: str | None, after: str) -> str | None:
        """Where to send the browser to end the provider's session too (RP-initiated logout)."""
        provider = await self.provider()
        if provider.end_session_endpoint is None:
            return None
        query: dict[str, str] = {"post_logout_redirect_uri": after, "client_id": self.client_id}
        if id_token:
            query["id_token_hint"] = id_token
        return f"{provider.end_session_endpoint}?{urlencode(query)}"

    async def _token_request(self, form: dict[str, str]) -> Tokens:
        provider = await self.provider()
        form = {**form, "client_id": self.client_id}
        if self._client_secret:
            form["client_secret"] = self._client_secret
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                response = await client.post(provider.token_endpoint, data=form)
            document: dict[str, Any] = response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise SignInFailed(f"token endpoint unreachable: {type(error).__name__}") from None
        if response.status_code != 200 or not isinstance(document.get("access_token"), str):
            # The provider's error code only ("invalid_grant"): its description may echo input.
            raise SignInFailed(f"token request refused: {str(document.get('error'))[:40]}")
        return Tokens(
            document["access_token"],
            document.get("refresh_token"),
            document.get("id_token"),
            int(document.get("expires_in", 60)),
        )
