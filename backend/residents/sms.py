"""Sending a sign-in code by SMS, behind one small interface of ours.

``SMS_BACKEND=console`` (the default) writes the message to the log and to the admin's
模拟短信 list; ``SMS_BACKEND=tencent`` sends it through Tencent Cloud SMS with the
provider's own SDK (``tencentcloud-sdk-python-sms``), to ``SMS_ENDPOINT``. Both keep
one contract (tests/test_sms.py runs the same test on each): ``send_code`` returns the
provider's reference of the message, or raises ``SmsError`` with the provider's code.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings

from backend.residents.models import ConsoleSms

logger = logging.getLogger("backend.residents.sms")


class SmsError(Exception):
    def __init__(self, code: str, message: str = ""):
        self.code = code
        super().__init__(f"{code}: {message}")


@dataclass(frozen=True)
class Sent:
    reference: str


class SmsSender(Protocol):
    def send_code(self, *, phone: str, code: str, minutes: int) -> Sent: ...


def code_text(code: str, minutes: int) -> str:
    return f"您的登录验证码为 {code}，{minutes} 分钟内有效。请勿告诉他人。"


class ConsoleSender:
    """Development: the code is printed in the server's log (``make run`` shows it) and
    kept for the admin. Never used when a real provider is configured."""

    def send_code(self, *, phone: str, code: str, minutes: int) -> Sent:
        text = code_text(code, minutes)
        row = ConsoleSms.objects.create(phone=phone, text=text)
        logger.warning("SMS (console sender, not sent) to %s: %s", phone, text)
        return Sent(reference=f"console-{row.pk}")


class TencentSender:
    """Tencent Cloud SMS, API version 2021-01-11 ``SendSms``, through the official SDK.
    The template has two parameters: the code and its lifetime in minutes."""

    def __init__(self, config: dict):
        self.config = config

    def _client(self):
        from tencentcloud.common import credential
        from tencentcloud.common.profile.client_profile import ClientProfile
        from tencentcloud.common.profile.http_profile import HttpProfile
        from tencentcloud.sms.v20210111 import sms_client

        endpoint = self.config["ENDPOINT"]
        scheme, _, host = endpoint.rpartition("://")
        http = HttpProfile(protocol=scheme or "https", endpoint=host, reqTimeout=self.config["TIMEOUT_SECONDS"])
        profile = ClientProfile(httpProfile=http)
        secret = credential.Credential(self.config["SECRET_ID"], self.config["SECRET_KEY"])
        return sms_client.SmsClient(secret, self.config["REGION"], profile)

    def send_code(self, *, phone: str, code: str, minutes: int) -> Sent:
        from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
        from tencentcloud.sms.v20210111 import models

        request = models.SendSmsRequest()
        request.PhoneNumberSet = [f"+86{phone}"]
        request.SmsSdkAppId = self.config["APP_ID"]
        request.SignName = self.config["SIGN_NAME"]
        request.TemplateId = self.config["TEMPLATE_ID"]
        request.TemplateParamSet = [code, str(minutes)]
        try:
            response = self._client().SendSms(request)
        except TencentCloudSDKException as error:
            raise SmsError(error.get_code() or "SdkError", error.get_message() or "") from None
        statuses = response.SendStatusSet or []
        if not statuses:
            raise SmsError("NoStatus", "the provider answered without a status")
        status = statuses[0]
        if status.Code != "Ok":
            raise SmsError(status.Code or "Unknown", status.Message or "")
        return Sent(reference=status.SerialNo or response.RequestId or "")


def sender() -> SmsSender:
    config = settings.SMS
    if config["BACKEND"] == "tencent":
        return TencentSender(config)
    return ConsoleSender()


def console_in_use() -> bool:
    return settings.SMS["BACKEND"] == "console"
