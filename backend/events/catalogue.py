"""The demo catalogue (事项目录): 11 大类, 48 小类 across the four platforms, with
deadlines of the kind city-management standards use.

Columns: code, name, handler, department code, severity, deadline unit, amount,
on the grid admission list (网格事务准入清单), before photos, after photos."""

from __future__ import annotations

from backend.events.models import Category, DeadlineUnit, HandlerKind, Severity
from backend.territory.demo import Tally, upsert
from backend.territory.models import PlatformKind

P, D, G = HandlerKind.PLATFORM, HandlerKind.DEPARTMENT, HandlerKind.GRID
WD, WH, NH = DeadlineUnit.WORKING_DAYS, DeadlineUnit.WORKING_HOURS, DeadlineUnit.NATURAL_HOURS
LOW, NORMAL, HIGH, CRITICAL = Severity.LOW, Severity.NORMAL, Severity.HIGH, Severity.CRITICAL

CATALOGUE = [
    (
        "01",
        "矛盾纠纷",
        PlatformKind.GOVERNANCE,
        [
            ("01.01", "邻里纠纷", G, "", NORMAL, WD, 5, True, 0, 0),
            ("01.02", "家庭纠纷", P, "", NORMAL, WD, 5, True, 0, 0),
            ("01.03", "物业纠纷", P, "", NORMAL, WD, 10, False, 0, 0),
            ("01.04", "劳资纠纷", D, "justice", HIGH, WD, 10, False, 0, 0),
            ("01.05", "婚恋纠纷", P, "", NORMAL, WD, 5, False, 0, 0),
        ],
    ),
    (
        "02",
        "重点人员服务管理",
        PlatformKind.GOVERNANCE,
        [
            ("02.01", "独居老人关怀", G, "", HIGH, WD, 1, True, 0, 1),
            ("02.02", "重点人员走访", G, "", NORMAL, WD, 3, True, 0, 1),
            ("02.03", "刑满释放人员帮教", P, "", NORMAL, WD, 5, False, 0, 0),
            ("02.04", "社区矫正人员管理", D, "justice", NORMAL, WD, 5, False, 0, 0),
        ],
    ),
    (
        "03",
        "平安建设",
        PlatformKind.GOVERNANCE,
        [
            ("03.01", "治安隐患", D, "police", HIGH, WD, 2, False, 1, 1),
            ("03.02", "群租房", P, "", HIGH, WD, 5, False, 1, 1),
            ("03.03", "出租房屋安全隐患", P, "", HIGH, WD, 3, True, 1, 1),
            ("03.04", "反诈宣传", G, "", LOW, WD, 10, True, 0, 1),
        ],
    ),
    (
        "04",
        "食品安全",
        PlatformKind.MARKET,
        [
            ("04.01", "无证经营食品", P, "", HIGH, WD, 5, False, 1, 1),
            ("04.02", "销售过期食品", D, "market", HIGH, WD, 3, False, 1, 1),
            ("04.03", "餐饮卫生问题", P, "", NORMAL, WD, 5, False, 1, 1),
        ],
    ),
    (
        "05",
        "市场秩序",
        PlatformKind.MARKET,
        [
            ("05.01", "价格欺诈", D, "market", NORMAL, WD, 5, False, 1, 0),
            ("05.02", "虚假广告", P, "", NORMAL, WD, 10, False, 1, 1),
            ("05.03", "无照经营", P, "", NORMAL, WD, 10, False, 1, 1),
            ("05.04", "计量器具不准", D, "market", LOW, WD, 10, False, 1, 0),
            ("05.05", "电梯安全隐患", D, "market", CRITICAL, NH, 24, False, 1, 1),
        ],
    ),
    (
        "06",
        "市容环境",
        PlatformKind.ENFORCEMENT,
        [
            ("06.01", "暴露垃圾", G, "", LOW, WD, 1, True, 1, 1),
            ("06.02", "占道经营", P, "", NORMAL, WH, 4, True, 1, 1),
            ("06.03", "出店经营", P, "", LOW, WH, 4, True, 1, 1),
            ("06.04", "乱张贴乱涂写", G, "", LOW, WD, 2, True, 1, 1),
            ("06.05", "油烟扰民", P, "", NORMAL, WD, 5, False, 1, 1),
            ("06.06", "违法搭建", P, "", HIGH, WD, 15, False, 1, 1),
            ("06.07", "渣土撒漏", P, "", NORMAL, WH, 8, False, 1, 1),
            ("06.08", "绿化带垃圾", G, "", LOW, WD, 1, True, 1, 1),
        ],
    ),
    (
        "07",
        "交通秩序",
        PlatformKind.ENFORCEMENT,
        [
            ("07.01", "违法停车", D, "police", NORMAL, NH, 2, False, 1, 1),
            ("07.02", "共享单车乱停", G, "", LOW, WH, 4, True, 1, 1),
            ("07.03", "占用消防通道", D, "fire", CRITICAL, NH, 2, False, 1, 1),
            ("07.04", "非机动车乱停放", G, "", LOW, WH, 4, True, 1, 1),
        ],
    ),
    (
        "08",
        "安全生产",
        PlatformKind.ENFORCEMENT,
        [
            ("08.01", "消防隐患", D, "fire", HIGH, NH, 24, False, 1, 1),
            ("08.02", "燃气安全隐患", P, "", CRITICAL, NH, 4, False, 1, 1),
            ("08.03", "高空坠物隐患", P, "", HIGH, NH, 24, False, 1, 1),
            ("08.04", "电动车违规充电", G, "", HIGH, WD, 1, True, 1, 1),
        ],
    ),
    (
        "09",
        "市政设施",
        PlatformKind.SERVICE,
        [
            ("09.01", "路灯损坏", P, "", LOW, WD, 3, False, 1, 1),
            ("09.02", "井盖缺失破损", P, "", CRITICAL, NH, 4, False, 1, 1),
            ("09.03", "道路破损", D, "housing", NORMAL, WD, 5, False, 1, 1),
            ("09.04", "绿化损毁", P, "", LOW, WD, 5, False, 1, 1),
            ("09.05", "积水内涝", P, "", HIGH, NH, 4, False, 1, 1),
        ],
    ),
    (
        "10",
        "民生服务",
        PlatformKind.SERVICE,
        [
            ("10.01", "养老服务需求", P, "", NORMAL, WD, 5, False, 0, 0),
            ("10.02", "残疾人帮扶", D, "civil", NORMAL, WD, 5, False, 0, 0),
            ("10.03", "低保救助咨询", D, "civil", NORMAL, WD, 5, False, 0, 0),
            ("10.04", "就业帮扶", P, "", LOW, WD, 10, False, 0, 0),
            ("10.05", "医疗卫生咨询", D, "health", NORMAL, WD, 3, False, 0, 0),
        ],
    ),
    (
        "11",
        "生态环境",
        PlatformKind.ENFORCEMENT,
        [
            ("11.01", "噪声扰民", D, "environment", NORMAL, WD, 3, False, 0, 0),
            ("11.02", "污水直排", D, "environment", HIGH, WD, 3, False, 1, 1),
            ("11.03", "违规焚烧", P, "", HIGH, NH, 4, True, 1, 1),
        ],
    ),
]


