"""Labels in answers, in the request's language: Chinese by default, English with
``Accept-Language: en`` (as error messages are, ``backend.core.errors``).

The Chinese labels are the choices' own (they also name things in the admin); the
English ones are here, one per choice (``Labels`` refuses to be built without them all).
Categories keep their Chinese name in the database (the admin edits it); the demo
catalogue's codes have English names here, and a category added in the admin without
one answers its Chinese name in either language."""

from __future__ import annotations

from backend.core.errors import prefers_english
from backend.core.labels import Labels
from backend.events.models import Category, Level, Satisfaction, Severity, Source, State

STATE_LABELS = Labels(
    State,
    {
        "reported": "Reported",
        "accepted": "Accepted",
        "rejected": "Rejected",
        "merged": "Merged",
        "dispatched": "Dispatched",
        "returned": "Returned",
        "in_progress": "In progress",
        "awaiting_evidence": "Awaiting photo evidence",
        "handled": "Handled, awaiting approval",
        "closed": "Closed",
        "evaluated": "Evaluated",
        "parked": "Parked",
    },
)
SOURCE_LABELS = Labels(
    Source,
    {
        "grid_patrol": "Grid patrol",
        "public_tip": "Public tip",
        "video_alert": "Video analytics alert",
        "power_alert": "Power monitoring alert",
        "department_referral": "Department referral",
    },
)
LEVEL_LABELS = Labels(Level, {0: "Grid", 1: "Community", 2: "Street", 3: "District"})
SEVERITY_LABELS = Labels(Severity, {"low": "Minor", "normal": "Serious", "high": "Severe", "critical": "Critical"})
SATISFACTION_LABELS = Labels(
    Satisfaction, {"satisfied": "Satisfied", "basic": "Fairly satisfied", "unsatisfied": "Unsatisfied"}
)

CATEGORY_ENGLISH = {
    "01": "Disputes",
    "01.01": "Neighbour dispute",
    "01.02": "Family dispute",
    "01.03": "Property management dispute",
    "01.04": "Labour dispute",
    "01.05": "Marriage or relationship dispute",
    "02": "Care and management of key persons",
    "02.01": "Care for elderly living alone",
    "02.02": "Visit to a key person",
    "02.03": "Support for released prisoners",
    "02.04": "Community corrections",
    "03": "Public safety",
    "03.01": "Public order hazard",
    "03.02": "Overcrowded rental",
    "03.03": "Rental housing safety hazard",
    "03.04": "Anti-fraud outreach",
    "04": "Food safety",
    "04.01": "Unlicensed food business",
    "04.02": "Expired food on sale",
    "04.03": "Restaurant hygiene",
    "05": "Market order",
    "05.01": "Price fraud",
    "05.02": "False advertising",
    "05.03": "Unlicensed business",
    "05.04": "Inaccurate measuring instruments",
    "05.05": "Lift safety hazard",
    "06": "City appearance and environment",
    "06.01": "Exposed rubbish",
    "06.02": "Street vending",
    "06.03": "Trading outside the shopfront",
    "06.04": "Fly-posting and graffiti",
    "06.05": "Cooking fumes nuisance",
    "06.06": "Illegal construction",
    "06.07": "Spilled construction waste",
    "06.08": "Rubbish in green belts",
    "07": "Traffic order",
    "07.01": "Illegal parking",
    "07.02": "Badly parked shared bikes",
    "07.03": "Blocked fire lane",
    "07.04": "Badly parked non-motor vehicles",
    "08": "Work safety",
    "08.01": "Fire hazard",
    "08.02": "Gas safety hazard",
    "08.03": "Falling object hazard",
    "08.04": "Unsafe e-bike charging",
    "09": "Municipal facilities",
    "09.01": "Broken street light",
    "09.02": "Missing or broken manhole cover",
    "09.03": "Damaged road",
    "09.04": "Damaged greenery",
    "09.05": "Waterlogging",
    "10": "Public services",
    "10.01": "Elderly care request",
    "10.02": "Disability support",
    "10.03": "Subsistence allowance enquiry",
    "10.04": "Employment support",
    "10.05": "Health care enquiry",
    "11": "Ecological environment",
    "11.01": "Noise nuisance",
    "11.02": "Sewage discharged directly",
    "11.03": "Illegal burning",
}


def category_english_name(category: Category) -> str:
    return category.name_en or CATEGORY_ENGLISH.get(category.code, category.name)


def category_name(category: Category) -> str:
    if prefers_english():
        return category_english_name(category)
    return category.name
