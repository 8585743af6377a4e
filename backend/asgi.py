"""ASGI entry point for daphne: HTTP (``make run``) and websockets (``/ws/v1/``)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
# Connections come from a pool here, not kept per thread: under ASGI each request has a
# thread of its own, and kept connections leaked, one a request (backend/config.py).
os.environ.setdefault("DB_POOL_SIZE", "10")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402  (needs apps loaded)
from django.urls import path  # noqa: E402

from push.consumers import NotificationConsumer  # noqa: E402

# The token authenticates (header or subprotocol), not a cookie, so no origin check is needed.
websocket_urlpatterns = [path("ws/v1/", NotificationConsumer.as_asgi())]

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(websocket_urlpatterns),
    }
)

from backend.core.runtime import tune_gc  # noqa: E402

tune_gc()
