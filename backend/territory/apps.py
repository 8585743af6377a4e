from django.apps import AppConfig


class TerritoryConfig(AppConfig):
    name = "backend.territory"
    verbose_name = "辖区 Territory"

    def ready(self) -> None:
        from backend.territory import signals  # noqa: F401
