"""The process-local scope cache is keyed by (user, scope_version): a version a
rolled-back transaction used must never come back for a later change."""

from django.db import transaction

from backend.accounts.models import Role, RoleAssignment, User
from backend.accounts.scope import invalidate_scope_of, scope_of
from backend.territory.models import Grid


def fresh(username: str) -> User:
    return User.objects.get(username=username)  # as authentication loads it, with its version


def test_a_scope_cached_inside_a_rolled_back_transaction_is_never_served_later(db):
    worker = fresh("demo_grid_worker")
    assignment = RoleAssignment.objects.get(user=worker, role=Role.GRID_WORKER)
    home, other = assignment.grid, Grid.objects.exclude(pk=assignment.grid_id).first()
    assert scope_of(fresh("demo_grid_worker")).grid_ids == {home.pk}
    try:
        with transaction.atomic():
            RoleAssignment.objects.filter(pk=assignment.pk).update(grid=other)
            invalidate_scope_of(worker.pk)
            assert scope_of(fresh("demo_grid_worker")).grid_ids == {other.pk}  # cached under the new version
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    for _ in range(3):  # later changes that do not move the worker must not bring the rolled-back scope back
        invalidate_scope_of(worker.pk)
        assert scope_of(fresh("demo_grid_worker")).grid_ids == {home.pk}
