"""Who reviews video alerts (视频告警审核), written once: the street's dispatcher (the
``street_dispatcher`` relation of ``backend/events/workflow.py``, which triages the
events an alert becomes) for the cameras of their street, and the district."""

from __future__ import annotations

from django.db.models import Q

from backend.accounts.models import Role
from backend.accounts.scope import Scope
from backend.core.errors import ApiError, register
from backend.intake.models import VideoAlert

register("alert_not_found", 404, "告警不存在", "Alert not found")
register("alerts_forbidden", 403, "无权审核视频告警", "You may not review video alerts")


def q_reviewable(scope: Scope) -> Q | None:
    """The alerts the scope reviews (None: none at all)."""
    if scope.district_wide:
        return Q()
    if Role.DISPATCHER in scope.roles and scope.street_ids:
        return Q(camera__grid__community__street_id__in=scope.street_ids)
    return None


def alerts_reviewable(scope: Scope):
    rule = q_reviewable(scope)
    if rule is None:
        raise ApiError("alerts_forbidden")
    return VideoAlert.objects.filter(rule)


def access_alert(scope: Scope, alert_id: int, *, lock: bool = False) -> VideoAlert:
    alerts = alerts_reviewable(scope).select_related("camera", "type__category")
    if lock:
        alerts = alerts.select_for_update(of=("self",))
    alert = alerts.filter(pk=alert_id).first()
    if alert is None:
        raise ApiError("alert_not_found")
    return alert
