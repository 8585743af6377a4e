"""Shared fixtures: the demo district is seeded once per session; each test runs in
a transaction that is rolled back. Personas are the demo accounts of product.md."""

from __future__ import annotations

import json
import uuid

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test import Client
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from backend.accounts.models import User
from backend.accounts.services import auth_login

# No test asserts a duration (docs/testing.md): Hypothesis's per-example deadline (200 ms) and
# its "input generation is slow" check are such assertions, and a loaded machine tripped them in
# a pure-JSON property. Every property runs without them.
hypothesis_settings.register_profile("suite", deadline=None, suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.load_profile("suite")

PERSONAS = (
    "demo_grid_worker",
    "demo_grid_worker_b",
    "demo_secretary",
    "demo_dispatcher",
    "demo_handler",
    "demo_commander",
    "demo_resident",
    "demo_admin",
)
PASSWORD = "test-pass-123"


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        # A small address library keeps the session set-up quick; the full one is benchmarked.
        call_command("seed_demo", password=PASSWORD, addresses=3000, stdout=open("/dev/null", "w"))


@pytest.fixture(autouse=True)
def _clean_cache():
    from backend.stats.colours import forget_cached

    cache.clear()
    forget_cached()  # what the colours keep in the process, rolled back with each test's rows
    yield
    cache.clear()
    forget_cached()


class ApiClient:
    """A JSON client for /api/v1 that carries one persona's access token."""

    def __init__(self, token: str | None = None, language: str = "zh-hans"):
        self.client = Client(HTTP_ACCEPT_LANGUAGE=language)
        self.token = token

    def _headers(self, headers: dict | None) -> dict:
        merged = dict(headers or {})
        if self.token:
            merged.setdefault("Authorization", f"Bearer {self.token}")
        return merged

    def get(self, path: str, params: dict | None = None, headers: dict | None = None):
        return self.client.get(f"/api/v1{path}", params or {}, headers=self._headers(headers))

    def post(self, path: str, body: dict | None = None, headers: dict | None = None):
        return self.client.post(
            f"/api/v1{path}", json.dumps(body or {}), content_type="application/json", headers=self._headers(headers)
        )


def login_as(username: str) -> ApiClient:
    pair = auth_login(
        username=username, password=PASSWORD, device_id=f"test-{uuid.uuid4().hex[:12]}", address="127.0.0.1"
    )
    return ApiClient(pair.access_token)


@pytest.fixture
def anonymous(db) -> ApiClient:
    return ApiClient()


@pytest.fixture
def as_persona(db):
    """``as_persona("demo_dispatcher")`` -> an ApiClient logged in as that persona."""
    return login_as


@pytest.fixture
def persona_user(db):
    return lambda username: User.objects.get(username=username)


@pytest.fixture
def is_postgres() -> bool:
    return connection.vendor == "postgresql"