# Residents may tip these without an account (公众匿名爆料): things seen in public space,
# where the reporter's identity adds nothing to the handling. Disputes, care and
# assistance requests need a person to talk to, so they are not here.
ANONYMOUS_GROUPS = {"04", "05", "06", "07", "08", "09", "11"}

# How far apart two tips may be and still be one problem (me-too, likely duplicates).
# Things on a road or a pavement move or stretch; a flat or a shop is one address.
DUPLICATE_RADIUS_M = {"06": 150, "07": 100, "09": 300, "11": 300}
DEFAULT_DUPLICATE_RADIUS_M = 250


def seed_catalogue(tally: Tally) -> int:
    count = 0
    for parent_code, parent_name, platform_kind, children in CATALOGUE:
        parent = upsert(
            Category,
            tally,
            {"code": parent_code},
            {"name": parent_name, "platform_kind": platform_kind, "parent": None},
        )
        for code, name, handler, department, severity, unit, amount, admissible, before, after in children:
            upsert(
                Category,
                tally,
                {"code": code},
                {
                    "name": name,
                    "parent": parent,
                    "platform_kind": platform_kind,
                    "default_handler": handler,
                    "default_department_code": department,
                    "severity": severity,
                    "deadline_unit": unit,
                    "deadline_amount": amount,
                    "grid_admissible": admissible,
                    "before_photos_required": before,
                    "after_photos_required": after,
                    "anonymous_allowed": parent_code in ANONYMOUS_GROUPS,
                    "duplicate_radius_m": DUPLICATE_RADIUS_M.get(parent_code, DEFAULT_DUPLICATE_RADIUS_M),
                },
            )
            count += 1
    return count
