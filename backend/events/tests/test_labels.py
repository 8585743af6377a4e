"""Labels in answers follow the request's language, like error messages."""

from backend.events.catalogue import CATALOGUE
from backend.events.labels import CATEGORY_ENGLISH
from backend.events.models import Category
from conftest import ApiClient, login_as
from tests.events_helpers import GRID_A, report


def in_language(persona: str, language: str) -> ApiClient:
    client = login_as(persona)
    return ApiClient(client.token, language=language)


def test_it_labels_an_event_in_chinese_by_default_and_in_english_when_asked(db):
    event_id = report(login_as("demo_resident"), grid=GRID_A, category="06.01").json()["id"]
    chinese = in_language("demo_dispatcher", "zh-hans").get(f"/events/{event_id}").json()
    english = in_language("demo_dispatcher", "en").get(f"/events/{event_id}").json()
    assert (chinese["state_label"], chinese["source_label"], chinese["level_label"]) == ("已上报", "公众爆料", "街道")
    assert (english["state_label"], english["source_label"], english["level_label"]) == (
        "Reported",
        "Public tip",
        "Street",
    )
    assert (chinese["category_name"], english["category_name"]) == ("暴露垃圾", "Exposed rubbish")
    assert chinese["severity_label"] in ("一般", "较重", "严重", "特别严重")
    assert english["severity_label"] in ("Minor", "Serious", "Severe", "Critical")
    queue = in_language("demo_dispatcher", "en").get("/events", {"queue": "all"}).json()["items"]
    assert next(item for item in queue if item["id"] == event_id)["state_label"] == "Reported"


def test_it_names_categories_in_the_requests_language(db):
    chinese = {c["code"]: c for c in in_language("demo_grid_worker", "zh-hans").get("/catalogue/categories").json()}
    english = {c["code"]: c for c in in_language("demo_grid_worker", "en").get("/catalogue/categories").json()}
    assert chinese["06.01"]["name"] == "暴露垃圾" and english["06.01"]["name"] == "Exposed rubbish"
    assert chinese["06"]["name"] == "市容环境" and english["06"]["name"] == "City appearance and environment"
    assert {c["severity_label"] for c in english.values()} <= {"Minor", "Serious", "Severe", "Critical"}
    # what a resident app needs before it offers an anonymous tip or a me-too
    assert english["06.01"]["duplicate_radius_m"] == Category.objects.get(code="06.01").duplicate_radius_m > 0
    assert {c["anonymous_allowed"] for c in english.values()} == {True, False}


def test_it_has_an_english_name_for_every_category_of_the_catalogue():
    codes = {code for code, _, _, subs in CATALOGUE for code in [code, *(s[0] for s in subs)]}
    assert codes == set(CATEGORY_ENGLISH)


def test_it_falls_back_to_the_chinese_name_for_a_category_added_in_the_admin(db):
    parent = Category.objects.get(code="06")
    Category.objects.create(code="06.99", name="新增小类", parent=parent, platform_kind="enforcement", severity="low")
    english = {c["code"]: c for c in in_language("demo_grid_worker", "en").get("/catalogue/categories").json()}
    assert english["06.99"]["name"] == "新增小类"


def test_it_labels_my_roles_in_the_requests_language(db):
    chinese = in_language("demo_dispatcher", "zh-hans").get("/me").json()["roles"]
    english = in_language("demo_dispatcher", "en").get("/me").json()["roles"]
    assert [r["role_label"] for r in chinese] == ["街道指挥室调度员"]
    assert [r["role_label"] for r in english] == ["Street dispatcher"]


def test_it_refuses_labels_missing_an_english_one():
    import pytest

    from backend.core.labels import Labels
    from backend.events.models import Level

    with pytest.raises(ValueError, match="Level"):
        Labels(Level, {0: "Grid", 1: "Community", 2: "Street"})
