"""Checks that a message the notifier sent could only have come from an allow-listed template:
the whole text must match one of the shipped templates with every {field} replaced by what that
field may hold. Anything else (a name, a note, a date of birth) makes the match fail."""

from __future__ import annotations

import re
from functools import cache

from services.notifier.policy import load_policy
from tests.support.system import ROOT

CASE = r"MS-\d{4}-[A-Z0-9]{5,6}"
FIELD_PATTERNS = {
    "case_reference": CASE,
    "urgency": r"(immediate|priority|routine)",
    "URGENCY": r"(IMMEDIATE|PRIORITY|ROUTINE)",
    "district": r"(Breckland|Broadland|Great Yarmouth|Kings Lynn West Norfolk|North Norfolk|Norwich|South Norfolk|Outside Norfolk)",
    "time": r"\d\d:\d\d \d\d [A-Z][a-z]{2} \d{4}",
    "operation": r"(none recorded|Op(eration)? [A-Za-z][A-Za-z -]{0,40})",
    "ack_link": r"https?://[^\s]+/ack/[A-Za-z0-9_=-]+\.[0-9a-f]{32}",
    "ack_code": r"[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}",
    "kind": r"[a-z_]+",
    "count": r"\d{1,4}",
    "case_references": rf"{CASE}(, {CASE})*",
    # & ' / : an onward referral's organisation name (shared/events.py ReferralOrganisationName)
    "detail": r"[A-Za-z0-9 ,:()._&'/-]{1,200}",
    "attempt": r"\d{1,2}",
    "attempts": r"\d{1,2}",
}
# `{count:referral|referrals}`: either word (which one agrees is the unit tests' business)
PLURAL = re.compile(r"\\\{(\w+):([^|{}\\]+)\\\|([^|{}\\]+)\\\}")


@cache
def _patterns() -> list[re.Pattern[str]]:
    policy = load_policy(ROOT / "deploy" / "config" / "alerting.yaml")
    patterns = []
    # A reminder's title and SMS text start with the policy's prefix ("Reminder 2 of 3: ").
    prefix = _regex(policy.renotify_prefix)
    for templates in policy.templates.values():
        for template in (templates.title, templates.body, templates.short):
            patterns.append(re.compile(f"(?:{prefix})?{_regex(template)}", re.DOTALL))
    return patterns


def _regex(template: str) -> str:
    regex = PLURAL.sub(r"(?:\2|\3)", re.escape(template))
    for name, pattern in FIELD_PATTERNS.items():
        regex = regex.replace(re.escape("{" + name + "}"), f"(?:{pattern})")
    return regex


def allow_listed(text: str) -> bool:
    """True if `text` is a rendering of a shipped template. (An SMS cut at the length limit would
    not match: the test messages are shorter, and a cut one is reported rather than assumed fine.)"""
    text = text.strip().replace("\r\n", "\n")
    return any(pattern.fullmatch(text) for pattern in _patterns())


def check_messages(texts: list[str]) -> None:
    offending = [text[:120] for text in texts if not allow_listed(text)]
    assert not offending, f"messages not rendered from an allow-listed template: {offending}"
