"""Followers and me-toos for the demo history (``seed_demo --events N``): a share of
the open residents' tips get me-toos from other residents, and every resident whose
tip was merged follows the surviving event, as the live paths would have left them."""

from __future__ import annotations

import random

from django.db.models import Q

from backend.events.models import Event, Source, State
from backend.events.workflow import OPEN_STATES
from backend.tips.models import Follow, FollowReason

ME_TOO_SHARE = 0.3  # of the residents' tips
MAX_ME_TOOS = 4


def seed_followers(*, seed: int = 2020) -> dict:
    from backend.accounts.models import Role, RoleAssignment

    rng = random.Random(seed)
    residents = list(RoleAssignment.objects.filter(role=Role.RESIDENT).values_list("user_id", flat=True))
    if len(residents) < 2:
        return {"me_too": 0, "merged": 0}
    tips = Event.objects.filter(source=Source.PUBLIC_TIP).values_list("id", "reporter_id", "state", "merged_into_id")
    rows: list[Follow] = []
    me_too = merged = 0
    for event_id, reporter_id, state, merged_into_id in tips.iterator(chunk_size=5000):
        if state in (*OPEN_STATES, State.CLOSED, State.EVALUATED) and rng.random() < ME_TOO_SHARE:
            for user_id in rng.sample(residents, min(len(residents), rng.randint(1, MAX_ME_TOOS))):
                if user_id != reporter_id:
                    rows.append(Follow(event_id=event_id, user_id=user_id, reason=FollowReason.ME_TOO))
                    me_too += 1
        if merged_into_id and reporter_id:
            rows.append(Follow(event_id=merged_into_id, user_id=reporter_id, reason=FollowReason.MERGED))
            merged += 1
    survivors = Event.objects.filter(Q(duplicates__isnull=False)).values_list("id", "reporter_id").distinct()
    reporter_of = dict(survivors)
    rows = [r for r in rows if not (r.reason == FollowReason.MERGED and reporter_of.get(r.event_id) == r.user_id)]
    Follow.objects.bulk_create(rows, batch_size=5000, ignore_conflicts=True)
    return {"me_too": me_too, "merged": merged}
