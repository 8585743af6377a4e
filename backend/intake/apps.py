from django.apps import AppConfig


class IntakeConfig(AppConfig):
    name = "backend.intake"
    verbose_name = "外部系统接入 Intake (video alerts, electricity)"
