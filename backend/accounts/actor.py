"""Who acts: the user, the device and the time the device claimed (every service takes one)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from backend.accounts.models import Device, User
from backend.accounts.scope import Scope, scope_of


@dataclass(frozen=True)
class Actor:
    """Who acts, from which device, and what time the device claimed."""

    user: User | None
    device: Device | None = None
    device_at: datetime | None = None

    @property
    def scope(self) -> Scope:
        return scope_of(self.user)
