"""A realistic session history for the demo (`manage.py seed_demo`).

Every session is played through `sessions.services` with the clock patched to
the simulated time, exactly as engineers would have produced it: contiguous
timed steps, backtracks kept as undone answers, audited outcomes. Nothing is
written by hand, so the demo data obeys every rule the app enforces.

Deterministic: the same seed and `now` give the same history. Idempotent: the
demo sessions have fixed ids, and if they already exist nothing is added.
"""

from __future__ import annotations

import math
import random
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from resolutionflow import clock
from sessions import services
from sessions.models import ClosedFrom, Outcome, Session
from trees.models import Node, Tree, TreeVersion

DEMO_NAMESPACE = uuid.UUID("0f6b1d2e-8c1a-4b8e-9a57-5e4d3c2b1a09")
DEFAULT_SEED = 20260210

# Outcome mix of completed sessions (SPEC §3 codes), roughly what an MSP sees.
OUTCOME_MIX = {
    "resolved": 60,
    "escalated": 12,
    "workaround": 10,
    "cancelled": 7,
    "unresolved": 6,
    "resolved_externally": 5,
}
ENGINEER_MIX = {"engineer": 46, "engineer2": 46, "manager": 8}
ACTIVE_SESSIONS = 5
# SPEC §9, drawn from their own random stream so the rest of the history stays
# as it was: a manual pause on some steps (a phone call, lunch), and escalations
# handed to a colleague who finishes them.
PAUSE_CHANCE = 0.04
HANDOFF_SHARE = 0.5  # of escalated sessions
HANDOFF_NOTES = [
    "Reset creds and reinstalled the client; still fails at the same step. Needs L2.",
    "Checked cabling and the switch port; the user is on site until 5.",
    "Tried the usual fixes; the logs are in the scratchpad. Over to you.",
]
PREPARED_SESSIONS = 3
CHUNK = 50  # sessions per transaction: fast, and a crash loses little
MAX_STEPS = 30

CLIENTS = [
    ("Acme Dental", 9),
    ("Northwind Logistics", 8),
    ("Harbour Accountants", 7),
    ("Bluebell Primary School", 6),
    ("Castle & Finch Solicitors", 6),
    ("Riverside Veterinary", 5),
    ("Oakley Architects", 5),
    ("Greenway Housing", 4),
    ("Summit Physio", 4),
    ("Kingfisher Marine", 3),
    ("Meridian Travel", 3),
    ("Lumen Print Co", 2),
]
CALLERS = [
    "the receptionist",
    "the office manager",
    "a partner",
    "a remote worker",
    "the finance lead",
    "a new starter",
    "the practice manager",
    "a site engineer",
]
SUMMARIES = [
    "{caller} reports: {problem}.",
    "{problem} — reported by {caller}, affects one user.",
    "{problem}. Raised by {caller} by phone.",
    "{problem}; {caller} says it started this morning.",
    "Recurring: {problem}. Logged by {caller}.",
]
STEP_NOTES = [
    "Confirmed with the user over Teams.",
    "Screenshot attached to the ticket.",
    "Checked from the RMM console.",
    "User was working from home on their own router.",
    "Reproduced while on the call.",
    "Had to wait for the user to find their laptop charger.",
    "Same result on a second attempt.",
    "User restarted as asked; no change.",
    "Event log shows the same error every few minutes.",
]
SCRATCHPADS = [
    "Asset PC-{n:04d}\nUser ext. {ext}",
    "Callback number 07700 9{ext:05d}",
    "Error code 0x8007{n:04x}\nSeen since the last update.",
    "IP 10.{a}.{b}.{c}\nGateway 10.{a}.{b}.1",
    "User in a meeting until 14:00, call back after.",
]
OUTCOME_NOTES = {
    "resolved": [
        "Fixed following the tree; user confirmed it works.",
        "Resolved on the call; user happy.",
        "Working again. Told the user how to spot it next time.",
    ],
    "escalated": [
        "Escalated to the L3 team with logs attached.",
        "Needs a change on the firewall: passed to networking.",
        "Vendor ticket raised; reference in the PSA.",
    ],
    "workaround": [
        "Workaround in place; root cause still to find.",
        "User working via webmail for now.",
        "Temporary fix applied; will recur until the update ships.",
    ],
    "unresolved": [
        "Could not reproduce; user to call back if it happens again.",
        "Ran out of ideas within the tree; booked an onsite visit.",
    ],
    "cancelled": [
        "Duplicate of an open ticket.",
        "User cancelled: problem went away.",
        "Logged against the wrong client.",
    ],
    "resolved_externally": [
        "ISP fixed their outage.",
        "Microsoft incident resolved upstream.",
        "Client's own IT person sorted it before we called back.",
    ],
}
NEXT_STEPS = {
    "escalated": ["Chase L3 tomorrow morning.", "Update the client when the vendor replies."],
    "workaround": ["Book time to fix the root cause.", "Review after the next patch cycle."],
    "unresolved": ["Follow up with the user on Friday.", "Onsite visit booked."],
}


