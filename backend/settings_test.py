"""Settings for the test suite: the normal settings in test mode, with a fast
password hasher (hashing strength is not what the tests measure)."""

import os

os.environ.setdefault("DJANGO_ENV", "test")

from backend.settings import *  # noqa: E402,F401,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
