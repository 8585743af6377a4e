"""The SMS sender interface: the same contract for the console sender and for the real
Tencent Cloud adapter (its official SDK, against a local stand-in of the provider)."""

from __future__ import annotations

import re

import pytest
from django.conf import settings as django_settings

from backend.config import read_config
from backend.residents.models import ConsoleSms, SignInCode
from backend.residents.sms import ConsoleSender, SmsError, TencentSender, sender
from backend.residents.tests.helpers import post
from backend.residents.tests.sms_standin import StandIn, tencent_settings

PHONE = "13700001111"


@pytest.fixture(scope="module")
def standin():
    server = StandIn()
    yield server
    server.close()


@pytest.fixture
def provider(standin):
    standin.mode, standin.problems[:], standin.received[:] = "ok", [], []
    yield standin
    assert standin.problems == [], standin.problems  # every request the SDK sent was right


@pytest.fixture(params=["console", "tencent"])
def contract(request, db):
    """(sender, what the phone received: a list of codes)."""
    if request.param == "console":
        yield ConsoleSender(), lambda: [re.search(r"\d{6}", m.text).group() for m in ConsoleSms.objects.order_by("pk")]
    else:
        standin = request.getfixturevalue("provider")
        yield TencentSender(tencent_settings(standin.endpoint)), lambda: standin.codes_to(PHONE)


def test_it_delivers_the_code_and_answers_a_reference(contract):
    chosen, received = contract
    before = len(received())
    sent = chosen.send_code(phone=PHONE, code="246810", minutes=5)
    assert sent.reference
    assert received()[before:] == ["246810"]


@pytest.mark.parametrize(
    ("mode", "code"), [("limit", "LimitExceeded.PhoneNumberDailyLimit"), ("auth", "AuthFailure.SecretIdNotFound")]
)
def test_it_turns_the_providers_refusals_into_sms_errors(provider, mode, code):
    provider.mode = mode
    with pytest.raises(SmsError) as raised:
        TencentSender(tencent_settings(provider.endpoint)).send_code(phone=PHONE, code="135790", minutes=5)
    assert raised.value.code == code


def test_it_signs_in_through_the_real_provider_and_keeps_no_console_copy(provider, db, settings):
    settings.SMS = tencent_settings(provider.endpoint)
    assert isinstance(sender(), TencentSender)
    assert post("/auth/sms/request", {"phone": PHONE, "device_id": "phone-tc01"}).status_code == 200
    (code,) = provider.codes_to(PHONE)
    assert not ConsoleSms.objects.exists()
    body = {
        "phone": PHONE,
        "code": code,
        "device_id": "phone-tc01",
        "privacy_notice_version": django_settings.PRIVACY_NOTICE_VERSION,
    }
    assert post("/auth/sms/verify", body).status_code == 201


def test_it_answers_503_and_voids_the_code_when_the_provider_refuses(provider, db, settings):
    settings.SMS = tencent_settings(provider.endpoint)
    provider.mode = "limit"
    response = post("/auth/sms/request", {"phone": PHONE, "device_id": "phone-tc02"}, language="en")
    assert response.status_code == 503
    assert response.json()["code"] == "sms_unavailable"
    assert response.json()["detail"] == {"provider_code": "LimitExceeded.PhoneNumberDailyLimit"}
    assert not SignInCode.objects.filter(phone=PHONE, expires_at__gt=SignInCode.objects.get().created_at).exists()


def test_it_shows_console_codes_in_the_admin_only_while_the_console_sender_is_used(db, client, settings):
    from backend.accounts.models import User

    post("/auth/sms/request", {"phone": PHONE, "device_id": "phone-adm1"})
    client.force_login(User.objects.get(username="demo_admin"))
    page = client.get("/admin/residents/consolesms/")
    assert page.status_code == 200 and PHONE in page.content.decode()
    settings.SMS = {**settings.SMS, "BACKEND": "tencent"}
    assert client.get("/admin/residents/consolesms/").status_code == 403
    assert "consolesms" not in client.get("/admin/").content.decode()


def test_it_reads_the_sms_settings_from_the_environment():
    assert read_config({}).sms["BACKEND"] == "console"
    with pytest.raises(Exception, match="SMS_SECRET_ID"):
        read_config({"SMS_BACKEND": "tencent"})
    environ = {
        "SMS_BACKEND": "tencent",
        "SMS_SECRET_ID": "id",
        "SMS_SECRET_KEY": "key",
        "SMS_APP_ID": "1400",
        "SMS_SIGN_NAME": "sign",
        "SMS_TEMPLATE_ID": "42",
        "SMS_ENDPOINT": "http://127.0.0.1:8111",
    }
    sms = read_config(environ).sms
    assert sms["ENDPOINT"] == "http://127.0.0.1:8111" and sms["REGION"] == "ap-guangzhou"
    with pytest.raises(Exception, match="SMS_BACKEND"):
        read_config({"SMS_BACKEND": "carrier-pigeon"})


def test_the_standin_notices_a_request_signed_with_another_key(standin):
    standin.mode, standin.problems[:] = "ok", []
    wrong = {**tencent_settings(standin.endpoint), "SECRET_KEY": "not-the-shared-secret"}
    TencentSender(wrong).send_code(phone=PHONE, code="111111", minutes=5)
    assert standin.problems == ["signature"]
    standin.problems[:] = []
