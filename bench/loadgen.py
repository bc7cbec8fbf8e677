"""A large, realistic and deterministic dataset for the benchmark (`manage.py generate_load`).

What it makes, for a year of a large MSP by default:

- people: `--engineers` engineers (group Engineers) and a few managers (Managers),
  with unusable passwords (log in as them with `changepassword` or `force_login`);
- trees: every demo tree (`trees/demo/*.json`) plus `--trees` generated trees of
  20–200 nodes (valid: every node reachable, a solution reachable from every
  node, 2–5 answers per question, some answers looping back);
- sessions: Zipf-like tree popularity, engineers of uneven activity, working
  hours on weekdays, log-normal step durations per node, a realistic outcome
  mix, some Backs, some sessions prepared by a manager, and a few thousand
  active and prepared sessions at the end of the period.

Every row obeys the timing rules that `sessions.services` keeps (SPEC §3):
steps touch in time, one open step per active session and none after
completion, durations are `round(exit − entry)` half up, each step carries its
session's tree and start, `step_count` is the path length, a completed session
has an outcome and its audit rows, a prepared one has no steps. A Back is
recorded exactly as `decision_back` does it. SPEC §9 too: some steps hold a
manual pause, every gap between two actions beyond IDLE_AFTER_MINUTES is an
idle pause (as the services record it), some escalations are handed to a
colleague mid-step, each step records who took it, and active times (span less
pauses) add up per session. Steps get their ids here so pauses can name them;
the id sequence is moved past them at the end.

The same `seed` and `until` give the same rows: session ids come from the
seeded generator, and the generated trees and people depend only on their
index, so a second seed reuses them. Rows go in with PostgreSQL `COPY` (psycopg 3)
in transactions of a few thousand sessions, or large `bulk_create` batches on
other databases.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import random
import time
import uuid
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.management.color import no_style
from django.db import connection, models, transaction
from django.db.models import Max

from reports import rollups
from resolutionflow import clock
from sessions.models import ClosedFrom, Decision, Handoff, Outcome, Pause, Session, SessionChange
from trees.models import Choice, Node, Tree, TreeVersion
from trees.validation import GraphChoice, GraphNode, graph_problems

# Sessions written per transaction: big enough for COPY to stream, small
# enough that PostgreSQL's queue of deferred foreign-key checks stays small.
CHUNK_SESSIONS = 2_500
# A session never records more steps than this (loops end in a give-up).
MAX_STEPS = 60

GENERATED_SLUG = "gen-{:03d}"
ENGINEER_USERNAME = "eng{:04d}"
MANAGER_USERNAME = "mgr{:02d}"

# Outcome mix of completed sessions: (code, weight, reaches a solution).
OUTCOME_MIX = (
    ("resolved", 68, True),
    ("workaround", 8, True),
    ("escalated", 12, False),
    ("unresolved", 6, False),
    ("cancelled", 4, False),
    ("resolved_externally", 2, False),
)
ACTIVE_SHARE = 0.025
PREPARED_SHARE = 0.015
# Per step, the chance that the engineer goes Back instead of answering.
BACK_CHANCE = 0.03
# Share of completed sessions where the engineer is stuck: loops, Backs, long logs.
STUCK_SHARE = 0.01
STUCK_BACK_CHANCE = 0.12
# Share of sessions a manager prepared before the engineer started them.
PREPARED_BY_MANAGER_SHARE = 0.05
# Share of completed sessions closed from the history page rather than navigation.
CLOSED_FROM_HISTORY_SHARE = 0.15
# SPEC §9, drawn from a random stream of their own: per closed step, the chance of
# a manual pause (a call, lunch); the share of escalations handed to a colleague
# who finishes them. Idle time is not drawn: it is what the services record for
# any gap between two actions longer than IDLE_AFTER_MINUTES.
MANUAL_PAUSE_CHANCE = 0.02
HANDOFF_SHARE = 0.3
HANDOFF_NOTES = (
    "Tried the usual fixes; the logs are in the scratchpad. Over to you.",
    "Reset creds and reinstalled the client; still fails at the same step. Needs L2.",
    "User is on site until 5; everything up to this step checked out.",
)


class LoadError(Exception):
    """The dataset cannot be generated as asked (explained to the user)."""


@dataclass(frozen=True)
class LoadSpec:
    sessions: int
    engineers: int = 200
    trees: int = 30
    days: int = 365
    seed: int = 1
    # The end of the period: completed sessions end before it, active ones are open at it.
    until: datetime = field(default_factory=lambda: clock.now().replace(microsecond=0))

    def __post_init__(self) -> None:
        if self.sessions < 0:
            raise LoadError("--sessions must be 0 or more.")
        if self.engineers < 1:
            raise LoadError("--engineers must be at least 1.")
        if self.trees < 0:
            raise LoadError("--trees must be 0 or more.")
        if self.days < 1:
            raise LoadError("--days must be at least 1.")
        if self.until.tzinfo is None:
            raise LoadError("`until` must be an aware datetime.")

    @property
    def managers(self) -> int:
        return max(2, self.engineers // 25)

    def counts(self) -> tuple[int, int, int]:
        """(completed, active, prepared) sessions."""
        active = round(self.sessions * ACTIVE_SHARE)
        prepared = round(self.sessions * PREPARED_SHARE)
        if self.sessions >= 3:
            active, prepared = max(active, 1), max(prepared, 1)
        else:
            active = prepared = 0
        return self.sessions - active - prepared, active, prepared


@dataclass
class LoadResult:
    sessions: int = 0
    completed: int = 0
    active: int = 0
    prepared: int = 0
    decisions: int = 0
    outcome_changes: int = 0
    pauses: int = 0
    handoffs: int = 0
    trees: int = 0
    engineers: int = 0
    managers: int = 0
    seconds: float = 0.0


Progress = Callable[[int, int, int], None]  # (sessions done, sessions total, steps so far)


# --- people -------------------------------------------------------------------

FIRST_NAMES = (
    "Aisha", "Ben", "Carla", "Dev", "Elena", "Finn", "Grace", "Hugo", "Ines", "Jonas", "Kemi",
    "Liam", "Maya", "Nikhil", "Olga", "Pavel", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera",
    "Wes", "Xena", "Yusuf", "Zoe", "Ada", "Bruno", "Chloe", "Dmitri", "Emre", "Farah", "Gita",
    "Hamid", "Ivy", "Jade", "Kofi", "Lena", "Marco", "Nora",
)  # fmt: skip
LAST_NAMES = (
    "Adams", "Bauer", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Haddad", "Ito",
    "Jensen", "Kowalski", "Larsen", "Moreau", "Nakamura", "Okafor", "Patel", "Quinn", "Rossi",
    "Singh", "Tanaka", "Usman", "Varga", "Weber", "Xu", "Yilmaz", "Zhang", "Brennan", "Cohen",
    "Diaz", "Eriksen",
)  # fmt: skip


def _ensure_people(spec: LoadSpec) -> tuple[list[int], list[int]]:
    """Engineers and managers (created when missing); their user ids, in index order."""
    User = get_user_model()
    wanted = [(ENGINEER_USERNAME.format(i + 1), "Engineers", i) for i in range(spec.engineers)] + [
        (MANAGER_USERNAME.format(i + 1), "Managers", 10_000 + i) for i in range(spec.managers)
    ]
    existing = dict(
        User.objects.filter(username__in=[w[0] for w in wanted]).values_list("username", "pk")
    )
    missing = [w for w in wanted if w[0] not in existing]
    if missing:
        # One unusable password shared by every generated account: nobody logs
        # in with it, and hashing it per user would dominate a small load.
        unusable = make_password(None)
        users = []
        for username, _group, index in missing:
            rng = random.Random(f"person:{index}")
            first = rng.choice(FIRST_NAMES)
            last = rng.choice(LAST_NAMES)
            users.append(
                User(
                    username=username,
                    first_name=first,
                    last_name=last,
                    email=f"{username}@example.com",
                    password=unusable,
                )
            )
        User.objects.bulk_create(users, batch_size=1_000)
        existing = dict(
            User.objects.filter(username__in=[w[0] for w in wanted]).values_list("username", "pk")
        )
        groups = dict(
            Group.objects.filter(name__in=["Engineers", "Managers"]).values_list("name", "pk")
        )
        Membership = User.groups.through
        Membership.objects.bulk_create(
            [
                Membership(user_id=existing[username], group_id=groups[group])
                for username, group, _ in missing
            ],
            batch_size=1_000,
            ignore_conflicts=True,
        )
    engineers = [existing[w[0]] for w in wanted if w[1] == "Engineers"]
    managers = [existing[w[0]] for w in wanted if w[1] == "Managers"]
    return engineers, managers


# --- generated trees ------------------------------------------------------------

TREE_SUBJECTS = (
    ("Networking", "Wi-Fi keeps dropping"),
    ("Networking", "Site-to-site VPN is down"),
    ("Networking", "DNS names do not resolve"),
    ("Networking", "Switch port shows no link"),
    ("Networking", "Firewall blocks a business app"),
    ("Networking", "Slow internet at a branch"),
    ("Email", "Mail stuck in the outbox"),
    ("Email", "Shared mailbox missing"),
    ("Email", "Spam reaching inboxes"),
    ("Email", "Calendar invites not arriving"),
    ("Printing", "Printer offline"),
    ("Printing", "Scan to email fails"),
    ("Printing", "Print jobs stuck in the queue"),
    ("Identity", "Account locked out"),
    ("Identity", "MFA prompt never arrives"),
    ("Identity", "Password reset fails"),
    ("Identity", "New starter cannot log on"),
    ("Endpoint", "Laptop will not boot"),
    ("Endpoint", "Blue screen on startup"),
    ("Endpoint", "Disk almost full"),
    ("Endpoint", "Windows updates fail"),
    ("Endpoint", "Docking station not detected"),
    ("Endpoint", "Teams audio problems"),
    ("Servers", "File share unreachable"),
    ("Servers", "Backup job failed"),
    ("Servers", "Server disk latency high"),
    ("Servers", "Hypervisor host unresponsive"),
    ("Security", "Suspected phishing click"),
    ("Security", "Antivirus alert on a workstation"),
    ("Security", "Unusual sign-in location"),
    ("Cloud", "SharePoint site access denied"),
    ("Cloud", "OneDrive not syncing"),
    ("Cloud", "Licence not assigned"),
    ("Telephony", "Desk phone not registering"),
    ("Telephony", "Call queue not ringing"),
    ("Line of business", "Accounting app will not open"),
    ("Line of business", "Practice management app slow"),
    ("Line of business", "Database connection errors"),
)
COMPONENTS = (
    "router", "firewall", "switch", "access-point", "printer", "laptop", "desktop", "server",
    "mailbox", "account", "licence", "certificate", "driver", "service", "agent", "browser",
    "profile", "cache", "disk", "adapter", "token", "queue", "share", "database", "connector",
    "gateway",
)  # fmt: skip
QUESTION_TEMPLATES = (
    "Does the {c} respond?",
    "Is the {c} showing an error?",
    "Did the change to the {c} fix it?",
    "Is the {c} listed in the portal?",
    "Does the problem follow the user to another {c}?",
    "Are other users on the same {c} affected?",
    "Is the {c} up to date?",
    "Does a reboot of the {c} help?",
    "Is there an event in the {c} log?",
    "Does the {c} work from another network?",
)
ACTION_TEMPLATES = (
    "Restart the {c}",
    "Clear the {c} cache",
    "Collect the {c} logs",
    "Re-register the {c}",
    "Check the {c} configuration",
    "Update the {c} firmware",
    "Reset the {c} to defaults",
    "Run the {c} health check",
)
SOLUTION_TEMPLATES = (
    "Replace the {c}",
    "Reinstall the {c}",
    "Escalate the {c} to the vendor",
    "Reconfigure the {c}",
    "Restore the {c} from backup",
    "Document the {c} workaround",
    "Renew the {c}",
)
COMMANDS = (
    "Restart-Service -Name {c}",
    "Test-NetConnection -ComputerName {c} -Port 443",
    "Get-EventLog -LogName System -Newest 50 | Where-Object Source -like '*{c}*'",
    "ipconfig /flushdns",
    "gpupdate /force",
)
CHOICE_LABELS = {
    2: ("Yes", "No"),
    3: ("Yes", "No", "Not sure"),
    4: ("Yes", "No", "Partly", "Cannot check"),
    5: ("Yes", "No", "Partly", "Intermittently", "Cannot check"),
}


def generated_tree_spec(index: int) -> dict:
    """The interchange-format document (SPEC §2.1) of generated tree `index` (1-based).

    A procedure of 11–18 stages: each stage checks or does something and leads
    to the next. Every node's first answer moves on to the next stage (so a
    solution is reachable from everywhere and the last stage holds the fixes);
    the other answers skip a stage, reach an early fix, or loop back to an
    earlier stage ("retest"). The result is checked with the publish rules.
    """
    rng = random.Random(f"tree:{index}")
    category, subject = TREE_SUBJECTS[(index - 1) % len(TREE_SUBJECTS)]
    rounds = (index - 1) // len(TREE_SUBJECTS)
    name = subject if rounds == 0 else f"{subject} ({rounds + 1})"
    size = rng.randint(20, 200)
    stages = rng.randint(11, 18)

    # How many nodes each stage holds: one each, the rest mostly mid-procedure,
    # never more than three times the stage before (whose answers reach them).
    sizes = [1] * stages
    middle = (stages - 1) / 2
    weights = [0.0] + [1.0 + middle - abs(i - middle) for i in range(1, stages)]
    placed = stages
    while placed < size:
        stage = rng.choices(range(stages), weights=weights)[0]
        if sizes[stage] < 3 * sizes[stage - 1]:
            sizes[stage] += 1
            placed += 1

    kinds: list[str] = []
    stage_of: list[int] = []
    by_stage: list[list[int]] = []
    for stage, count in enumerate(sizes):
        by_stage.append(list(range(len(kinds), len(kinds) + count)))
        for position in range(count):
            if stage == stages - 1:
                kind = "solution"
            elif position == 0:
                kind = "question"  # every stage but the last can move on
            else:
                kind = rng.choices(("question", "action", "solution"), weights=(63, 32, 5))[0]
            kinds.append(kind)
            stage_of.append(stage)

    # Answers per question; then enough of them for every node of the next
    # stage to be reached (turning nodes into questions if need be).
    counts = [
        rng.choices((2, 3, 4, 5), weights=(50, 30, 15, 5))[0] if kind == "question" else 0
        for kind in kinds
    ]
    for stage in range(stages - 1):
        members = by_stage[stage]
        while sum(counts[i] or (kinds[i] == "action") for i in members) < sizes[stage + 1]:
            growable = [i for i in members if kinds[i] == "question" and counts[i] < 5]
            if growable:
                counts[rng.choice(growable)] += 1
            else:
                node = next(i for i in members if kinds[i] != "question")
                kinds[node], counts[node] = "question", 2

    solutions = [i for i, kind in enumerate(kinds) if kind == "solution"]
    targets: list[list[int]] = [[] for _ in kinds]
    for stage in range(stages - 1):
        slots = [
            (i, j)
            for i in by_stage[stage]
            for j in range(counts[i] if kinds[i] == "question" else int(kinds[i] == "action"))
        ]
        rng.shuffle(slots)
        slots.sort(key=lambda slot: slot[1] > 0)  # first answers first
        following = list(by_stage[stage + 1])
        rng.shuffle(following)
        assigned = dict(zip(slots, following, strict=False))
        later = [n for n in solutions if stage_of[n] > stage]
        for slot in slots[len(following) :]:
            roll = rng.random()
            if slot[1] == 0 or roll < 0.55:
                assigned[slot] = rng.choice(by_stage[stage + 1])
            elif roll < 0.70 and stage + 2 < stages:
                assigned[slot] = rng.choice(by_stage[stage + 2])
            elif roll < 0.90 and stage >= 1:
                assigned[slot] = rng.choice(by_stage[rng.randint(max(0, stage - 3), stage - 1)])
            else:
                assigned[slot] = rng.choice(later)
        for (node, _), target in sorted(assigned.items()):
            targets[node].append(target)

    keys = [f"{kind[0]}{i:03d}" for i, kind in enumerate(kinds)]
    titles = [
        rng.choice(
            {
                "question": QUESTION_TEMPLATES,
                "action": ACTION_TEMPLATES,
                "solution": SOLUTION_TEMPLATES,
            }[kind]
        ).format(c=rng.choice(COMPONENTS))
        for kind in kinds
    ]
    order = sorted(range(len(kinds)), key=lambda i: (stage_of[i], i))
    nodes = []
    for i in order:
        kind = kinds[i]
        data: dict = {"key": keys[i], "kind": kind, "title": titles[i]}
        if kind != "solution" or rng.random() < 0.5:
            data["body"] = (
                f"Stage {stage_of[i] + 1} of the {name.lower()} procedure. Confirm with the "
                f"user and note what you see before moving on."
            )
        if kind == "action" and rng.random() < 0.4:
            data["command"] = rng.choice(COMMANDS).format(c=rng.choice(COMPONENTS))
        if kind == "question":
            labels = CHOICE_LABELS[len(targets[i])]
            data["choices"] = [
                {"label": label, "next": keys[target]}
                for label, target in zip(labels, targets[i], strict=True)
            ]
        if kind == "action":
            data["next"] = keys[targets[i][0]]
        nodes.append(data)
    spec = {
        "format": "resolutionflow/tree@1",
        "slug": GENERATED_SLUG.format(index),
        "name": name,
        "description": f"Generated for the benchmark: {subject.lower()}.",
        "category": category,
        "tags": sorted({category.lower().replace(" ", "-"), "generated"}),
        "baseline_minutes": rng.choice((20, 30, 45, 60, 90)),
        "start": keys[0],
        "nodes": nodes,
    }
    problems = graph_problems(graph_nodes(spec))
    if problems:  # a bug in the generator, never the user's input
        raise AssertionError(f"generated tree {index} is invalid: {problems[:3]}")
    return spec


def graph_nodes(spec: dict) -> list[GraphNode]:
    """The validation graph of an interchange-format document."""
    return [
        GraphNode(
            key=data["key"],
            kind=data["kind"],
            title=data["title"],
            body=data.get("body", ""),
            command=data.get("command", ""),
            is_start=data["key"] == spec["start"],
            next=data.get("next"),
            choices=tuple(GraphChoice(c["label"], c["next"]) for c in data.get("choices", [])),
        )
        for data in spec["nodes"]
    ]


def _ensure_generated_trees(count: int, *, published_at: datetime) -> list[str]:
    """Import and publish the generated trees that are missing, through the trees app."""
    from trees.services import tree_import

    slugs = [GENERATED_SLUG.format(i + 1) for i in range(count)]
    existing = set(Tree.objects.filter(slug__in=slugs).values_list("slug", flat=True))
    for i, slug in enumerate(slugs):
        if slug not in existing:
            version = tree_import(
                data=generated_tree_spec(i + 1), filename=f"{slug}.json", publish=True
            )
            # The sessions reach back over the whole period: so does the version.
            TreeVersion.objects.filter(pk=version.pk).update(published_at=published_at)
    return slugs


def _ensure_demo_trees() -> list[str]:
    """The demo trees of `trees/demo/`, imported and published as `seed_demo` does."""
    from trees.demo import seed_trees

    return sorted(tree.slug for tree in seed_trees())


# --- trees as walkable graphs ---------------------------------------------------


@dataclass
class _Node:
    id: int
    key: str
    kind: str
    title: str
    index: int
    next: int | None = None  # index of the action's next node
    # (choice id, label, index of the target), in the author's order
    choices: list[tuple[int, str, int]] = field(default_factory=list)
    cum_weights: list[float] = field(default_factory=list)
    # The same when the engineer is stuck: retest loops taken far more often.
    stuck_weights: list[float] = field(default_factory=list)
    median_seconds: float = 60.0


@dataclass
class _Graph:
    tree_id: int
    slug: str
    version_id: int
    start: int
    nodes: list[_Node]


def _load_graph(slug: str) -> _Graph:
    """The published version of `slug`, with per-node answer preferences and dwell times.

    The preferences and dwell times depend only on the node keys, so a tree
    walks the same way whatever ids the database gave its rows.
    """
    version = (
        TreeVersion.objects.select_related("tree")
        .filter(tree__slug=slug, status=TreeVersion.Status.PUBLISHED)
        .first()
    )
    if version is None:
        raise LoadError(f"The tree “{slug}” has no published version to run sessions on.")
    rows = list(
        Node.objects.filter(version=version)
        .order_by("position", "id")
        .values_list("id", "key", "kind", "title", "next_id", "is_start")
    )
    nodes = [_Node(id=r[0], key=r[1], kind=r[2], title=r[3], index=i) for i, r in enumerate(rows)]
    index_of = {node.id: node.index for node in nodes}
    start = None
    for node, row in zip(nodes, rows, strict=True):
        if row[4] is not None:
            node.next = index_of[row[4]]
        if row[5]:
            start = node.index
    for choice_id, node_id, label, target_id in (
        Choice.objects.filter(node__version=version)
        .order_by("node_id", "position", "id")
        .values_list("id", "node_id", "label", "target_id")
    ):
        if target_id is not None:
            nodes[index_of[node_id]].choices.append((choice_id, label, index_of[target_id]))
    base = {"question": 45.0, "action": 210.0, "solution": 300.0}
    for node in nodes:
        rng = random.Random(f"node:{slug}:{node.key}")
        node.median_seconds = base.get(node.kind, 60.0) * rng.lognormvariate(0, 0.5)
        # Engineers favour the first answers; answers looping back are taken less.
        weights, stuck = [], []
        for position, (_, _, target) in enumerate(node.choices):
            weight = rng.uniform(0.6, 3.0) / (position + 1)
            loops = target <= node.index
            weights.append(weight * 0.5 if loops else weight)
            stuck.append(weight * 6 if loops else weight)
        node.cum_weights = list(itertools.accumulate(weights))
        node.stuck_weights = list(itertools.accumulate(stuck))
    if start is None:
        raise LoadError(f"The published version of “{slug}” has no start node.")
    return _Graph(
        tree_id=version.tree_id, slug=slug, version_id=version.pk, start=start, nodes=nodes
    )


# --- sessions -------------------------------------------------------------------

CLIENT_NAMES = (
    "Acme", "Northwind", "Contoso", "Fabrikam", "Globex", "Initech", "Umbrella", "Tyrell",
    "Wonka", "Hooli", "Vandelay", "Cyberdyne", "Soylent", "Oscorp", "Gringotts", "Dunder",
    "Pied-Piper", "Aperture", "Massive", "Stark", "Wayne", "Monarch", "Gekko", "Prestige",
    "Bluth", "Sterling", "Wernham", "Kruger", "Nakatomi", "Duff",
)  # fmt: skip
CLIENT_KINDS = (
    "Ltd",
    "Dental",
    "Legal LLP",
    "Logistics",
    "Accountants",
    "Clinic",
    "Architects",
    "Foods",
    "Motors",
    "Estates",
    "Charity",
    "Academy",
)
SUMMARY_TEMPLATES = (
    "{who} reports: {problem}.",
    "{problem} since this morning ({who}).",
    "{who} at the {site} office: {problem}.",
    "Follow-up from last week: {problem}.",
    "{problem}; {who} needs it for a client meeting.",
)
WHO = (
    "Reception",
    "Finance team",
    "The MD",
    "Warehouse",
    "A new starter",
    "Sales",
    "The practice manager",
    "HR",
    "Two users",
    "The whole office",
)
SITES = ("Leeds", "Bristol", "head", "Glasgow", "Cardiff", "Manchester", "Belfast", "London")
STEP_NOTES = (
    "Checked with the user on the phone.",
    "Same result after a second try.",
    "Event ID 4625 in the Security log.",
    "User confirms it worked yesterday.",
    "Screenshot attached to the ticket.",
    "Vendor status page shows no incident.",
    "Only affects the second floor.",
    "Rebooted twice, no change.",
)
OUTCOME_NOTES = {
    "resolved": ("Fixed and confirmed with the user.", "User tested, all working."),
    "workaround": ("Temporary fix in place.", "User can work; root cause open."),
    "escalated": ("Passed to the vendor.", "Escalated to second line."),
    "unresolved": ("Could not reproduce.", "User unavailable to test."),
    "cancelled": ("Raised in error.", "Duplicate ticket."),
    "resolved_externally": ("ISP fixed the line.", "Vendor pushed a fix."),
}
NEXT_STEPS = (
    "Check back with the user tomorrow.",
    "Monitor for a week.",
    "Vendor ticket raised; chase on Friday.",
    "Schedule a hardware swap.",
)
SCRATCHPAD_LINES = (
    "Serial number on the sticker under the device.",
    "User's extension 2241.",
    "Tried from my laptop too: same.",
    "Remote session ID in the ticket.",
    "Previous ticket for this user last month.",
)


class _Zipf:
    """Index sampling with weight 1/rank^s over a fixed order."""

    def __init__(self, count: int, s: float, rng: random.Random) -> None:
        self.cum = list(itertools.accumulate(1 / (rank + 1) ** s for rank in range(count)))
        self.rng = rng

    def __call__(self) -> int:
        return bisect.bisect(self.cum, self.rng.random() * self.cum[-1])


def _seconds(start: datetime, end: datetime) -> int:
    """Whole seconds between two instants, half rounded up, as the services record them."""
    return max(0, int((end - start).total_seconds() + 0.5))


@dataclass
class _Rows:
    sessions: list[tuple] = field(default_factory=list)
    decisions: list[tuple] = field(default_factory=list)
    changes: list[tuple] = field(default_factory=list)
    pauses: list[tuple] = field(default_factory=list)
    handoffs: list[tuple] = field(default_factory=list)

    def sort(self) -> None:
        """Put every table's rows in the order their sessions were created."""
        created = {row[0]: row[11] for row in self.sessions}  # id → created_at
        self.sessions.sort(key=lambda row: row[11])
        self.decisions.sort(key=lambda row: (created[row[1]], row[2]))
        self.changes.sort(key=lambda row: created[row[0]])
        self.pauses.sort(key=lambda row: (created[row[0]], row[3]))
        self.handoffs.sort(key=lambda row: created[row[0]])


