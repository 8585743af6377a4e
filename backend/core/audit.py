"""One record of who changed the district's configuration, and when.

Changes made in the admin are recorded by Django's admin itself (``LogEntry``);
changes made through the admin API call :func:`audit_change`, which writes the same
kind of row, so one list (admin → 管理日志, or ``LogEntry`` in code) holds them all.
"""

from __future__ import annotations

import json

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import models

ACTIONS = {"add": ADDITION, "change": CHANGE, "delete": DELETION}


def audit_change(user, obj: models.Model, action: str, message: str, **details) -> LogEntry:
    """Record that ``user`` did ``action`` ("add", "change" or "delete") to ``obj``.

    ``message`` is a sentence for people (shown in the admin's history of the object);
    ``details`` (JSON-serialisable) are kept beside it for machines."""
    text = message if not details else f"{message} {json.dumps(details, ensure_ascii=False, default=str)}"
    return LogEntry.objects.create(
        user_id=user.pk,
        content_type=ContentType.objects.get_for_model(obj, for_concrete_model=False),
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        action_flag=ACTIONS[action],
        change_message=text,
    )


def audit_trail(obj: models.Model):
    """The recorded changes of ``obj``, newest first."""
    return LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(obj, for_concrete_model=False), object_id=str(obj.pk)
    ).select_related("user")
