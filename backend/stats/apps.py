from django.apps import AppConfig


class StatsConfig(AppConfig):
    name = "backend.stats"
    label = "stats"
    verbose_name = "统计考核与五色预警"
