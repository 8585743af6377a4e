"""Client applications of the Open311 server, each with its API key. A request filed
through Open311 is a resident's tip reported under the application's own resident
account, so it follows every rule of a tip (``backend.tips.services.submit_tip``)."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models, transaction


def new_key() -> str:
    return secrets.token_urlsafe(24)


class Open311Client(models.Model):
    name = models.CharField("应用名称", max_length=100, unique=True)
    api_key = models.CharField("API key", max_length=64, unique=True, default=new_key, editable=False)
    account = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", editable=False, verbose_name="居民账号"
    )
    active = models.BooleanField("启用", default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "Open311 客户端应用"

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        if self.account_id is None:
            from backend.accounts.models import Role, RoleAssignment, User

            with transaction.atomic():
                user = User(username=f"open311_{secrets.token_hex(6)}", first_name=self.name[:150])
                user.set_unusable_password()
                user.save()
                RoleAssignment.objects.create(user=user, role=Role.RESIDENT)
                self.account = user
                return super().save(*args, **kwargs)
        return super().save(*args, **kwargs)
