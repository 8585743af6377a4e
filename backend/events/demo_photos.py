"""The demo history's photo evidence: a small pool of real images, drawn once.

Evidence counts only photos that have arrived (``evidence_of``), so the demo's events
carry real ``Photo`` rows. A handful of simple drawings per phase (no text, no EXIF,
no GPS) are made with Pillow, decoded and reduced by the same code as an upload
(``media.imaging.process``), and kept once under the same content keys
(``media.services.keep_files``). Every event then attaches digests from the pool:
the unique index is (event, digest), so one image serves many events.
"""

from __future__ import annotations

import hashlib
import io
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

from media.imaging import process
from media.services import display_key, keep_files, original_key, thumb_key

VARIANTS = 4  # per phase: at least twice a category's largest count (a rework adds a photo)
SIZE = (800, 600)


@dataclass(frozen=True)
class PoolPhoto:
    digest: str
    phase: str
    format: str
    size_bytes: int
    width: int
    height: int

    @property
    def reference(self) -> str:
        return f"sha256:{self.digest}"

    @property
    def keys(self) -> tuple[str, str, str]:
        return original_key(self.digest), thumb_key(self.digest), display_key(self.digest)


def _drawing(phase: str, variant: int) -> bytes:
    """A street corner: grey pavement and a wall; before, litter and a dark stain;
    after, the same place clean with a green mark. Fixed seeds: the same bytes on
    every run and every machine with the same Pillow."""
    rng = random.Random(f"demo-photo:{phase}:{variant}")
    image = Image.new("RGB", SIZE, (196, 200, 204))
    draw = ImageDraw.Draw(image)
    sky = (150 + 20 * variant, 190, 225)
    draw.rectangle((0, 0, SIZE[0], 220), fill=sky)
    draw.rectangle((0, 180, SIZE[0], 330), fill=(176 - 12 * variant, 150, 128))  # wall
    for x in range(0, SIZE[0], 80):
        draw.line((x, 330, x - 120, SIZE[1]), fill=(170, 174, 178), width=3)  # paving
    if phase == "before":
        draw.ellipse((260, 400, 620, 520), fill=(92, 84, 70))
        for _ in range(14 + 3 * variant):
            x, y = rng.randrange(150, 700), rng.randrange(350, 560)
            w, h = rng.randrange(20, 60), rng.randrange(15, 45)
            colour = rng.choice([(210, 60, 50), (240, 240, 230), (60, 90, 170), (230, 190, 40)])
            draw.rectangle((x, y, x + w, y + h), fill=colour, outline=(40, 40, 40))
    else:
        draw.rectangle((80 + 40 * variant, 360, 140 + 40 * variant, 470), fill=(40, 120, 70))  # a bin
        draw.line((560, 470, 610, 520, 720, 380), fill=(30, 160, 60), width=18)  # done
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=80)  # no exif=: nothing about anyone
    return out.getvalue()


def photo_pool() -> dict[str, list[PoolPhoto]]:
    """The pool, its files kept in storage once (content-addressed: a second seed
    finds them there and writes nothing)."""
    pool: dict[str, list[PoolPhoto]] = {"before": [], "after": []}
    for phase in pool:
        for variant in range(VARIANTS):
            data = _drawing(phase, variant)
            digest = hashlib.sha256(data).hexdigest()
            processed = process(data)
            if "error" in processed:  # our own drawing: cannot happen unless Pillow breaks
                raise RuntimeError(f"demo photo {phase} {variant}: {processed['error']}")
            keep_files(digest, original=data, thumb=processed["thumb"], display=processed["display"])
            meta = processed["meta"]
            pool[phase].append(PoolPhoto(digest, phase, meta.format, len(data), meta.width, meta.height))
    return pool