# The attnames of the columns written, in the order of the row tuples.
SESSION_COLUMNS = (
    "id", "engineer_id", "tree_id", "version_id", "ticket_ref", "client", "summary",
    "scratchpad", "outcome_id", "outcome_notes", "next_steps", "created_at", "created_by_id",
    "started_at", "completed_at", "closed_by_id", "closed_from", "step_count",
    "duration_seconds", "active_seconds", "last_activity_at", "paused_seconds", "handed_off_at",
)  # fmt: skip
DECISION_COLUMNS = (
    "id", "session_id", "seq", "node_id", "node_key", "node_kind", "node_title", "choice_id",
    "answer_label", "notes", "entered_at", "exited_at", "duration_seconds", "exit", "undone",
    "tree_id", "session_started_at", "active_seconds", "engineer_id",
)  # fmt: skip
CHANGE_COLUMNS = (
    "session_id", "field", "old_value", "new_value", "changed_by_id", "changed_at", "source",
)  # fmt: skip
PAUSE_COLUMNS = ("session_id", "decision_id", "kind", "started_at", "ended_at", "by_id")
HANDOFF_COLUMNS = ("session_id", "from_engineer_id", "to_engineer_id", "by_id", "at", "note")


class _SessionMaker:
    """Turns random draws into the rows of one session at a time."""

    def __init__(
        self,
        spec: LoadSpec,
        *,
        graphs: Sequence[_Graph],
        engineers: Sequence[int],
        managers: Sequence[int],
        outcomes: dict[str, int],
    ) -> None:
        self.spec = spec
        self.rng = random.Random(f"sessions:{spec.seed}")
        self.ids = random.Random(f"ids:{spec.seed}")
        self.graphs = list(graphs)
        # Popularity: a seeded order of the trees, Zipf weights along it.
        self.rng.shuffle(self.graphs)
        self.pick_tree = _Zipf(len(self.graphs), 1.05, self.rng)
        activity = [self.rng.lognormvariate(0, 0.5) for _ in engineers]
        self.engineers = list(engineers)
        self.engineer_cum = list(itertools.accumulate(activity))
        self.managers = list(managers)
        self.outcomes = outcomes
        self.outcome_cum = list(itertools.accumulate(w for _, w, _ in OUTCOME_MIX))
        self.clients = [f"{a} {b}" for a in CLIENT_NAMES for b in CLIENT_KINDS]
        self.rng.shuffle(self.clients)
        self.pick_client = _Zipf(len(self.clients), 0.9, self.rng)
        self.period_start = spec.until - timedelta(days=spec.days)
        self.life = random.Random(f"lifecycle:{spec.seed}")
        # Steps get their ids here, so that a pause can name its step before COPY.
        self.decision_ids = itertools.count((Decision.objects.aggregate(m=Max("id"))["m"] or 0) + 1)
        self.idle_us = settings.IDLE_AFTER_MINUTES * 60 * 1_000_000

    def next_id(self) -> uuid.UUID:
        return uuid.UUID(int=self.ids.getrandbits(128), version=4)

    def _engineer(self) -> int:
        r = self.rng.random() * self.engineer_cum[-1]
        return self.engineers[bisect.bisect(self.engineer_cum, r)]

    def _details(self, graph: _Graph) -> tuple[str, str, str]:
        rng = self.rng
        ticket = "" if rng.random() < 0.08 else f"T-{rng.randrange(10_000, 99_999)}"
        client = "" if rng.random() < 0.03 else self.clients[self.pick_client()]
        summary = rng.choice(SUMMARY_TEMPLATES).format(
            who=rng.choice(WHO),
            site=rng.choice(SITES),
            problem=graph.nodes[graph.start].title.rstrip("?").lower()
            if rng.random() < 0.3
            else _problem_of(graph),
        )
        if rng.random() < 0.05:
            summary = ""
        return ticket, client, summary

    def _working_time(self, *, earliest: datetime, latest: datetime) -> datetime:
        """A moment in [earliest, latest], on a weekday in working hours most of the time."""
        rng = self.rng
        earliest = max(earliest, self.period_start)
        if earliest >= latest:  # a session too long for its window starts a bit earlier
            earliest = max(self.period_start, latest - timedelta(days=1))
        span = (latest - earliest).total_seconds()
        if span <= 0:
            return latest
        for _ in range(8):
            moment = earliest + timedelta(seconds=rng.random() * span)
            day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
            hour = rng.gauss(11.5, 1.8) if rng.random() < 0.55 else rng.gauss(15.0, 1.6)
            moment = day + timedelta(
                hours=min(max(hour, 6.5), 21.0), microseconds=rng.randrange(1_000_000)
            )
            weekend = moment.weekday() >= 5
            if earliest <= moment <= latest and (not weekend or rng.random() < 0.12):
                return moment
        return latest - timedelta(seconds=rng.random() * min(span, 3_600))

    def _walk(
        self, graph: _Graph, *, to_solution: bool, closed: bool, stuck: bool = False
    ) -> list[list]:
        """The step records of one session, times relative to its start (µs offsets).

        Each record: [node index, choice id, answer label, notes, entered µs,
        exited µs or None, exit, undone]. `to_solution` walks until a solution
        (or gives up at MAX_STEPS); otherwise the engineer stops somewhere on the
        way. `closed=False` leaves the last record open. A `stuck` engineer
        takes the retest loops and goes Back far more often.
        """
        rng = self.rng
        nodes = graph.nodes
        records: list[list] = []
        path: list[int] = []  # indexes into records of answered, not undone steps
        current = graph.start
        at = 0
        stop_chance = 0.0 if to_solution else rng.uniform(0.03, 0.12)
        back_chance = STUCK_BACK_CHANCE if stuck else BACK_CHANCE
        while True:
            node = nodes[current]
            dwell = int(node.median_seconds * rng.lognormvariate(0, 0.9) * 1_000_000)
            dwell = min(dwell, 4 * 3_600 * 1_000_000)
            record = [current, None, "", "", at, None, "", False]
            records.append(record)
            ends = node.kind == "solution" or len(records) >= MAX_STEPS
            if not ends and not to_solution and len(records) > 1:
                ends = rng.random() < stop_chance
            if ends:
                if closed:
                    record[5] = at + dwell
                    record[6] = Decision.Exit.SESSION_CLOSED
                return records
            at += dwell
            record[5] = at
            if rng.random() < 0.08:
                record[3] = rng.choice(STEP_NOTES)
            if path and rng.random() < back_chance:
                # decision_back: this step is left backtracked, the answer that
                # led here is undone, and its node opens again.
                record[6] = Decision.Exit.BACKTRACKED
                previous = records[path.pop()]
                previous[7] = True
                current = previous[0]
                continue
            record[6] = Decision.Exit.ANSWERED
            if node.kind == "question":
                weights = node.stuck_weights if stuck else node.cum_weights
                r = rng.random() * weights[-1]
                choice_id, label, current = node.choices[bisect.bisect(weights, r)]
                record[1], record[2] = choice_id, label
            else:
                record[2] = "Done"
                current = node.next
            path.append(len(records) - 1)

    def _lifecycle(self, records: list[list]) -> list[tuple[int, int, int, str]]:
        """Manual pauses, and the idle time the services would record (SPEC §9).

        A manual pause lengthens its step (and moves every later step on); any
        stretch between two actions longer than IDLE_AFTER_MINUTES gets an idle
        pause for the time beyond it, as `sessions.services` writes it. The open
        step of an active session has had no next action yet: nothing is idle
        there. Returns (record index, start µs, end µs, kind).
        """
        life, idle = self.life, self.idle_us
        pauses: list[tuple[int, int, int, str]] = []
        shift = 0
        for index, record in enumerate(records):
            record[4] += shift
            if record[5] is None:
                continue
            record[5] += shift
            entered, exited = record[4], record[5]
            stretches = [(entered, exited)]
            if life.random() < MANUAL_PAUSE_CHANCE:
                length = int(min(life.lognormvariate(math.log(480), 0.7), 5_400) * 1_000_000)
                at = entered + int((exited - entered) * life.random())
                stretches = [(entered, at), (at + length, exited + length)]
                pauses.append((index, at, at + length, "manual"))
                record[5] += length
                shift += length
            for start, end in stretches:
                if end - start > idle:
                    pauses.append((index, start + idle, end, "idle"))
        pauses.sort(key=lambda p: (p[1], p[2]))
        return pauses

    def _decision_rows(
        self,
        session_id: uuid.UUID,
        graph: _Graph,
        records: list[list],
        started: datetime,
        engineer: int,
        *,
        pauses: Sequence[tuple[int, int, int, str]] = (),
        senior: int | None = None,
        handed_at: int | None = None,
    ) -> tuple[list[tuple], int, list[tuple]]:
        """Rows for `records` starting at `started`, the path length (step_count), and
        the pause rows. Records after `handed_at` (a record index) are `senior`'s."""
        rows = []
        pause_rows = []
        step_count = 0
        paused_us = Counter()
        for index, start, end, _kind in pauses:
            paused_us[index] += end - start
        for seq, (index, choice_id, label, notes, entered, exited, exit, undone) in enumerate(
            records, start=1
        ):
            record_index = seq - 1
            taker = senior if handed_at is not None and record_index > handed_at else engineer
            decision_id = next(self.decision_ids)
            node = graph.nodes[index]
            entered_at = started + timedelta(microseconds=entered)
            exited_at = None if exited is None else started + timedelta(microseconds=exited)
            seconds = None if exited_at is None else _seconds(entered_at, exited_at)
            active = None
            if exited is not None:
                active = min(
                    seconds, max(0, int((exited - entered - paused_us[record_index]) / 1e6 + 0.5))
                )
            rows.append(
                (
                    decision_id,
                    session_id,
                    seq,
                    node.id,
                    node.key,
                    node.kind,
                    node.title,
                    choice_id,
                    label,
                    notes,
                    entered_at,
                    exited_at,
                    seconds,
                    exit,
                    undone,
                    graph.tree_id,
                    started,
                    active,
                    taker,
                )
            )
            for p_index, p_start, p_end, kind in pauses:
                if p_index == record_index:
                    pause_rows.append(
                        (
                            session_id,
                            decision_id,
                            kind,
                            started + timedelta(microseconds=p_start),
                            started + timedelta(microseconds=p_end),
                            taker if kind == "manual" else None,
                        )
                    )
            if not undone and exit not in (Decision.Exit.BACKTRACKED, Decision.Exit.HANDED_OFF):
                step_count += 1
        return rows, step_count, pause_rows

    def completed(self, rows: _Rows, *, window: tuple[datetime, datetime]) -> None:
        """A completed session that starts within `window` (if it ends before `until`)."""
        rng = self.rng
        session_id = self.next_id()
        graph = self.graphs[self.pick_tree()]
        engineer = self._engineer()
        r = rng.random() * self.outcome_cum[-1]
        code, _, to_solution = OUTCOME_MIX[bisect.bisect(self.outcome_cum, r)]
        stuck = rng.random() < STUCK_SHARE
        records = self._walk(graph, to_solution=to_solution, closed=True, stuck=stuck)
        if to_solution and graph.nodes[records[-1][0]].kind != "solution":
            code = "escalated"  # gave up in a loop
        # An escalation handed to a colleague part-way through its last step: the
        # step is left `handed_off` and the same node reopens for them.
        senior = handed_at = None
        if code == "escalated" and self.life.random() < HANDOFF_SHARE:
            senior = self.life.choice([e for e in self.engineers if e != engineer] or [engineer])
            if senior != engineer:
                last = records[-1]
                middle = last[4] + int((last[5] - last[4]) * self.life.uniform(0.3, 0.7))
                records.append([last[0], None, "", "", middle, last[5], last[6], False])
                last[5], last[6] = middle, Decision.Exit.HANDED_OFF
                handed_at = len(records) - 2
            else:
                senior = None
        pauses = self._lifecycle(records)
        length = timedelta(microseconds=records[-1][5])
        started = self._working_time(
            earliest=window[0], latest=min(window[1], self.spec.until - length)
        )
        completed = started + length
        decisions, step_count, pause_rows = self._decision_rows(
            session_id, graph, records, started, engineer,
            pauses=pauses, senior=senior, handed_at=handed_at,
        )  # fmt: skip
        paused_us = sum(end - start for _i, start, end, _k in pauses)
        created_by = engineer
        created = started - timedelta(microseconds=rng.randrange(200, 5_000))
        if rng.random() < PREPARED_BY_MANAGER_SHARE:
            created_by = rng.choice(self.managers)
            created = started - timedelta(seconds=rng.uniform(600, 2 * 86_400))
            created = max(created, self.period_start)
        closed_from, closed_by = ClosedFrom.NAVIGATION, senior or engineer
        if rng.random() < CLOSED_FROM_HISTORY_SHARE:
            closed_from = ClosedFrom.HISTORY
            if rng.random() < 0.3:
                closed_by = rng.choice(self.managers)
        ticket, client, summary = self._details(graph)
        outcome_id = self.outcomes[code]
        handed_off_at = None
        if senior is not None:
            handed_off_at = started + timedelta(microseconds=records[handed_at][5])
            rows.handoffs.append(
                (
                    session_id, engineer, senior, engineer, handed_off_at,
                    self.life.choice(HANDOFF_NOTES),
                )
            )  # fmt: skip
        rows.sessions.append(
            (
                session_id,
                senior or engineer,
                graph.tree_id,
                graph.version_id,
                ticket,
                client,
                summary,
                self._scratchpad(),
                outcome_id,
                rng.choice(OUTCOME_NOTES[code]) if rng.random() < 0.6 else "",
                rng.choice(NEXT_STEPS) if code != "resolved" and rng.random() < 0.5 else "",
                created,
                created_by,
                started,
                completed,
                closed_by,
                closed_from,
                step_count,
                _seconds(started, completed),
                min(
                    _seconds(started, completed),
                    max(0, int((records[-1][5] - paused_us) / 1e6 + 0.5)),
                ),
                completed,
                paused_us / 1e6,
                handed_off_at,
            )
        )
        rows.decisions.extend(decisions)
        rows.pauses.extend(pause_rows)
        # The completion's audit, as `session_complete` writes it: the outcome,
        # and the notes and next steps it set.
        notes, next_steps = rows.sessions[-1][9], rows.sessions[-1][10]
        for name, value in (
            ("outcome", code),
            ("outcome_notes", notes),
            ("next_steps", next_steps),
        ):
            if value:
                rows.changes.append(
                    (session_id, name, "", value, closed_by, completed, closed_from)
                )

    def active(self, rows: _Rows) -> None:
        rng = self.rng
        session_id = self.next_id()
        graph = self.graphs[self.pick_tree()]
        engineer = self._engineer()
        records = self._walk(graph, to_solution=False, closed=False)
        pauses = self._lifecycle(records)
        # The open step has been open a little while at `until`; one in five
        # sessions was left open days ago and never finished.
        open_for = timedelta(seconds=rng.uniform(5, 1_800))
        if rng.random() < 0.2:
            open_for += timedelta(days=rng.uniform(1, min(30, self.spec.days)))
        started = self.spec.until - open_for - timedelta(microseconds=records[-1][4])
        started = started.replace(microsecond=rng.randrange(1_000_000))
        if started + timedelta(microseconds=records[-1][4]) > self.spec.until:
            started -= timedelta(seconds=1)
        decisions, step_count, pause_rows = self._decision_rows(
            session_id, graph, records, started, engineer, pauses=pauses
        )
        paused_us = sum(end - start for _i, start, end, _k in pauses)
        ticket, client, summary = self._details(graph)
        created_by, created = engineer, started - timedelta(microseconds=rng.randrange(200, 5_000))
        if rng.random() < PREPARED_BY_MANAGER_SHARE:
            created_by = rng.choice(self.managers)
            created = started - timedelta(seconds=rng.uniform(600, 86_400))
        rows.sessions.append(
            (
                session_id, engineer, graph.tree_id, graph.version_id, ticket, client, summary,
                self._scratchpad(), None, "", "", created, created_by, started, None, None, "",
                step_count, None, None, decisions[-1][10], paused_us / 1e6, None,
            )
        )  # fmt: skip
        rows.decisions.extend(decisions)
        rows.pauses.extend(pause_rows)

    def prepared(self, rows: _Rows) -> None:
        rng = self.rng
        session_id = self.next_id()
        graph = self.graphs[self.pick_tree()]
        engineer = self._engineer()
        created = self.spec.until - timedelta(seconds=rng.uniform(60, 3 * 86_400))
        created_by = rng.choice(self.managers) if rng.random() < 0.7 else engineer
        ticket, client, summary = self._details(graph)
        rows.sessions.append(
            (
                session_id, engineer, graph.tree_id, graph.version_id, ticket, client, summary,
                "", None, "", "", created, created_by, None, None, None, "", 0, None, None, None,
                0.0, None,
            )
        )  # fmt: skip

    def _scratchpad(self) -> str:
        if self.rng.random() >= 0.3:
            return ""
        return "\n".join(self.rng.sample(SCRATCHPAD_LINES, self.rng.randint(1, 3)))


