import time
import uuid

import jwt
import pytest
from django.conf import settings

from backend.accounts.models import Device
from conftest import PASSWORD, ApiClient


def login(anonymous, username="demo_grid_worker", password=PASSWORD, device_id=None, **extra):
    return anonymous.post(
        "/auth/login",
        {
            "username": username,
            "password": password,
            "device_id": device_id or f"phone-{uuid.uuid4().hex[:8]}",
            **extra,
        },
    )


def claims_for(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def forge(claims: dict, *, key: str | None = None, algorithm: str = "HS256", kid: str | None = None) -> str:
    kid = kid or next(iter(settings.JWT["KEYS"]))
    key = key or settings.JWT["KEYS"][kid]
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid})


def test_it_logs_in_and_registers_the_device(anonymous):
    response = login(
        anonymous, device_id="phone-0001", device_description="华为 Mate 60", platform="android", app_version="2.3.1"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == settings.JWT["ACCESS_MINUTES"] * 60
    assert body["device"]["device_id"] == "phone-0001" and body["device"]["platform"] == "android"
    me = ApiClient(body["access_token"]).get("/me")
    assert me.status_code == 200
    assert me.json()["username"] == "demo_grid_worker"


def test_it_puts_a_kid_and_the_required_claims_in_access_tokens(anonymous):
    token = login(anonymous).json()["access_token"]
    assert jwt.get_unverified_header(token)["kid"] in settings.JWT["KEYS"]
    claims = claims_for(token)
    assert {"exp", "iat", "iss", "aud", "sub"} <= set(claims)


def test_it_refuses_a_wrong_password_without_saying_which_part_was_wrong(anonymous):
    assert login(anonymous, password="wrong-password").json()["code"] == "invalid_credentials"
    assert login(anonymous, username="nobody").json()["code"] == "invalid_credentials"


def test_it_rate_limits_failures_per_account(anonymous, settings):
    settings.LOGIN_LIMITS = {**settings.LOGIN_LIMITS, "PER_ACCOUNT": 3}
    for _ in range(3):
        assert login(anonymous, password="wrong-password").status_code == 401
    blocked = login(anonymous)  # even the right password waits out the window
    assert blocked.status_code == 429
    assert blocked.json()["code"] == "rate_limited"
    assert int(blocked["Retry-After"]) > 0
    assert login(anonymous, username="demo_secretary").status_code == 200  # other accounts unaffected


def test_it_rate_limits_failures_per_address(anonymous, settings):
    settings.LOGIN_LIMITS = {**settings.LOGIN_LIMITS, "PER_ACCOUNT": 100, "PER_ADDRESS": 4}
    for username in ["a1", "a2", "a3", "a4"]:
        assert login(anonymous, username=username, password="wrong-password").status_code == 401
    assert login(anonymous, username="demo_secretary").status_code == 429


def test_it_rotates_refresh_tokens(anonymous):
    first = login(anonymous, device_id="phone-rotate").json()
    second = anonymous.post("/auth/refresh", {"refresh_token": first["refresh_token"], "device_id": "phone-rotate"})
    assert second.status_code == 200
    assert second.json()["refresh_token"] != first["refresh_token"]
    third = anonymous.post(
        "/auth/refresh", {"refresh_token": second.json()["refresh_token"], "device_id": "phone-rotate"}
    )
    assert third.status_code == 200


def test_it_revokes_the_whole_family_when_a_rotated_token_is_reused(anonymous):
    first = login(anonymous, device_id="phone-stolen").json()
    second = anonymous.post(
        "/auth/refresh", {"refresh_token": first["refresh_token"], "device_id": "phone-stolen"}
    ).json()
    replay = anonymous.post("/auth/refresh", {"refresh_token": first["refresh_token"], "device_id": "phone-stolen"})
    assert replay.status_code == 401 and replay.json()["code"] == "refresh_reused"
    # The legitimate holder's newer tokens die too.
    after = anonymous.post("/auth/refresh", {"refresh_token": second["refresh_token"], "device_id": "phone-stolen"})
    assert after.status_code == 401 and after.json()["code"] == "token_revoked"
    assert ApiClient(second["access_token"]).get("/me").json()["code"] == "token_revoked"


def test_a_reused_refresh_token_revokes_the_device_with_every_sign_in_on_it(anonymous):
    chain_a = login(anonymous, device_id="phone-twice").json()
    chain_b = login(anonymous, device_id="phone-twice").json()  # a second sign-in: a family of its own
    anonymous.post("/auth/refresh", {"refresh_token": chain_a["refresh_token"], "device_id": "phone-twice"})
    replay = anonymous.post("/auth/refresh", {"refresh_token": chain_a["refresh_token"], "device_id": "phone-twice"})
    assert replay.json()["code"] == "refresh_reused"
    other = anonymous.post("/auth/refresh", {"refresh_token": chain_b["refresh_token"], "device_id": "phone-twice"})
    assert other.status_code == 401 and other.json()["code"] == "token_revoked"
    assert Device.objects.get(device_id="phone-twice").revoked_at is not None


def test_it_binds_refresh_tokens_to_their_device(anonymous):
    first = login(anonymous, device_id="phone-bound").json()
    other = anonymous.post("/auth/refresh", {"refresh_token": first["refresh_token"], "device_id": "phone-other"})
    assert other.status_code == 401 and other.json()["code"] == "token_invalid"


def test_it_refuses_an_unknown_refresh_token(anonymous):
    response = anonymous.post("/auth/refresh", {"refresh_token": "x" * 43, "device_id": "phone-1"})
    assert response.json()["code"] == "token_invalid"


def test_it_refuses_an_expired_refresh_token(anonymous):
    from datetime import timedelta

    from django.utils import timezone

    from backend.accounts.models import RefreshToken

    first = login(anonymous, device_id="phone-old").json()
    RefreshToken.objects.filter(device__device_id="phone-old").update(expires_at=timezone.now() - timedelta(seconds=1))
    response = anonymous.post("/auth/refresh", {"refresh_token": first["refresh_token"], "device_id": "phone-old"})
    assert response.json()["code"] == "token_expired"


def test_it_logs_out_the_device_and_its_tokens(anonymous):
    tokens = login(anonymous, device_id="phone-logout").json()
    client = ApiClient(tokens["access_token"])
    assert client.post("/auth/logout").status_code == 200
    assert client.get("/me").json()["code"] == "token_revoked"
    refresh = anonymous.post("/auth/refresh", {"refresh_token": tokens["refresh_token"], "device_id": "phone-logout"})
    assert refresh.json()["code"] == "token_revoked"
    # Logging in again on the same device works.
    again = login(anonymous, device_id="phone-logout").json()
    assert ApiClient(again["access_token"]).get("/me").status_code == 200


def test_it_refuses_an_expired_access_token(anonymous):
    claims = claims_for(login(anonymous).json()["access_token"])
    now = int(time.time())
    token = forge({**claims, "iat": now - 7200, "exp": now - 3600})
    assert ApiClient(token).get("/me").json()["code"] == "token_expired"


def test_it_refuses_a_tampered_access_token(anonymous):
    token = login(anonymous).json()["access_token"]
    header, payload, signature = token.split(".")
    tampered = f"{header}.{payload}.{signature[:-4]}AAAA"
    assert ApiClient(tampered).get("/me").json()["code"] == "token_invalid"
    claims = claims_for(token)
    other_key = forge({**claims, "sub": "1"}, key="k" * 40)
    assert ApiClient(other_key).get("/me").json()["code"] == "token_invalid"


@pytest.mark.parametrize("algorithm", ["none", "HS512"])
def test_it_refuses_tokens_signed_with_another_algorithm(anonymous, algorithm):
    claims = claims_for(login(anonymous).json()["access_token"])
    kid = next(iter(settings.JWT["KEYS"]))
    if algorithm == "none":
        token = jwt.encode(claims, None, algorithm="none", headers={"kid": kid})
    else:
        token = forge(claims, algorithm=algorithm)
    assert ApiClient(token).get("/me").json()["code"] == "token_invalid"


@pytest.mark.parametrize("claim", ["iss", "aud"])
def test_it_refuses_tokens_for_another_issuer_or_audience(anonymous, claim):
    claims = claims_for(login(anonymous).json()["access_token"])
    assert ApiClient(forge({**claims, claim: "someone-else"})).get("/me").json()["code"] == "token_invalid"


def test_it_refuses_a_token_missing_a_required_claim(anonymous):
    claims = claims_for(login(anonymous).json()["access_token"])
    del claims["iat"]
    assert ApiClient(forge(claims)).get("/me").json()["code"] == "token_invalid"


def test_it_refuses_an_unknown_kid_and_accepts_a_rotated_out_one(anonymous, settings):
    claims = claims_for(login(anonymous).json()["access_token"])
    assert ApiClient(forge(claims, kid="ghost", key="g" * 40)).get("/me").json()["code"] == "token_invalid"
    old_kid, old_key = next(iter(settings.JWT["KEYS"].items()))
    settings.JWT = {**settings.JWT, "KEYS": {"new": "n" * 40, old_kid: old_key}}
    assert ApiClient(forge(claims, kid=old_kid, key=old_key)).get("/me").status_code == 200


def test_it_refuses_a_garbage_token(anonymous):
    assert ApiClient("not-a-jwt").get("/me").json()["code"] == "token_invalid"


def test_it_refuses_a_disabled_account(anonymous, persona_user):
    tokens = login(anonymous).json()
    user = persona_user("demo_grid_worker")
    user.is_active = False
    user.save()
    assert ApiClient(tokens["access_token"]).get("/me").json()["code"] == "account_disabled"
    assert login(anonymous).json()["code"] == "account_disabled"  # the right password: told why
    assert login(anonymous, password="wrong-password").json()["code"] == "invalid_credentials"


def test_it_lists_and_revokes_own_devices(anonymous):
    mine = ApiClient(login(anonymous, device_id="phone-a").json()["access_token"])
    login(anonymous, device_id="phone-b")
    devices = mine.get("/devices").json()
    assert {d["device_id"] for d in devices} >= {"phone-a", "phone-b"}
    phone_b = next(d for d in devices if d["device_id"] == "phone-b")
    revoked = mine.post(f"/devices/{phone_b['id']}/revoke")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]


