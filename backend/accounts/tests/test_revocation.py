"""Revocation: an admin's revoke is sticky until restored; the owner's is not
(docs/accounts.md). The websocket side is in push/tests/test_websocket.py."""

from __future__ import annotations

import pytest
from django.test import Client

from backend.accounts.models import Device
from conftest import PASSWORD, PERSONAS, ApiClient
from tests import matrix_registry

WRONG = "wrong-password"


def login(device_id: str, username: str = "demo_grid_worker", password: str = PASSWORD):
    return ApiClient().post("/auth/login", {"username": username, "password": password, "device_id": device_id})


def test_it_keeps_a_device_an_admin_revoked_out_until_an_admin_restores_it(db, as_persona):
    worker = login("phone-lost-1").json()
    admin = as_persona("demo_admin")
    revoked = admin.post(f"/devices/{worker['device']['id']}/revoke").json()
    assert revoked["admin_revoked"] is True and revoked["revoked_at"]
    again = login("phone-lost-1")
    assert again.status_code == 403 and again.json()["code"] == "device_revoked"
    restored = admin.post(f"/devices/{worker['device']['id']}/restore")
    assert restored.status_code == 200 and restored.json()["admin_revoked"] is False
    back = login("phone-lost-1")
    assert back.status_code == 200 and back.json()["device"]["revoked_at"] is None
    assert ApiClient(back.json()["access_token"]).get("/me").status_code == 200


def test_it_says_device_revoked_only_to_the_right_password(db, as_persona):
    worker = login("phone-lost-2").json()
    as_persona("demo_admin").post(f"/devices/{worker['device']['id']}/revoke")
    wrong, elsewhere = login("phone-lost-2", password=WRONG), login("phone-other-2", password=WRONG)
    assert wrong.status_code == 401 and wrong.json() == elsewhere.json()


def test_it_keeps_an_admin_revoked_device_out_of_refresh(db, as_persona):
    worker = login("phone-lost-3").json()
    as_persona("demo_admin").post(f"/devices/{worker['device']['id']}/revoke")
    refreshed = ApiClient().post(
        "/auth/refresh", {"refresh_token": worker["refresh_token"], "device_id": "phone-lost-3"}
    )
    assert refreshed.json()["code"] == "token_revoked"


def test_it_lets_the_owner_sign_in_again_after_logging_out(db):
    tokens = login("phone-mine-1").json()
    ApiClient(tokens["access_token"]).post("/auth/logout")
    assert Device.objects.get(device_id="phone-mine-1").admin_revoked is False
    assert login("phone-mine-1").status_code == 200


def test_it_lets_the_owner_sign_in_again_on_a_device_they_revoked_themselves(db):
    mine = login("phone-mine-2").json()
    other = login("phone-mine-3").json()
    assert (
        ApiClient(mine["access_token"]).post(f"/devices/{other['device']['id']}/revoke").json()["admin_revoked"]
        is False
    )
    assert login("phone-mine-3").status_code == 200


def test_it_lets_only_an_admin_restore(db, as_persona):
    worker = login("phone-lost-4").json()
    as_persona("demo_admin").post(f"/devices/{worker['device']['id']}/revoke")
    other = login("phone-mine-4").json()
    owner = ApiClient(other["access_token"])
    assert owner.post(f"/devices/{worker['device']['id']}/restore").json()["code"] == "forbidden"
    assert as_persona("demo_grid_worker_b").post(f"/devices/{worker['device']['id']}/restore").status_code == 404
    assert login("phone-lost-4").json()["code"] == "device_revoked"


def test_it_makes_the_admin_sites_revoke_sticky_and_its_restore_lift_it(db, persona_user):
    worker = login("phone-lost-5").json()
    browser = Client()
    browser.force_login(persona_user("demo_admin"))
    url = "/admin/accounts/device/"
    browser.post(url, {"action": "revoke", "_selected_action": [worker["device"]["id"]]})
    device = Device.objects.get(pk=worker["device"]["id"])
    assert device.admin_revoked and device.revoked_by == persona_user("demo_admin")
    assert login("phone-lost-5").json()["code"] == "device_revoked"
    browser.post(url, {"action": "restore", "_selected_action": [worker["device"]["id"]]})
    assert login("phone-lost-5").status_code == 200


matrix_registry.cover("/api/v1/devices/{device_pk}/restore")


@pytest.mark.parametrize("persona", PERSONAS)
def test_it_lets_only_an_admin_restore_a_device_per_persona(as_persona, persona):
    """The permission row: the admin restores (200), the owner sees the device but may
    not (403), anyone else does not see it (404)."""
    owner = login("phone-matrix", "demo_resident").json()
    as_persona("demo_admin").post(f"/devices/{owner['device']['id']}/revoke")
    expected = {"demo_admin": 200, "demo_resident": 403}.get(persona, 404)
    client = as_persona(persona)
    assert client.post(f"/devices/{owner['device']['id']}/restore").status_code == expected
    assert Device.objects.get(pk=owner["device"]["id"]).admin_revoked is (expected != 200)
