"""Photo intake, evidence metadata, derivatives, signed URLs and scope, with real
images made here."""

from __future__ import annotations

import hashlib
import io
import time
import uuid

import pytest
from django.core import signing
from django.test import Client
from PIL import ExifTags, Image

from backend.events.models import EventAction
from media.models import Photo
from media.selectors import SALT
from tests import matrix_registry
from tests.events_helpers import GRID_A, centre_of, report, step

matrix_registry.cover("/api/v1/events/{event_id}/photos", "/api/v1/photos", "/api/v1/photos/{photo_id}")


@pytest.fixture(autouse=True)
def private_storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }
    return tmp_path / "media"


def image_bytes(
    fmt="JPEG", size=(640, 480), *, orientation=None, gps=None, taken=None, offset="+08:00", make="HUAWEI"
) -> bytes:
    image = Image.new("RGB", size, (200, 30, 30))
    image.paste((30, 30, 200), (0, 0, size[0] // 2, size[1] // 4))  # a marker to see rotation
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = make
    exif[ExifTags.Base.Model] = "Mate 60"
    if orientation:
        exif[ExifTags.Base.Orientation] = orientation
    if taken:
        exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = taken
        exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.OffsetTimeOriginal] = offset
    if gps:
        lat, lng = gps

        def dms(value):
            degrees = int(value)
            minutes = int((value - degrees) * 60)
            seconds = ((value - degrees) * 60 - minutes) * 60
            return (float(degrees), float(minutes), round(seconds, 4))

        exif[ExifTags.IFD.GPSInfo] = {
            ExifTags.GPS.GPSLatitudeRef: "N",
            ExifTags.GPS.GPSLatitude: dms(lat),
            ExifTags.GPS.GPSLongitudeRef: "E",
            ExifTags.GPS.GPSLongitude: dms(lng),
            ExifTags.GPS.GPSHPositioningError: 5.0,
        }
    out = io.BytesIO()
    kwargs = {"exif": exif} if fmt in ("JPEG", "WEBP", "PNG", "HEIF") else {}
    image.save(out, format=fmt, **kwargs)
    return out.getvalue()


def upload(client, event_id, data: bytes, *, phase="before", name="photo.jpg", digest=None, photo_id=None):
    return client.client.post(
        f"/api/v1/events/{event_id}/photos" if event_id else "/api/v1/photos",
        {
            "file": _named(data, name),
            "phase": phase,
            "photo_id": str(photo_id or uuid.uuid4()),
            "sha256": digest or hashlib.sha256(data).hexdigest(),
        },
        headers={"Authorization": f"Bearer {client.token}"},
    )


def _named(data: bytes, name: str):
    handle = io.BytesIO(data)
    handle.name = name
    return handle


@pytest.fixture
def tip(as_persona):
    return report(as_persona("demo_resident")).json()["id"]


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "HEIF"])
def test_it_takes_every_format_phones_send(as_persona, tip, fmt):
    response = upload(as_persona("demo_resident"), tip, image_bytes(fmt))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["format"] == fmt and (body["width"], body["height"]) == (640, 480)


def test_it_keeps_the_evidence_metadata_and_flags_nothing_when_consistent(as_persona, tip, private_storage):
    lat, lng = centre_of(GRID_A)
    data = image_bytes(gps=(lat, lng), taken=time.strftime("%Y:%m:%d %H:%M:%S", time.localtime(time.time() - 600)))
    body = upload(as_persona("demo_resident"), tip, data).json()
    assert body["camera_make"] == "HUAWEI" and body["camera_model"] == "Mate 60"
    assert body["gps_lat"] == pytest.approx(lat, abs=1e-5) and body["gps_lng"] == pytest.approx(lng, abs=1e-5)
    assert body["gps_accuracy_m"] == 5 and body["capture_offset"] == "+08:00" and body["captured_at"]
    assert body["flags"] == []
    digest = hashlib.sha256(data).hexdigest()
    assert (private_storage / "originals" / digest[:2] / digest).read_bytes() == data  # untouched


