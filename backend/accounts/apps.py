from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "backend.accounts"
    verbose_name = "账号 Accounts"

    def ready(self) -> None:
        from backend.accounts import signals  # noqa: F401
