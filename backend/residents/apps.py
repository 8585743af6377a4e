from django.apps import AppConfig


class ResidentsConfig(AppConfig):
    name = "backend.residents"
    label = "residents"
    verbose_name = "居民 Residents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from backend.residents import notice  # noqa: F401 (registers its system check)
