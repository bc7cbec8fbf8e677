"""The ticket loop's writes: queueing, attempting, retrying, recovering deliveries.

Queueing happens inside the caller's transaction (the completion's, through
the `session_completed` receiver): the `Delivery` row and the django-tasks
task that sends it are two INSERTs in that transaction, so a rolled-back
completion queues nothing and a committed one always has both. Nothing in a
queueing function talks to the network.

`delivery_attempt` is what the worker runs. It claims the delivery (status
`sending`, a lease, one more attempt) in a short transaction, calls the PSA
outside any transaction, and records the answer. A worker that dies while it
holds a delivery leaves it `sending` with a lease that runs out;
`deliveries_recover` (run when a worker starts and after every attempt) hands
it back to the queue, and the retry looks for the note's reference on the
ticket before posting (see integrations.clients), so the note lands once.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction

from integrations import payloads, tasks
from integrations.clients import DeliveryError, Ticket, TicketNotFound, client_for
from integrations.crypto import CredentialsUnreadable
from integrations.models import Connection, Delivery, Event
from resolutionflow import clock
from sessions.models import Session

logger = logging.getLogger(__name__)

MAX_DELAY_SECONDS = 3600


class CannotPost(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- queueing (inside the caller's transaction; no network) ---------------------------


def _enqueue(delivery: Delivery, *, run_after: datetime | None = None) -> None:
    task = tasks.deliver if run_after is None else tasks.deliver.using(run_after=run_after)
    task.enqueue(delivery.pk)


def delivery_queue(
    *,
    connection: Connection,
    event: str,
    payload_for: Callable[[uuid.UUID], dict[str, Any]],
    session: Session | None = None,
    by=None,
) -> Delivery:
    """A delivery and the task that sends it, in the current transaction."""
    key = uuid.uuid4()
    delivery = Delivery.objects.create(
        idempotency_key=key,
        connection=connection,
        event=event,
        session=session,
        payload=payload_for(key),
        created_by=by if getattr(by, "pk", None) else None,
    )
    _enqueue(delivery)
    return delivery


def _note_for(session: Session, connection: Connection) -> Callable[[uuid.UUID], dict]:
    return lambda key: payloads.ticket_note(session, connection=connection, key=key)


def _event_for(kind: str, data: dict, at: datetime) -> Callable[[uuid.UUID], dict]:
    return lambda key: payloads.event(kind, key=key, occurred_at=at, data=data)


@transaction.atomic
def deliveries_for_completion(*, session: Session, by=None) -> list[Delivery]:
    """The note for every active PSA connection (when the session has a ticket) and
    the `session.completed` event for every subscribed webhook."""
    queued = []
    data = None
    at = session.completed_at or clock.now()
    for connection in Connection.objects.receiving(Event.SESSION_COMPLETED):
        if connection.is_psa:
            if not session.ticket_ref:
                continue
            payload_for = _note_for(session, connection)
        else:
            data = payloads.session_data(session) if data is None else data
            payload_for = _event_for(Event.SESSION_COMPLETED, data, at)
        queued.append(
            delivery_queue(
                connection=connection,
                event=Event.SESSION_COMPLETED,
                payload_for=payload_for,
                session=session,
                by=by,
            )
        )
    return queued


@transaction.atomic
def deliveries_for_handoff(*, session: Session, handoff) -> list[Delivery]:
    at = getattr(handoff, "at", None) or clock.now()
    connections = [
        c for c in Connection.objects.receiving(Event.SESSION_HANDED_OFF) if not c.is_psa
    ]
    if not connections:
        return []
    data = payloads.handoff_data(session, handoff)
    return [
        delivery_queue(
            connection=c,
            event=Event.SESSION_HANDED_OFF,
            payload_for=_event_for(Event.SESSION_HANDED_OFF, data, at),
            session=session,
        )
        for c in connections
    ]


@transaction.atomic
def deliveries_for_publish(*, version, by=None) -> list[Delivery]:
    connections = [c for c in Connection.objects.receiving(Event.TREE_PUBLISHED) if not c.is_psa]
    data = payloads.tree_data(version)
    at = clock.now()
    return [
        delivery_queue(
            connection=c,
            event=Event.TREE_PUBLISHED,
            payload_for=_event_for(Event.TREE_PUBLISHED, data, at),
            by=by,
        )
        for c in connections
    ]


@transaction.atomic
def session_post_to_ticket(*, session: Session, by) -> list[Delivery]:
    """The `Post to ticket` button: the note for every active PSA connection that
    does not already have it (posted or on its way); a failed one is retried.

    The session row is locked, so a double click queues the note once.
    """
    session = Session.objects.select_for_update().get(pk=session.pk)
    if session.completed_at is None:
        raise CannotPost("Only a completed session can be posted to its ticket.")
    if not session.ticket_ref:
        raise CannotPost("This session has no ticket number to post to.")
    connections = list(Connection.objects.active().psa())
    if not connections:
        raise CannotPost("No PSA connection is set up; an admin can add one.")
    touched = []
    for connection in connections:
        existing = session.deliveries.filter(
            connection=connection, event=Event.SESSION_COMPLETED
        ).order_by("-pk")
        if existing.exclude(status=Delivery.Status.FAILED).exists():
            continue
        failed = existing.filter(status=Delivery.Status.FAILED).first()
        if failed is not None:
            delivery_retry(delivery=failed)
            touched.append(failed)
            continue
        touched.append(
            delivery_queue(
                connection=connection,
                event=Event.SESSION_COMPLETED,
                payload_for=_note_for(session, connection),
                session=session,
                by=by,
            )
        )
    return touched


@transaction.atomic
def delivery_retry(*, delivery: Delivery) -> bool:
    """Queue a failed delivery again, from its first attempt. False if it is not failed."""
    delivery = Delivery.objects.select_for_update().get(pk=delivery.pk)
    if delivery.status != Delivery.Status.FAILED:
        return False
    delivery.status = Delivery.Status.PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = clock.now()
    delivery.lease_until = None
    delivery.error = ""
    delivery.save(update_fields=["status", "attempts", "next_attempt_at", "lease_until", "error"])
    _enqueue(delivery)
    return True


@transaction.atomic
def session_retry_failed(*, session: Session) -> int:
    return sum(
        delivery_retry(delivery=d) for d in session.deliveries.filter(status=Delivery.Status.FAILED)
    )


# --- attempting (the worker) -----------------------------------------------------------


def backoff_seconds(attempts: int) -> float:
    """30 s, 60 s, 120 s, … after the 1st, 2nd, 3rd failure, capped at an hour, ±10 %."""
    base = settings.INTEGRATIONS_BACKOFF_SECONDS * (2 ** max(0, attempts - 1))
    return min(MAX_DELAY_SECONDS, base) * random.uniform(0.9, 1.1)  # noqa: S311


def _claim(delivery_id: int) -> Delivery | str:
    now = clock.now()
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update()
            .select_related("connection")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None:
            return "gone"
        if delivery.status == Delivery.Status.SENDING and (
            delivery.lease_until is None or delivery.lease_until > now
        ):
            return "held by another worker"
        if delivery.status not in (Delivery.Status.PENDING, Delivery.Status.SENDING):
            return f"already {delivery.status}"
        if delivery.next_attempt_at > now + timedelta(seconds=1):
            return "not due yet"
        if not delivery.connection.is_active:
            delivery.status = Delivery.Status.FAILED
            delivery.error = "The connection is switched off."
            delivery.save(update_fields=["status", "error"])
            return "connection off"
        delivery.status = Delivery.Status.SENDING
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.lease_until = now + timedelta(seconds=settings.INTEGRATIONS_LEASE_SECONDS)
        delivery.save(update_fields=["status", "attempts", "last_attempt_at", "lease_until"])
        return delivery


def delivery_attempt(*, delivery_id: int) -> str:
    """One attempt at one delivery (the worker's task). Returns what happened, briefly."""
    claimed = _claim(delivery_id)
    if isinstance(claimed, str):
        return claimed
    delivery = claimed

    def save_progress(progress: dict[str, Any]) -> None:
        Delivery.objects.filter(pk=delivery.pk).update(progress=progress)
        delivery.progress = progress

    try:
        client = client_for(delivery.connection)
    except CredentialsUnreadable as exc:
        _record_failure(delivery, DeliveryError(str(exc), retryable=False))
        return f"failed: {exc}"
    try:
        sent = client.deliver(delivery, save_progress)
    except DeliveryError as exc:
        outcome = _record_failure(delivery, exc)
    except (KeyError, TypeError, ValueError) as exc:
        # A payload or answer of a shape nobody planned for: record it, keep the worker alive.
        logger.warning("delivery %s failed: %s", delivery.pk, type(exc).__name__)
        outcome = _record_failure(
            delivery, DeliveryError(f"Unexpected {type(exc).__name__}.", retryable=False)
        )
    else:
        now = clock.now()
        Delivery.objects.filter(pk=delivery.pk, attempts=delivery.attempts).update(
            status=Delivery.Status.DELIVERED,
            delivered_at=now,
            lease_until=None,
            status_code=sent.status_code,
            request_summary=sent.request[:500],
            response_excerpt=sent.excerpt,
            error="",
        )
        outcome = f"delivered: {sent.detail}"
    finally:
        client.close()
    deliveries_recover()
    return outcome


def _record_failure(delivery: Delivery, exc: DeliveryError) -> str:
    now = clock.now()
    retry = exc.retryable and delivery.attempts < settings.INTEGRATIONS_MAX_ATTEMPTS
    fields: dict[str, Any] = {
        "lease_until": None,
        "status_code": exc.status_code,
        "request_summary": exc.request[:500],
        "response_excerpt": exc.excerpt,
        "error": exc.message[:500],
    }
    with transaction.atomic():
        if retry:
            delay = exc.retry_after if exc.retry_after is not None else None
            delay = backoff_seconds(delivery.attempts) if delay is None else delay
            delay = min(MAX_DELAY_SECONDS, delay)
            when = now + timedelta(seconds=delay)
            Delivery.objects.filter(pk=delivery.pk, attempts=delivery.attempts).update(
                status=Delivery.Status.PENDING, next_attempt_at=when, **fields
            )
            _enqueue(delivery, run_after=when)
            return f"will retry in {delay:.0f} s: {exc.message}"
        Delivery.objects.filter(pk=delivery.pk, attempts=delivery.attempts).update(
            status=Delivery.Status.FAILED, **fields
        )
    return f"failed: {exc.message}"


def deliveries_recover() -> int:
    """Hand deliveries whose worker died (lease run out) back to the queue."""
    now = clock.now()
    count = 0
    with transaction.atomic():
        for delivery in Delivery.objects.stale(now).select_for_update(skip_locked=True):
            delivery.status = Delivery.Status.PENDING
            delivery.lease_until = None
            delivery.next_attempt_at = now
            delivery.save(update_fields=["status", "lease_until", "next_attempt_at"])
            _enqueue(delivery)
            count += 1
    return count


# --- admin and Start form reads (network, never inside a transaction) -----------------


def connection_test(*, connection: Connection) -> tuple[bool, str]:
    """Call a harmless read endpoint; (worked, what to tell the admin). Never a secret."""
    try:
        client = client_for(connection)
    except CredentialsUnreadable as exc:
        return False, str(exc)
    try:
        return True, client.test()
    except DeliveryError as exc:
        return False, exc.message
    finally:
        client.close()


@dataclass(frozen=True)
class Lookup:
    connection: Connection
    ticket: Ticket | None
    message: str


def ticket_lookup(*, ticket_ref: str) -> Lookup | None:
    """The ticket in the default PSA connection; None when there is none to ask."""
    connection = Connection.objects.active().psa().filter(is_default=True).first()
    if connection is None or not ticket_ref.strip():
        return None
    try:
        client = client_for(connection, timeout=settings.INTEGRATIONS_LOOKUP_TIMEOUT_SECONDS)
    except CredentialsUnreadable:
        return Lookup(connection, None, "Could not look the ticket up: credentials unreadable.")
    try:
        ticket = client.lookup(ticket_ref.strip())
    except TicketNotFound as exc:
        return Lookup(connection, None, exc.message)
    except DeliveryError as exc:
        return Lookup(connection, None, f"Could not look the ticket up: {exc.message}")
    finally:
        client.close()
    return Lookup(connection, ticket, "")
