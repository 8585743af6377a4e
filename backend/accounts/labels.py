"""Role labels in the request's language (``backend.core.labels``)."""

from backend.accounts.models import Role
from backend.core.labels import Labels

ROLE_LABELS = Labels(
    Role,
    {
        "grid_worker": "Grid worker",
        "resident": "Resident",
        "secretary": "Community secretary",
        "dispatcher": "Street dispatcher",
        "handler": "Platform or department handler",
        "commander": "District commander",
        "admin": "Administrator",
    },
)
