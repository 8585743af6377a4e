from django.db.models import QuerySet

from backend.accounts.models import User
from backend.accounts.scope import scope_of
from backend.core.errors import ApiError
from backend.territory.models import Community, Grid


def grids_visible_to(user: User) -> QuerySet[Grid]:
    scope = scope_of(user)
    grids = Grid.objects.select_related("community__street").order_by("code")
    if not scope.is_staff_role:
        return grids.none()
    return grids.filter(scope.q_territory(grid="pk", community="community", street="community__street"))


def communities_visible_to(user: User) -> QuerySet[Community]:
    scope = scope_of(user)
    communities = Community.objects.select_related("street").order_by("code")
    if not scope.is_staff_role:
        return communities.none()
    # A grid worker sees the community of each of their grids.
    return communities.filter(scope.q_territory(grid="grids", community="pk", street="street")).distinct()


def access_grid(user: User, grid_id: int) -> Grid:
    grid = grids_visible_to(user).filter(pk=grid_id).first()
    if grid is None:
        raise ApiError("not_found")
    return grid
