from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "backend.accounts"
    verbose_name = "账号 Accounts"
