"""Writes for residents: sign-in by SMS code, consent, account deletion.

Sign-in (docs/residents.md, "Sign-in"): ``code_request`` sends a six-digit code to a
mobile number; ``code_verify`` spends it and answers the same tokens as the password
login (``accounts.services.device_sign_in``: JWT bound to the device, rotating refresh
tokens). A number signs up on its first right code, with consent to the privacy notice.

Limits on sending (each with its own error and ``Retry-After``), counted in fixed
windows of ``SIGNIN_WINDOW_SECONDS`` in the shared cache (``accounts.ratelimit.count``):
one code per number every ``SIGNIN_RESEND_SECONDS``; ``SIGNIN_CODES_PER_NUMBER``,
``_PER_ADDRESS`` and ``_PER_DEVICE`` codes per window. Guessing is bounded by them too:
a code takes ``SIGNIN_ATTEMPTS_PER_CODE`` wrong tries and is void after, so a number
gets at most codes × attempts guesses of a million per window.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from backend.accounts.models import Device, Role, RoleAssignment, User
from backend.accounts.ratelimit import count
from backend.accounts.services import TokenPair, device_revoke, device_sign_in
from backend.core.errors import ApiError, register
from backend.residents.models import Consent, ConsoleSms, Resident, SignInCode
from backend.residents.sms import SmsError, sender

CODE_MINUTES = 5

register(
    "phone_invalid", 422, "手机号格式不正确（11 位中国大陆手机号）", "Not a mainland China mobile number (11 digits)"
)
register(
    "code_too_soon",
    429,
    "验证码已发送，请稍后再重新获取",
    "A code was just sent to this number; wait before asking again",
)
register(
    "code_limit_number",
    429,
    "该手机号获取验证码次数过多，请稍后再试",
    "Too many codes for this number; try again later",
)
register(
    "code_limit_address",
    429,
    "您所在网络获取验证码次数过多，请稍后再试",
    "Too many codes from your network address; try again later",
)
register(
    "code_limit_device",
    429,
    "该设备获取验证码次数过多，请稍后再试",
    "Too many codes from this device; try again later",
)
register("code_invalid", 401, "验证码错误", "Wrong code")
register("code_expired", 401, "验证码已失效，请重新获取", "The code has expired or was used; ask for a new one")
register(
    "consent_required",
    409,
    "首次登录需同意当前版本的隐私政策",
    "Signing up needs your consent to the current privacy notice",
)
register("sms_unavailable", 503, "短信发送失败，请稍后再试", "The text message could not be sent; try again later")

PHONE = re.compile(r"1[3-9]\d{9}")


def phone_normalise(raw: str) -> str:
    """``+86 138-0013-8000`` → ``13800138000``; anything else is ``phone_invalid``."""
    digits = re.sub(r"[\s\-()]", "", raw or "")
    for prefix in ("+86", "0086", "86"):
        if digits.startswith(prefix) and len(digits) == 11 + len(prefix):
            digits = digits[len(prefix) :]
            break
    if not PHONE.fullmatch(digits):
        raise ApiError("phone_invalid")
    return digits


def _code_hash(phone: str, code: str) -> str:
    # Keyed: a stolen table of hashes of six digits cannot be reversed by trying all million.
    return hmac.new(settings.SECRET_KEY.encode(), f"sms-code:{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Limit:
    error: str
    key: str
    limit: int


def _limits(*, phone: str, address: str, device_id: str) -> tuple[list[Limit], int]:
    """The three buckets of this request in the current window, and the seconds left in it."""
    config = settings.SIGNIN_LIMITS
    window = config["WINDOW_SECONDS"]
    now = int(time.time())
    slot = now // window
    limits = [
        Limit("code_limit_number", f"signin:number:{_digest(phone)}:{slot}", config["CODES_PER_NUMBER"]),
        Limit("code_limit_address", f"signin:address:{_digest(address)}:{slot}", config["CODES_PER_ADDRESS"]),
        Limit("code_limit_device", f"signin:device:{_digest(device_id)}:{slot}", config["CODES_PER_DEVICE"]),
    ]
    return limits, (slot + 1) * window - now


def _refuse(error: str, retry_after: int) -> ApiError:
    retry_after = max(1, retry_after)
    return ApiError(error, detail={"retry_after_s": retry_after}, headers={"Retry-After": str(retry_after)})


def _take(limits: list[Limit], retry_after: int) -> None:
    """Count the request in every bucket at once (atomic ``incr``); refused, it is given
    back, so being refused costs nothing and the first full bucket names the error."""
    window = settings.SIGNIN_LIMITS["WINDOW_SECONDS"]
    counts = [count(limit.key, 1, window) for limit in limits]
    full = [limit for limit, counted in zip(limits, counts, strict=True) if counted > limit.limit]
    if full:
        _give_back(limits)
        raise _refuse(full[0].error, retry_after)


def _give_back(limits: list[Limit]) -> None:
    window = settings.SIGNIN_LIMITS["WINDOW_SECONDS"]
    for limit in limits:
        count(limit.key, -1, window)


def _resend_gate(phone: str) -> None:
    seconds = settings.SIGNIN_LIMITS["RESEND_SECONDS"]
    key = f"signin:resend:{_digest(phone)}"
    until = time.time() + seconds
    if not cache.add(key, until, timeout=seconds):
        held = cache.get(key) or until
        raise _refuse("code_too_soon", int(held - time.time()) + 1)


def code_request(*, phone: str, device_id: str, address: str) -> SignInCode:
    """Send a new code to ``phone`` (the number's earlier codes are void). The answer is
    the same whether or not the number has an account."""
    phone = phone_normalise(phone)
    limits, retry_after = _limits(phone=phone, address=address, device_id=device_id)
    _take(limits, retry_after)
    try:
        _resend_gate(phone)
    except ApiError:
        _give_back(limits)  # refused as too soon: an impatient tap costs none of the hour's codes
        raise
    code = f"{secrets.randbelow(10**6):06d}"
    now = timezone.now()
    with transaction.atomic():
        SignInCode.objects.filter(phone=phone, used_at__isnull=True, expires_at__gt=now).update(expires_at=now)
        row = SignInCode.objects.create(
            phone=phone,
            code_hash=_code_hash(phone, code),
            created_at=now,
            expires_at=now + timedelta(minutes=CODE_MINUTES),
        )
    try:
        sender().send_code(phone=phone, code=code, minutes=CODE_MINUTES)
    except SmsError as error:
        SignInCode.objects.filter(pk=row.pk).update(expires_at=now)
        raise ApiError("sms_unavailable", detail={"provider_code": error.code}) from None
    return row


@dataclass(frozen=True)
class SignIn:
    tokens: TokenPair
    created: bool


def _resident_of(phone: str) -> User | None:
    return (
        User.objects.filter(phone=phone, resident__isnull=False, resident__deleted_at__isnull=True)
        .order_by("pk")
        .first()
    )


def _spend(phone: str, code: str) -> SignInCode:
    """The live code of the number if ``code`` is it (not yet spent: the caller spends it).

    The try is counted before the code is compared, atomically, so guesses sent at once
    get no more than ``SIGNIN_ATTEMPTS_PER_CODE`` tries between them."""
    now = timezone.now()
    attempts = settings.SIGNIN_LIMITS["ATTEMPTS_PER_CODE"]
    live = SignInCode.objects.filter(phone=phone, used_at__isnull=True, expires_at__gt=now)
    row = live.order_by("-pk").first()
    if row is None or not live.filter(pk=row.pk, attempts_made__lt=attempts).update(
        attempts_made=F("attempts_made") + 1
    ):
        raise ApiError("code_expired")
    if not hmac.compare_digest(row.code_hash, _code_hash(phone, code)):
        row.refresh_from_db(fields=["attempts_made"])
        left = attempts - row.attempts_made
        if left <= 0:
            SignInCode.objects.filter(pk=row.pk).update(expires_at=now)
        raise ApiError("code_invalid", detail={"attempts_left": max(left, 0)})
    return row


def code_verify(
    *,
    phone: str,
    code: str,
    device_id: str,
    address: str,
    notice_version: str | None = None,
    device_description: str = "",
    platform: str = "",
    app_version: str = "",
) -> SignIn:
    """Spend the code and sign in; a number without an account signs up, which needs
    ``notice_version`` to be the current privacy notice (``consent_required`` otherwise,
    and the code stays good for the retry)."""
    phone = phone_normalise(phone)
    row = _spend(phone, code)
    current = settings.PRIVACY_NOTICE_VERSION
    user = _resident_of(phone)
    if user is None and notice_version != current:
        raise ApiError("consent_required", detail={"notice_version": current})
    if user is not None and not user.is_active:
        raise ApiError("account_disabled")
    with transaction.atomic():
        # Single use even when two requests carry it at once: only one update finds it unspent.
        if not SignInCode.objects.filter(pk=row.pk, used_at__isnull=True).update(used_at=timezone.now()):
            raise ApiError("code_expired")
        created = user is None
        if created:
            user = resident_create(phone=phone)
        if notice_version == current:
            Consent.objects.get_or_create(user=user, notice_version=current)
    tokens = device_sign_in(
        user=user,
        device_id=device_id,
        device_description=device_description,
        platform=platform,
        app_version=app_version,
    )
    return SignIn(tokens=tokens, created=created)


def resident_create(*, phone: str) -> User:
    """A new resident account (role 居民) for a verified number; no password."""
    user = User(username=f"resident-{uuid.uuid4().hex[:16]}", phone=phone)
    user.set_unusable_password()
    user.save()
    RoleAssignment.objects.create(user=user, role=Role.RESIDENT)
    Resident.objects.create(user=user)
    return user


def resident_delete(*, user: User) -> None:
    """Delete a resident's account (注销): phone and name cleared, password unusable,
    the account deactivated, every device revoked (tokens die, sockets close) and its
    push tokens dropped, notifications and sign-in codes removed. Tips stay, with their
    history untouched (the rows name the account by id, which now names no one), and the
    consents and the access log stay as the record of what was held and who read it."""
    from push.models import Notification, PushToken

    phone = user.phone
    with transaction.atomic():
        for device in Device.objects.filter(user=user, revoked_at__isnull=True):
            device_revoke(device=device, by=user)
        PushToken.objects.filter(device__user=user).delete()
        Notification.objects.filter(user=user).delete()
        if phone:
            SignInCode.objects.filter(phone=phone).delete()
            ConsoleSms.objects.filter(phone=phone).delete()
        user.phone = ""
        user.display_name = ""
        user.first_name = user.last_name = user.email = ""
        user.is_active = False
        user.set_unusable_password()
        user.save(update_fields=["phone", "display_name", "first_name", "last_name", "email", "is_active", "password"])
        Resident.objects.update_or_create(user=user, defaults={"deleted_at": timezone.now()})
