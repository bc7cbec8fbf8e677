"""The one source of "now" for everything that records time.

Services and model defaults read the time through `now()`; tests swap the
implementation (the `clock` fixture in conftest.py) to control it exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from django.utils import timezone

_source: Callable[[], datetime] = timezone.now


def now() -> datetime:
    return _source()


@contextmanager
def source(read: Callable[[], datetime]) -> Iterator[None]:
    """Read "now" from `read` inside the block, then as before (the demo's simulated time)."""
    global _source
    previous = _source
    _source = read
    try:
        yield
    finally:
        _source = previous
