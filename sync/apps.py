from django.apps import AppConfig


class SyncConfig(AppConfig):
    name = "sync"
    verbose_name = "离线同步 Offline sync"

    def ready(self) -> None:
        from sync.changes import connect_signals

        connect_signals()