# --- the tree as a graph ---------------------------------------------------------


@dataclass
class DemoNode:
    node: Node
    choices: list[tuple[int, int]] = field(default_factory=list)  # (choice id, target id)

    @property
    def kind(self) -> str:
        return self.node.kind

    @property
    def escalates(self) -> bool:
        text = f"{self.node.key} {self.node.title}".lower()
        return self.kind == Node.Kind.SOLUTION and "escalat" in text


@dataclass
class DemoTree:
    tree: Tree
    version: TreeVersion
    nodes: dict[int, DemoNode]
    start: int
    fixes: list[int]  # solutions that fix the problem
    escalations: list[int]  # solutions that hand it on
    # distance[solution][node]: steps from node to that solution.
    distance: dict[int, dict[int, int]]

    def destination(self, rng: random.Random, outcome: str | None) -> dict[int, int]:
        """Where this session is heading: a fix, an escalation, or any solution."""
        if outcome == "escalated" and self.escalations:
            pool = self.escalations
        elif outcome in ("escalated", "unresolved", None):
            pool = self.fixes + self.escalations
        else:
            pool = self.fixes or self.escalations
        return self.distance[rng.choice(pool)]

    def targets(self, node_id: int) -> list[tuple[int | None, int]]:
        """(choice id or None for an action's next, target node id)."""
        demo = self.nodes[node_id]
        if demo.kind == Node.Kind.ACTION:
            return [(None, demo.node.next_id)]
        return demo.choices


def _distances(nodes: dict[int, DemoNode], goals: set[int]) -> dict[int, int]:
    """Breadth-first distance from every node to the nearest goal, on reversed edges."""
    incoming: dict[int, list[int]] = {pk: [] for pk in nodes}
    for pk, demo in nodes.items():
        successors = [demo.node.next_id] if demo.kind == Node.Kind.ACTION else []
        successors += [target for _, target in demo.choices]
        for target in successors:
            if target in incoming:
                incoming[target].append(pk)
    distance = dict.fromkeys(goals, 0)
    queue = deque(goals)
    while queue:
        current = queue.popleft()
        for previous in incoming[current]:
            if previous not in distance:
                distance[previous] = distance[current] + 1
                queue.append(previous)
    return distance


def _load_trees() -> list[DemoTree]:
    trees = []
    versions = (
        TreeVersion.objects.filter(status=TreeVersion.Status.PUBLISHED, tree__is_archived=False)
        .select_related("tree")
        .order_by("tree__slug")
    )
    for version in versions:
        nodes = {
            node.pk: DemoNode(node)
            for node in version.nodes.prefetch_related("choices").order_by("position", "id")
        }
        for demo in nodes.values():
            demo.choices = [
                (choice.pk, choice.target_id)
                for choice in sorted(demo.node.choices.all(), key=lambda c: (c.position, c.pk))
                if choice.target_id in nodes
            ]
        start = next((pk for pk, d in nodes.items() if d.node.is_start), None)
        if start is None:
            continue
        solutions = [pk for pk, d in nodes.items() if d.kind == Node.Kind.SOLUTION]
        trees.append(
            DemoTree(
                tree=version.tree,
                version=version,
                nodes=nodes,
                start=start,
                fixes=[pk for pk in solutions if not nodes[pk].escalates],
                escalations=[pk for pk in solutions if nodes[pk].escalates],
                distance={pk: _distances(nodes, {pk}) for pk in solutions},
            )
        )
    return trees


# --- the simulation ------------------------------------------------------------------


class _Clock:
    """The simulated time services read while the history is generated."""

    def __init__(self) -> None:
        self.current = timezone.now()

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _step_seconds(rng: random.Random, kind: str) -> float:
    """Log-normal dwell times: seconds for a check, minutes for an action, a few long."""
    median, sigma = {"question": (35, 0.9), "action": (150, 0.8), "solution": (240, 0.7)}[kind]
    seconds = rng.lognormvariate(math.log(median), sigma)
    if rng.random() < 0.04:  # waiting on a reboot, a callback, an update
        seconds *= rng.uniform(4, 10)
    return min(max(seconds, 3.0), 2 * 3600) + rng.random()


def _pick(rng: random.Random, tree: DemoTree, node_id: int, distance: dict[int, int]) -> tuple:
    """A choice, mostly one that leads towards the destination (loops happen, rarely)."""
    options = tree.targets(node_id)
    weights = [1 / (1 + distance.get(target, 50)) ** 3 for _, target in options]
    return rng.choices(options, weights=weights)[0]