def test_it_lets_an_admin_revoke_anyones_device(anonymous, as_persona):
    worker = login(anonymous, device_id="phone-lost").json()
    admin = as_persona("demo_admin")
    assert admin.post(f"/devices/{worker['device']['id']}/revoke").status_code == 200
    assert ApiClient(worker["access_token"]).get("/me").json()["code"] == "token_revoked"


def test_it_hides_other_users_devices(anonymous, as_persona):
    worker = login(anonymous, device_id="phone-private").json()
    other = as_persona("demo_grid_worker_b")
    assert other.post(f"/devices/{worker['device']['id']}/revoke").status_code == 404
    assert "phone-private" not in {d["device_id"] for d in other.get("/devices").json()}


def test_me_lists_roles_bound_to_territory(as_persona):
    body = as_persona("demo_secretary").get("/me").json()
    assert [r["role"] for r in body["roles"]] == ["secretary"]
    assert body["roles"][0]["role_label"] == "社区书记"
    assert body["roles"][0]["unit"]["kind"] == "community" and len(body["roles"][0]["unit"]["code"]) == 12
    assert body["scope"]["community_ids"] == [body["roles"][0]["unit"]["id"]]


def test_it_sees_a_new_role_on_the_next_request(as_persona, persona_user):
    from backend.accounts.models import Role, RoleAssignment
    from backend.territory.models import Grid

    client = as_persona("demo_grid_worker_b")
    assert len(client.get("/me").json()["roles"]) == 1
    extra = Grid.objects.get(code="330102001001003")
    RoleAssignment.objects.create(user=persona_user("demo_grid_worker_b"), role=Role.GRID_WORKER, grid=extra)
    body = client.get("/me").json()
    assert extra.pk in body["scope"]["grid_ids"]
    assert client.get(f"/territory/grids/{extra.pk}").status_code == 200


def test_behind_the_proxy_the_limit_counts_the_client_not_the_proxy(settings, db):
    from django.test import RequestFactory

    from backend.accounts.ratelimit import client_address

    request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR="1.2.3.4, 10.0.0.9", REMOTE_ADDR="172.18.0.5")
    settings.TRUST_X_FORWARDED_FOR = False
    assert client_address(request) == "172.18.0.5"  # no proxy configured: the header could be forged
    settings.TRUST_X_FORWARDED_FOR = True
    assert client_address(request) == "10.0.0.9"  # the entry our proxy appended
