"""The privacy notice a resident agrees to when signing up (隐私政策), by version.

``PRIVACY_NOTICE_VERSION`` names the current one; a new version is a new entry here
(the old ones stay: consents name them). A system check refuses a version without text."""

from __future__ import annotations

from django.conf import settings
from django.core import checks

NOTICES: dict[str, dict[str, tuple[str, str]]] = {
    "2026-12-01": {
        "zh": (
            "隐私政策",
            "我们收集：您的手机号（用于登录）、您上报的事件内容、位置与照片、您的设备信息及通知记录。\n"
            "用途：受理、处置和反馈您上报的事件。\n"
            "谁能看到您的手机号和姓名：街道指挥室调度员和区指挥中心；承办人员仅在您允许联系时可见。"
            "任何公开内容均不显示您的个人信息。每次工作人员查看您的个人信息都会被记录，您可随时查看这些记录。\n"
            "您的权利：随时下载我们保存的您的全部信息；注销账号后，您的手机号和姓名将被清除，"
            "已上报的事件以匿名方式保留其处理记录。",
        ),
        "en": (
            "Privacy notice",
            "What we collect: your mobile number (to sign in), the events you report with their location and "
            "photos, your devices and your notifications.\n"
            "Why: to accept, handle and report back on what you reported.\n"
            "Who sees your number and name: the street's dispatchers and the district command centre; the "
            "handling staff only if you allow contact. No public output shows your personal data. Every time "
            "staff read your personal data it is recorded, and you can list those reads at any time.\n"
            "Your rights: download everything we hold about you at any time; when you delete your account, your "
            "number and name are erased and your reports stay, anonymous, with their history.",
        ),
    },
}


def current_notice(language: str) -> dict:
    version = settings.PRIVACY_NOTICE_VERSION
    title, text = NOTICES[version]["en" if language == "en" else "zh"]
    return {"version": version, "language": "en" if language == "en" else "zh", "title": title, "text": text}


@checks.register()
def notice_has_text(app_configs, **kwargs):
    version = settings.PRIVACY_NOTICE_VERSION
    if version in NOTICES:
        return []
    return [
        checks.Error(
            f"PRIVACY_NOTICE_VERSION={version!r} has no text in backend/residents/notice.py",
            id="residents.E001",
        )
    ]
