from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "backend.ops"
    verbose_name = "运维 Operations"

    def ready(self) -> None:
        from backend.ops import signals  # noqa: F401 (connects the request-id trace of notifications)
