"""The background task the worker runs (django-tasks, database backend)."""

from __future__ import annotations

from django_tasks import task


@task()
def deliver(delivery_id: int) -> str:
    """One attempt at one delivery; schedules its own retry when one can help."""
    from integrations import services  # services enqueues this task: import at call time

    return services.delivery_attempt(delivery_id=delivery_id)