def test_it_flags_a_photo_far_from_the_event_or_older_than_it(as_persona, tip):
    body = upload(
        as_persona("demo_resident"), tip, image_bytes(gps=(30.30, 120.30), taken="2020:01:01 08:00:00")
    ).json()
    assert set(body["flags"]) == {"far_from_event", "much_older_than_event"}
    future = upload(as_persona("demo_resident"), tip, image_bytes(taken="2099:01:01 08:00:00")).json()
    assert "captured_after_upload" in future["flags"]


def test_it_works_without_gps_or_capture_time(as_persona, tip):
    body = upload(as_persona("demo_resident"), tip, image_bytes()).json()
    assert body["gps_lat"] is None and body["captured_at"] is None and body["flags"] == []


def test_served_copies_are_upright_and_carry_no_metadata(as_persona, tip):
    data = image_bytes(size=(640, 480), orientation=6, gps=(30.22, 120.15))  # 6: rotate 90° clockwise to view
    body = upload(as_persona("demo_dispatcher"), tip, data).json()
    assert body["gps_lat"] is not None
    served = Client().get(body["urls"]["display"])
    assert served.status_code == 200 and served["Content-Type"] == "image/jpeg"
    image = Image.open(io.BytesIO(b"".join(served.streaming_content)))
    assert image.size == (480, 640)  # rotated upright
    assert not image.getexif()  # no GPS, no camera, nothing
    thumb = Image.open(io.BytesIO(b"".join(Client().get(body["urls"]["thumb"]).streaming_content)))
    assert max(thumb.size) == 320


@pytest.mark.parametrize(
    "data, name, code",
    [
        (b"this is not an image at all", "note.jpg", "not_an_image"),
        (image_bytes("JPEG", (800, 600))[:3000], "cut.jpg", "image_truncated"),
        (image_bytes("GIF"), "anim.gif", "not_an_image"),
    ],
)
def test_it_refuses_what_is_not_a_whole_accepted_image_and_keeps_nothing(
    as_persona, tip, private_storage, data, name, code
):
    response = upload(as_persona("demo_resident"), tip, data, name=name)
    assert response.status_code == 422 and response.json()["code"] == code
    assert not Photo.objects.exists() and not private_storage.exists()


def test_a_png_named_jpg_is_taken_as_the_png_it_is(as_persona, tip):
    body = upload(as_persona("demo_resident"), tip, image_bytes("PNG"), name="photo.jpg").json()
    assert body["format"] == "PNG"


def test_it_refuses_a_decompression_bomb(as_persona, tip, private_storage):
    out = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(out, format="PNG")  # 100 megapixels in a few kilobytes
    response = upload(as_persona("demo_resident"), tip, out.getvalue())
    assert response.json()["code"] == "image_too_large" and not private_storage.exists()


def test_it_refuses_garbage_exif(as_persona, tip):
    data = image_bytes(taken="not a date")
    assert upload(as_persona("demo_resident"), tip, data).json()["code"] == "bad_exif"


def test_it_refuses_bytes_that_do_not_match_their_digest(as_persona, tip, private_storage):
    response = upload(as_persona("demo_resident"), tip, image_bytes(), digest="0" * 64)
    assert response.json()["code"] == "digest_mismatch" and not private_storage.exists()


def test_a_repeated_upload_returns_the_same_photo(as_persona, tip):
    client = as_persona("demo_resident")
    data = image_bytes()
    photo_id = uuid.uuid4()
    first, again = upload(client, tip, data, photo_id=photo_id), upload(client, tip, data, photo_id=photo_id)
    other_id = upload(client, tip, data)  # same digest, new id, same event
    assert (first.status_code, again.status_code, other_id.status_code) == (201, 200, 200)
    assert first.json()["id"] == again.json()["id"] == other_id.json()["id"]
    assert Photo.objects.count() == 1


