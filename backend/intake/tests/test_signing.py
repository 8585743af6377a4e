"""The intake's contract: signature, window, replay, rate limit, one source's items."""

from __future__ import annotations

import re
import time
from pathlib import Path

from django.conf import settings

from backend.intake.models import IntakeMessage, SourceKind
from backend.intake.signing import WINDOW_SECONDS, secret_digest, signature
from backend.intake.tests.helpers import make_source, signed_post

ITEM = {"id": "a-1", "camera": "nowhere", "type": "garbage", "confidence": 0.9, "at": "2026-01-01T08:00:00+08:00"}


def test_the_worked_example_of_the_integration_contract_signs_as_documented():
    text = (Path(settings.BASE_DIR) / "docs" / "intake.md").read_text()
    example = re.search(r"<!-- example:start -->(.*?)<!-- example:end -->", text, re.S).group(1)
    values = dict(re.findall(r"^- (\w+): `([^`]*)`$", example, re.M))
    key = secret_digest(values["secret"])
    assert key == values["key"]
    got = signature(
        key=key, timestamp=values["timestamp"], message_id=values["message_id"], body=values["body"].encode()
    )
    assert got == values["signature"]


def test_a_signed_request_is_answered_and_a_bad_one_refused_with_its_reason(db):
    source = make_source()
    body = {"items": [ITEM]}
    ok = signed_post(source, "/intake/video-alerts", body, message_id="m-1")
    assert ok.status_code == 200, ok.content
    assert ok.json()["items"][0]["status"] == "rejected"  # an unknown camera: answered, not refused
    cases = {
        "intake_bad_signature": signed_post(source, "/intake/video-alerts", body, secret="wrong"),
        "intake_stale": signed_post(
            source, "/intake/video-alerts", body, timestamp=int(time.time()) - WINDOW_SECONDS - 5
        ),
        "intake_replayed": signed_post(source, "/intake/video-alerts", body, message_id="m-1"),
    }
    for code, answer in cases.items():
        assert answer.json()["code"] == code, (code, answer.content)
    assert cases["intake_bad_signature"].status_code == 401
    assert cases["intake_stale"].status_code == 401 and cases["intake_replayed"].status_code == 409
    unsigned = signed_post(source, "/intake/video-alerts", body)
    assert unsigned.status_code == 200
    from django.test import Client

    bare = Client().post("/api/v1/intake/video-alerts", body, content_type="application/json")
    assert bare.status_code == 401 and bare.json()["code"] == "intake_unsigned"
    source.active = False
    source.save()
    assert signed_post(source, "/intake/video-alerts", body).json()["code"] == "intake_unknown_key"


def test_a_refused_request_does_not_use_up_its_message_id_and_a_body_changed_in_transit_fails(db):
    source = make_source()
    assert (
        signed_post(source, "/intake/video-alerts", {"items": [ITEM]}, message_id="m-2", secret="no").status_code == 401
    )
    assert not IntakeMessage.objects.filter(message_id="m-2").exists()
    assert signed_post(source, "/intake/video-alerts", {"items": [ITEM]}, message_id="m-2").status_code == 200
    stamp = str(int(time.time()))
    sig = signature(key=source.secret_hash, timestamp=stamp, message_id="m-3", body=b'{"items":[]}')
    from django.test import Client

    tampered = Client().post(
        "/api/v1/intake/video-alerts",
        b'{"items":[{"id":"x"}]}',
        content_type="application/json",
        headers={
            "X-Intake-Key": source.key_id,
            "X-Intake-Timestamp": stamp,
            "X-Intake-Message-Id": "m-3",
            "X-Intake-Signature": sig,
        },
    )
    assert tampered.status_code == 401 and tampered.json()["code"] == "intake_bad_signature"


def test_a_source_is_rate_limited_and_may_post_only_its_own_kind(db):
    source = make_source(per_minute=2)
    answers = [signed_post(source, "/intake/video-alerts", {"items": [ITEM]}).status_code for _ in range(3)]
    assert answers == [200, 200, 429]
    limited = signed_post(source, "/intake/video-alerts", {"items": [ITEM]})
    assert limited.json()["code"] == "intake_rate_limited" and int(limited["Retry-After"]) > 0
    power = make_source(SourceKind.POWER)
    wrong = signed_post(power, "/intake/video-alerts", {"items": [ITEM]})
    assert wrong.status_code == 403 and wrong.json()["code"] == "intake_wrong_source"


def test_a_batch_holds_at_most_a_thousand_items(db):
    source = make_source()
    too_many = signed_post(source, "/intake/video-alerts", {"items": [ITEM] * 1001})
    assert too_many.status_code == 422
    assert signed_post(source, "/intake/video-alerts", {"items": []}).status_code == 422


def test_the_worker_forgets_message_ids_older_than_twice_the_window(db):
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    source = make_source()
    assert signed_post(source, "/intake/video-alerts", {"items": [ITEM]}, message_id="old").status_code == 200
    assert signed_post(source, "/intake/video-alerts", {"items": [ITEM]}, message_id="new").status_code == 200
    IntakeMessage.objects.filter(message_id="old").update(
        received_at=timezone.now() - timedelta(seconds=2 * WINDOW_SECONDS + 1)
    )
    call_command("run_worker", once=True, stdout=open("/dev/null", "w"))
    assert set(IntakeMessage.objects.filter(source=source).values_list("message_id", flat=True)) == {"new"}
