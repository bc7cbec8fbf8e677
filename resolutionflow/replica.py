"""Reads that may be served by a PostgreSQL streaming replica.

With `REPLICA_DATABASE_URL` set, settings add a `replica` database and name it
in `READ_REPLICA`; `ReplicaRouter` routes to it. Nothing goes to the replica by
default: a view opts in with `@reads_from_replica` (the reports pages and the
CSV exports), because only a read that can live with a second or two of
replication lag may go there.
Writes, and every read in a request that writes or must see its own writes,
stay on the primary.

A replica that cannot be reached is skipped: the read goes to the primary, one
warning is logged, and the replica is tried again after
`REPLICA_RETRY_SECONDS`.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.utils import DatabaseError, OperationalError

REPLICA = "replica"

logger = logging.getLogger(__name__)

_reading = ContextVar("replica_reads", default=False)


class _Health:
    """When the replica last failed; shared by the threads of one process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.down_until = 0.0

    def reset(self) -> None:
        with self.lock:
            self.down_until = 0.0


health = _Health()


def configured() -> bool:
    """settings.READ_REPLICA names the alias (set with REPLICA_DATABASE_URL)."""
    return getattr(settings, "READ_REPLICA", None) == REPLICA and REPLICA in connections


def _retry_seconds() -> float:
    return float(getattr(settings, "REPLICA_RETRY_SECONDS", 30))


def available() -> bool:
    """True when the replica is configured and answers; logs once when it does not."""
    if not configured():
        return False
    now = time.monotonic()
    if now < health.down_until:
        return False
    connection = connections[REPLICA]
    try:
        # Cheap when connected. A persistent connection that died since its
        # last request is replaced at its first query (CONN_HEALTH_CHECKS).
        connection.ensure_connection()
        return True
    except DatabaseError as error:
        mark_down(error)
        return False


def mark_down(error: Exception) -> None:
    """Stop using the replica for `REPLICA_RETRY_SECONDS`, with one warning."""
    with health.lock:
        health.down_until = time.monotonic() + _retry_seconds()
    connections[REPLICA].close()
    text = str(error).strip()
    logger.warning(
        "replica unavailable, reading from the primary for %.0f s: %s",
        _retry_seconds(),
        text.splitlines()[0] if text else type(error).__name__,
    )


@contextmanager
def replica_reads() -> Iterator[None]:
    """Within this block, ORM reads go to the replica (when it is up)."""
    token = _reading.set(True)
    try:
        yield
    finally:
        _reading.reset(token)


def reads_from_replica(view: Callable) -> Callable:
    """A view decorator: the view's reads go to the replica (when it is up).

    A streamed response is consumed after the view returns, so its iterator
    is wrapped as well.
    """

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            with replica_reads():
                response = view(request, *args, **kwargs)
        except OperationalError as error:
            # The replica went away mid-request (a read-only view: running it
            # again on the primary is safe).
            replica = connections[REPLICA] if configured() else None
            if replica is None or (replica.connection is not None and replica.is_usable()):
                raise
            mark_down(error)
            response = view(request, *args, **kwargs)
        if getattr(response, "streaming", False):
            response.streaming_content = _iterate_on_replica(response.streaming_content)
        return response

    return wrapper


def _iterate_on_replica(chunks):
    iterator = iter(chunks)
    while True:
        with replica_reads():
            try:
                chunk = next(iterator)
            except StopIteration:
                return
        yield chunk


class ReplicaRouter:
    """Reads inside `replica_reads()` go to the replica when it is up; otherwise no opinion
    (Django's default: the primary). Nothing is written to, or migrated on, the replica."""

    def db_for_read(self, model, **hints) -> str | None:
        if _reading.get() and available():
            return REPLICA
        return None

    def db_for_write(self, model, **hints) -> str | None:
        return DEFAULT_DB_ALIAS if configured() else None

    def allow_relation(self, obj1, obj2, **hints) -> bool | None:
        # The replica holds the same rows as the primary.
        if {obj1._state.db, obj2._state.db} <= {DEFAULT_DB_ALIAS, REPLICA}:
            return True
        return None

    def allow_migrate(self, db: str, app_label: str, **hints) -> bool | None:
        return False if db == REPLICA else None
