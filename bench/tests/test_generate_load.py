"""`generate_load`: deterministic, and every row obeys the model's rules (SPEC §3).

Small datasets here; the benchmark (`make bench`) loads the big one. These run
on PostgreSQL (rows go in with COPY) and on SQLite (bulk_create).
"""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection

from bench import loadgen
from bench.loadgen import LoadSpec, generate_load, generated_tree_spec, graph_nodes
from sessions.models import Decision, Handoff, Pause, Session, SessionChange
from trees.models import Choice, Node
from trees.validation import graph_problems

pytestmark = pytest.mark.django_db

UNTIL = datetime(2026, 2, 10, 17, 0, tzinfo=UTC)
SMALL = {"sessions": 200, "engineers": 12, "trees": 3, "days": 30, "until": UNTIL}


def _seconds(start: datetime, end: datetime) -> int:
    return max(0, int((end - start).total_seconds() + 0.5))


def _digest() -> str:
    """A hash of every generated row by natural keys (ids of users and nodes may differ)."""
    h = hashlib.sha256()
    sessions = Session.objects.select_related(
        "engineer", "tree", "version", "outcome", "created_by", "closed_by"
    ).order_by("id")
    for s in sessions:
        h.update(
            repr(
                (
                    str(s.id), s.engineer.username, s.tree.slug, s.version.number,
                    s.ticket_ref, s.client, s.summary, s.scratchpad,
                    s.outcome.code if s.outcome else None, s.outcome_notes, s.next_steps,
                    s.created_at.isoformat(), s.created_by.username if s.created_by else None,
                    s.started_at and s.started_at.isoformat(),
                    s.completed_at and s.completed_at.isoformat(),
                    s.closed_by.username if s.closed_by else None, s.closed_from,
                    s.step_count, s.duration_seconds,
                )
            ).encode()
        )  # fmt: skip
    for d in Decision.objects.select_related("choice", "tree").order_by("session_id", "seq"):
        h.update(
            repr(
                (
                    str(d.session_id), d.seq, d.node_key, d.node_kind, d.node_title,
                    d.choice.label if d.choice else None, d.answer_label, d.notes,
                    d.entered_at.isoformat(), d.exited_at and d.exited_at.isoformat(),
                    d.duration_seconds, d.exit, d.undone, d.tree.slug,
                    d.session_started_at.isoformat(),
                )
            ).encode()
        )  # fmt: skip
    changes = SessionChange.objects.select_related("changed_by")
    for c in changes.order_by("session_id", "changed_at", "field"):
        h.update(
            repr(
                (
                    str(c.session_id), c.field, c.old_value, c.new_value,
                    c.changed_by.username, c.changed_at.isoformat(), c.source,
                )
            ).encode()
        )  # fmt: skip
    for p in Pause.objects.select_related("decision").order_by("session_id", "started_at"):
        h.update(
            repr((str(p.session_id), p.decision.seq, p.kind, p.started_at, p.ended_at)).encode()
        )
    for o in Handoff.objects.order_by("session_id"):
        h.update(repr((str(o.session_id), o.at, o.note)).encode())
    return h.hexdigest()


def _delete_sessions() -> None:
    Pause.objects.all().delete()
    Handoff.objects.all().delete()
    SessionChange.objects.all().delete()
    Decision.objects.all().delete()
    Session.objects.all().delete()


def test_it_generates_the_same_rows_from_the_same_seed():
    generate_load(LoadSpec(seed=7, **SMALL))
    first = _digest()
    _delete_sessions()

    generate_load(LoadSpec(seed=7, **SMALL))  # people and trees now exist: reused
    assert _digest() == first
    _delete_sessions()

    generate_load(LoadSpec(seed=8, **SMALL))
    assert _digest() != first


