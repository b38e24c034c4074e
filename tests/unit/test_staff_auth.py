"""Staff sign-in without a provider: static tokens (dev and test), claim paths, role names."""

from __future__ import annotations

import pytest

from shared.staff_auth import Staff, StaffAuth, StaffOidcSettings, StaffRole, staff_roles
from shared.staff_tokens import TokenPolicy, TokenRefused, claim_at

ADVISOR = Staff("advisor-day", frozenset({StaffRole.ADVISOR}))


async def test_a_static_token_names_its_person_in_dev_and_test() -> None:
    auth = StaffAuth(
        StaffOidcSettings(), static_tokens={"dev-advisor-day": ADVISOR}, deployed=False
    )
    assert await auth.identify("dev-advisor-day") == ADVISOR
    with pytest.raises(TokenRefused):
        await auth.identify("dev-advisor-night")


def test_claims_are_found_by_dotted_path() -> None:
    claims = {"realm_access": {"roles": ["advisor"]}, "preferred_username": "advisor-day"}
    assert claim_at(claims, "realm_access.roles") == ["advisor"]
    assert claim_at(claims, "preferred_username") == "advisor-day"
    assert claim_at(claims, "realm_access.missing") is None
    assert claim_at(claims, "preferred_username.deeper") is None


def test_provider_role_names_map_to_ours_and_unknown_roles_are_ignored() -> None:
    entra = StaffOidcSettings(
        issuer="https://login.example/tenant/v2.0",
        role_names={"Safeguarding.Advisor": StaffRole.ADVISOR},
    )
    auth = StaffAuth(entra, deployed=True)
    assert auth._roles(["Safeguarding.Advisor", "advisor", "Other"]) == {StaffRole.ADVISOR}
    plain = StaffAuth(StaffOidcSettings(), deployed=False)
    assert plain._roles("advisor vault_reader admin") == {StaffRole.ADVISOR, StaffRole.VAULT_READER}
    assert plain._roles({"advisor": True}) == frozenset()


def test_only_asymmetric_algorithms_are_accepted() -> None:
    for unsafe in (("HS256",), ("none",), ("RS256", "HS512"), ()):
        with pytest.raises(ValueError, match="asymmetric"):
            TokenPolicy("https://issuer", "api", unsafe)


def test_rota_roles_that_are_not_staff_roles_give_none() -> None:
    assert staff_roles("head_of_service") == {StaffRole.HEAD_OF_SERVICE}
    assert staff_roles("childrens_safeguarding") == frozenset()
