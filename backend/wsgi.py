"""WSGI entry point: the HTTP API under gunicorn in the production layout."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
application = get_wsgi_application()

from backend.core.runtime import tune_gc  # noqa: E402

tune_gc()
