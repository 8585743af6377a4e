from django.db import models


class NotificationOrigin(models.Model):
    """The request that made a notification sent by FCM: the worker's send is logged
    under that request's id. A side table of ours, so push's tables stay as they are."""

    notification = models.OneToOneField(
        "push.Notification", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    request_id = models.CharField(max_length=64)

    class Meta:
        verbose_name = verbose_name_plural = "通知来源请求"
