"""Our small interface in front of Firebase Cloud Messaging.

``PushSender.send`` takes a registration token and a data payload (strings only:
the notification's id and kind, never personal data) and answers a ``SendResult``.
``FirebaseSender`` is the real one (firebase-admin); ``FakeSender`` records what it
would send (development, tests) and answers the same outcomes for special tokens,
so our handling of each outcome is tested against both."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from django.conf import settings

logger = logging.getLogger(__name__)

DEAD_TOKEN_ERRORS = {"unregistered", "sender_id_mismatch"}
RETRYABLE_ERRORS = {"quota", "unavailable"}


@dataclass(frozen=True)
class SendResult:
    ok: bool
    message_id: str = ""
    error: str = ""  # unregistered | sender_id_mismatch | quota | unavailable | invalid | failed
    detail: str = ""

    @property
    def token_dead(self) -> bool:
        return self.error in DEAD_TOKEN_ERRORS

    @property
    def retryable(self) -> bool:
        return self.error in RETRYABLE_ERRORS


class PushSender(Protocol):
    def send(self, *, token: str, data: dict[str, str]) -> SendResult: ...


class FakeSender:
    """Records every send in ``SentPush``. Tokens starting with ``fake-<error>-``
    answer that error, as FCM would."""

    def send(self, *, token: str, data: dict[str, str]) -> SendResult:
        from push.models import SentPush

        for error in ("unregistered", "sender_id_mismatch", "quota", "unavailable", "invalid"):
            if token.startswith(f"fake-{error}-"):
                return SendResult(ok=False, error=error, detail="fake")
        row = SentPush.objects.create(token=token, payload={"data": data, "priority": "high"})
        return SendResult(ok=True, message_id=f"fake/{row.pk}")


class FirebaseSender:
    def __init__(self, app):
        self.app = app

    @staticmethod
    def build_message(*, token: str, data: dict[str, str]):
        from firebase_admin import messaging

        return messaging.Message(
            token=token,
            data=data,
            android=messaging.AndroidConfig(priority="high"),
            apns=messaging.APNSConfig(
                headers={"apns-priority": "10"},
                payload=messaging.APNSPayload(aps=messaging.Aps(content_available=True)),
            ),
        )

    def send(self, *, token: str, data: dict[str, str]) -> SendResult:
        from firebase_admin import exceptions, messaging

        try:
            message_id = messaging.send(self.build_message(token=token, data=data), app=self.app)
        except messaging.UnregisteredError as error:
            return SendResult(ok=False, error="unregistered", detail=str(error)[:200])
        except messaging.SenderIdMismatchError as error:
            return SendResult(ok=False, error="sender_id_mismatch", detail=str(error)[:200])
        except messaging.QuotaExceededError as error:
            return SendResult(ok=False, error="quota", detail=str(error)[:200])
        except (exceptions.UnavailableError, exceptions.InternalError, exceptions.DeadlineExceededError) as error:
            return SendResult(ok=False, error="unavailable", detail=str(error)[:200])
        except exceptions.InvalidArgumentError as error:
            return SendResult(ok=False, error="invalid", detail=str(error)[:200])
        except exceptions.FirebaseError as error:
            return SendResult(ok=False, error="failed", detail=str(error)[:200])
        return SendResult(ok=True, message_id=message_id)


@lru_cache(maxsize=1)
def get_sender() -> PushSender:
    """The real sender when FCM_CREDENTIALS_FILE names a service-account file,
    otherwise the fake (and the README says so)."""
    path = settings.FCM_CREDENTIALS_FILE
    if not path:
        return FakeSender()
    import firebase_admin
    from firebase_admin import credentials

    app = firebase_admin.initialize_app(credentials.Certificate(path), name="grid-governance")
    logger.info("FCM: sending through firebase-admin (project %s)", app.project_id)
    return FirebaseSender(app)
