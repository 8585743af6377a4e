from django.apps import AppConfig


class CareConfig(AppConfig):
    name = "backend.care"
    verbose_name = "走访计划 Visit plans"
