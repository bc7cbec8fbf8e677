"""The tree designer's scenarios of `make bench` (SPEC §8, issue 16).

A 500-node draft (`bench.treegen`) is written, measured and rolled back:

- the designer page of the version, as an admin (target: p95 ≤ 300 ms, SVG ≤ 1.5 MB);
- `Save node` of a title through htmx, including the redraw (the panel, the diagram
  and the problem list): p95 ≤ 150 ms. Each timed request saves another node, so each
  carries the fingerprint its form was opened with;
- `Add answer` making a new node: the structure changes, so the layout is not in the
  cache; it is derived from the version's last drawing (`trees.diagram.derive_layout`),
  each request building on the one before, as an author's successive additions do;
- the layout alone, uncached, for the record.

`python -m bench.designer` runs them on any database (e.g. `DATABASE_URL=… python -m
bench.designer`), without the session dataset; `make bench` runs them with the rest. Both
freeze the collector after setup (`bench.run.freeze`), as production's gunicorn does before
forking; `BENCH_NO_FREEZE=1 python -m bench.designer` measures without, for comparison.
"""

from __future__ import annotations

import time


def run(bench, *, nodes: int = 500) -> None:
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.urls import reverse

    from bench.run import Row, log, percentile
    from bench.treegen import build_large_version
    from trees import diagram, services

    with transaction.atomic():
        version = build_large_version(nodes=nodes, slug="bench-designer")
        count = version.nodes.count()
        admin, _ = get_user_model().objects.get_or_create(
            username="bench-designer-admin", defaults={"is_staff": True, "is_superuser": True}
        )
        client = bench.client_for(admin)
        page = reverse("admin:trees_treeversion_designer", args=[version.pk])

        graph = services.version_graph(version)
        timings = []
        for _ in range(5):
            began = time.perf_counter()
            diagram.compute_layout(graph)
            timings.append((time.perf_counter() - began) * 1000)
        layout_row = Row(
            f"designer layout alone, {count} nodes, uncached (grandalf)",
            p50=percentile(timings, 0.5),
            p95=percentile(timings, 0.95),
            notes="computed once per structure; titles and bodies do not move the boxes",
        )
        bench.rows.append(layout_row)
        log(f"{layout_row.scenario}: p50 {layout_row.p50:.0f} ms")

        row = bench.page(f"designer page, {count}-node version", client, page, max_p95=300)
        html = client.get(page).content
        start = html.index(b'<svg xmlns="http://www.w3.org/2000/svg" class="diagram"')
        size = html.index(b"</svg>", start) + len(b"</svg>") - start
        row.notes = f"SVG {size / 1e6:.2f} MB (target ≤ 1.5 MB)"
        row.met = bool(row.met and size <= 1_500_000)
        row.target += ", SVG ≤ 1.5 MB"

        targets = list(version.nodes.order_by("position")[: 6 + bench.requests])
        forms = [(node, {**_form(node), "title": node.title + " (edited)"}) for node in targets]

        def save(i: int):
            node, data = forms[i]
            url = reverse("admin:trees_treeversion_designer_save", args=[version.pk, node.pk])
            return client.post(url, data, headers={"HX-Request": "true"})

        bench.rolled_back("designer Save node (title) incl. redraw (htmx)", save, max_p95=150)

        questions = list(version.nodes.filter(kind="question").order_by("-position"))
        additions = [
            (
                node,
                {
                    **_form(node),
                    "add-label": f"Bench answer {i}",
                    "add-target": "new",
                    "add-new_title": f"Bench step {i}",
                    "add-new_kind": "solution",
                    "add_answer": "1",
                },
            )
            for i, node in enumerate(questions[: 6 + bench.requests])
        ]

        def add_answer(i: int):
            node, data = additions[i]
            url = reverse("admin:trees_treeversion_designer_save", args=[version.pk, node.pk])
            return client.post(url, data, headers={"HX-Request": "true"})

        started = time.perf_counter()
        row = bench.rolled_back(
            "designer Add answer (new node, layout derived) incl. redraw", add_answer
        )
        row.target = "p95 ≤ 150 ms (issue 16: saving a node)"
        row.met = row.p95 is not None and row.p95 <= 150
        log(f"designer scenarios took {time.perf_counter() - started:.0f} s")
        transaction.set_rollback(True)


def _form(node) -> dict[str, str]:
    """The panel's fields for `node` as its form shows them (what a browser sends)."""
    from trees import services

    data = {
        "seen": services.node_digest(node),
        "key": node.key,
        "kind": node.kind,
        "title": node.title,
        "body": node.body,
        "command": node.command,
        "save": "1",
    }
    if node.is_start:
        data["is_start"] = "on"
    if node.kind == "action":
        data["next"] = str(node.next_id or "")
    for n, choice in enumerate(node.choices.order_by("position", "id"), start=1):
        prefix = f"answer-{choice.pk}"
        data[f"{prefix}-label"] = choice.label
        data[f"{prefix}-target"] = str(choice.target_id or "")
        data[f"{prefix}-position"] = str(n)
    return data


def main() -> int:
    """Only the designer's scenarios, on DATABASE_URL or the benchmark's own cluster."""
    import os
    import sys

    cluster = None
    if not os.environ.get("DATABASE_URL"):
        from bench.pg import Cluster

        cluster = Cluster()
        os.environ["DATABASE_URL"] = cluster.start()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    from bench.run import FROZEN_NOTE, Bench, freeze, render_table

    try:
        call_command("migrate", verbosity=0)
        bench = Bench(requests=int(os.environ.get("BENCH_REQUESTS", "50")))
        if os.environ.get("BENCH_NO_FREEZE") != "1":
            freeze()
        run(bench)
    finally:
        connections.close_all()
        if cluster is not None:
            cluster.stop()
    frozen = FROZEN_NOTE if os.environ.get("BENCH_NO_FREEZE") != "1" else "gc not frozen"
    print(f"{bench.requests} requests per scenario after 5 warm-up; {frozen}.")
    print(render_table(bench.rows))
    sys.stdout.flush()
    return 0 if all(row.met is not False for row in bench.rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
