"""Login limits by account and client (backend/accounts/ratelimit.py, docs/accounts.md).

Addresses are varied through X-Forwarded-For with TRUST_X_FORWARDED_FOR on, as
behind the production proxy; limits are set small per test."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.core.cache.backends.locmem import LocMemCache
from django.test import Client

from backend.accounts.ratelimit import sign_in
from backend.config import read_config
from backend.core.errors import ApiError
from conftest import PASSWORD, ApiClient

WRONG = "wrong-password"


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.TRUST_X_FORWARDED_FOR = True
    settings.LOGIN_LIMITS = {
        "PER_DEVICE": 3,
        "PER_CLIENT": 3,
        "PER_ACCOUNT": 6,
        "PER_ADDRESS": 8,
        "WINDOW_SECONDS": 900,
    }


def attempt(username="demo_grid_worker", password=PASSWORD, *, device_id=None, address="10.0.0.1"):
    return ApiClient().post(
        "/auth/login",
        {"username": username, "password": password, "device_id": device_id or f"new-{uuid.uuid4().hex[:10]}"},
        headers={"X-Forwarded-For": address},
    )


def known_phone(username="demo_grid_worker", address="10.9.9.9") -> str:
    device_id = f"own-{uuid.uuid4().hex[:10]}"
    assert attempt(username, device_id=device_id, address=address).status_code == 200
    return device_id


def test_it_blocks_one_account_from_one_address_even_with_the_right_password(db):
    for _ in range(3):
        assert attempt(password=WRONG, address="203.0.113.5").json()["code"] == "invalid_credentials"
    blocked = attempt(address="203.0.113.5")
    assert blocked.status_code == 429 and blocked.json()["code"] == "rate_limited"
    assert int(blocked["Retry-After"]) == 900


def test_it_lets_the_owner_in_from_another_address_after_an_attacker_is_blocked(db):
    for _ in range(3):
        attempt(password=WRONG, address="203.0.113.5")
    assert attempt(address="203.0.113.5").status_code == 429
    assert attempt(address="198.51.100.7").status_code == 200  # a new phone elsewhere


def test_it_lets_the_owners_known_phone_in_when_attackers_everywhere_filled_the_account(db):
    phone = known_phone()
    for address in ("203.0.113.1", "203.0.113.2"):  # PER_CLIENT 3 × 2 = PER_ACCOUNT 6
        for _ in range(3):
            attempt(password=WRONG, address=address)
    # New clients are refused for this account now, from any address...
    assert attempt(address="198.51.100.7").status_code == 429
    # ...but not the phone the owner signed in from before, wherever it is.
    assert attempt(device_id=phone, address="198.51.100.7").status_code == 200
    assert attempt(device_id=phone, address="203.0.113.1").status_code == 200


def test_it_counts_a_known_devices_failures_in_its_own_bucket(db):
    phone = known_phone()
    for _ in range(3):
        assert attempt(password=WRONG, device_id=phone).status_code == 401
    assert attempt(device_id=phone).status_code == 429
    # Its failures are not the account's: a new client elsewhere still signs in.
    assert attempt(address="198.51.100.7").status_code == 200


def test_it_does_not_count_another_accounts_device_as_known(db):
    shared = known_phone("demo_grid_worker_b")  # known for B, not for A
    for _ in range(3):
        attempt(password=WRONG, device_id=shared, address="203.0.113.5")
    assert attempt(device_id=shared, address="203.0.113.5").status_code == 429
    assert attempt("demo_grid_worker_b", device_id=shared, address="203.0.113.5").status_code == 200


def test_it_limits_one_address_across_accounts_but_not_an_offices_known_phones(db):
    office = "192.0.2.10"
    secretary_phone = known_phone("demo_secretary", address=office)
    for index in range(8):  # PER_ADDRESS: someone at the office tries many names
        attempt(f"guess-{index}", WRONG, address=office)
    assert attempt("demo_dispatcher", address=office).status_code == 429  # a new phone at the office
    assert attempt("demo_secretary", device_id=secretary_phone, address=office).status_code == 200
    assert attempt("demo_dispatcher", address="198.51.100.7").status_code == 200  # the account is not blocked


def test_it_starts_the_clients_count_again_after_the_owner_signs_in(db):
    for _ in range(2):
        attempt(password=WRONG)
    assert attempt().status_code == 200
    for _ in range(2):
        assert attempt(password=WRONG).status_code == 401
    assert attempt().status_code == 200  # 4 failures from this client, never 3 in a row


def test_it_leaves_the_accounts_total_when_the_owner_signs_in(db):
    for _ in range(2):
        attempt(password=WRONG, address="203.0.113.1")
    assert attempt(address="203.0.113.1").status_code == 200  # resets only this client's count
    for address, failures in (("203.0.113.2", 3), ("203.0.113.3", 1)):
        for _ in range(failures):
            attempt(password=WRONG, address=address)
    assert attempt(address="198.51.100.7").status_code == 429  # 2 + 3 + 1 = PER_ACCOUNT


def test_it_keeps_a_known_devices_failures_out_of_the_addresss_total(db):
    office = "192.0.2.10"
    phone = known_phone("demo_secretary", address=office)
    for _ in range(3):
        attempt("demo_secretary", WRONG, device_id=phone, address=office)
    for index in range(5):
        attempt(f"guess-{index}", WRONG, address=office)
    assert attempt("demo_dispatcher", address=office).status_code == 200  # 5 of PER_ADDRESS 8, not 8


def test_it_treats_a_device_an_admin_revoked_as_unknown(db, as_persona):
    phone = known_phone()
    devices = as_persona("demo_grid_worker").get("/devices").json()
    device_pk = next(d["id"] for d in devices if d["device_id"] == phone)
    assert as_persona("demo_admin").post(f"/devices/{device_pk}/revoke").status_code == 200
    for _ in range(3):
        attempt(password=WRONG, device_id=phone, address="203.0.113.5")
    # Its failures went to the address's buckets: a new device there is refused too.
    assert attempt(address="203.0.113.5").status_code == 429


def test_it_counts_neither_a_right_password_nor_a_refused_attempt(db):
    for index in range(7):  # more sign-ins from new devices than PER_ACCOUNT: none counts
        assert attempt(address=f"198.51.100.{index}").status_code == 200
    for _ in range(3):
        attempt(password=WRONG, address="203.0.113.1")
    for _ in range(5):  # refused: the account's total does not grow
        assert attempt(password=WRONG, address="203.0.113.1").status_code == 429
    for _ in range(2):
        attempt(password=WRONG, address="203.0.113.2")
    assert attempt(address="203.0.113.3").status_code == 200  # 5 failures of PER_ACCOUNT 6


def test_it_counts_a_username_however_it_is_capitalised(db):
    for _ in range(3):
        attempt("DEMO_Grid_Worker", WRONG)
    assert attempt("demo_grid_worker").status_code == 429


def test_it_answers_a_missing_account_exactly_like_a_wrong_password(db):
    missing, wrong = attempt("nobody-here", WRONG), attempt("demo_grid_worker", WRONG)
    assert (missing.status_code, missing.json()["code"]) == (wrong.status_code, wrong.json()["code"])
    assert missing.json() == wrong.json()
    for _ in range(2):
        attempt("nobody-here", WRONG)
    assert attempt("nobody-here", WRONG).status_code == 429  # limited alike: existence is not told


def test_it_tells_a_disabled_account_only_to_the_right_password(db, persona_user):
    user = persona_user("demo_grid_worker")
    user.is_active = False
    user.save()
    wrong, missing = attempt(password=WRONG), attempt("nobody-here", WRONG)
    assert wrong.status_code == missing.status_code == 401
    assert wrong.json() == missing.json() and wrong.json()["code"] == "invalid_credentials"
    right = attempt()
    assert right.status_code == 403 and right.json()["code"] == "account_disabled"


def admin_login(client: Client, password: str, address: str = "203.0.113.9", username: str = "demo_admin"):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password, "next": "/admin/"},
        HTTP_X_FORWARDED_FOR=address,
    )


def test_it_throttles_the_admin_login_form(db):
    browser = Client()
    for _ in range(8):
        assert admin_login(browser, WRONG).status_code == 200  # the form again, with its error
    refused = admin_login(browser, PASSWORD)
    assert refused.status_code == 200 and "_auth_user_id" not in browser.session
    assert "尝试次数过多" in refused.content.decode()
    assert admin_login(Client(), PASSWORD, address="198.51.100.7").status_code == 302  # the admin elsewhere


def test_it_counts_admin_form_failures_against_the_api_login(db):
    for _ in range(3):
        admin_login(Client(), WRONG, address="203.0.113.9")
    assert attempt("demo_admin", address="203.0.113.9").status_code == 429
    assert attempt("demo_admin", address="198.51.100.7").status_code == 200


def test_it_counts_api_failures_against_the_admin_form(db):
    for _ in range(3):
        attempt("demo_admin", WRONG, address="203.0.113.8")
    browser = Client()
    admin_login(browser, PASSWORD, address="203.0.113.8")
    assert "_auth_user_id" not in browser.session
    admin_login(browser, PASSWORD, address="198.51.100.7")
    assert browser.session["_auth_user_id"]


def test_it_signs_an_admin_in_through_the_form(db):
    browser = Client()
    response = admin_login(browser, PASSWORD)
    assert response.status_code == 302 and browser.session["_auth_user_id"]


def test_it_tells_the_admin_form_a_disabled_account_only_with_the_right_password(db, persona_user):
    admin = persona_user("demo_admin")
    admin.is_active = False
    admin.save()

    def error_code(password: str, username: str = "demo_admin") -> str:
        form = admin_login(Client(), password, username=username).context["form"]
        return form.errors.as_data()["__all__"][0].code

    assert error_code(WRONG) == error_code(WRONG, username="nobody-here") == "invalid_login"
    assert error_code(PASSWORD) == "inactive"


def test_it_empties_a_bucket_when_its_window_ends(db, monkeypatch):
    clock = [1_000_000.0]
    monkeypatch.setattr("django.core.cache.backends.locmem.time.time", lambda: clock[0])
    # A cache of its own, so the clock drives the window on either set-up (local memory or Redis).
    monkeypatch.setattr("backend.accounts.ratelimit.cache", LocMemCache("login-window-test", {}))
    for _ in range(3):
        attempt(password=WRONG)
    assert attempt().status_code == 429
    clock[0] += 899
    assert attempt().status_code == 429
    clock[0] += 2
    assert attempt().status_code == 200


def test_it_reads_the_limits_from_the_environment():
    defaults = read_config({})
    assert (
        defaults.login_failures_per_device,
        defaults.login_failures_per_client,
        defaults.login_failures_per_account,
        defaults.login_failures_per_address,
        defaults.login_window_seconds,
    ) == (5, 5, 20, 20, 900)
    names = ["LOGIN_FAILURES_PER_DEVICE", "LOGIN_FAILURES_PER_CLIENT", "LOGIN_FAILURES_PER_ACCOUNT"]
    configured = read_config({name: str(value) for name, value in zip(names, (7, 8, 9), strict=True)})
    assert (configured.login_failures_per_device, configured.login_failures_per_client) == (7, 8)
    assert configured.login_failures_per_account == 9


def test_it_lets_no_more_attempts_through_at_once_than_the_limit(monkeypatch):
    """Six guesses in flight together against a limit of three: three reach the
    password check, three are refused, however they interleave."""
    entered, refused, release = [], [], threading.Event()
    progress = threading.Condition()

    def slow_wrong_password(username, password):
        with progress:
            entered.append(username)
            progress.notify_all()
        release.wait(timeout=10)  # held until every guess is in or out
        return None

    monkeypatch.setattr("backend.accounts.ratelimit._check_password", slow_wrong_password)

    def guess():
        try:
            sign_in(username="demo_grid_worker", password=WRONG, address="203.0.113.5")
        except ApiError as error:
            if error.code == "rate_limited":
                with progress:
                    refused.append(error.code)
                    progress.notify_all()

    threads = [threading.Thread(target=guess) for _ in range(6)]
    for thread in threads:
        thread.start()
    with progress:
        progress.wait_for(lambda: len(entered) + len(refused) == 6, timeout=10)
    release.set()
    for thread in threads:
        thread.join(timeout=10)
    assert (len(entered), len(refused)) == (3, 3)
