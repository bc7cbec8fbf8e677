"""Property-based test of the timing rules (SPEC §3, §9).

Random valid trees, random walks of answers, Backs, notes, pauses, resumes,
idle gaps, hand-offs and clock ticks, then a completion: the invariants the
reports stand on must hold after every action.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessions import services
from sessions.models import Decision, Handoff, Pause
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


# Each move: (what, which choice, seconds that pass before it). Some gaps are
# far beyond IDLE_AFTER_MINUTES (30 in the test settings' default).
moves = st.lists(
    st.tuples(
        st.sampled_from(
            ["answer", "answer", "answer", "back", "notes", "pause", "resume", "handoff"]
        ),
        st.integers(min_value=0, max_value=19),
        st.one_of(
            st.floats(min_value=0, max_value=900, allow_nan=False, allow_infinity=False),
            st.floats(min_value=1_700, max_value=4 * 3_600, allow_nan=False, allow_infinity=False),
        ),
    ),
    max_size=25,
)


def assert_active_invariants(session, steps: list[Decision], *, completed: bool) -> None:
    """SPEC §9: pauses lie inside one step each, active time within wall-clock time."""
    session.refresh_from_db()
    pauses = list(session.pauses.order_by("started_at", "pk"))
    by_step = {d.pk: d for d in steps}
    open_pauses = [p for p in pauses if p.ended_at is None]
    assert len(open_pauses) <= (0 if completed else 1)
    assert (session.paused_at is not None) == bool(open_pauses)
    if open_pauses:
        assert open_pauses[0].started_at == session.paused_at
        assert by_step[open_pauses[0].decision_id].exited_at is None
    for pause in pauses:
        step = by_step[pause.decision_id]
        assert step.entered_at <= pause.started_at
        if pause.ended_at is not None:
            assert pause.started_at <= pause.ended_at
            assert step.exited_at is None or pause.ended_at <= step.exited_at
        if pause.kind == Pause.Kind.IDLE:
            assert pause.by is None and pause.ended_at is not None
    closed = sum(p.seconds for p in pauses if p.ended_at is not None)
    assert abs(session.paused_seconds - closed) < 1e-3
    for step in steps:
        if step.exited_at is None:
            assert step.active_seconds is None
        else:
            assert 0 <= step.active_seconds <= step.duration_seconds
            paused = sum(p.seconds for p in pauses if p.decision_id == step.pk)
            span = (step.exited_at - step.entered_at).total_seconds()
            assert abs(step.active_seconds - (span - paused)) <= 0.5 + 1e-6
    # Every step was taken by whoever owned the session then.
    owner = session.handoffs.order_by("at", "pk").values_list("from_engineer", flat=True).first()
    owner = owner or session.engineer_id
    handoffs = list(session.handoffs.order_by("at", "pk"))
    for step in steps:
        assert step.engineer_id == owner
        if step.exit == Decision.Exit.HANDED_OFF:
            handoff = handoffs.pop(0)
            assert handoff.at == step.exited_at and handoff.from_engineer_id == owner
            owner = handoff.to_engineer_id
    assert not handoffs
    assert owner == session.engineer_id


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
def test_it_keeps_the_timing_invariants_on_random_walks(alice, bob, clock, tree, walk, final_wait):
    version = build_version(tree)
    session = services.session_create(tree=version.tree, engineer=alice)
    path = [tree["start"]]  # what the engineer expects the path to be
    seen: dict[int, tuple] = {}

    for what, pick, seconds in walk:
        clock.advance(seconds)
        step = session.decisions.get(exited_at__isnull=True)
        session.refresh_from_db()
        if what == "pause":
            services.session_pause(session=session, by=session.engineer)
        elif what == "resume":
            services.session_resume(session=session, by=session.engineer)
        elif what == "handoff":
            colleague = bob if session.engineer_id == alice.pk else alice
            services.session_hand_off(
                session=session,
                to=colleague,
                by=session.engineer,
                note=f"over to you {pick}",
                decision_id=step.pk,
            )
            with pytest.raises(services.StaleDecision):  # the same page again: refused
                services.session_hand_off(
                    session=session, to=colleague, by=colleague, note="again", decision_id=step.pk
                )
        elif what == "back":
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
        assert_active_invariants(session, steps, completed=False)
        # Nothing recorded is ever deleted or rewritten once closed.
        for d in steps:
            if d.pk in seen and seen[d.pk][1] is not None:
                assert (d.entered_at, d.exited_at, d.exit) == seen[d.pk]
        assert set(seen) <= {d.pk for d in steps}
        seen = {d.pk: (d.entered_at, d.exited_at, d.exit) for d in steps}
        on_path = [
            d.node_key
            for d in steps
            if not d.undone and d.exit not in ("backtracked", "handed_off")
        ]
        assert on_path == path
        session.refresh_from_db()
        assert session.step_count == len(path)

    clock.advance(final_wait)
    session = services.session_complete(session=session, outcome=outcome("resolved"), by=alice)
    steps = assert_log_invariants(session, completed=True)
    assert_active_invariants(session, steps, completed=True)
    assert steps[-1].exit == Decision.Exit.SESSION_CLOSED
    assert steps[-1].exited_at == session.completed_at
    assert len(steps) >= len(seen)
    total = (session.completed_at - session.started_at) / timedelta(seconds=1)
    assert abs(sum(d.duration_seconds for d in steps) - total) <= len(steps)
    assert abs(session.duration_seconds - total) <= 0.5
    # Active time: the step active times add up to the session's (± rounding),
    # which is the total less every pause.
    paused = sum(p.seconds for p in session.pauses.all())
    assert abs(session.active_seconds - (total - paused)) <= 0.5 + 1e-6
    assert abs(sum(d.active_seconds for d in steps) - session.active_seconds) <= len(steps)
    assert session.active_seconds <= session.duration_seconds
    assert Handoff.objects.filter(session=session).count() == len(
        [d for d in steps if d.exit == Decision.Exit.HANDED_OFF]
    )