def test_it_refuses_an_oversized_upload_before_reading_it(as_persona, tip, settings):
    client = as_persona("demo_resident")
    response = client.client.post(
        f"/api/v1/events/{tip}/photos",
        b"x",
        content_type="multipart/form-data; boundary=x",
        headers={"Authorization": f"Bearer {client.token}"},
        CONTENT_LENGTH=str(50 * 1024 * 1024),
    )
    assert response.status_code == 413 and response.json()["code"] == "payload_too_large"


def test_the_upload_is_recorded_in_the_events_custody_chain(as_persona, tip):
    data = image_bytes()
    upload(as_persona("demo_resident"), tip, data, phase="before")
    row = EventAction.objects.get(event_id=tip, action="photo")
    assert row.data["sha256"] == hashlib.sha256(data).hexdigest() and row.data["phase"] == "before"
    assert row.device_ref.startswith("test-")
    from backend.events.history import verify_chain
    from backend.events.models import Event

    event = Event.objects.get(pk=tip)
    assert verify_chain(event) == [] and row.data["sha256"] in event.photos["before"]


def test_an_offline_photo_is_attached_when_its_event_arrives_over_rest(as_persona):
    """Issue 16: a photo uploaded with POST /photos and then referenced in POST /events
    was never attached (only the sync push attached waiting photos)."""
    worker = as_persona("demo_grid_worker")
    data = image_bytes()
    loose = upload(worker, None, data).json()
    assert loose["event_id"] is None
    event_id = report(worker, source="grid_patrol", before_photos=[f"sha256:{loose['sha256']}"]).json()["id"]
    photo = Photo.objects.get(pk=loose["id"])
    assert str(photo.event_id) == event_id and photo.phase == "before"
    assert EventAction.objects.filter(event_id=event_id, action="photo", data__photo_id=loose["id"]).exists()
    by_id = upload(worker, None, image_bytes(size=(300, 200)), phase="after").json()  # referenced by its UUID
    step(worker, event_id, "comment", {"note": "补充照片", "after_photos": [by_id["id"]]})
    assert str(Photo.objects.get(pk=by_id["id"]).event_id) == event_id


def test_scope_and_roles_decide_who_sees_which_photo(as_persona, tip):
    resident, dispatcher = as_persona("demo_resident"), as_persona("demo_dispatcher")
    mine = upload(resident, tip, image_bytes(), phase="before").json()
    review = upload(dispatcher, tip, image_bytes(size=(300, 200)), phase="review").json()
    result = upload(dispatcher, tip, image_bytes(size=(200, 300)), phase="after").json()
    assert resident.get(f"/photos/{mine['id']}").status_code == 200
    assert resident.get(f"/photos/{result['id']}").status_code == 200  # the result of their tip
    assert resident.get(f"/photos/{review['id']}").status_code == 404  # the command room's own
    assert "original" not in resident.get(f"/photos/{mine['id']}").json()["urls"]
    assert "original" in dispatcher.get(f"/photos/{mine['id']}").json()["urls"]
    assert as_persona("demo_grid_worker_b").get(f"/photos/{mine['id']}").status_code == 404
    listing = dispatcher.get(f"/events/{tip}/photos").json()
    assert listing["pairs"][0]["before"]["id"] == mine["id"] and listing["pairs"][0]["after"]["id"] == result["id"]


def test_signed_urls_expire_and_cannot_be_forged_or_widened(as_persona, tip, monkeypatch):
    resident = as_persona("demo_resident")
    body = upload(resident, tip, image_bytes()).json()
    assert Client().get(body["urls"]["display"]).status_code == 200
    forged = signing.dumps({"p": body["id"], "v": "original", "u": resident.client.session.get("x", 0)}, salt="wrong")
    assert Client().get(f"/files/{forged}").status_code == 404
    resident_id = Photo.objects.get(pk=body["id"]).uploader_id
    widened = signing.dumps({"p": body["id"], "v": "original", "u": resident_id}, salt=SALT, compress=True)
    assert Client().get(f"/files/{widened}").status_code == 403  # a valid signature still meets the role check
    monkeypatch.setattr("media.selectors.URL_SECONDS", -1)
    expired = Client().get(body["urls"]["display"])
    assert expired.status_code == 410 and expired.json()["code"] == "url_expired"


