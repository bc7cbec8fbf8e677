"""A large, realistic tree version for the designer's benchmark and tests.

`build_large_version(nodes=500)` writes a draft whose shape is what an MSP's
biggest trees look like: questions with two to four answers, actions between
them, solutions at the ends of branches, a retest loop back to an earlier
question every few branches, and a few branches that merge. Deterministic
(a seeded random generator), so every run measures the same tree.
"""

from __future__ import annotations

import random

from trees.models import Choice, Node, Tree, TreeVersion


def build_large_version(
    *, nodes: int = 500, slug: str = "bench-designer", seed: int = 16
) -> TreeVersion:
    rng = random.Random(seed)
    tree, _ = Tree.objects.get_or_create(
        slug=slug, defaults={"name": f"Designer benchmark ({nodes} nodes)"}
    )
    number = (tree.versions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
    tree.versions.filter(status=TreeVersion.Status.DRAFT).delete()
    version = TreeVersion.objects.create(tree=tree, number=number)

    specs: list[dict] = []  # key, kind, title, next, choices [(label, target index)]
    open_slots: list[tuple[int, str | None]] = []  # (node index, answer label or None for next)

    def add(kind: str) -> int:
        index = len(specs)
        words = rng.choice(["Check", "Confirm", "Restart", "Open", "Reset", "Test", "Verify"])
        thing = rng.choice(
            [
                "the VPN client",
                "the DNS cache",
                "the printer queue",
                "the mailbox",
                "the router",
                "the licence",
                "the driver",
            ]
        )
        specs.append(
            {
                "key": f"step-{index + 1}",
                "kind": kind,
                "title": f"{words} {thing} ({index + 1})",
                "next": None,
                "choices": [],
            }
        )
        return index

    root = add("question")
    questions = [root]
    open_slots.extend((root, label) for label in ("Yes", "No"))
    while len(specs) < nodes and open_slots:
        source, label = open_slots.pop(0)
        remaining = nodes - len(specs)
        if remaining <= len(open_slots) or rng.random() < 0.22:
            kind = "solution"
        else:
            kind = rng.choice(["question", "question", "action"])
        target = add(kind)
        _link(specs, source, label, target)
        if kind == "question":
            questions.append(target)
            count = rng.choice([2, 2, 3, 4])
            labels = ["Yes", "No", "Not sure", "Sometimes"][:count]
            for n, answer in enumerate(labels):
                if n == count - 1 and rng.random() < 0.15 and len(questions) > 3:
                    # A retest loop back to an earlier question.
                    loop = questions[rng.randrange(max(0, len(questions) - 12), len(questions) - 1)]
                    specs[target]["choices"].append((f"{answer}, retest", loop))
                else:
                    open_slots.append((target, answer))
        elif kind == "action":
            open_slots.append((target, None))
    # Close what is left with solutions (the size is a target, not exact).
    for source, label in open_slots:
        _link(specs, source, label, add("solution"))

    created = Node.objects.bulk_create(
        [
            Node(
                version=version,
                key=s["key"],
                kind=s["kind"],
                title=s["title"],
                position=n,
                is_start=n == 0,
            )
            for n, s in enumerate(specs)
        ]
    )
    for spec, node in zip(specs, created, strict=True):
        if spec["next"] is not None:
            node.next = created[spec["next"]]
    Node.objects.bulk_update([n for n in created if n.next_id], ["next"])
    Choice.objects.bulk_create(
        [
            Choice(node=created[n], label=label, target=created[target], position=p)
            for n, spec in enumerate(specs)
            for p, (label, target) in enumerate(spec["choices"], start=1)
        ]
    )
    return version


def _link(specs: list[dict], source: int, label: str | None, target: int) -> None:
    if label is None:
        specs[source]["next"] = target
    else:
        specs[source]["choices"].append((label, target))