@dataclass
class _Plan:
    index: int
    engineer: object
    tree: DemoTree
    started: datetime
    outcome: str | None  # None: leave it active


def _walk(
    rng: random.Random,
    sim: _Clock,
    plan: _Plan,
    session: Session,
    *,
    stop_by: datetime | None = None,
    life: random.Random | None = None,
) -> DemoNode:
    """Step through the tree through the services; return the node it stops at."""
    tree = plan.tree
    goal = tree.destination(rng, plan.outcome)
    if plan.outcome in ("cancelled", "resolved_externally"):
        limit = rng.randint(0, 2)
    elif plan.outcome == "unresolved" or (plan.outcome == "escalated" and rng.random() < 0.3):
        limit = rng.randint(2, 8)  # gives up part-way: a drop-off in the reports
    elif plan.outcome is None:
        limit = rng.randint(0, 4)
    else:
        limit = MAX_STEPS
    backtrack_at = rng.randint(1, 4) if rng.random() < 0.09 else None

    path: list[int] = []
    node_id = tree.start
    steps = 0
    while tree.nodes[node_id].kind != Node.Kind.SOLUTION and steps < limit:
        kind = tree.nodes[node_id].kind
        seconds = _step_seconds(rng, kind)
        if stop_by is not None and sim.current + timedelta(seconds=seconds) >= stop_by:
            break
        sim.advance(seconds)
        if life is not None and plan.outcome is not None and life.random() < PAUSE_CHANCE:
            services.session_pause(session=session, by=plan.engineer)
            sim.advance(life.uniform(300, 1_500))
            services.session_resume(session=session, by=plan.engineer)
        notes = rng.choice(STEP_NOTES) if rng.random() < 0.15 else None
        if steps == backtrack_at and path:
            services.decision_back(session=session, decision_id=None, notes=notes)
            node_id = path.pop()
            backtrack_at = None
            continue
        choice_id, target = _pick(rng, tree, node_id, goal)
        if kind == Node.Kind.ACTION:
            services.decision_done(session=session, decision_id=None, notes=notes)
        else:
            services.decision_answer(
                session=session, decision_id=None, choice_id=choice_id, notes=notes
            )
        path.append(node_id)
        node_id = target
        steps += 1
    return tree.nodes[node_id]


def _fields(rng: random.Random, tree: DemoTree, ticket: int) -> dict:
    client = rng.choices([c for c, _ in CLIENTS], weights=[w for _, w in CLIENTS])[0]
    summary = rng.choice(SUMMARIES).format(caller=rng.choice(CALLERS), problem=tree.tree.name)
    return {
        "ticket_ref": f"T-{ticket}",
        "client": client,
        "summary": summary[0].upper() + summary[1:],
    }


def _scratchpad(rng: random.Random) -> str:
    return rng.choice(SCRATCHPADS).format(
        n=rng.randint(1, 4000),
        ext=rng.randint(100, 99999),
        a=rng.randint(0, 50),
        b=rng.randint(0, 255),
        c=rng.randint(2, 250),
    )


def _past_days(today: date, days: int) -> list[date]:
    """The `days` days before today (today itself only gets the active sessions)."""
    return [today - timedelta(days=n) for n in range(1, days + 1)]