def test_it_keeps_every_rule_of_the_session_model():
    result = generate_load(LoadSpec(seed=3, **SMALL))

    sessions = {s.pk: s for s in Session.objects.select_related("outcome")}
    assert len(sessions) == result.sessions == 200
    assert Decision.objects.count() == result.decisions
    steps_by_session = {
        key: list(group)
        for key, group in itertools.groupby(
            Decision.objects.order_by("session_id", "seq"), key=lambda d: d.session_id
        )
    }
    changes = Counter(
        SessionChange.objects.filter(field="outcome").values_list("session_id", flat=True)
    )
    pauses = {}
    for pause in Pause.objects.order_by("started_at"):
        pauses.setdefault(pause.decision_id, []).append(pause)
    idle = timedelta(minutes=30)
    nodes = {n.pk: n for n in Node.objects.all()}
    choices = {c.pk: c for c in Choice.objects.all()}
    statuses = Counter()

    for session in sessions.values():
        statuses[session.status] += 1
        steps = steps_by_session.get(session.pk, [])
        assert session.created_at <= UNTIL
        if session.is_prepared:
            assert steps == []
            assert (session.step_count, session.outcome_id, session.completed_at) == (0, None, None)
            assert session.pk not in changes
            continue

        assert session.created_at <= session.started_at
        assert [d.seq for d in steps] == list(range(1, len(steps) + 1))
        assert steps[0].entered_at == session.started_at
        assert nodes[steps[0].node_id].is_start
        for before, after in itertools.pairwise(steps):
            assert before.exited_at == after.entered_at  # contiguous
        open_steps = [d for d in steps if d.exited_at is None]
        for step in steps:
            node = nodes[step.node_id]
            assert node.version_id == session.version_id
            # The copies the reports read instead of joining sessions.
            assert step.tree_id == session.tree_id
            assert step.session_started_at == session.started_at
            assert (step.node_key, step.node_kind, step.node_title) == (
                node.key,
                node.kind,
                node.title,
            )
            if step.exited_at is not None:
                assert step.duration_seconds == _seconds(step.entered_at, step.exited_at)
                assert step.exit != ""
                # SPEC §9: pauses inside the step, active time its span less them,
                # and no stretch between two actions longer than the idle limit.
                mine = pauses.get(step.pk, [])
                paused = sum((p.ended_at - p.started_at for p in mine), start=timedelta(0))
                assert step.active_seconds == min(
                    step.duration_seconds,
                    _seconds(step.entered_at + paused, step.exited_at),
                )
                marks = [step.entered_at]
                for pause in mine:
                    assert step.entered_at <= pause.started_at <= pause.ended_at
                    assert pause.ended_at <= step.exited_at
                    marks += [pause.started_at, pause.ended_at]
                marks.append(step.exited_at)
                for start, end in zip(marks[::2], marks[1::2], strict=True):
                    assert end - start <= idle + timedelta(microseconds=1)
            else:
                assert step.active_seconds is None and step.pk not in pauses
        assert session.step_count == sum(
            1
            for d in steps
            if not d.undone and d.exit not in (Decision.Exit.BACKTRACKED, Decision.Exit.HANDED_OFF)
        )
        _assert_path_follows_the_tree(steps, nodes, choices)

        if session.is_active:
            assert open_steps == [steps[-1]]
            assert steps[-1].exit == "" and steps[-1].duration_seconds is None
            assert steps[-1].entered_at <= UNTIL
            assert session.outcome_id is None and session.duration_seconds is None
            assert session.pk not in changes
        else:
            assert open_steps == []
            assert steps[-1].exit == Decision.Exit.SESSION_CLOSED
            assert steps[-1].exited_at == session.completed_at <= UNTIL
            assert session.duration_seconds == _seconds(session.started_at, session.completed_at)
            assert session.outcome is not None
            assert session.closed_by_id is not None
            assert session.closed_from in ("navigation", "history")
            assert abs(sum(d.active_seconds for d in steps) - session.active_seconds) <= len(steps)
            assert session.active_seconds <= session.duration_seconds
            change = SessionChange.objects.get(session=session, field="outcome")
            assert change.old_value == ""
            assert change.new_value == session.outcome.code
            assert change.changed_at == session.completed_at
            assert change.changed_by_id == session.closed_by_id
            assert change.source == session.closed_from

    assert statuses == {"completed": 192, "active": 5, "prepared": 3}
    assert (result.completed, result.active, result.prepared) == (192, 5, 3)
    assert Decision.objects.filter(exit=Decision.Exit.BACKTRACKED).exists()
    assert SessionChange.objects.filter(field="outcome").count() == 192
    # Pauses, idle gaps and hand-offs in realistic proportions.
    assert Pause.objects.filter(kind="manual").exists()
    assert Pause.objects.filter(kind="idle").exists()
    assert 0 < Handoff.objects.count() < 20
    for handoff in Handoff.objects.select_related("session"):
        assert handoff.session.engineer_id == handoff.to_engineer_id != handoff.from_engineer_id


