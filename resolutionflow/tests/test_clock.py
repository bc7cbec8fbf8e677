"""`clock.source`: a block reads another "now" and the previous one comes back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from resolutionflow import clock

THEN = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_it_reads_the_given_source_inside_the_block_only():
    before = clock.now()
    with clock.source(lambda: THEN):
        assert clock.now() == THEN
    assert clock.now() >= before != THEN


def test_it_restores_the_previous_source_when_the_block_fails():
    with pytest.raises(RuntimeError), clock.source(lambda: THEN):
        raise RuntimeError
    assert clock.now() != THEN
