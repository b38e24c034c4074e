"""The directory of local services, without the database: the YAML file's validation (a bad file
names the entry and the field), and the pure rules: coverage by district including "all", and the
review flag against a fixed London date."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.casework.config import load_config
from services.casework.directory import (
    NEED_KINDS,
    DirectoryError,
    covers,
    load_directory,
    matching,
    parse_directory,
    review_overdue,
)
from services.casework.domain import FIRST_CONTACT, DeadlinePolicy
from shared.events import District, SupportNeed

ROOT = Path(__file__).resolve().parents[2]
DIRECTORY_FILE = ROOT / "deploy" / "config" / "services-directory.yaml"


def good_entry(entry_id: str = "an-org", **changes: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": entry_id,
        "name": "An Organisation",
        "needs": ["housing"],
        "districts": ["norwich"],
        "how_to_refer": [{"method": "phone", "contact": "01632 960999"}],
        "review_date": "2027-01-31",
    }
    return entry | changes


def refused(entries: list[dict[str, Any]]) -> str:
    with pytest.raises(DirectoryError) as error:
        parse_directory({"entries": entries}, "services-directory.yaml")
    return str(error.value)


def test_the_shipped_directory_loads_and_covers_the_needs_the_issue_names() -> None:
    entries = load_directory(DIRECTORY_FILE)
    assert len({entry.id for entry in entries}) == len(entries)
    met = {need for entry in entries for need in entry.needs}
    assert {"legal_advice", "healthcare", "education", "financial_support", "employment",
            "housing"} <= met  # fmt: skip
    salvation_army = [entry for entry in entries if "Salvation Army" in entry.name]
    assert salvation_army
    assert "explain_nrm_and_record_consent" in salvation_army[0].needs


def test_the_need_kinds_are_casework_s_configured_task_kinds() -> None:
    # Every support need a referral can carry is a need kind, and every need kind is a task kind
    # with a deadline in deploy/config/casework.yaml; first contact is the advisor's own.
    configured = set(load_config(ROOT / "deploy" / "config" / "casework.yaml").deadlines)
    assert {need.value for need in SupportNeed} <= NEED_KINDS <= configured
    assert set(DeadlinePolicy().deadlines) <= NEED_KINDS
    assert FIRST_CONTACT not in NEED_KINDS


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        ([good_entry(), good_entry("second-org", needs=["housing", "haircuts"])],
         "entry 2 (id second-org): needs.1: Input should be 'legal_advice'"),
        ([good_entry(how_to_refer=[{"method": "phone", "contact": "ring the office"}])],
         "entry 1 (id an-org): how_to_refer.0.phone.contact: Value error, a phone contact is a number"),
        ([good_entry(how_to_refer=[{"method": "online_form", "contact": "http://x.example"}])],
         "entry 1 (id an-org): how_to_refer.0.online_form.contact: Value error, an online_form "
         "contact is an https"),
        ([good_entry(how_to_refer=[{"method": "fax", "contact": "01632 960999"}])],
         "entry 1 (id an-org): how_to_refer.0: Input tag 'fax' found using 'method' does not "
         "match any of the expected tags"),
        ([good_entry(website="https://x.example")],
         "entry 1 (id an-org): website: Extra inputs are not permitted"),
        ([good_entry(districts=["all", "norwich"])],
         'entry 1 (id an-org): districts: Value error, "all" stands alone'),
        ([good_entry(districts=["norwich", "norwich"])],
         "entry 1 (id an-org): districts: Value error, an item is listed twice"),
        ([good_entry(districts=["lowestoft"])], "entry 1 (id an-org): districts.0"),
        ([good_entry(review_date="soon")], "entry 1 (id an-org): review_date: Input should be"),
        ([good_entry(id="Not A Slug")], "entry 1 (id Not A Slug): id: String should match"),
        ([{k: v for k, v in good_entry().items() if k != "name"}],
         "entry 1 (id an-org): name: Field required"),
        ([good_entry(), good_entry()], "entry 2 (id an-org): id repeats"),
    ],
)  # fmt: skip
def test_a_bad_entry_is_refused_naming_the_entry_and_the_field(
    entries: list[dict[str, Any]], expected: str
) -> None:
    message = refused(entries)
    assert message.startswith("services-directory.yaml: ")
    assert expected in message


def test_a_file_that_is_not_a_directory_is_refused_by_name(tmp_path: Path) -> None:
    broken = tmp_path / "services-directory.yaml"
    broken.write_text("entries: [unclosed\n")
    with pytest.raises(DirectoryError, match=r"^services-directory\.yaml: "):
        load_directory(broken)
    broken.write_text(yaml.safe_dump({"organisations": []}))
    with pytest.raises(DirectoryError, match="entries: Field required"):
        load_directory(broken)


def test_coverage_by_district_and_all() -> None:
    assert covers(["norwich", "broadland"], District.BROADLAND)
    assert not covers(["norwich"], District.BRECKLAND)
    assert covers(["all"], District.OUTSIDE_NORFOLK)
    # A case with no district (opened before districts were kept): "all" only.
    assert covers(["all"], None)
    assert not covers(["norwich"], None)


def test_matching_is_by_need_and_district_sorted_by_name() -> None:
    entries = [
        {"id": "b", "name": "beta housing", "needs": ["housing"], "districts": ["norwich"]},
        {"id": "a", "name": "Alpha county", "needs": ["housing", "employment"],
         "districts": ["all"]},
        {"id": "c", "name": "Gamma west", "needs": ["housing"],
         "districts": ["kings_lynn_west_norfolk"]},
        {"id": "d", "name": "Delta jobs", "needs": ["employment"], "districts": ["norwich"]},
    ]  # fmt: skip
    ids = [entry["id"] for entry in matching(entries, "housing", District.NORWICH)]
    assert ids == ["a", "b"]
    assert [e["id"] for e in matching(entries, "housing", None)] == ["a"]
    assert [e["id"] for e in matching(entries, "education", District.NORWICH)] == []


def test_review_is_overdue_only_once_the_date_has_passed() -> None:
    today = date(2026, 11, 30)
    assert not review_overdue(date(2026, 12, 1), today)
    assert not review_overdue(today, today)  # due today: still in date
    assert review_overdue(date(2026, 11, 29), today)
