from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from backend.accounts.models import RoleAssignment
from backend.accounts.scope import invalidate_all_scopes, invalidate_scope_of
from backend.territory.models import Community, Department, District, Grid, Platform, StationedUnit, Street


@receiver([post_save, post_delete], sender=RoleAssignment)
def roles_changed(instance: RoleAssignment, **kwargs) -> None:
    invalidate_scope_of(instance.user_id)


@receiver([post_save, post_delete], sender=District)
@receiver([post_save, post_delete], sender=Street)
@receiver([post_save, post_delete], sender=Community)
@receiver([post_save, post_delete], sender=Grid)
@receiver([post_save, post_delete], sender=Department)
@receiver([post_save, post_delete], sender=Platform)
@receiver([post_save, post_delete], sender=StationedUnit)
def territory_changed(**kwargs) -> None:
    invalidate_all_scopes()