def _problem_of(graph: _Graph) -> str:
    for node in graph.nodes:
        if node.kind == "solution":
            return f"needs attention ({node.title.lower()})"
    return "needs attention"


# --- writing --------------------------------------------------------------------


class _Table:
    """One model's columns: the generated ones, then any other field at its default."""

    def __init__(self, model: type[models.Model], columns: Sequence[str]) -> None:
        self.model = model
        by_attname = {f.attname: f for f in model._meta.concrete_fields}
        self.fields = [by_attname[name] for name in columns]
        self.extra = [
            f
            for f in model._meta.concrete_fields
            if f.attname not in columns and not isinstance(f, models.AutoField)
        ]
        self.extra_values = tuple(
            f.get_db_prep_save(f.get_default(), connection) for f in self.extra
        )
        self.attnames = [f.attname for f in self.fields + self.extra]
        self.db_table = model._meta.db_table
        self.columns = [f.column for f in self.fields + self.extra]


class _Writer(ABC):
    def __init__(self) -> None:
        self.tables = (
            _Table(Session, SESSION_COLUMNS),
            _Table(Decision, DECISION_COLUMNS),
            _Table(SessionChange, CHANGE_COLUMNS),
            _Table(Pause, PAUSE_COLUMNS),
            _Table(Handoff, HANDOFF_COLUMNS),
        )

    def write(self, rows: _Rows) -> None:
        batches = (rows.sessions, rows.decisions, rows.changes, rows.pauses, rows.handoffs)
        with transaction.atomic():
            for table, batch in zip(self.tables, batches, strict=True):
                if batch:
                    self.insert(table, batch)

    @abstractmethod
    def insert(self, table: _Table, batch: list[tuple]) -> None:
        """Write one batch of rows into `table` (COPY or bulk_create)."""

    def finish(self) -> None:  # noqa: B027 - an optional hook: most writers need nothing
        """Refresh the planner's statistics after a big load."""


