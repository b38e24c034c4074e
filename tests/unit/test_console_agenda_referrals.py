"""The console's agenda page lists each case's onward referrals from the scheduler's JSON agenda
(`onward_referrals`), and a case without any shows no line for them."""

from __future__ import annotations

from typing import Any

from services.console.web import TEMPLATES


def item(reference: str, position: int, referrals: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "case_reference": reference, "position": position, "urgency": "priority", "late": False,
        "district": "kings_lynn", "exploitation_types": ["labour"], "open_needs": [],
        "overdue_actions": [], "onward_referrals": referrals,
    }  # fmt: skip


def render(agenda: dict[str, Any]) -> str:
    template = TEMPLATES.env.get_template("agenda.html")
    blocks = template.blocks["content"]
    context = template.new_context(
        {"agenda": agenda, "error": None, "base": "/meetings/weekly/2026-12-02", "title": "t"}
    )
    return "".join(blocks(context))


def test_each_case_lists_its_onward_referrals_with_outcome_and_decline_reason() -> None:
    declined = {
        "task_id": "t1", "referral_id": "r1", "need": "housing",
        "organisation_id": "kings-lynn-housing-options", "organisation_name": None,
        "outcome": "declined", "decline_reason": "no_capacity",
        "recorded_at": "2026-12-01T10:00:00Z",
    }  # fmt: skip
    waiting = {**declined, "referral_id": "r2", "need": "legal_advice", "organisation_id": None,
               "organisation_name": "Norwich Law Centre", "outcome": "waiting_list",
               "decline_reason": None}  # fmt: skip
    agenda = {
        "new_items": [item("MS-2026-AAAA1", 1, [declined, waiting]), item("MS-2026-BBBB2", 2, [])],
        "review_items": [item("MS-2026-CCCC3", 1, [waiting])],
        "deferred_items": [], "withdrawn_items": [], "other_business": [],
        "title": "Case panel", "location": "Online", "starts_at": "2026-12-02T10:00:00Z",
        "published": False, "published_at": None, "published_version": None,
        "changed_since_publication": False, "publish_at": "2026-11-30T10:00:00Z",
        "pdf": None, "ics": None, "learning_themes": [],
    }  # fmt: skip
    page = render(agenda)
    assert (
        "Onward referrals: housing to kings-lynn-housing-options, declined (no capacity); "
        "legal advice to Norwich Law Centre, waiting list"
    ) in page
    assert page.count("Onward referrals:") == 2  # the first new case and the review, not BBBB2
    review = page[page.index("MS-2026-CCCC3") :]
    assert "Onward referrals: legal advice to Norwich Law Centre, waiting list" in review
