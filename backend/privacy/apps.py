from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "backend.privacy"
    verbose_name = "个人信息保护 Personal data"
    default_auto_field = "django.db.models.BigAutoField"
