"""Human labels for the values people read: districts, exploitation types, support needs, urgency,
pathways and casework's task kinds. One table, so the agenda's Markdown, HTML and PDF (and later the
console) say "Safe accommodation", never `safe_accommodation`. In shared/ because the values are
shared/events.py's and the console may not import a service."""

from __future__ import annotations

from shared.events import District, ExploitationType, Pathway, SupportNeed, Urgency

DISTRICTS: dict[str, str] = {
    District.BRECKLAND: "Breckland",
    District.BROADLAND: "Broadland",
    District.GREAT_YARMOUTH: "Great Yarmouth",
    District.KINGS_LYNN_WEST_NORFOLK: "King's Lynn and West Norfolk",
    District.NORTH_NORFOLK: "North Norfolk",
    District.NORWICH: "Norwich",
    District.SOUTH_NORFOLK: "South Norfolk",
    District.OUTSIDE_NORFOLK: "Outside Norfolk",
}

EXPLOITATION: dict[str, str] = {
    ExploitationType.LABOUR: "Labour",
    ExploitationType.SEXUAL: "Sexual",
    ExploitationType.CRIMINAL: "Criminal",
    ExploitationType.DOMESTIC_SERVITUDE: "Domestic servitude",
    ExploitationType.ORGAN_HARVESTING: "Organ harvesting",
    ExploitationType.UNKNOWN: "Not known",
}

NEEDS: dict[str, str] = {
    SupportNeed.LEGAL_ADVICE: "Legal advice",
    SupportNeed.IMMIGRATION_ADVICE: "Immigration advice",
    SupportNeed.HEALTHCARE: "Healthcare",
    SupportNeed.MENTAL_HEALTH: "Mental health",
    SupportNeed.HOUSING: "Housing",
    SupportNeed.SAFE_ACCOMMODATION: "Safe accommodation",
    SupportNeed.FINANCIAL_SUPPORT: "Financial support",
    SupportNeed.EMPLOYMENT: "Employment",
    SupportNeed.EDUCATION: "Education",
    SupportNeed.INTERPRETER: "Interpreter",
    SupportNeed.SUBSTANCE_MISUSE: "Substance misuse",
    SupportNeed.OTHER: "Other support",
}

URGENCY: dict[str, str] = {
    Urgency.IMMEDIATE: "Immediate",
    Urgency.PRIORITY: "Priority",
    Urgency.ROUTINE: "Routine",
}

PATHWAYS: dict[str, str] = {
    Pathway.CHILD: "Child safeguarding",
    Pathway.NRM: "NRM referral",
    Pathway.DUTY_TO_NOTIFY: "Duty to Notify",
    Pathway.NRM_DECISION_PENDING: "NRM decision pending",
}

# Casework's task kinds: a support need, or one of its own steps (services/casework/domain.py).
TASK_KINDS: dict[str, str] = {
    **NEEDS,
    "first_contact": "First contact",
    "confirm_duty_to_notify_submitted": "Confirm the Duty to Notify was submitted",
    "explain_nrm_and_record_consent": "Explain the NRM and record consent",
    "childrens_services_handover": "Handover to children's services",
    # Criminal-justice support (services/casework/criminal_justice.py; deploy/config/casework.yaml).
    "arrange_account": "Arrange for the person to give their account to the police",
}


def label(table: dict[str, str], value: str) -> str:
    """The value's label; a value the table does not know yet (a newer producer) still reads as
    words rather than a key."""
    return table.get(value) or value.replace("_", " ").strip().capitalize()


def labels(table: dict[str, str], values: tuple[str, ...] | list[str]) -> str:
    return ", ".join(label(table, value) for value in values)
