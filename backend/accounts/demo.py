"""Demo accounts, one per role, bound to the first community of the demo district."""

from __future__ import annotations

from backend.accounts.models import Role, RoleAssignment, User
from backend.territory.demo import Tally
from backend.territory.models import Department, District, Grid, Platform, PlatformKind, StationedUnit

DEFAULT_PASSWORD = "demo-pass-2026"


def demo_personas(district: District) -> list[tuple[str, str, str, dict]]:
    """(username, display name, role, unit) for every demo account."""
    grids = list(
        Grid.objects.filter(community__street__district=district)
        .select_related("community__street")
        .order_by("code")[:2]
    )
    grid_a, grid_b = grids
    community = grid_a.community
    street = community.street
    platform = Platform.objects.get(street=street, kind=PlatformKind.GOVERNANCE)
    unit = StationedUnit.objects.get(street=street, department__code="enforcement")
    department = Department.objects.get(code="enforcement")
    return [
        ("demo_grid_worker", "张网格", Role.GRID_WORKER, {"grid": grid_a}),
        ("demo_grid_worker_b", "李网格", Role.GRID_WORKER, {"grid": grid_b}),
        ("demo_secretary", "王书记", Role.SECRETARY, {"community": community}),
        ("demo_dispatcher", "赵调度", Role.DISPATCHER, {"street": street}),
        ("demo_handler", "钱处置", Role.HANDLER, {"platform": platform}),
        ("demo_unit_handler", "冯执法", Role.HANDLER, {"stationed_unit": unit}),
        ("demo_department_handler", "陈部门", Role.HANDLER, {"department": department}),
        ("demo_commander", "孙指挥", Role.COMMANDER, {"district": district}),
        ("demo_resident", "周居民", Role.RESIDENT, {}),
        ("demo_admin", "吴管理", Role.ADMIN, {}),
    ]


def seed_accounts(district: District, *, password: str | None, tally: Tally) -> list[tuple[str, str, str]]:
    """The demo personas. ``password``: set on every one, existing ones too; None leaves
    existing accounts as they are and gives new ones the default."""
    listed = []
    for username, display_name, role, unit in demo_personas(district):
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User(username=username, display_name=display_name)
            user.set_password(password or DEFAULT_PASSWORD)
            user.is_staff = user.is_superuser = role == Role.ADMIN
            user.save()
            tally.count(True, False)
        elif password is not None and not user.check_password(password):
            # --password promises the accounts' password: a seeded database takes it too.
            user.set_password(password)
            user.save(update_fields=["password"])
            tally.count(False, True)
        else:
            tally.count(False, False)
        _, created = RoleAssignment.objects.get_or_create(user=user, role=role, **unit)
        tally.count(created, False)
        unit_name = str(next(iter(unit.values()))) if unit else "—"
        listed.append((username, Role(role).label, unit_name))
    return listed
