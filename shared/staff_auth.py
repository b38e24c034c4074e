"""Staff sign-in for every staff API: who is calling, and may they use this endpoint.

Staff present an OAuth 2.0 access token from the organisation's OpenID provider (verified by
shared/staff_tokens.py); the person id and roles come from configurable claims. Static bearer
tokens (`dev-<person id>` in dev, configured ones in the test suite) are honoured in dev and test
only; staging and production refuse to start with any, or without an OpenID provider.

Every refusal says the same thing (401 "sign-in required", or 403 "not permitted" for a signed-in
person without the endpoint's role): why a token failed goes to the log, not to the caller.

Routes use `StaffRoute` as their route class, so the check runs before FastAPI reads the body: an
unauthenticated POST with a broken or huge body is a 401, never a 422.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.logging import get_logger
from shared.problems import problems
from shared.staff_tokens import (
    ASYMMETRIC_ALGORITHMS,
    JwksCache,
    TokenPolicy,
    TokenRefused,
    TokenVerifier,
    claim_at,
)

log = get_logger(__name__)

NOT_SIGNED_IN = "sign-in required"
NOT_PERMITTED = "not permitted"

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="staff",
    description="A staff access token from the organisation's OpenID provider (STAFF_OIDC_*).",
)


class StaffRole(StrEnum):
    ADVISOR = "advisor"
    HEAD_OF_SERVICE = "head_of_service"
    MEETING_COORDINATOR = "meeting_coordinator"
    VAULT_READER = "vault_reader"


@dataclass(frozen=True)
class Staff:
    person_id: str
    roles: frozenset[StaffRole]


class StaffOidcSettings(BaseSettings):
    """The OpenID provider whose access tokens the staff APIs accept (same for every service)."""

    model_config = SettingsConfigDict(env_prefix="STAFF_OIDC_", extra="ignore", frozen=True)

    issuer: str | None = Field(
        default=None,
        description="The provider's issuer, e.g. https://login.example/realms/safeguarding. "
        "Unset: no access token is accepted (staging and production refuse to start).",
    )
    audience: str = Field(default="safeguarding-api", description="The APIs' audience (aud).")
    jwks_url: str | None = Field(
        default=None, description="Unset: read jwks_uri from the issuer's discovery document."
    )
    algorithms: tuple[str, ...] = ("RS256",)
    roles_claim: str = Field(
        default="roles", description="Dotted path of the roles claim, e.g. realm_access.roles."
    )
    person_claim: str = Field(
        default="preferred_username", description="Dotted path of the rota person id claim."
    )
    role_names: dict[str, StaffRole] = Field(
        default_factory=dict,
        description="The provider's role names mapped to ours (JSON); unset: the same names.",
    )
    leeway_seconds: int = Field(default=30, ge=0, le=300)
    jwks_max_age_seconds: float = Field(default=600.0, gt=0)
    jwks_refetch_seconds: float = Field(
        default=30.0, ge=1, description="At most one JWKS fetch per this for unknown key ids."
    )

    @field_validator("algorithms")
    @classmethod
    def _asymmetric_only(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value or set(value) - ASYMMETRIC_ALGORITHMS:
            raise ValueError(f"STAFF_OIDC_ALGORITHMS: only {sorted(ASYMMETRIC_ALGORITHMS)}")
        return value

    def refusal_when_deployed(self) -> str | None:
        """Why staging or production may not start with these settings (None: it may)."""
        if not self.issuer:
            return "STAFF_OIDC_ISSUER must be set outside dev and test (staff sign in with OpenID Connect)"
        if not self.issuer.startswith("https://") or not (
            self.jwks_url is None or self.jwks_url.startswith("https://")
        ):
            return "STAFF_OIDC_ISSUER and STAFF_OIDC_JWKS_URL must be https outside dev and test"
        return None


class StaffAuth:
    """Turns a bearer token into a `Staff`, or refuses it."""

    def __init__(
        self,
        settings: StaffOidcSettings,
        *,
        static_tokens: Mapping[str, Staff] | None = None,
        deployed: bool,
    ) -> None:
        if deployed and static_tokens:
            raise ValueError("static staff tokens are for dev and test only, not a deployment")
        if deployed and (reason := settings.refusal_when_deployed()):
            raise ValueError(reason)
        self.settings = settings
        self.static_tokens = dict(static_tokens or {})
        self.verifier: TokenVerifier | None = None
        if settings.issuer:
            self.verifier = TokenVerifier(
                TokenPolicy(
                    settings.issuer, settings.audience, settings.algorithms, settings.leeway_seconds
                ),
                JwksCache(
                    settings.jwks_url,
                    issuer=settings.issuer,
                    max_age=settings.jwks_max_age_seconds,
                    refetch_interval=settings.jwks_refetch_seconds,
                ),
            )

    async def identify(self, token: str) -> Staff:
        for static, staff in self.static_tokens.items():
            if hmac.compare_digest(token.encode(), static.encode()):
                return staff
        if self.verifier is None:
            raise TokenRefused("no OpenID provider is configured")
        claims = await self.verifier.claims(token)
        person_id = claim_at(claims, self.settings.person_claim)
        if not isinstance(person_id, str) or not person_id:
            raise TokenRefused(f"no {self.settings.person_claim} claim")
        return Staff(person_id, self._roles(claim_at(claims, self.settings.roles_claim)))

    def _roles(self, value: Any) -> frozenset[StaffRole]:
        names = value.split() if isinstance(value, str) else value
        if not isinstance(names, list):
            return frozenset()
        known = self.settings.role_names or {role.value: role for role in StaffRole}
        return frozenset(known[name] for name in names if isinstance(name, str) and name in known)

    def require(self, *roles: StaffRole) -> StaffGuard:
        """A FastAPI dependency admitting staff with any of `roles`."""
        return StaffGuard(self, frozenset(roles))


class StaffGuard:
    def __init__(self, auth: StaffAuth, roles: frozenset[StaffRole]) -> None:
        self.auth, self.roles = auth, roles

    async def __call__(
        self,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Staff:
        admitted: Staff | None = getattr(request.state, "staff", None)
        if admitted is not None:  # StaffRoute already checked it, before the body was read
            return admitted
        return await self.admit(request, credentials)

    async def admit(
        self, request: Request, credentials: HTTPAuthorizationCredentials | None = None
    ) -> Staff:
        if credentials is None:
            credentials = await bearer(request)
        if credentials is None:
            raise _not_signed_in()
        try:
            staff = await self.auth.identify(credentials.credentials)
        except TokenRefused as refused:
            log.info("staff_token_refused", path=request.url.path, reason=str(refused)[:200])
            raise _not_signed_in() from None
        if not staff.roles & self.roles:
            log.info("staff_role_refused", path=request.url.path, person_id=staff.person_id)
            raise HTTPException(403, NOT_PERMITTED)
        request.state.staff = staff
        return staff


def _not_signed_in() -> HTTPException:
    return HTTPException(401, NOT_SIGNED_IN, headers={"WWW-Authenticate": "Bearer"})


class StaffRoute(APIRoute):
    """Runs the route's StaffGuard before FastAPI reads and parses the request body."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if any(isinstance(call, StaffGuard) for call in _calls(self.dependant)):
            self.responses = {
                **problems(
                    {
                        401: f'"{NOT_SIGNED_IN}": no valid staff token, for any reason',
                        403: f'"{NOT_PERMITTED}": signed in without the role needed',
                    }
                ),
                **self.responses,
            }

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        guards = [call for call in _calls(self.dependant) if isinstance(call, StaffGuard)]
        if not guards:
            return handler

        async def guarded(request: Request) -> Response:
            for guard in guards:
                await guard.admit(request)
            return await handler(request)

        return guarded


def _calls(dependant: Dependant) -> Iterator[object]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def staff_roles(name: str) -> frozenset[StaffRole]:
    """The staff role named by a rota role (a static token's person), if it is one."""
    return frozenset({StaffRole(name)}) if name in StaffRole.__members__.values() else frozenset()
