"""Which database answers a read: the primary, or its streaming replica.

The rule, in one place (docs/operations.md "Replica"):

- Every write, and every read, goes to the primary, except the reads of a view marked
  ``@reads_may_lag``: an answer that may be a second or two old (the event queues, KPIs,
  a phone's pull of history, Open311 reads). Those go to the replica.
- Even there the primary answers
  - a user who wrote in the last ``DATABASE_REPLICA_PIN_SECONDS`` (read-your-writes: a
    phone's pull right after its push; a console's queue right after a step), and
  - anything inside a transaction on the primary (what it wrote is not on the replica).

Without ``DATABASE_REPLICA_URL`` there is no replica alias, the router is not installed
and ``@reads_may_lag`` only reads one setting.

The fast paths that run their own SQL on a connection (``backend.fastpath``, the pull's
merge) ask ``read_connection()`` for it, so they follow the same rule.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest, HttpResponse

PRIMARY = DEFAULT_DB_ALIAS
REPLICA = "replica"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_reads_may_lag: ContextVar[bool] = ContextVar("reads_may_lag", default=False)


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


def in_transaction() -> bool:
    return connections[PRIMARY].in_atomic_block


def read_alias() -> str:
    """The alias a read goes to now."""
    if _reads_may_lag.get() and not in_transaction():
        return REPLICA
    return PRIMARY


def read_connection():
    """The connection a fast path's read runs on (``django.db.connection`` is the primary's)."""
    return connections[read_alias()]


def _pin_key(user_id: int) -> str:
    return f"db:pinned:{user_id}"


def pin_to_primary(user_id: int) -> None:
    """This user's reads stay on the primary for ``DATABASE_REPLICA_PIN_SECONDS``."""
    seconds = settings.DATABASE_REPLICA_PIN_SECONDS
    if seconds:
        cache.set(_pin_key(user_id), 1, timeout=seconds)


def is_pinned(user_id: int) -> bool:
    return cache.get(_pin_key(user_id)) is not None


@contextmanager
def lagging_reads(user_id: int | None) -> Iterator[bool]:
    """Reads inside go to the replica, unless there is none or the user is pinned to the
    primary. Yields whether they do."""
    if not replica_configured() or (user_id is not None and is_pinned(user_id)):
        yield False
        return
    token = _reads_may_lag.set(True)
    try:
        yield True
    finally:
        _reads_may_lag.reset(token)


@contextmanager
def primary_reads() -> Iterator[None]:
    """Reads inside go to the primary, even within ``reads_may_lag``."""
    token = _reads_may_lag.set(False)
    try:
        yield
    finally:
        _reads_may_lag.reset(token)


def _user_id(request: HttpRequest) -> int | None:
    # django-ninja has authenticated the request before the view runs (request.auth);
    # plain Django views (Open311) have request.user from the session, or no one.
    user = getattr(request, "auth", None) or getattr(request, "user", None)
    return user.pk if getattr(user, "is_authenticated", False) else None


def reads_may_lag(view: Callable) -> Callable:
    """Mark a view whose reads may be answered by the replica (see the module's rule).
    Under a django-ninja route decorator the request is authenticated when it runs."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        with lagging_reads(_user_id(request)):
            return view(request, *args, **kwargs)

    # django-ninja reads the parameters' types from the signature, and would evaluate
    # postponed annotations in this module: give it them evaluated in the view's.
    wrapper.__signature__ = inspect.signature(view, eval_str=True)
    return wrapper


def pin_after_write(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    """Middleware (installed with the replica): a request that may have written (any
    method but GET/HEAD/OPTIONS) and succeeded pins its user to the primary."""

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        if request.method not in SAFE_METHODS and response.status_code < 400:
            user_id = _user_id(request)
            if user_id is not None:
                pin_to_primary(user_id)
        return response

    return middleware


class PrimaryReplicaRouter:
    """Writes, migrations and every read outside ``reads_may_lag`` on the primary."""

    def db_for_read(self, model, **hints) -> str:
        return read_alias()

    def db_for_write(self, model, **hints) -> str:
        return PRIMARY

    def allow_relation(self, obj1, obj2, **hints) -> bool:
        return True  # one database and its copy

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints) -> bool:
        return db == PRIMARY
