from django.apps import AppConfig


class SyncConfig(AppConfig):
    name = "sync"
    verbose_name = "离线同步 Offline sync"
