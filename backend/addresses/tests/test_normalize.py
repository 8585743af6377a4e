import pytest

from backend.addresses.normalize import chinese_to_int, int_to_chinese, normalize, segments

CANONICAL = "秋涛路100号望江家园3幢2单元301"


@pytest.mark.parametrize(
    "written",
    [
        "秋涛路100号望江家园3幢2单元301室",
        "秋涛路100号望江家园3幢2单元301",
        "秋涛路100号望江家园3幢2单元301房",
        "秋涛路100号望江家园3栋2单元301室",
        "秋涛路100号望江家园3号楼2单元301室",
        "秋涛路100号望江家园3座2单元301室",
        "秋涛路100号望江家园3号幢2单元301室",
        "秋涛路１００号望江家园３幢２单元３０１室",  # full-width digits
        "秋涛路100号望江家园三幢二单元三零一室",  # Chinese numerals read digit by digit
        "秋涛路一百号望江家园三幢二单元三百零一室",  # Chinese numerals with place values
        "秋涛路100号望江家园3-2-301",  # dashes
        "秋涛路100号望江家园3－2－301",  # full-width dashes
        "秋涛路100号望江家园3—2—301",  # em dashes
        "秋涛路100号望江家园3−2−301",  # minus signs (U+2212)
        "秋涛路100号望江家园3‐2‐301",  # hyphens (U+2010)
        "秋涛路100号望江家园3–2–301",  # en dashes
        "秋涛路100号望江家园3―2―301",  # horizontal bars (U+2015)
        "秋涛路 100号 望江家园 3幢 2单元 301室",  # spaces
        "秋涛路100号，望江家园3幢、2单元301室。",  # punctuation
        "秋涛路100号(望江家园)3幢2单元301室",
        "秋涛路100号（望江家园）3幢2单元301室",
        "秋涛路100号望江家园#3幢2单元301室",
        "浙江省杭州市上城区秋涛路100号望江家园3幢2单元301室",
        "浙江杭州上城区秋涛路100号望江家园3幢2单元301室",
        "杭州市上城区秋涛路100号望江家园3幢2单元301室",
        "上城区秋涛路100号望江家园3幢2单元301室",
        "上城区 秋涛路100号望江家园3栋2单元301房",
        "秋涛路１００号望江家园三号楼２单元301",
        "秋涛路100号望江家园3幢2单元301号房",
        "秋涛路100号望江家园3幢二单元301",
        "秋涛路100号望江家园叁幢2单元301".replace("叁", "三"),
        "秋涛路100号望江家园3栋2单元三零一",
        "\u3000秋涛路100号望江家园3幢2单元301室\u3000",  # ideographic spaces
        "秋涛路100号望江家园3幢2单元301室 ",
        "秋涛路100号望江家园3座2单元301号房",
    ],
)
def test_it_maps_every_way_of_writing_a_flat_to_one_key(written):
    assert normalize(written) == CANONICAL


@pytest.mark.parametrize(
    "text, value",
    [
        ("三", 3),
        ("十", 10),
        ("十二", 12),
        ("二十", 20),
        ("二十三", 23),
        ("一百零五", 105),
        ("三零一", 301),
        ("两百", 200),
        ("一千零一", 1001),
    ],
)
def test_it_reads_chinese_numerals(text, value):
    assert chinese_to_int(text) == value


@pytest.mark.parametrize("number", [1, 3, 10, 12, 20, 45, 99, 105])
def test_chinese_numerals_round_trip(number):
    assert normalize(int_to_chinese(number)) == str(number)


def test_a_floor_is_not_a_building():
    assert normalize("望江家园3幢3楼") == "望江家园3幢3楼"


def test_it_lowercases_latin_building_letters():
    assert normalize("Ａ座1201室") == "a幢1201"


def test_it_splits_road_and_door_from_the_rest():
    assert segments("秋涛路100号3幢2单元301") == ["秋涛路100号", "3幢2单元301"]
    assert segments("望江家园3幢") == ["望江家园3幢"]
