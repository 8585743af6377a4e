"""Sign-in by mobile number with a one-time code: the flow and every abuse limit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from backend.accounts.models import Device, Role, User
from backend.accounts.scope import scope_of
from backend.residents import services
from backend.residents.models import Consent, Resident, SignInCode
from backend.residents.tests.helpers import last_code, post, sign_in
from tests import matrix_registry

matrix_registry.cover("/api/v1/auth/sms/request", "/api/v1/auth/sms/verify", "/api/v1/residents/privacy-notice")

PHONE = "13912345678"
VERSION = settings.PRIVACY_NOTICE_VERSION


def request_code(phone=PHONE, device_id="phone-aaaa", address="127.0.0.1", language="zh-hans"):
    return post("/auth/sms/request", {"phone": phone, "device_id": device_id}, address=address, language=language)


def verify(code, phone=PHONE, device_id="phone-aaaa", version=VERSION, **extra):
    body = {"phone": phone, "code": code, "device_id": device_id, **extra}
    if version is not None:
        body["privacy_notice_version"] = version
    return post("/auth/sms/verify", body)


def test_it_signs_a_new_number_up_with_consent_and_answers_the_password_logins_tokens(db):
    assert request_code(phone="+86 139-1234-5678").json() == {"sent": True, "expires_in": 300, "resend_after": 60}
    code = last_code(PHONE)
    stored = SignInCode.objects.get(phone=PHONE)
    assert code not in stored.code_hash and len(stored.code_hash) == 64  # kept hashed only
    assert stored.expires_at - stored.created_at == timedelta(minutes=5)

    response = verify(code, platform="miniprogram")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "refresh_expires_at", "device"}
    user = User.objects.get(phone=PHONE)
    assert scope_of(user).roles == {Role.RESIDENT} and not user.has_usable_password()
    assert Resident.objects.get(user=user).deleted_at is None
    consent = Consent.objects.get(user=user)
    assert consent.notice_version == VERSION and consent.agreed_at is not None
    assert body["device"]["device_id"] == "phone-aaaa" and body["device"]["platform"] == "miniprogram"

    me = Client().get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.json()["roles"][0]["role"] == "resident"
    # Refresh rotation is the password login's: bound to the device, a reused token revokes the family.
    rotated = post("/auth/refresh", {"refresh_token": body["refresh_token"], "device_id": "phone-aaaa"})
    assert rotated.status_code == 200
    again = post("/auth/refresh", {"refresh_token": body["refresh_token"], "device_id": "phone-aaaa"})
    assert again.json()["code"] == "refresh_reused"


def test_it_signs_the_same_number_in_to_the_same_account_later(db):
    first = sign_in(PHONE, device_id="phone-first")
    SignInCode.objects.all().delete()
    from django.core.cache import cache

    cache.clear()
    request_code(device_id="phone-second")
    response = verify(last_code(PHONE), device_id="phone-second", version=None)
    assert response.status_code == 200  # known number: no consent needed again
    assert User.objects.filter(phone=PHONE).count() == 1
    assert Device.objects.filter(user__phone=PHONE).count() == 2
    assert first["device"]["id"] != response.json()["device"]["id"]


def test_it_refuses_sign_up_without_consent_to_the_current_notice_and_keeps_the_code(db):
    request_code()
    code = last_code(PHONE)
    for version in (None, "2020-01-01"):
        refused = verify(code, version=version)
        assert refused.status_code == 409
        assert refused.json()["code"] == "consent_required"
        assert refused.json()["detail"] == {"notice_version": VERSION}
    assert not User.objects.filter(phone=PHONE).exists()
    assert verify(code).status_code == 201


def test_it_accepts_a_code_once(db):
    request_code()
    code = last_code(PHONE)
    assert verify(code).status_code == 201
    again = verify(code)
    assert again.status_code == 401 and again.json()["code"] == "code_expired"


def test_it_refuses_an_expired_code(db):
    request_code()
    SignInCode.objects.filter(phone=PHONE).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = verify(last_code(PHONE))
    assert response.status_code == 401 and response.json()["code"] == "code_expired"


def test_it_voids_a_code_after_too_many_wrong_tries(db):
    request_code()
    code = last_code(PHONE)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    attempts = settings.SIGNIN_LIMITS["ATTEMPTS_PER_CODE"]
    for left in range(attempts - 1, -1, -1):
        response = verify(wrong)
        assert response.status_code == 401
        assert response.json()["code"] == "code_invalid" and response.json()["detail"] == {"attempts_left": left}
    assert verify(code).json()["code"] == "code_expired"


def test_it_voids_the_earlier_code_when_a_new_one_is_sent(db, monkeypatch):
    monkeypatch.setattr(services, "_resend_gate", lambda phone: None)
    request_code()
    first = last_code(PHONE)
    request_code()
    second = last_code(PHONE)
    if first != second:
        assert verify(first).json()["code"] in ("code_invalid",)
    assert verify(second).status_code == 201


def test_it_refuses_a_second_code_to_one_number_too_soon(db):
    assert request_code().status_code == 200
    refused = request_code(device_id="phone-other", address="10.0.0.9")
    assert refused.status_code == 429
    assert refused.json()["code"] == "code_too_soon"
    assert 1 <= int(refused["Retry-After"]) <= 61
    assert refused.json()["detail"]["retry_after_s"] == int(refused["Retry-After"])


def test_a_code_refused_as_too_soon_counts_against_no_limit(db, monkeypatch):
    monkeypatch.setattr(settings, "SIGNIN_LIMITS", {**settings.SIGNIN_LIMITS, "CODES_PER_NUMBER": 2})
    assert request_code().status_code == 200
    for _ in range(5):  # impatient taps within the resend interval
        assert request_code().json()["code"] == "code_too_soon"
    services.cache.delete(f"signin:resend:{services._digest(PHONE)}")  # the interval has passed
    assert request_code().status_code == 200  # the second of two codes this hour, not refused
    services.cache.delete(f"signin:resend:{services._digest(PHONE)}")
    assert request_code().json()["code"] == "code_limit_number"


def _limited(monkeypatch, **limits):
    monkeypatch.setattr(services, "_resend_gate", lambda phone: None)
    monkeypatch.setattr(settings, "SIGNIN_LIMITS", {**settings.SIGNIN_LIMITS, **limits})


def _assert_refused(response, code: str, english: str):
    assert response.status_code == 429, response.content
    body = response.json()
    assert body["code"] == code and body["message"] == english
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= settings.SIGNIN_LIMITS["WINDOW_SECONDS"]
    assert body["detail"] == {"retry_after_s": retry_after}


def test_it_limits_codes_per_number(db, monkeypatch):
    _limited(monkeypatch, CODES_PER_NUMBER=2)
    for index in range(2):
        assert request_code(device_id=f"phone-{index}xxx", address=f"10.0.1.{index}").status_code == 200
    refused = request_code(device_id="phone-9xxx", address="10.0.1.9", language="en")
    _assert_refused(refused, "code_limit_number", "Too many codes for this number; try again later")
    zh = request_code(device_id="phone-8xxx", address="10.0.1.8")
    assert zh.json()["message"] == "该手机号获取验证码次数过多，请稍后再试"
    assert request_code(phone="13900000002", device_id="phone-9xxx", address="10.0.1.9").status_code == 200


def test_it_limits_codes_per_client_address(db, monkeypatch):
    _limited(monkeypatch, CODES_PER_ADDRESS=3)
    for index in range(3):
        assert request_code(phone=f"1390000001{index}", device_id=f"phone-{index}yyy").status_code == 200
    refused = request_code(phone="13900000019", device_id="phone-9yyy", language="en")
    _assert_refused(refused, "code_limit_address", "Too many codes from your network address; try again later")
    assert request_code(phone="13900000019", device_id="phone-9yyy", address="10.0.2.1").status_code == 200


def test_it_limits_codes_per_device(db, monkeypatch):
    _limited(monkeypatch, CODES_PER_DEVICE=2)
    for index in range(2):
        assert request_code(phone=f"1390000002{index}", address=f"10.0.3.{index}").status_code == 200
    refused = request_code(phone="13900000029", address="10.0.3.9", language="en")
    _assert_refused(refused, "code_limit_device", "Too many codes from this device; try again later")
    # A refused request costs nothing: the number and the address were not counted.
    assert request_code(phone="13900000029", device_id="phone-new1", address="10.0.3.9").status_code == 200


@pytest.mark.parametrize("phone", ["12345678901", "1391234567", "139123456789", "+1 139 1234 5678", "abcdefghijk"])
def test_it_refuses_what_is_not_a_mainland_mobile_number(db, phone):
    response = request_code(phone=phone)
    assert response.status_code == 422 and response.json()["code"] == "phone_invalid"
    assert not SignInCode.objects.exists()


def test_it_keeps_a_device_an_admin_revoked_out(db):
    tokens = sign_in(PHONE, device_id="phone-lost")
    Device.objects.filter(pk=tokens["device"]["id"]).update(admin_revoked=True)
    from django.core.cache import cache

    cache.clear()
    request_code(device_id="phone-lost")
    response = verify(last_code(PHONE), device_id="phone-lost")
    assert response.status_code == 403 and response.json()["code"] == "device_revoked"


def test_it_answers_the_privacy_notice_in_chinese_or_english(db):
    zh = Client().get("/api/v1/residents/privacy-notice").json()
    en = Client(HTTP_ACCEPT_LANGUAGE="en").get("/api/v1/residents/privacy-notice").json()
    assert zh["version"] == en["version"] == VERSION
    assert zh["language"] == "zh" and "隐私政策" == zh["title"] and "手机号" in zh["text"]
    assert en["language"] == "en" and en["title"] == "Privacy notice" and "mobile number" in en["text"]


def test_it_refuses_to_start_with_a_notice_version_without_text(settings):
    from backend.residents.notice import notice_has_text

    assert notice_has_text(None) == []
    settings.PRIVACY_NOTICE_VERSION = "2099-01-01"
    assert [error.id for error in notice_has_text(None)] == ["residents.E001"]


def test_it_records_consent_to_a_new_notice_when_a_resident_signs_in_with_it(db, settings, monkeypatch):
    from backend.residents import notice

    sign_in(PHONE)
    monkeypatch.setitem(notice.NOTICES, "2027-01-01", notice.NOTICES[VERSION])
    settings.PRIVACY_NOTICE_VERSION = "2027-01-01"
    monkeypatch.setattr(services, "_resend_gate", lambda phone: None)
    request_code(device_id="phone-bbbb")
    assert verify(last_code(PHONE), device_id="phone-bbbb", version="2027-01-01").status_code == 200
    user = User.objects.get(phone=PHONE)
    assert sorted(Consent.objects.filter(user=user).values_list("notice_version", flat=True)) == [
        VERSION,
        "2027-01-01",
    ]


def test_it_answers_a_code_request_alike_for_known_and_unknown_numbers(db, monkeypatch):
    sign_in(PHONE)
    monkeypatch.setattr(services, "_resend_gate", lambda phone: None)
    known = request_code(device_id="phone-cccc")
    unknown = request_code(phone="13900000077", device_id="phone-dddd")
    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())


def test_the_console_sender_prints_the_code_in_the_log(db, caplog):
    with caplog.at_level("INFO"):
        request_code()
    assert last_code(PHONE) in caplog.text and PHONE in caplog.text


def test_it_takes_the_right_code_on_the_last_allowed_try(db):
    request_code()
    code = last_code(PHONE)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(settings.SIGNIN_LIMITS["ATTEMPTS_PER_CODE"] - 1):
        assert verify(wrong).json()["code"] == "code_invalid"
    assert verify(code).status_code == 201
    assert SignInCode.objects.get(phone=PHONE).attempts_made == settings.SIGNIN_LIMITS["ATTEMPTS_PER_CODE"]
