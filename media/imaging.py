"""Safe intake of an image: the formats we take, bombs refused, fully decoded,
evidence metadata read, derivatives made without metadata."""

from __future__ import annotations

import fcntl
import io
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pillow_heif
from PIL import ExifTags, Image, ImageCms, ImageOps, UnidentifiedImageError

from backend.core.errors import ApiError, register

pillow_heif.register_heif_opener()

FORMATS = ("JPEG", "PNG", "WEBP", "HEIF")
MAX_PIXELS = 60_000_000  # a 48-megapixel phone photo passes; a bomb does not
THUMB_PX = 320
DISPLAY_PX = 1600

register(
    "not_an_image",
    422,
    "文件不是可识别的图片（支持 JPEG、PNG、WebP、HEIC）",
    "Not an image we accept (JPEG, PNG, WebP, HEIC)",
)
register("image_truncated", 422, "图片不完整或已损坏", "The image is truncated or corrupt")
register("image_too_large", 422, "图片像素过多（疑似解压炸弹）", "Too many pixels (a decompression bomb?)")
register("busy", 503, "服务器正忙，请稍后重试", "The server is busy; retry shortly")
register("bad_exif", 422, "图片的 EXIF 元数据无法解析", "The image's EXIF metadata cannot be read")


@dataclass(frozen=True)
class Metadata:
    format: str
    width: int
    height: int
    orientation: int
    captured_at: datetime | None
    capture_offset: str
    gps_lat: float | None
    gps_lng: float | None
    gps_accuracy_m: float | None
    make: str
    model: str


def open_image(data: bytes) -> Image.Image:
    """Open and fully decode (``load()``, not just ``verify()``), refusing anything
    but our formats and anything over MAX_PIXELS."""
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
            if image.width * image.height > MAX_PIXELS:
                raise ApiError("image_too_large", detail={"pixels": image.width * image.height, "max": MAX_PIXELS})
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ApiError("image_too_large", detail={"max": MAX_PIXELS}) from None
    except UnidentifiedImageError:
        raise ApiError("not_an_image") from None
    except (OSError, SyntaxError, ValueError):
        raise ApiError("image_truncated") from None
    return image


def _ratio(value) -> float:
    return float(value[0]) / float(value[1]) if isinstance(value, tuple) else float(value)


def _degrees(dms, ref: str) -> float:
    degrees, minutes, seconds = (_ratio(part) for part in dms)
    value = degrees + minutes / 60 + seconds / 3600
    return -value if ref in ("S", "W") else value


def read_metadata(image: Image.Image) -> Metadata:
    try:
        exif = image.getexif()
        ifd = exif.get_ifd(ExifTags.IFD.Exif)
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        orientation = int(exif.get(ExifTags.Base.Orientation, 1) or 1)
        captured_at, offset = None, str(ifd.get(ExifTags.Base.OffsetTimeOriginal, "") or "").strip()
        original = ifd.get(ExifTags.Base.DateTimeOriginal)
        if original:
            naive = datetime.strptime(str(original).strip(), "%Y:%m:%d %H:%M:%S")
            if offset:
                sign = -1 if offset.startswith("-") else 1
                hours, minutes = offset.lstrip("+-").split(":")
                zone = timezone(sign * timedelta(hours=int(hours), minutes=int(minutes)))
            else:
                zone = timezone(timedelta(hours=8))  # phones sold in China default to Beijing time
            captured_at = naive.replace(tzinfo=zone)
        lat = lng = accuracy = None
        if gps.get(ExifTags.GPS.GPSLatitude) and gps.get(ExifTags.GPS.GPSLongitude):
            lat = _degrees(gps[ExifTags.GPS.GPSLatitude], str(gps.get(ExifTags.GPS.GPSLatitudeRef, "N")))
            lng = _degrees(gps[ExifTags.GPS.GPSLongitude], str(gps.get(ExifTags.GPS.GPSLongitudeRef, "E")))
            if ExifTags.GPS.GPSHPositioningError in gps:
                accuracy = _ratio(gps[ExifTags.GPS.GPSHPositioningError])
        if orientation not in range(1, 9):
            raise ValueError("orientation out of range")
    except (ValueError, TypeError, KeyError, ZeroDivisionError, OverflowError, SyntaxError) as error:
        raise ApiError("bad_exif", detail={"error": str(error)[:200]}) from None
    return Metadata(
        format=image.format,
        width=image.width,
        height=image.height,
        orientation=orientation,
        captured_at=captured_at,
        capture_offset=offset,
        gps_lat=lat,
        gps_lng=lng,
        gps_accuracy_m=accuracy,
        make=str(exif.get(ExifTags.Base.Make, "") or "").strip()[:64],
        model=str(exif.get(ExifTags.Base.Model, "") or "").strip()[:64],
    )