def _demo_id(seed: int, index: int) -> uuid.UUID:
    return uuid.uuid5(DEMO_NAMESPACE, f"{seed}:{index}")


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def seed_history(
    *,
    seed: int = DEFAULT_SEED,
    sessions: int = 300,
    days: int = 60,
    now: datetime | None = None,
) -> int:
    """Generate about `sessions` sessions over the last `days` days; return how many exist.

    Completed sessions spread over working hours of past days, plus a handful
    started in the last two hours and still active, plus a few prepared by the
    manager and waiting. Does nothing if the demo history is already there.
    """
    total = sessions + ACTIVE_SESSIONS + PREPARED_SESSIONS
    ids = [_demo_id(seed, index) for index in range(total)]
    existing = Session.objects.filter(pk__in=ids).count()
    if existing:
        return existing

    users = {
        u.get_username(): u
        for u in get_user_model().objects.filter(username__in=list(ENGINEER_MIX))
    }
    engineers = {name: weight for name, weight in ENGINEER_MIX.items() if name in users}
    trees = _load_trees()
    if not engineers or not trees:
        return 0
    outcomes = {o.code: o for o in Outcome.objects.filter(code__in=list(OUTCOME_MIX))}
    mix = {code: weight for code, weight in OUTCOME_MIX.items() if code in outcomes}

    rng = random.Random(seed)
    now = (now or timezone.now()).astimezone(UTC).replace(microsecond=0)
    popularity = [rng.uniform(0.5, 3.0) for _ in trees]
    # MSP desks are quiet at weekends: keep only a few weekend days.
    day_pool = [d for d in _past_days(now.date(), days) if d.weekday() < 5 or rng.random() < 0.15]

    plans = []
    for index in range(sessions):
        day = rng.choice(day_pool)
        started = datetime.combine(
            day, time(rng.randint(8, 17), rng.randint(0, 59), rng.randint(0, 59)), tzinfo=UTC
        ) + timedelta(microseconds=rng.randint(0, 999_999))
        plans.append(
            _Plan(
                index=index,
                engineer=users[_weighted(rng, engineers)],
                tree=rng.choices(trees, weights=popularity)[0],
                started=started,
                outcome=_weighted(rng, mix),
            )
        )
    plans.sort(key=lambda p: p.started)  # tickets numbered in the order they came in
    for offset in range(ACTIVE_SESSIONS):
        plans.append(
            _Plan(
                index=sessions + offset,
                engineer=users[_weighted(rng, engineers)],
                tree=rng.choices(trees, weights=popularity)[0],
                started=now - timedelta(minutes=rng.randint(8, 110), seconds=rng.randint(0, 59)),
                outcome=None,
            )
        )

    sim = _Clock()
    life = random.Random(f"{seed}:lifecycle")
    ticket = 40_000 + rng.randint(0, 500)
    with clock.source(sim.now):
        for chunk in _chunks(plans, CHUNK):
            with transaction.atomic():
                for plan in chunk:
                    ticket += rng.randint(1, 9)
                    _play(rng, sim, plan, ids[plan.index], ticket, outcomes, users, now, life)
        # One session in progress waits for the demo engineer as a hand-off.
        receiver = users.get("engineer")
        giver = next((p for p in plans if p.outcome is None and p.engineer != receiver), None)
        if receiver is not None and giver is not None:
            sim.current = now - timedelta(seconds=30)
            services.session_hand_off(
                session=Session.objects.get(pk=ids[giver.index]),
                to=receiver,
                by=giver.engineer,
                note=HANDOFF_NOTES[0],
            )
        manager = users.get("manager")
        with transaction.atomic():
            for offset in range(PREPARED_SESSIONS):
                ticket += rng.randint(1, 9)
                tree = rng.choices(trees, weights=popularity)[0]
                engineer = users.get(["engineer", "engineer2"][offset % 2]) or next(
                    iter(users.values())
                )
                sim.current = now - timedelta(hours=rng.randint(1, 20), minutes=rng.randint(0, 59))
                services.session_prepare(
                    tree=tree.tree,
                    engineer=engineer,
                    by=manager or engineer,
                    session_id=ids[sessions + ACTIVE_SESSIONS + offset],
                    **_fields(rng, tree, ticket),
                )
    return Session.objects.filter(pk__in=ids).count()


def _play(
    rng: random.Random,
    sim: _Clock,
    plan: _Plan,
    session_id: uuid.UUID,
    ticket: int,
    outcomes: dict[str, Outcome],
    users: dict,
    now: datetime,
    life: random.Random,
) -> None:
    """One session from Start to its outcome (or left active), through the services."""
    sim.current = plan.started
    session = services.session_create(
        tree=plan.tree.tree,
        engineer=plan.engineer,
        session_id=session_id,
        **_fields(rng, plan.tree, ticket),
    )
    if plan.outcome is None:
        _walk(rng, sim, plan, session, stop_by=now - timedelta(minutes=1))
        if rng.random() < 0.6:
            services.session_save_scratchpad(session=session, text=_scratchpad(rng))
        return

    last = _walk(rng, sim, plan, session, life=life)
    if rng.random() < 0.25:
        services.session_save_scratchpad(session=session, text=_scratchpad(rng))
    if last.kind == Node.Kind.SOLUTION:
        sim.advance(_step_seconds(rng, "solution"))
    else:
        sim.advance(rng.uniform(10, 90))
    code = plan.outcome
    from_history = rng.random() < 0.15
    closer = plan.engineer
    if code == "escalated" and life.random() < HANDOFF_SHARE:
        colleagues = [u for name, u in users.items() if u.pk != plan.engineer.pk]
        if colleagues:
            senior = life.choice(colleagues)
            services.session_hand_off(
                session=session, to=senior, by=plan.engineer, note=life.choice(HANDOFF_NOTES)
            )
            sim.advance(life.uniform(120, 1_200))
            closer = senior
    if from_history and "manager" in users and rng.random() < 0.3:
        closer = users["manager"]
    services.session_complete(
        session=session,
        outcome=outcomes[code],
        by=closer,
        source=ClosedFrom.HISTORY if from_history else ClosedFrom.NAVIGATION,
        outcome_notes=rng.choice(OUTCOME_NOTES[code]) if rng.random() < 0.8 else "",
        next_steps=rng.choice(NEXT_STEPS[code]) if code in NEXT_STEPS else "",
    )
