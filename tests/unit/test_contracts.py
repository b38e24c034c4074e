"""The published contracts in docs/contracts/ match what the code generates (no drift)."""

from __future__ import annotations

import json

from deploy.contracts import CONTRACTS, render, stale


def test_committed_contracts_match_the_code() -> None:
    outdated = stale(render())
    assert not outdated, f"run `python -m deploy.contracts` to update: {[p.name for p in outdated]}"


def test_intake_contracts_show_the_police_contact_and_its_authentication() -> None:
    asyncapi = json.loads((CONTRACTS / "intake.asyncapi.json").read_text())
    openapi = json.loads((CONTRACTS / "intake.openapi.json").read_text())
    addresses = {channel["address"] for channel in asyncapi["channels"].values()}
    assert addresses == {
        "police.contacts.v1",
        "safeguarding.referrals.v1",
        "safeguarding.dead-letters.v1",
    }
    assert "PoliceContactV1" in asyncapi["components"]["schemas"]
    assert {"ReferralOpenedV1", "ChildReferralOpenedV1", "ReferralUpdatedV1"} <= set(
        asyncapi["components"]["schemas"]
    )
    post = openapi["paths"]["/v1/contacts"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PoliceContactV1"
    }
    schemes = {name for requirement in post["security"] for name in requirement}
    assert schemes == {"X-Key-Id", "X-Request-Id", "X-Timestamp", "X-Signature"}
    assert {"401", "403", "413", "415", "422"} <= set(post["responses"])
