from django.apps import AppConfig


class PushConfig(AppConfig):
    name = "push"
    verbose_name = "实时推送 Push"
