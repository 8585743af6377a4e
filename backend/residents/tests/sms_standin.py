"""A local stand-in for Tencent Cloud SMS (API 2021-01-11): it checks the request the
official SDK sends (action, version, region, the TC3-HMAC-SHA256 signature over the
body with the shared secret, the message's fields) and answers as the provider does,
with success or with the provider's error shapes."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET_ID = "AKIDstandin0000000000000000000000"
SECRET_KEY = "standin-secret-key-0000000000000"
APP_ID = "1400000001"
SIGN_NAME = "上城区基层治理"
TEMPLATE_ID = "2000001"
PORTS = range(8111, 8120)  # this session's ports


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def tc3_signature(*, secret_key: str, headers, body: bytes, service: str = "sms") -> str:
    """The signature the provider expects (Tencent Cloud API 3.0 "TC3-HMAC-SHA256")."""
    timestamp = headers["X-TC-Timestamp"]
    date = datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%d")
    canonical = "\n".join(
        [
            "POST",
            "/",
            "",
            f"content-type:{headers['Content-Type']}\nhost:{headers['Host']}\n",
            "content-type;host",
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{date}/{service}/tc3_request"
    to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = _hmac(_hmac(_hmac(("TC3" + secret_key).encode(), date), service), "tc3_request")
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


class StandIn:
    """``mode``: ``ok``, ``limit`` (a per-number refusal in SendStatusSet) or ``auth`` (an
    API error: the request is refused whole)."""

    def __init__(self):
        self.mode = "ok"
        self.received: list[dict] = []
        self.problems: list[str] = []
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                standin.check(self.headers, body)
                payload = json.loads(body)
                standin.received.append(payload)
                answer = standin.answer(payload)
                data = json.dumps(answer).encode()
                self.send_response(200)  # the provider answers errors with 200 and an Error object
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        for port in PORTS:
            try:
                self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
                break
            except OSError:
                continue
        self.endpoint = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def check(self, headers, body: bytes) -> None:
        expect = {"X-TC-Action": "SendSms", "X-TC-Version": "2021-01-11", "X-TC-Region": "ap-guangzhou"}
        for name, value in expect.items():
            if headers.get(name) != value:
                self.problems.append(f"{name}={headers.get(name)!r}")
        if abs(int(headers.get("X-TC-Timestamp", "0")) - time.time()) > 300:
            self.problems.append("timestamp")
        authorization = headers.get("Authorization", "")
        prefix = f"TC3-HMAC-SHA256 Credential={SECRET_ID}/"
        signature = authorization.rpartition("Signature=")[2]
        if not authorization.startswith(prefix) or signature != tc3_signature(
            secret_key=SECRET_KEY, headers=headers, body=body
        ):
            self.problems.append("signature")
        payload = json.loads(body)
        if payload.get("SmsSdkAppId") != APP_ID or payload.get("SignName") != SIGN_NAME:
            self.problems.append("app or sign")
        if payload.get("TemplateId") != TEMPLATE_ID or len(payload.get("TemplateParamSet", [])) != 2:
            self.problems.append("template")
        numbers = payload.get("PhoneNumberSet", [])
        if len(numbers) != 1 or not numbers[0].startswith("+86"):
            self.problems.append("numbers")

    def answer(self, payload: dict) -> dict:
        request_id = f"standin-{len(self.received)}"
        if self.mode == "auth":
            error = {"Code": "AuthFailure.SecretIdNotFound", "Message": "The SecretId is not found"}
            return {"Response": {"Error": error, "RequestId": request_id}}
        phone = payload["PhoneNumberSet"][0]
        if self.mode == "limit":
            status = {"Code": "LimitExceeded.PhoneNumberDailyLimit", "Message": "daily limit", "SerialNo": ""}
        else:
            status = {"Code": "Ok", "Message": "send success", "SerialNo": f"2433:{len(self.received)}"}
        status.update({"PhoneNumber": phone, "Fee": 1, "SessionContext": "", "IsoCode": "CN"})
        return {"Response": {"SendStatusSet": [status], "RequestId": request_id}}

    def codes_to(self, phone: str) -> list[str]:
        return [p["TemplateParamSet"][0] for p in self.received if p["PhoneNumberSet"] == [f"+86{phone}"]]


def tencent_settings(endpoint: str) -> dict:
    return {
        "BACKEND": "tencent",
        "SECRET_ID": SECRET_ID,
        "SECRET_KEY": SECRET_KEY,
        "APP_ID": APP_ID,
        "SIGN_NAME": SIGN_NAME,
        "TEMPLATE_ID": TEMPLATE_ID,
        "REGION": "ap-guangzhou",
        "ENDPOINT": endpoint,
        "TIMEOUT_SECONDS": 5,
    }