class _CopyWriter(_Writer):
    """PostgreSQL: `COPY … FROM STDIN` through psycopg 3 on Django's own connection."""

    def insert(self, table: _Table, batch: list[tuple]) -> None:
        quote = connection.ops.quote_name
        sql = "COPY {} ({}) FROM STDIN".format(
            quote(table.db_table), ", ".join(quote(c) for c in table.columns)
        )
        extra = table.extra_values
        with (
            connection.cursor() as cursor,
            cursor.connection.cursor() as raw,
            raw.copy(sql) as copy,
        ):
            write = copy.write_row
            if extra:
                for row in batch:
                    write(row + extra)
            else:
                for row in batch:
                    write(row)

    def finish(self) -> None:
        # Fresh statistics for the planner and a visibility map for index-only
        # scans; VACUUM cannot run inside a transaction, so outside any atomic.
        if connection.in_atomic_block:
            return
        with connection.cursor() as cursor:
            for table in self.tables:
                cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(table.db_table)}")


class _BulkCreateWriter(_Writer):
    """Any other database: `bulk_create` in the largest batches it accepts."""

    def insert(self, table: _Table, batch: list[tuple]) -> None:
        model = table.model
        extra = table.extra_values
        objs = [model(**dict(zip(table.attnames, row + extra, strict=True))) for row in batch]
        model.objects.bulk_create(objs, batch_size=5_000)


