from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "backend.events"
    verbose_name = "事件 Events"