def test_the_production_path_decodes_in_a_worker_process(as_persona, tip, settings):
    settings.MEDIA_DECODE_IN_POOL = True
    body = upload(as_persona("demo_resident"), tip, image_bytes("HEIF")).json()
    assert body["format"] == "HEIF" and body["width"] == 640
    bad = upload(as_persona("demo_resident"), tip, b"not an image, in another process")
    assert bad.json()["code"] == "not_an_image"


def test_a_large_rotated_photo_is_served_upright_at_display_size(as_persona, tip):
    body = upload(as_persona("demo_dispatcher"), tip, image_bytes(size=(2000, 1000), orientation=6)).json()
    display = Image.open(io.BytesIO(b"".join(Client().get(body["urls"]["display"]).streaming_content)))
    thumb = Image.open(io.BytesIO(b"".join(Client().get(body["urls"]["thumb"]).streaming_content)))
    assert display.size == (800, 1600) and thumb.size == (160, 320)


def test_decoding_waits_for_a_free_slot_and_says_busy_when_none_frees(settings, tmp_path):
    from backend.core.errors import ApiError
    from media.imaging import decode_slot

    settings.DATA_DIR = tmp_path
    settings.MEDIA_DECODE_SLOTS = 1
    with decode_slot():
        with pytest.raises(ApiError) as raised:
            with decode_slot(wait_seconds=0.1):
                pass
    assert raised.value.code == "busy" and raised.value.status == 503
    with decode_slot(wait_seconds=0.1):
        pass  # free again


def test_uploaded_after_photos_count_toward_closure(as_persona):
    from tests.events_helpers import governance_platform_id

    dispatcher, handler, secretary = (
        as_persona("demo_dispatcher"),
        as_persona("demo_handler"),
        as_persona("demo_secretary"),
    )
    event_id = report(as_persona("demo_resident"), before_photos=[]).json()["id"]
    step(dispatcher, event_id, "accept")
    step(dispatcher, event_id, "dispatch", {"platform_id": governance_platform_id()})
    step(handler, event_id, "sign")
    refused = step(handler, event_id, "handle", {"result_note": "已清理"})
    assert refused.json()["code"] == "photos_missing"
    assert refused.json()["detail"]["before"] == {"required": 1, "present": 0, "expected": 0}
    upload(handler, event_id, image_bytes(), phase="before")
    upload(handler, event_id, image_bytes(size=(320, 240)), phase="after")
    assert step(handler, event_id, "handle", {"result_note": "已清理"}).json()["state"] == "handled"
    assert step(secretary, event_id, "approve").json()["state"] == "closed"


def test_it_checks_the_bytes_before_answering_with_a_kept_photo_and_hides_what_the_uploader_may_not_see(
    as_persona, tip
):
    """Issue 17: a resident read the digest of a staff photo in their tip's history,
    sent any bytes declaring it and got the hidden photo's GPS, camera and time."""
    resident, dispatcher = as_persona("demo_resident"), as_persona("demo_dispatcher")
    hidden_bytes = image_bytes(gps=(30.2411, 120.1622), taken="2026:11:28 09:00:00", make="SECRET-CAM")
    hidden = upload(dispatcher, tip, hidden_bytes, phase="review").json()
    # A resident's history is the public view now (backend/tips), without photo rows; the
    # digest is still no secret (staff histories, other channels): assume the resident has it.
    assert "photo" not in [row["action"] for row in resident.get(f"/events/{tip}/history").json()]
    digest = next(
        row["data"]["sha256"] for row in dispatcher.get(f"/events/{tip}/history").json() if row["action"] == "photo"
    )
    assert digest == hidden["sha256"]

    forged = upload(resident, tip, b"anything at all", digest=digest)
    assert forged.status_code == 422 and forged.json()["code"] == "digest_mismatch"
    assert "SECRET-CAM" not in forged.content.decode()

    same_bytes = upload(resident, tip, hidden_bytes)  # even the very bytes: the record stays hidden
    assert same_bytes.status_code == 409 and same_bytes.json()["code"] == "photo_exists"
    assert "SECRET-CAM" not in same_bytes.content.decode() and "30.24" not in same_bytes.content.decode()
    again = upload(dispatcher, tip, hidden_bytes)  # who may see it still gets it back (phones retry)
    assert again.status_code == 200 and again.json()["id"] == hidden["id"]
    assert Photo.objects.count() == 1


