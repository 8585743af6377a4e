from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from backend.territory.geometry import invalidate_grid_index
from backend.territory.models import Grid


@receiver([post_save, post_delete], sender=Grid)
def grid_changed(**kwargs) -> None:
    invalidate_grid_index()
