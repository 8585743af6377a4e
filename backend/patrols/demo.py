"""Demo key persons and places: two of each per grid, with invented names."""

from __future__ import annotations

import random

from backend.patrols.models import Attention, KeySubject, SubjectKind
from backend.territory.models import Grid

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = ["建国", "秀英", "桂兰", "志强", "海燕", "国平", "玉珍", "德明", "春花", "文华"]
PLACES = ["出租房", "小餐饮店", "群租房", "废品收购站", "电动车充电点", "老旧危房", "九小场所", "建筑工地"]
CONCERNS = {
    SubjectKind.PERSON: ["独居老人", "困难家庭", "社区矫正对象", "精神障碍患者", "信访人员"],
    SubjectKind.PLACE: ["消防隐患", "食品安全", "安全生产", "治安复杂"],
}


def seed_key_subjects(*, per_kind: int = 2, seed: int = 7) -> int:
    """Idempotent: grids that already have key subjects are left alone."""
    rng = random.Random(seed)
    done = set(KeySubject.objects.values_list("grid_id", flat=True).distinct())
    created = 0
    for grid in Grid.objects.exclude(pk__in=done).order_by("code"):
        for kind in (SubjectKind.PERSON, SubjectKind.PLACE):
            for number in range(per_kind):
                if kind == SubjectKind.PERSON:
                    name = rng.choice(SURNAMES) + rng.choice(GIVEN)
                else:
                    name = f"{grid.name}{rng.choice(PLACES)}{number + 1}号"
                KeySubject.objects.create(
                    grid=grid,
                    kind=kind,
                    name=name,
                    address_text=f"{grid.name}{rng.randint(1, 40)}幢",
                    attention=rng.choice(list(Attention)),
                    visit_every_days=rng.choice([7, 15, 30]),
                    note=rng.choice(CONCERNS[kind]),
                )
                created += 1
    return created