def _jpeg_markers(data: bytes) -> list[int]:
    """The markers of a JPEG up to its scan (each segment's second byte)."""
    assert data[:2] == b"\xff\xd8"
    markers, position = [], 2
    while position < len(data):
        assert data[position] == 0xFF
        marker = data[position + 1]
        markers.append(marker)
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            break
        position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")
    return markers


def _with_iptc(jpeg: bytes, text: bytes) -> bytes:
    """An APP13 Photoshop/IPTC segment (caption) inserted after SOI."""
    record = b"\x1c\x02\x78" + len(text).to_bytes(2, "big") + text
    resource = b"8BIM\x04\x04\x00\x00" + len(record).to_bytes(4, "big") + record
    body = b"Photoshop 3.0\x00" + resource
    return jpeg[:2] + b"\xff\xed" + (len(body) + 2).to_bytes(2, "big") + body + jpeg[2:]


SECRET = b"lat=30.2411 lng=120.1622"
# Rendering needs these and nothing else: SOI, quantisation and Huffman tables, frame,
# restart interval, scan, and JFIF's APP0.
RENDERING_MARKERS = {0xD8, 0xDB, 0xC4, 0xC0, 0xC1, 0xC2, 0xDD, 0xDA, 0xE0}


def _marked_jpeg() -> bytes:
    from PIL import ImageCms

    image = Image.new("RGB", (900, 700), (200, 30, 30))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "HUAWEI"
    exif[ExifTags.Base.ImageDescription] = SECRET.decode()
    out = io.BytesIO()
    image.save(
        out,
        format="JPEG",
        comment=SECRET,
        exif=exif,
        xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/">' + SECRET + b"</x:xmpmeta>",
        icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes(),
    )
    return _with_iptc(out.getvalue(), SECRET)


def _marked_png() -> bytes:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", SECRET.decode())
    info.add_text("GPS", SECRET.decode(), zip=True)
    info.add_itxt("XML:com.adobe.xmp", SECRET.decode())
    out = io.BytesIO()
    exif = Image.Exif()
    exif[ExifTags.Base.ImageDescription] = SECRET.decode()
    Image.new("RGB", (500, 400), (30, 200, 30)).save(out, format="PNG", pnginfo=info, exif=exif)
    return out.getvalue()


@pytest.mark.parametrize("make", [_marked_jpeg, _marked_png], ids=["jpeg", "png"])
def test_it_serves_copies_without_any_metadata_of_the_original(make):
    """Issue 17: a JPEG comment (COM) was copied verbatim into both served copies."""
    from media.imaging import process

    data = make()
    assert SECRET in data  # the source does carry it, in every place there is
    processed = process(data)
    for copy in (processed["thumb"], processed["display"]):
        assert SECRET not in copy and b"30.2411" not in copy
        assert set(_jpeg_markers(copy)) <= RENDERING_MARKERS  # no APP1 (EXIF, XMP), APP2 (ICC), APP13, COM
        served = Image.open(io.BytesIO(copy))
        assert not served.getexif() and not {"comment", "exif", "xmp", "icc_profile", "photoshop"} & set(served.info)


def test_it_renders_a_colour_profile_into_the_pixels_instead_of_keeping_it():
    from PIL import ImageCms

    from media.imaging import process

    out = io.BytesIO()
    image = Image.new("RGB", (200, 100), (30, 200, 30))
    image.save(out, format="JPEG", icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    display = Image.open(io.BytesIO(process(out.getvalue())["display"]))
    assert "icc_profile" not in display.info and display.mode == "RGB"
    assert display.getpixel((100, 50)) == pytest.approx((30, 200, 30), abs=8)
