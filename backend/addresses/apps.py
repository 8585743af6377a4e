from django.apps import AppConfig


class AddressesConfig(AppConfig):
    name = "backend.addresses"
    verbose_name = "统一地址库 Addresses"
