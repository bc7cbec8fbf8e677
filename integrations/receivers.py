"""Signal receivers: queue deliveries in the sender's transaction (no network here)."""

from __future__ import annotations

from integrations import services


def on_session_completed(sender, *, session, by=None, **kwargs) -> None:
    services.deliveries_for_completion(session=session, by=by)


def on_session_handed_off(sender, *, session, handoff, **kwargs) -> None:
    services.deliveries_for_handoff(session=session, handoff=handoff)


def on_tree_published(sender, *, version, by=None, **kwargs) -> None:
    services.deliveries_for_publish(version=version, by=by)
