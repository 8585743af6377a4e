"""Photos on S3-compatible object storage: a local moto server, the real
django-storages backend and boto3."""

from __future__ import annotations

import hashlib
import socket

import boto3
import pytest
from django.test import Client
from moto.server import ThreadedMotoServer

from media.tests.test_photos import image_bytes, upload
from tests.events_helpers import report

BUCKET = "grid-evidence"


@pytest.fixture(scope="module")
def s3_endpoint():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(settings, s3_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3_endpoint,
                "region_name": "us-east-1",
                "default_acl": "private",
                "file_overwrite": False,
                "querystring_auth": True,
            },
        },
    }
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])


def test_originals_and_derivatives_live_in_the_private_bucket(as_persona, s3):
    tip = report(as_persona("demo_resident")).json()["id"]
    data = image_bytes()
    body = upload(as_persona("demo_dispatcher"), tip, data).json()
    digest = hashlib.sha256(data).hexdigest()
    keys = {item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert keys == {
        f"originals/{digest[:2]}/{digest}",
        f"derivatives/{digest}/thumb.jpg",
        f"derivatives/{digest}/display.jpg",
    }
    assert s3.get_object(Bucket=BUCKET, Key=f"originals/{digest[:2]}/{digest}")["Body"].read() == data
    served = Client().get(body["urls"]["original"])
    assert served.status_code == 200 and b"".join(served.streaming_content) == data
    # The same bytes again (another event) are not written twice.
    other = report(as_persona("demo_resident")).json()["id"]
    upload(as_persona("demo_dispatcher"), other, data)
    assert len(s3.list_objects_v2(Bucket=BUCKET)["Contents"]) == 3