def _writer() -> _Writer:
    return _CopyWriter() if connection.vendor == "postgresql" else _BulkCreateWriter()


# --- the whole load -------------------------------------------------------------


def generate_load(spec: LoadSpec, *, progress: Progress | None = None) -> LoadResult:
    """Create the people, trees and sessions `spec` describes; see the module docstring."""
    began = time.monotonic()
    completed, active, prepared = spec.counts()
    outcomes = dict(
        Outcome.objects.filter(code__in=[c for c, _, _ in OUTCOME_MIX]).values_list("code", "pk")
    )
    missing = {c for c, _, _ in OUTCOME_MIX} - set(outcomes)
    if missing:
        raise LoadError(
            f"Built-in outcomes are missing ({', '.join(sorted(missing))}): run migrate."
        )

    engineers, managers = _ensure_people(spec)
    slugs = _ensure_demo_trees() + _ensure_generated_trees(
        spec.trees, published_at=spec.until - timedelta(days=spec.days)
    )
    graphs = [_load_graph(slug) for slug in slugs]
    if not graphs and spec.sessions:
        raise LoadError("There is no tree to run sessions on (no demo tree and --trees 0).")
    maker = _SessionMaker(
        spec, graphs=graphs, engineers=engineers, managers=managers, outcomes=outcomes
    )
    first_id = uuid.UUID(int=random.Random(f"ids:{spec.seed}").getrandbits(128), version=4)
    if Session.objects.filter(pk=first_id).exists():
        raise LoadError(
            f"The sessions of seed {spec.seed} are already in this database; "
            f"use another --seed to add more."
        )

    writer = _writer()
    result = LoadResult(trees=len(graphs), engineers=len(engineers), managers=len(managers))
    # Rows go in the order time made them, as in production: each chunk of
    # completed sessions covers the next slice of the period, sorted inside;
    # the active and prepared sessions (the most recent) come last.
    slices = max(1, math.ceil(completed / CHUNK_SESSIONS))
    step = timedelta(days=spec.days) / slices
    plan = itertools.chain(
        (
            functools.partial(
                maker.completed,
                window=(
                    maker.period_start + step * (i // CHUNK_SESSIONS),
                    maker.period_start + step * (i // CHUNK_SESSIONS + 1),
                ),
            )
            for i in range(completed)
        ),
        itertools.repeat(maker.active, active),
        itertools.repeat(maker.prepared, prepared),
    )
    done = 0
    for chunk in _chunks(plan, CHUNK_SESSIONS):
        rows = _Rows()
        for make in chunk:
            make(rows)
        rows.sort()
        writer.write(rows)
        done += len(chunk)
        result.decisions += len(rows.decisions)
        result.outcome_changes += len(rows.changes)
        result.pauses += len(rows.pauses)
        result.handoffs += len(rows.handoffs)
        if progress:
            progress(done, spec.sessions, result.decisions)
    # The steps came with their own ids: move the id sequence past them.
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), [Decision]):
            cursor.execute(sql)
    writer.finish()
    # COPY bypassed the services and so the rollups they keep: build them from the rows.
    rollups.rebuild()
    result.sessions = spec.sessions
    result.completed, result.active, result.prepared = completed, active, prepared
    result.seconds = time.monotonic() - began
    return result


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk
