from django.apps import AppConfig


class PatrolsConfig(AppConfig):
    name = "backend.patrols"
    verbose_name = "巡查走访 Patrols and visits"
