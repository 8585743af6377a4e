"""Address search reads %, _ and \\ in a query as characters, never as LIKE wildcards,
on SQLite (FTS5 trigram table) and PostgreSQL (pg_trgm)."""

import pytest

from backend.addresses.models import AddressEntry
from backend.addresses.selectors import _containing


@pytest.fixture
def keys(db):
    """Three entries whose keys differ only in the character a wildcard would hide."""
    template = AddressEntry.objects.order_by("pk").first()
    made = {}
    for key in ("甲%乙丙丁", "甲_乙丙丁", "甲\\乙丙丁", "甲x乙丙丁"):
        template.pk = None
        template.normalized = key
        template.save()
        made[key] = template.pk
    return made


def test_it_answers_nothing_for_a_query_of_percent_signs(as_persona):
    client = as_persona("demo_commander")
    assert client.get("/addresses/search", {"q": "吴山路"}).json() != []  # the library is there
    for query in ("%%%", "%%", "吴山%", "%吴山路"):
        response = client.get("/addresses/search", {"q": query})
        assert response.status_code == 200, response.content
        assert response.json() == [], query


def test_it_finds_only_the_key_holding_a_percent_sign_of_the_query(as_persona, keys):
    hits = as_persona("demo_commander").get("/addresses/search", {"q": "甲%乙丙"}).json()
    assert [hit["code"] for hit in hits] == [AddressEntry.objects.get(pk=keys["甲%乙丙丁"]).code]
    assert len(hits) == 1


@pytest.mark.parametrize("character", ["%", "_", "\\"])
@pytest.mark.parametrize("length", [2, 3, 5], ids=["short", "trigram", "long"])
def test_it_matches_each_like_wildcard_only_to_itself(keys, character, length):
    part = ("甲" + character + "乙丙丁")[:length]
    if length == 2:
        part = character + "乙"
    found = set(_containing(AddressEntry.objects.filter(pk__in=keys.values()), part).values_list("pk", flat=True))
    assert found == {keys[f"甲{character}乙丙丁"]}
