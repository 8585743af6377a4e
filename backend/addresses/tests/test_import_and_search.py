import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from backend.addresses.importer import import_addresses, read_rows
from backend.addresses.models import AddressAlias, AddressEntry, Building, UnitAddress
from tests import matrix_registry

matrix_registry.cover("/api/v1/addresses/search", "/api/v1/geo/locate")
SAMPLE = Path(__file__).resolve().parents[3] / "docs" / "samples" / "addresses-sample.csv"


def counts() -> tuple[int, int, int, int]:
    return (
        Building.objects.count(),
        UnitAddress.objects.count(),
        AddressAlias.objects.count(),
        AddressEntry.objects.count(),
    )


@pytest.fixture
def imported(db):
    return import_addresses(read_rows(SAMPLE))


def test_it_imports_the_sample_and_reports_what_it_did(imported):
    assert imported.rows == 8
    assert (imported.buildings_added, imported.units_added, imported.aliases_added) == (3, 6, 3)
    reasons = dict(imported.rejected)
    assert set(reasons) == {8, 9}  # CSV lines: Beijing, and a unit that is not a number
    assert reasons[8].startswith("outside every grid")
    assert reasons[9].startswith("unparseable")


def test_it_codes_units_by_extending_their_buildings_code(imported):
    building = Building.objects.get(road="秋涛路", number="258", name="3幢")
    assert len(building.code) == 19 and building.code.startswith(building.grid.code)
    unit = UnitAddress.objects.get(building=building, room="301")
    assert unit.code == f"{building.code}020030301"
    explicit = Building.objects.get(road="婺江路")
    assert explicit.code == "3301020010010020099" and explicit.name == "1幢"


def test_reimporting_the_same_file_changes_nothing(imported):
    before = counts()
    codes = set(UnitAddress.objects.values_list("code", flat=True))
    again = import_addresses(read_rows(SAMPLE))
    assert counts() == before
    assert set(UnitAddress.objects.values_list("code", flat=True)) == codes
    assert (again.buildings_added, again.units_added, again.aliases_added) == (0, 0, 0)
    assert (again.buildings_unchanged, again.units_unchanged, again.aliases_unchanged) == (3, 6, 3)


def test_a_dry_run_counts_but_writes_nothing(db):
    before = counts()
    report = import_addresses(read_rows(SAMPLE), dry_run=True)
    assert report.units_added == 6 and counts() == before


def test_a_code_already_taken_by_another_building_is_rejected(imported, tmp_path):
    clash = tmp_path / "clash.csv"
    clash.write_text(
        "road,number,estate,building,unit,room,lng,lat,building_code\n"
        "婺江路,20号,近江东园,2幢,1,101,120.1568,30.2219,3301020010010020099\n"
    )
    report = import_addresses(read_rows(clash))
    assert report.rejected and report.rejected[0][1].startswith("duplicate code")


def test_the_command_prints_the_report_and_writes_rejections(db, tmp_path):
    out, report_file = io.StringIO(), tmp_path / "rejected.csv"
    call_command("import_addresses", str(SAMPLE), "--dry-run", "--report", str(report_file), stdout=out, verbosity=0)
    assert "试运行" in out.getvalue() and "拒绝 rejected 2" in out.getvalue()
    assert "outside every grid" in report_file.read_text()
    with pytest.raises(CommandError, match="missing columns"):
        bad = tmp_path / "bad.csv"
        bad.write_text("road,number\n秋涛路,1\n")
        call_command("import_addresses", str(bad), stdout=io.StringIO(), verbosity=0)


def test_it_reads_geojson_and_line_delimited_geojson(db, tmp_path):
    import json

    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [120.1525, 30.2213]},
        "properties": {"road": "清泰街", "number": "8", "estate": "", "building": "2栋", "unit": 1, "room": "101"},
    }
    collection = tmp_path / "a.geojson"
    collection.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}, ensure_ascii=False))
    assert import_addresses(read_rows(collection)).units_added == 1
    lines = tmp_path / "b.geojsonl"
    lines.write_text(
        json.dumps({**feature, "properties": {**feature["properties"], "room": "102"}}, ensure_ascii=False)
        + "\nnot json\n"
    )
    report = import_addresses(read_rows(lines))
    assert report.units_added == 1 and report.rejected == [(2, "unparseable: not JSON")]


def hits(client, query):
    response = client.get("/addresses/search", {"q": query})
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.usefixtures("imported")
def test_search_finds_a_flat_however_it_is_written(as_persona):
    client = as_persona("demo_dispatcher")
    unit = UnitAddress.objects.get(building__road="秋涛路", room="301")
    for query in [
        "望江家园三栋二单元三零一",
        "浙江省杭州市上城区秋涛路258号望江家园3号楼2单元301室",
        "望江家园3-2-301",
        "秋涛路２５８号 3幢 2单元 301房",
        "上城区清波街道秋涛路258号3栋2单元301",
    ]:
        results = hits(client, query)
        assert results and results[0]["code"] == unit.code, query
        assert results[0]["kind"] == "unit"


@pytest.mark.usefixtures("imported")
def test_search_maps_another_departments_string_to_the_standard_code(as_persona):
    unit = UnitAddress.objects.get(building__road="秋涛路", room="302")
    results = hits(as_persona("demo_dispatcher"), "上城区秋涛路258号3-2-302")
    alias = next(r for r in results if r["kind"] == "alias")
    assert alias["code"] == unit.code and alias["source"] == "power"
    assert alias["standard"] == "秋涛路258号望江家园3幢2单元302室"


@pytest.mark.usefixtures("imported")
@pytest.mark.parametrize(
    "persona, finds, sees_aliases",
    [
        ("demo_grid_worker", True, True),
        ("demo_grid_worker_b", False, False),
        ("demo_secretary", True, True),
        ("demo_dispatcher", True, True),
        ("demo_commander", True, True),
        ("demo_resident", True, False),
        ("demo_admin", True, True),
        ("demo_handler", True, True),
    ],
)
def test_search_is_scoped_to_the_users_territory(as_persona, persona, finds, sees_aliases):
    results = hits(as_persona(persona), "秋涛路258号")
    assert bool(results) == finds
    assert any(r["kind"] == "alias" for r in hits(as_persona(persona), "上城区秋涛路258号3-2-302")) == sees_aliases


def test_search_refuses_a_query_that_says_nothing(as_persona):
    response = as_persona("demo_dispatcher").get("/addresses/search", {"q": "，"})
    assert response.status_code == 422 and response.json()["code"] == "query_too_short"