def _assert_path_follows_the_tree(steps, nodes, choices) -> None:
    """Replay the log as the services write it: answers lead where the tree says,
    a Back undoes the last answer still on the path and reopens its node."""
    path: list[Decision] = []
    undone: set[int] = set()
    for step, following in itertools.pairwise([*steps, None]):
        node = nodes[step.node_id]
        if step.exit == Decision.Exit.ANSWERED:
            if node.kind == "question":
                choice = choices[step.choice_id]
                assert choice.node_id == node.pk
                assert step.answer_label == choice.label
                expected = choice.target_id
            else:
                assert node.kind == "action"
                assert (step.choice_id, step.answer_label) == (None, "Done")
                expected = node.next_id
            assert following is not None and following.node_id == expected
            path.append(step)
        elif step.exit == Decision.Exit.BACKTRACKED:
            assert path, "a Back needs an answer to undo"
            previous = path.pop()
            undone.add(previous.pk)
            assert following is not None and following.node_id == previous.node_id
        elif step.exit == Decision.Exit.HANDED_OFF:
            # The same node reopens for the colleague.
            assert following is not None and following.node_id == step.node_id
        else:
            assert following is None  # session_closed or open: the last record
        assert (step.choice_id is None) == (step.exit != "answered" or node.kind != "question")
    assert {d.pk for d in steps if d.undone} == undone
    assert all(not d.undone for d in path)


def test_it_puts_people_in_their_groups():
    generate_load(LoadSpec(seed=1, **SMALL))
    User = get_user_model()
    engineers = User.objects.filter(groups__name="Engineers", username__startswith="eng")
    managers = User.objects.filter(groups__name="Managers", username__startswith="mgr")
    assert engineers.count() == 12
    assert managers.count() == 2
    assert not any(user.has_usable_password() for user in engineers)
    assert set(Session.objects.values_list("engineer__username", flat=True)) <= set(
        engineers.values_list("username", flat=True)
    )


def test_it_generates_valid_trees_of_20_to_200_nodes_with_loops():
    for index in range(1, 41):
        spec = generated_tree_spec(index)
        graph = graph_nodes(spec)
        assert graph_problems(graph) == []
        assert 20 <= len(graph) <= 200
        order = {node.key: i for i, node in enumerate(graph)}
        questions = [node for node in graph if node.kind == "question"]
        assert all(2 <= len(node.choices) <= 5 for node in questions)
        loops = [
            choice
            for node in questions
            for choice in node.choices
            if order[choice.target] <= order[node.key]
        ]
        assert loops, f"tree {index} has no loop"
    assert generated_tree_spec(5) == generated_tree_spec(5)


def test_it_spreads_sessions_over_trees_and_time():
    generate_load(LoadSpec(seed=5, **{**SMALL, "sessions": 600}))
    per_tree = Counter(Session.objects.values_list("tree__slug", flat=True))
    ranked = per_tree.most_common()
    assert len(per_tree) >= 8
    assert ranked[0][1] >= 4 * ranked[-1][1]  # Zipf-like: a few trees dominate
    started = Session.objects.exclude(started_at=None).values_list("started_at", flat=True)
    assert min(started) >= UNTIL - timedelta(days=30 + 2)
    durations = list(
        Decision.objects.exclude(duration_seconds=None).values_list("duration_seconds", flat=True)
    )
    assert len(set(durations)) > 100  # log-normal spread, not a constant
    outcomes = Counter(
        Session.objects.exclude(outcome=None).values_list("outcome__code", flat=True)
    )
    assert outcomes.most_common(1)[0][0] == "resolved"
    assert {"escalated", "workaround", "unresolved"} <= set(outcomes)


def test_it_loads_through_copy_on_postgresql_and_bulk_create_elsewhere():
    expected = (
        loadgen._CopyWriter if connection.vendor == "postgresql" else loadgen._BulkCreateWriter
    )
    assert type(loadgen._writer()) is expected


def test_the_command_reports_what_it_made_and_refuses_a_seed_twice():
    out, err = StringIO(), StringIO()
    args = ["--sessions", "50", "--engineers", "5", "--trees", "2", "--days", "10"]
    call_command(
        "generate_load", *args, "--seed", "4", "--until", "2026-02-10", stdout=out, stderr=err
    )
    assert "Generated 50 sessions" in out.getvalue()
    assert "50/50 sessions" in err.getvalue()  # the progress bar
    assert Session.objects.count() == 50
    assert max(Session.objects.values_list("created_at", flat=True)) <= datetime(
        2026, 2, 10, 23, 59, 59, tzinfo=UTC
    )

    with pytest.raises(CommandError, match="already in this database"):
        call_command("generate_load", *args, "--seed", "4", "--until", "2026-02-10", stdout=out)
    assert Session.objects.count() == 50

    with pytest.raises(CommandError, match="not YYYY-MM-DD"):
        call_command("generate_load", *args, "--until", "tomorrow", stdout=out)