T = Image.Transpose
TRANSPOSE = {
    2: T.FLIP_LEFT_RIGHT,
    3: T.ROTATE_180,
    4: T.FLIP_TOP_BOTTOM,
    5: T.TRANSPOSE,
    6: T.ROTATE_270,
    7: T.TRANSVERSE,
    8: T.ROTATE_90,
}


SRGB = ImageCms.createProfile("sRGB")


def _rendered(image: Image.Image) -> Image.Image:
    """The pixels as sRGB: a phone's colour profile (Display P3, a CMYK scan's) is
    applied here, so the served copy needs no profile of its own."""
    icc = image.info.get("icc_profile")
    if icc:
        try:
            return ImageCms.profileToProfile(image, ImageCms.ImageCmsProfile(io.BytesIO(icc)), SRGB, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            pass  # a broken or unusable profile: the pixels as they are
    return image if image.mode == "RGB" else image.convert("RGB")


def _jpeg(image: Image.Image) -> bytes:
    # Pillow carries ``info`` through copy() and resize() and writes some of it back
    # on save: a JPEG comment (COM, where some apps write the place) went into every
    # served copy verbatim. A served copy is pixels only: nothing of ``info`` is kept.
    image.info = {}
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85, optimize=True)  # no exif=, icc_profile=, xmp=, comment=
    return out.getvalue()


def derivatives(image: Image.Image) -> tuple[bytes, bytes]:
    """(thumbnail, display): orientation applied, at most THUMB_PX / DISPLAY_PX on the
    longest side, JPEG, sRGB, no metadata at all: no EXIF, XMP, IPTC, comment, text
    chunk or colour profile (no GPS leaves in a served copy).

    Memory matters here: a 12-megapixel photo is 36 MB decoded. The display copy is
    made by resizing (a new small image), never by copying the full one, and the
    thumbnail comes from the display copy."""
    orientation = int(image.getexif().get(ExifTags.Base.Orientation, 1) or 1)
    display = (
        ImageOps.contain(image, (DISPLAY_PX, DISPLAY_PX), Image.Resampling.LANCZOS)
        if max(image.size) > DISPLAY_PX
        else image.copy()
    )
    display = _rendered(display)
    if orientation in TRANSPOSE:  # the resized copy has no EXIF left to read it from
        display = display.transpose(TRANSPOSE[orientation])
    thumb = ImageOps.contain(display, (THUMB_PX, THUMB_PX), Image.Resampling.LANCZOS)
    return _jpeg(thumb), _jpeg(display)


@contextmanager
def decode_slot(wait_seconds: float = 60):
    """One of MEDIA_DECODE_SLOTS host-wide slots (file locks shared by every worker
    process): a 12-megapixel photo needs about 80 MB while it is decoded, so the
    number decoded at once bounds the memory, whatever the number of uploads."""
    from django.conf import settings

    folder = Path(settings.DATA_DIR) / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_seconds
    while True:
        for slot in range(settings.MEDIA_DECODE_SLOTS):
            handle = open(folder / f"decode-{slot}.lock", "w")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
                handle.close()
            return
        if time.monotonic() > deadline:
            raise ApiError("busy", detail={"retry_after_s": 5}, headers={"Retry-After": "5"})
        time.sleep(0.02)


def process(data: bytes) -> dict:
    """Decode, read metadata and make both derivatives: everything CPU-heavy, as one
    call that can run in another process (errors come back as values, since our
    error type does not cross a process boundary)."""
    try:
        image = open_image(data)
        meta = read_metadata(image)
        thumb, display = derivatives(image)
        image.close()
        return {"meta": meta, "thumb": thumb, "display": display}
    except ApiError as error:
        return {"error": error.code, "detail": error.detail}


_pool = None


def process_elsewhere(data: bytes, *, timeout: float = 60) -> dict:
    """``process`` in a pool of worker processes: a hostile image costs a worker, not a
    request thread of the server (production; MEDIA_DECODE_IN_POOL)."""
    global _pool
    if _pool is None:
        import atexit
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        _pool = ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn"))
        atexit.register(_pool.shutdown)  # before the interpreter tears down what the pool's thread needs
    return _pool.submit(process, data).result(timeout=timeout)
