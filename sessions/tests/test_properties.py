"""Property-based test of the timing rules (SPEC §3).

Random valid trees, random walks of answers, Backs and clock ticks, then a
completion: the invariants the reports stand on must always hold.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessions import services
from sessions.models import Decision
from sessions.tests.factories import build_version, outcome

pytestmark = pytest.mark.django_db

_slugs = itertools.count()


@st.composite
def trees(draw) -> dict:
    """A valid tree: the last nodes are solutions and every other node has an edge
    to a later node, so a solution is reachable from everywhere (loops allowed)."""
    size = draw(st.integers(min_value=2, max_value=12))
    solutions = draw(st.integers(min_value=1, max_value=max(1, size // 3)))
    nodes = []
    for i in range(size):
        key = f"n{i}"
        if i >= size - solutions:
            nodes.append({"key": key, "kind": "solution", "title": f"Fix {i}"})
            continue
        forward = draw(st.integers(min_value=i + 1, max_value=size - 1))
        if draw(st.booleans()):
            nodes.append({"key": key, "kind": "action", "title": f"Do {i}", "next": f"n{forward}"})
            continue
        extra = draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=3))
        targets = [forward, *extra]
        nodes.append(
            {
                "key": key,
                "kind": "question",
                "title": f"Check {i}?",
                "choices": [
                    {"label": f"Answer {j}", "next": f"n{t}"} for j, t in enumerate(targets)
                ],
            }
        )
    return {"slug": f"prop-{next(_slugs)}", "name": "Property tree", "start": "n0", "nodes": nodes}


# Each move: (what, which choice, seconds that pass before it).
moves = st.lists(
    st.tuples(
        st.sampled_from(["answer", "answer", "answer", "back", "notes"]),
        st.integers(min_value=0, max_value=19),
        st.floats(min_value=0, max_value=900, allow_nan=False, allow_infinity=False),
    ),
    max_size=25,
)


def assert_log_invariants(session, *, completed: bool) -> list[Decision]:
    steps = list(session.decisions.order_by("seq"))
    assert [d.seq for d in steps] == list(range(1, len(steps) + 1))
    assert steps[0].entered_at == session.started_at
    for before, after in itertools.pairwise(steps):
        assert before.exited_at == after.entered_at  # contiguous: no gaps, no overlaps
    for step in steps:
        if step.exited_at is not None:
            assert step.duration_seconds >= 0
            assert step.exited_at >= step.entered_at
    open_steps = [d for d in steps if d.exited_at is None]
    assert len(open_steps) == (0 if completed else 1)
    if not completed:
        assert open_steps[0] is steps[-1]
    return steps


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(tree=trees(), walk=moves, final_wait=st.floats(min_value=0, max_value=600))
def test_it_keeps_the_timing_invariants_on_random_walks(alice, clock, tree, walk, final_wait):
    version = build_version(tree)
    session = services.session_create(tree=version.tree, engineer=alice)
    path = [tree["start"]]  # what the engineer expects the path to be
    seen: dict[int, tuple] = {}

    for what, pick, seconds in walk:
        clock.advance(seconds)
        step = session.decisions.get(exited_at__isnull=True)
        if what == "back":
            if len(path) == 1:
                with pytest.raises(services.InvalidInput):
                    services.decision_back(session=session, decision_id=step.pk)
            else:
                services.decision_back(session=session, decision_id=step.pk)
                path.pop()
        elif what == "notes":
            services.decision_save_notes(session=session, decision_id=step.pk, notes=f"n{pick}")
        elif step.node_kind == "question":
            choices = list(step.node.choices.select_related("target"))
            chosen = choices[pick % len(choices)]
            services.decision_answer(session=session, decision_id=step.pk, choice_id=chosen.pk)
            path.append(chosen.target.key)
        elif step.node_kind == "action":
            services.decision_done(session=session, decision_id=step.pk)
            path.append(step.node.next.key)
        steps = assert_log_invariants(session, completed=False)
        # Nothing recorded is ever deleted or rewritten once closed.
        for d in steps:
            if d.pk in seen and seen[d.pk][1] is not None:
                assert (d.entered_at, d.exited_at, d.exit) == seen[d.pk]
        assert set(seen) <= {d.pk for d in steps}
        seen = {d.pk: (d.entered_at, d.exited_at, d.exit) for d in steps}
        on_path = [d.node_key for d in steps if not d.undone and d.exit != "backtracked"]
        assert on_path == path
        session.refresh_from_db()
        assert session.step_count == len(path)

    clock.advance(final_wait)
    session = services.session_complete(session=session, outcome=outcome("resolved"), by=alice)
    steps = assert_log_invariants(session, completed=True)
    assert steps[-1].exit == Decision.Exit.SESSION_CLOSED
    assert steps[-1].exited_at == session.completed_at
    assert len(steps) >= len(seen)
    total = (session.completed_at - session.started_at) / timedelta(seconds=1)
    assert abs(sum(d.duration_seconds for d in steps) - total) <= len(steps)
    assert abs(session.duration_seconds - total) <= 0.5
