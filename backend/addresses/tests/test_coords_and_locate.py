import pytest
from shapely.geometry import Point, Polygon

from backend.territory.coords import to_gcj02, to_wgs84
from backend.territory.geometry import grid_index, locate_grid_id
from backend.territory.models import Grid

# Public reference vectors of the GCJ-02 algorithm (eviltransform's test suite):
# (WGS-84 lat, lng) -> (GCJ-02 lat, lng).
REFERENCE = [
    ((31.1774276, 121.5272106), (31.17530398364597, 121.531541859215)),  # Shanghai
    ((22.543847, 113.912316), (22.540796131694766, 113.9171764808363)),  # Shenzhen
    ((39.911954, 116.377817), (39.91334545536069, 116.38404722455657)),  # Beijing
]


@pytest.mark.parametrize("wgs, gcj", REFERENCE)
def test_it_converts_wgs84_to_gcj02_like_the_published_algorithm(wgs, gcj):
    assert to_gcj02(lat=wgs[0], lng=wgs[1]) == pytest.approx(gcj, abs=1e-9)


@pytest.mark.parametrize("wgs, gcj", REFERENCE)
def test_it_recovers_wgs84_from_gcj02_within_a_centimetre(wgs, gcj):
    assert to_wgs84(lat=gcj[0], lng=gcj[1], crs="gcj02") == pytest.approx(wgs, abs=1e-7)


def test_it_leaves_points_outside_china_alone():
    assert to_wgs84(lat=51.5, lng=-0.1, crs="gcj02") == (51.5, -0.1)
    assert to_wgs84(lat=30.0, lng=120.0, crs="wgs84") == (30.0, 120.0)


def test_a_point_on_the_shared_edge_of_two_grids_goes_to_the_lower_id(db):
    a, b = Grid.objects.order_by("code")[:2]
    edge_lng = a.polygon["coordinates"][0][1][0]  # east edge of A is the west edge of B
    mid_lat = (a.polygon["coordinates"][0][0][1] + a.polygon["coordinates"][0][2][1]) / 2
    assert locate_grid_id(edge_lng, mid_lat) == min(a.pk, b.pk)
    assert locate_grid_id(edge_lng + 1e-9, mid_lat) == b.pk
    assert locate_grid_id(edge_lng - 1e-9, mid_lat) == a.pk


def test_locating_many_points_at_once_answers_what_every_polygon_says(db):
    """A batch of reports locates its points in one query of the tree: the same answer
    as asking each grid's polygon, the lowest id on a shared edge."""
    a, b = Grid.objects.order_by("code")[:2]
    (west, south), (east, north) = a.polygon["coordinates"][0][0], a.polygon["coordinates"][0][2]
    edge_lng, mid_lat = a.polygon["coordinates"][0][1][0], (south + north) / 2
    points = [
        ((west + east) / 2, mid_lat),
        (edge_lng, mid_lat),
        (edge_lng + 1e-9, mid_lat),
        (0.0, 0.0),
        (west - 0.5, south - 0.5),
        ((west + east) / 2, mid_lat),
    ]
    points += [(west + (east - west) * i / 7, south + (north - south) * 2.2 * i / 7) for i in range(8)]
    index = grid_index()
    found = index.locate_many(points)
    assert found == [
        min(
            (pk for pk, polygon in zip(index.grid_ids, index.polygons) if polygon.intersects(Point(lng, lat))),
            default=None,
        )
        for lng, lat in points
    ]
    assert [locate_grid_id(lng, lat) for lng, lat in points] == found
    assert found[:4] == [a.pk, min(a.pk, b.pk), b.pk, None] and grid_index().locate_many([]) == []


def test_a_point_in_a_hole_is_outside_the_grid_and_the_index_refreshes(db):
    grid = Grid.objects.order_by("code").first()
    (west, south), (east, north) = grid.polygon["coordinates"][0][0], grid.polygon["coordinates"][0][2]
    centre = ((west + east) / 2, (south + north) / 2)
    assert locate_grid_id(*centre) == grid.pk
    hole = Polygon.from_bounds(centre[0] - 0.0005, centre[1] - 0.0005, centre[0] + 0.0005, centre[1] + 0.0005)
    grid.polygon = {
        "type": "Polygon",
        "coordinates": [grid.polygon["coordinates"][0], [list(p) for p in hole.exterior.coords]],
    }
    grid.save()
    assert locate_grid_id(*centre) is None  # the hole: a park that belongs to no grid
    assert locate_grid_id(west + 0.0001, south + 0.0001) == grid.pk


def test_locate_answers_grid_community_street_and_nearest_buildings(as_persona):
    grid = Grid.objects.select_related("community__street").order_by("code").first()
    (west, south), (east, north) = grid.polygon["coordinates"][0][0], grid.polygon["coordinates"][0][2]
    lat, lng = (south + north) / 2, (west + east) / 2
    gcj_lat, gcj_lng = to_gcj02(lat=lat, lng=lng)
    body = as_persona("demo_resident").get("/geo/locate", {"lat": gcj_lat, "lng": gcj_lng, "crs": "gcj02"}).json()
    assert body["inside"] and body["grid"]["code"] == grid.code
    assert body["community"]["name"] == grid.community.name and body["street"]["name"] == grid.community.street.name
    assert body["lat"] == pytest.approx(lat, abs=1e-7)
    distances = [b["distance_m"] for b in body["nearest_buildings"]]
    assert distances and distances == sorted(distances) and distances[0] < 500


def test_locate_says_clearly_when_a_point_is_outside_every_grid(as_persona):
    body = as_persona("demo_resident").get("/geo/locate", {"lat": 39.9, "lng": 116.4, "crs": "wgs84"}).json()
    assert body["inside"] is False and body["grid"] is None and "不在本区" in body["message"]


def test_locate_needs_a_coordinate_system(as_persona):
    response = as_persona("demo_resident").get("/geo/locate", {"lat": 30.2, "lng": 120.15})
    assert response.status_code == 422 and response.json()["code"] == "validation_error"
