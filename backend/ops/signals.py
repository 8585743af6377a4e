"""Notes the request id of every notification that goes to the FCM outbox."""

from django.db.models.signals import post_save
from django.dispatch import receiver

from backend.ops.context import current_request_id
from push.models import PUSHED_KINDS, Notification


@receiver(post_save, sender=Notification, dispatch_uid="ops.notification_origin")
def note_origin(sender, instance: Notification, created: bool, **kwargs) -> None:
    request_id = current_request_id()
    if created and request_id and instance.kind in PUSHED_KINDS:
        from backend.ops.models import NotificationOrigin

        NotificationOrigin.objects.create(notification=instance, request_id=request_id)
