"""Signing a resident in through the real code flow (console sender) in tests."""

from __future__ import annotations

import json
import re
import uuid

from django.conf import settings
from django.test import Client

from backend.residents.models import ConsoleSms


def post(path: str, body: dict, *, address: str = "127.0.0.1", language: str = "zh-hans", token: str = ""):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return Client(HTTP_ACCEPT_LANGUAGE=language).post(
        f"/api/v1{path}", json.dumps(body), content_type="application/json", REMOTE_ADDR=address, headers=headers
    )


def last_code(phone: str) -> str:
    text = ConsoleSms.objects.filter(phone=phone).latest("pk").text
    return re.search(r"\d{6}", text).group()


def sign_in(phone: str, *, device_id: str | None = None, address: str = "127.0.0.1") -> dict:
    """Request a code, read it from the console sender, verify it with consent: the token answer."""
    device_id = device_id or f"phone-{uuid.uuid4().hex[:12]}"
    assert post("/auth/sms/request", {"phone": phone, "device_id": device_id}, address=address).status_code == 200
    response = post(
        "/auth/sms/verify",
        {
            "phone": phone,
            "code": last_code(phone),
            "device_id": device_id,
            "privacy_notice_version": settings.PRIVACY_NOTICE_VERSION,
        },
        address=address,
    )
    assert response.status_code in (200, 201), response.content
    return {**response.json(), "device_id": device_id}
