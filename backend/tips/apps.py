from django.apps import AppConfig


class TipsConfig(AppConfig):
    name = "backend.tips"
    verbose_name = "公众爆料 Residents' tips"
    default_auto_field = "django.db.models.BigAutoField"
