from django.apps import AppConfig


class MediaConfig(AppConfig):
    name = "media"
    label = "evidence"
    verbose_name = "照片证据 Photo evidence"
