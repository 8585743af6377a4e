"""Settings for the test suite: the normal settings in test mode, with a fast
password hasher (hashing strength is not what the tests measure)."""

import os

os.environ.setdefault("DJANGO_ENV", "test")

# Under pytest-xdist each worker process gets its own Redis database (the base number
# plus the worker's index), since the tests flush the cache between tests. The
# database itself is already per worker (pytest-django suffixes its name).
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker.startswith("gw") and os.environ.get("REDIS_URL"):
    _base, _, _db = os.environ["REDIS_URL"].rpartition("/")
    os.environ["REDIS_URL"] = f"{_base}/{int(_db or 0) + int(_worker[2:])}"

from backend.settings import *  # noqa: E402,F401,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
