"""Liveness and readiness.

Live: the process answers (no dependency is asked: restarting a process does not bring
a database back). Ready: the database and the channel layer answer (``backend.core.health``,
the same checks as ``/api/v1/health``) and no migration is pending; a load balancer sends
no traffic to a process that is not ready."""

from __future__ import annotations

from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from backend.core.health import run_checks

_migrated = False


def pending_migrations() -> list[str]:
    """Migrations not applied yet. Once none is pending this process stops asking:
    migrations are applied before new code starts and never taken back under it."""
    global _migrated
    if _migrated:
        return []
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    pending = [f"{migration.app_label}.{migration.name}" for migration, backwards in plan if not backwards]
    _migrated = not pending
    return pending


def readiness() -> dict[str, str]:
    checks = run_checks()
    if checks.get("database") == "ok":
        try:
            pending = pending_migrations()
        except Exception as error:
            checks["migrations"] = f"error: {type(error).__name__}: {error}"[:300]
        else:
            checks["migrations"] = (
                "ok"
                if not pending
                else f"pending: {', '.join(pending[:5])}" + (f" (+{len(pending) - 5})" if len(pending) > 5 else "")
            )
    else:
        checks["migrations"] = "unknown: the database is down"
    return checks
