from django.apps import AppConfig
from django.db.models.signals import post_delete, post_migrate, post_save


class AdministrationConfig(AppConfig):
    name = "backend.administration"
    verbose_name = "区级配置"

    def ready(self) -> None:
        from backend.administration.calendar import bump_version, seed_after_migrate
        from backend.administration.models import CalendarDay, CalendarYear

        post_migrate.connect(seed_after_migrate, sender=self, dispatch_uid="administration.seed_calendar")
        # A change in the admin (or anywhere) reaches every process's calendar.
        for model in (CalendarYear, CalendarDay):
            for signal in (post_save, post_delete):
                signal.connect(lambda **kwargs: bump_version(), sender=model, weak=False)
