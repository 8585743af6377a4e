"""The simulator's requests, signed as the contract says, are accepted by the intake
routes (served in-process here: the suite's database is one transaction per test)."""

from __future__ import annotations

import io
import json
from unittest import mock
from urllib.parse import urlsplit

from django.core.management import call_command
from django.test import Client

from backend.intake.models import AlertCounter, PowerReading, VideoAlert


class InProcess:
    def __init__(self, request):
        headers = {k: v for k, v in request.header_items() if k.lower().startswith("x-intake")}
        path = urlsplit(request.full_url).path
        self.answer = Client().post(path, request.data, content_type="application/json", headers=headers)
        self.status = self.answer.status_code

    def read(self) -> bytes:
        return self.answer.content

    def __enter__(self):
        assert self.status == 200, self.answer.content
        return self

    def __exit__(self, *exc) -> None:
        return None


def test_the_simulator_feeds_signed_alerts_and_readings_that_are_accepted(db):
    alerts, readings = VideoAlert.objects.count(), PowerReading.objects.count()
    out = io.StringIO()
    with mock.patch("urllib.request.urlopen", lambda request, timeout: InProcess(request)):
        call_command("intake_simulate", batches=1, alerts_per_batch=100, seed=3, stdout=out)
    totals = json.loads(out.getvalue().strip().splitlines()[-1].split(": ", 1)[1])
    assert totals["readings_stored"] == 90  # every demo meter, the current hour
    assert totals.get("alerts_accepted", 0) + totals.get("alerts_attached", 0) + totals.get("alerts_dropped", 0) == 100
    assert totals.get("alerts_dropped", 0) > 0  # a share below the threshold, counted
    assert VideoAlert.objects.count() > alerts and PowerReading.objects.count() >= readings
    assert sum(AlertCounter.objects.values_list("dropped", flat=True)) >= totals["alerts_dropped"]
