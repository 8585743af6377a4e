"""Address normalisation for search (统一地址库).

The same flat is written many ways: full-width digits (３幢), Chinese numerals
(三幢, 十二号), building words (幢/栋/号楼/座), 单元 or a dash (3-2-301), 室/房 or
nothing, with or without 浙江省杭州市上城区 and the street, spaces and punctuation.
``normalize`` maps every variant to one key; stored addresses and queries go
through the same function, so a substring of one key finds the other.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
UNITS = {"十": 10, "百": 100, "千": 1000}
NUMERAL_RUN = re.compile(r"[零〇一二两三四五六七八九十百千]+")
PUNCTUATION = re.compile(r"[\s,，.。、;；:：'\"“”‘’()（）\[\]【】<>《》#＃·•_/\\|!！?？~～]+")
ADMIN_PREFIXES = ("浙江省", "浙江", "杭州市", "杭州", "上城区")
BUILDING_WORDS = re.compile(r"(\d+|[a-z])(?:号楼|号幢|栋|座|幢)")
DASHED = re.compile(r"(\d+)-(\d+)-(\d+)")
ROOM_WORDS = re.compile(r"(\d+)(?:室|房|号房)")
# Every dash people type between building, unit and room (NFKC has already made the
# full-width and small ones ASCII): hyphen, figure dash, en and em dashes, horizontal
# bar, minus sign.
DASHES = str.maketrans(dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"))


def chinese_to_int(text: str) -> int:
    """三 -> 3, 十二 -> 12, 二十三 -> 23, 一百零五 -> 105, 三零一 -> 301 (read digit by digit)."""
    if not any(ch in UNITS for ch in text):
        return int("".join(str(DIGITS[ch]) for ch in text))
    total, current = 0, 0
    for ch in text:
        if ch in DIGITS:
            current = DIGITS[ch]
        else:
            total += (current or 1) * UNITS[ch]
            current = 0
    return total + current


def _numerals(text: str) -> str:
    return NUMERAL_RUN.sub(lambda match: str(chinese_to_int(match.group())), text)


@lru_cache(maxsize=65536)  # an import asks the same building's key for each of its flats
def normalize(text: str, *, strip_names: tuple[str, ...] = ()) -> str:
    """The search key of an address string (a pure function of its arguments)."""
    value = unicodedata.normalize("NFKC", text or "").lower()
    value = value.translate(DASHES)
    value = PUNCTUATION.sub("", value)
    for prefix in ADMIN_PREFIXES:
        if value.startswith(prefix):
            value = value[len(prefix) :]
    for name in strip_names:
        if name and value.startswith(name):
            value = value[len(name) :]
    value = _numerals(value)
    value = DASHED.sub(r"\1幢\2单元\3", value)
    value = BUILDING_WORDS.sub(r"\1幢", value)
    value = ROOM_WORDS.sub(r"\1", value)
    value = value.replace("-", "")
    return value


def segments(key: str) -> list[str]:
    """Parts of a normalised query that may stand apart in a stored address: the road
    and door number, then the building/unit/room. '秋涛路100号3幢2单元301' ->
    ['秋涛路100号', '3幢2单元301']."""
    parts = [part for part in re.split(r"(?<=号)", key) if part]
    return parts if len(parts) > 1 else [key]


CHINESE_DIGITS = "零一二三四五六七八九"


def int_to_chinese(number: int) -> str:
    """12 -> 十二, 3 -> 三, 45 -> 四十五, 105 -> 一零五: how people write building numbers."""
    if number < 10:
        return CHINESE_DIGITS[number]
    tens, ones = divmod(number, 10)
    if number < 100:
        return f"{'' if tens == 1 else CHINESE_DIGITS[tens]}十{CHINESE_DIGITS[ones] if ones else ''}"
    return "".join(CHINESE_DIGITS[int(d)] for d in str(number))
