"""Signal receivers: queue deliveries in the sender's transaction (no network here).

Each runs in a savepoint of its own: should queueing ever fail (a bug, a
payload that cannot be built), the error is logged and the engineer's
completion, hand-off or publish goes through regardless.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from integrations import services

logger = logging.getLogger(__name__)


def _queue(what: str, queue: Callable[[], object]) -> None:
    try:
        queue()
    except Exception:
        logger.exception("could not queue the deliveries for %s", what)


def on_session_completed(sender, *, session, by=None, **kwargs) -> None:
    _queue(
        f"session {session.pk} completed",
        lambda: services.deliveries_for_completion(session=session, by=by),
    )


def on_session_handed_off(sender, *, session, handoff, **kwargs) -> None:
    _queue(
        f"session {session.pk} handed off",
        lambda: services.deliveries_for_handoff(session=session, handoff=handoff),
    )


def on_tree_published(sender, *, version, by=None, **kwargs) -> None:
    _queue(
        f"tree version {version.pk} published",
        lambda: services.deliveries_for_publish(version=version, by=by),
    )
