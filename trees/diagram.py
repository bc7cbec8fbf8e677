"""A version drawn as a flowchart (SPEC §8): layered layout and server-rendered SVG.

The layout is grandalf's Sugiyama layout (layering, crossing reduction by
median ordering, Brandes–Köpf coordinates) over the nodes in their stored
order, so the same version always gives the same picture. It depends only on
the structure (keys, arrows, the start node): boxes have one size, so editing
a title or a body never moves anything, and the layout is cached by a digest
of the structure (`layout_for`).

Arrows that close a cycle (grandalf's feedback edges: "retest", "try again")
are laid out reversed, as the Sugiyama method requires, and drawn as a dashed
curve on the right of the boxes with a ↺ in their label, so they read as loops.

The SVG has no inline style: every look is a class in `static/css/diagram.css`,
and sizes are attributes. Texts go through the standard library's `html.escape`,
which is what `django.utils.html.escape` calls for a `str` (the same output) without
its lazy-string wrapper: 6,000 calls for 500 nodes, a fifth of `render`'s time.
`render` writes it for three uses: the designer
(every node a focusable link named "<Kind>: <title>", problems marked), the
engineers' tree page (read-only) and the reports drill-down (nodes shaded by a
figure).
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from html import escape  # Django's, without its lazy-string wrapper (see above)

from django.core.cache import cache
from django.utils.safestring import SafeString, mark_safe
from grandalf.graphs import Edge, Vertex, graph_core
from grandalf.layouts import SugiyamaLayout
from grandalf.utils.poset import Poset

from trees.validation import GraphNode, Problem

NODE_W = 224
NODE_H = 64
X_SPACE = 48
Y_SPACE = 92
MARGIN = 32
COMPONENT_GAP = 80
DUMMY_W = 16
LOOP_OFFSET = 56
LOOP_SHIFT = 28
TITLE_LINE = 25
LABEL_CHARS = 24
CACHE_SECONDS = 24 * 3600
KIND_NAMES = {"question": "Question", "action": "Action", "solution": "Solution"}
KIND_ICONS = {"question": "?", "action": "▸", "solution": "✓"}


@dataclass(frozen=True)
class Box:
    key: str
    x: float  # top-left
    y: float


@dataclass(frozen=True)
class Arrow:
    source: str
    target: str
    label: str
    points: tuple[tuple[float, float], ...]
    loop: bool = False
    # A node's answer that leads back to itself: drawn as a curve on its right.
    curved: bool = False


@dataclass(frozen=True)
class Layout:
    boxes: dict[str, Box]
    arrows: tuple[Arrow, ...]
    width: float
    height: float
    start: str | None = None


@dataclass(frozen=True)
class Shade:
    """A node's shading in the reports: a level 0–4 and the figure in words."""

    level: int
    text: str


@dataclass
class Marks:
    """Problems sorted onto their nodes; `general` are the tree-wide ones."""

    by_key: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)


def problem_marks(problems: Sequence[Problem], keys: Sequence[str]) -> Marks:
    """Each problem on its node; a problem without a node of the version is general."""
    known = set(keys)
    marks = Marks()
    for problem in problems:
        if problem.node_key and problem.node_key in known:
            marks.by_key.setdefault(problem.node_key, []).append(problem.message)
        else:
            marks.general.append(str(problem))
    return marks


def _links(nodes: Sequence[GraphNode]) -> list[tuple[str, str, str]]:
    """The arrows (source, target, label) in reading order; parallel answers merged."""
    keys = {node.key for node in nodes}
    links: dict[tuple[str, str], list[str]] = {}
    for node in nodes:
        for choice in node.choices:
            if choice.target in keys:
                links.setdefault((node.key, choice.target), []).append(choice.label)
        if node.next in keys:
            links.setdefault((node.key, node.next), [])
    return [(s, t, " / ".join(labels)) for (s, t), labels in links.items()]


def structure_digest(nodes: Sequence[GraphNode]) -> str:
    shape = [[n.key, n.is_start] for n in nodes] + [list(link) for link in _links(nodes)]
    return hashlib.sha256(json.dumps(shape).encode()).hexdigest()[:32]


def layout_for(nodes: Sequence[GraphNode], *, scope: str | None = None) -> Layout:
    """The layout of `nodes`, from the cache when the structure was laid out before.

    `scope` names where the diagram is drawn again and again (the designer passes its
    version). When the structure is new, the layout last drawn there is the base of an
    edit (`derive_layout`): an answer's label changed, or one new node hangs off an
    existing one (`Add answer`), which is placed without laying everything out again.
    Anything else is laid out from scratch (`compute_layout`). A derived layout is cached
    under its structure like any other, so every process draws that structure the same.
    """
    digest = structure_digest(nodes)
    found = _cached(digest)
    if found is None:
        base = None
        if scope is not None:
            drawn = cache.get(_drawn_key(scope)) or _DRAWN.get(scope)
            base = _cached(drawn) if drawn else None
        found = (derive_layout(base, nodes) if base is not None else None) or compute_layout(nodes)
        cache.set(_layout_key(digest), found, CACHE_SECONDS)
        _remember(digest, found)
    if scope is not None and _DRAWN.get(scope) != digest:
        _DRAWN[scope] = digest
        cache.set(_drawn_key(scope), digest, CACHE_SECONDS)
    return found


def _layout_key(digest: str) -> str:
    # v2: a Layout has its start node.
    return f"trees:diagram:v2:{digest}"


def _drawn_key(scope: str) -> str:
    return f"trees:diagram:drawn:{scope}"


def _cached(digest: str) -> Layout | None:
    # This process's recent layouts first (no unpickling), then the shared cache.
    found = _RECENT.get(digest)
    if found is None:
        found = cache.get(_layout_key(digest))
        if not isinstance(found, Layout):
            return None
        _remember(digest, found)
    return found


def _remember(digest: str, layout: Layout) -> None:
    _RECENT[digest] = layout
    while len(_RECENT) > RECENT_LAYOUTS:
        _RECENT.pop(next(iter(_RECENT)))


# Layouts are immutable: the last few are kept as they are, by structure digest.
_RECENT: dict[str, Layout] = {}
RECENT_LAYOUTS = 32
# The digest last drawn in each scope (the shared cache has it too, for other processes).
_DRAWN: dict[str, str] = {}


class _View:
    """What grandalf needs of a vertex: its size, and where it puts it."""

    w = NODE_W
    h = NODE_H
    xy = (0.0, 0.0)


class _EdgeView:
    points: list = []

    def setpath(self, points):
        self.points = points


def compute_layout(nodes: Sequence[GraphNode]) -> Layout:
    if not nodes:
        return Layout(boxes={}, arrows=(), width=2 * MARGIN, height=2 * MARGIN)
    order = {node.key: n for n, node in enumerate(nodes)}
    vertices = {node.key: Vertex(node.key) for node in nodes}
    for vertex in vertices.values():
        vertex.view = _View()
    links = _links(nodes)
    edges: dict[tuple[str, str], Edge] = {}
    for source, target, _label in links:
        if source != target:
            edge = Edge(vertices[source], vertices[target])
            edge.view = _EdgeView()
            edges[source, target] = edge
    start = next((node.key for node in nodes if node.is_start), None)

    # grandalf's cycle search recurses once per node on a path.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 4 * len(nodes) + 100))
    try:
        components = _components(nodes, vertices, edges)
        if start is not None:
            components.sort(key=lambda c: start not in {v.data for v in c.sV})
        placed: list[tuple[dict[str, tuple[float, float]], float, float, float]] = []
        feedback: set[tuple[str, str]] = set()
        for component in components:
            members = sorted(component.sV, key=lambda v: order[v.data])
            roots = (
                [v for v in members if v.data == start]
                or [v for v in members if not v.e_in()]
                or members[:1]
            )
            sugiyama = SugiyamaLayout(component)
            sugiyama.xspace = X_SPACE
            sugiyama.yspace = Y_SPACE
            # Dummy vertices (the bends of long arrows) get grandalf's median node
            # width by default, which spreads the layers far apart: keep them thin.
            sugiyama.dw = DUMMY_W
            sugiyama.init_all(roots=roots)
            sugiyama.draw(2)
            feedback |= {(e.v[0].data, e.v[1].data) for e in sugiyama.alt_e}
            centres = {v.data: v.view.xy for v in members}
            xs = [x for x, _ in centres.values()]
            ys = [y for _, y in centres.values()]
            placed.append((centres, min(xs), max(xs), min(ys)))
    finally:
        sys.setrecursionlimit(limit)

    # Components side by side, left to right, tops aligned.
    boxes: dict[str, Box] = {}
    offset = MARGIN
    shift: dict[str, tuple[float, float]] = {}
    for centres, min_x, max_x, min_y in placed:
        dx = offset - (min_x - NODE_W / 2)
        dy = MARGIN + 18 - (min_y - NODE_H / 2)
        for key, (x, y) in centres.items():
            boxes[key] = Box(key, round(x + dx - NODE_W / 2, 1), round(y + dy - NODE_H / 2, 1))
            shift[key] = (dx, dy)
        offset += (max_x - min_x) + NODE_W + COMPONENT_GAP

    arrows = []
    for source, target, label in links:
        a, b = boxes[source], boxes[target]
        is_loop = source == target or (source, target) in feedback or b.y < a.y
        if source == target:
            arrows.append(Arrow(source, target, label, _loop_points(a, b), loop=True, curved=True))
            continue
        edge = edges[source, target]
        dx, dy = shift[source]
        inner = [(round(x + dx, 1), round(y + dy, 1)) for x, y in edge.view.points[1:-1]]
        arrows.append(Arrow(source, target, label, _ends(a, b, inner, is_loop), loop=is_loop))
    return _framed(boxes, tuple(arrows), start)


def _ends(a: Box, b: Box, inner: Sequence[tuple[float, float]], loop: bool) -> tuple:
    """An arrow's points from box `a` to box `b` through the bends `inner`."""
    if loop:
        # Up through the bends the layout made for it (they avoid the boxes), from
        # the source's top to the target's bottom, a little right of the centre so
        # it never covers a forward arrow between the same two nodes.
        return (
            (a.x + NODE_W / 2 + LOOP_SHIFT, a.y),
            *inner,
            (b.x + NODE_W / 2 + LOOP_SHIFT, b.y + NODE_H),
        )
    return ((a.x + NODE_W / 2, a.y + NODE_H), *inner, (b.x + NODE_W / 2, b.y))


def _framed(boxes: dict[str, Box], arrows: tuple[Arrow, ...], start: str | None) -> Layout:
    right = max(box.x + NODE_W for box in boxes.values())
    # A loop's bends may lie right of every box, and its label beside them.
    bends = max((x for arrow in arrows for x, _ in arrow.points), default=0)
    width = max(right + LOOP_OFFSET, bends + LABEL_CHARS * 7) + MARGIN
    height = max(box.y for box in boxes.values()) + NODE_H + MARGIN + 24
    return Layout(boxes=boxes, arrows=arrows, width=width, height=height, start=start)


def _components(nodes, vertices, edges) -> list[graph_core]:
    """The connected parts, each a grandalf graph, in the order of their first node.

    Found here with a union–find rather than by grandalf's `Graph`, whose merging compares
    vertex sets element by element: a third of the layout's time at 500 nodes.
    """
    parent = {node.key: node.key for node in nodes}

    def root(key: str) -> str:
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for source, target in edges:
        a, b = root(source), root(target)
        if a != b:
            parent[b] = a
    members: dict[str, list[str]] = {}
    for node in nodes:
        members.setdefault(root(node.key), []).append(node.key)
    parts = []
    for keys in members.values():
        inside = set(keys)
        part_edges = [e for (s, t), e in edges.items() if s in inside]
        part = [vertices[k] for k in keys]
        # Already known to be connected: one shared set, compared by identity, spares
        # graph_core's check of each vertex's set against the whole (n² comparisons).
        shared = _Connected(part)
        for vertex in part:
            vertex.c = shared
        parts.append(graph_core(part, part_edges))
    return parts


class _Connected(Poset):
    def __eq__(self, other) -> bool:
        return self is other

    def __ne__(self, other) -> bool:
        return self is not other

    __hash__ = object.__hash__


def _loop_points(a: Box, b: Box) -> tuple[tuple[float, float], ...]:
    """A loop leaves the right side of its source and enters the right side of its target."""
    start = (a.x + NODE_W, a.y + NODE_H / 2)
    end = (b.x + NODE_W, b.y + NODE_H / 2)
    bulge = max(start[0], end[0]) + LOOP_OFFSET
    return (start, (bulge, start[1]), (bulge, end[1]), end)


# --- edits without a new layout -------------------------------------------------------


def derive_layout(base: Layout, nodes: Sequence[GraphNode]) -> Layout | None:
    """`nodes` drawn from `base`, the layout before one edit, or None to lay out again.

    Two edits keep every box where it was: labels that changed (the same arrows), and one
    new node whose only arrow comes from a node already drawn (`Add answer` or an action's
    `next` making a node). The new node goes in the layer below its source, right of the
    source's other children there (else under it), in a column opened across the whole
    diagram: what lies right of it moves right together, so no box comes nearer another and
    every arrow keeps its shape except those that cross the column, which stretch. The
    result is checked (`layout_faults` on what moved); one that fails is laid out again.

    It replaced grandalf's whole layout for these edits: 27 ms p50, 110–140 ms p95 at 500
    nodes, against about 1 ms (docs/PERFORMANCE.md, "The tree designer").
    """
    links = _links(nodes)
    start = next((node.key for node in nodes if node.is_start), None)
    if start != base.start:
        return None
    before = {(arrow.source, arrow.target): arrow for arrow in base.arrows}
    after = {(source, target) for source, target, _ in links}
    added = [node.key for node in nodes if node.key not in base.boxes]
    if len(nodes) - len(added) != len(base.boxes) or not after >= before.keys():
        return None  # a node or an arrow went away (or a key changed)
    new_arrows = after - before.keys()
    if not added and not new_arrows:
        arrows = tuple(replace(before[s, t], label=label) for s, t, label in links)
        return replace(base, arrows=arrows)
    if len(added) != 1 or len(new_arrows) != 1:
        return None
    ((source, target),) = new_arrows
    if target != added[0] or source == target:
        return None
    return _place_leaf(base, links, source, target, before)


def _place_leaf(base: Layout, links, source: str, leaf: str, before: dict) -> Layout | None:
    parent = base.boxes[source]
    row_y = round(parent.y + NODE_H + Y_SPACE, 1)
    children = {t for s, t, _ in links if s == source and t != leaf}
    siblings = [
        box for box in base.boxes.values() if box.key in children and abs(box.y - row_y) < 1
    ]
    # Right of the last child in that layer, halfway across the gap after it; with no child
    # there, right of the source's centre (the source stays where it is).
    cut = (
        max(box.x for box in siblings) + NODE_W + X_SPACE / 2
        if siblings
        else parent.x + NODE_W / 2 + 0.05
    )
    width = NODE_W + 2 * X_SPACE

    def moved(x: float) -> float:
        return round(x + width, 1) if x >= cut else x

    boxes = {
        key: box if box.x + NODE_W / 2 < cut else Box(key, moved(box.x), box.y)
        for key, box in base.boxes.items()
    }
    boxes[leaf] = Box(leaf, round(cut + X_SPACE, 1), row_y)
    arrows = []
    for s, t, label in links:
        a, b = boxes[s], boxes[t]
        old = before.get((s, t))
        if old is None:
            arrows.append(Arrow(s, t, label, _ends(a, b, (), False)))
            continue
        inner = () if old.curved else old.points[1:-1]  # a curve goes with its box
        sides = [
            base.boxes[s].x + NODE_W / 2 >= cut,
            *(x >= cut for x, _ in inner),
            base.boxes[t].x + NODE_W / 2 >= cut,
        ]
        if not any(sides):  # left of the column: as it was
            points = old.points
        elif all(sides):  # right of it: moved as one
            points = tuple((round(x + width, 1), y) for x, y in old.points)
        else:
            # A segment across the column would now run slanted through the layers' bands:
            # it leaves its end straight, crosses in the gap between the two layers (where
            # there are no boxes) and enters the other end straight.
            ends = _ends(a, b, [(moved(x), y) for x, y in inner], old.loop)
            points = [ends[0]]
            for n in range(1, len(ends)):
                (x0, y0), (x1, y1) = ends[n - 1], ends[n]
                if sides[n - 1] != sides[n]:
                    gap = round((y0 + y1) / 2, 1)
                    points += [(x0, gap), (x1, gap)]
                points.append((x1, y1))
            points = tuple(points)
        if points is old.points and label == old.label:
            arrows.append(old)
        else:
            arrows.append(Arrow(s, t, label, points, loop=old.loop, curved=old.curved))
    layout = _framed(boxes, tuple(arrows), base.start)
    return None if layout_faults(layout, only=[leaf]) else layout


def layout_faults(layout: Layout, *, only: Sequence[str] | None = None) -> list[str]:
    """What is wrong with `layout`: boxes that overlap, arrows through a box not their own.

    `only` limits the check to those boxes (keys), against the other boxes and every
    arrow: `derive_layout` checks the box it placed; the tests check whole layouts.
    """
    rows: dict[float, list[Box]] = {}
    for box in layout.boxes.values():
        rows.setdefault(box.y, []).append(box)
    keys = list(layout.boxes) if only is None else list(only)
    faults = []
    for key in keys:
        box = layout.boxes[key]
        for other in rows[box.y]:
            if other.key != key and abs(other.x - box.x) < NODE_W + X_SPACE / 2:
                faults.append(f"{key} overlaps {other.key}")
    checked = None if only is None else [layout.boxes[key] for key in keys]
    for arrow in layout.arrows:
        own = {arrow.source, arrow.target}
        for (x0, y0), (x1, y1) in zip(arrow.points, arrow.points[1:], strict=False):
            if checked is None:
                candidates = [
                    box
                    for y, row in rows.items()
                    if y < max(y0, y1) and y + NODE_H > min(y0, y1)
                    for box in row
                ]
            else:
                candidates = checked
            left, right = min(x0, x1), max(x0, x1)
            faults += [
                f"{arrow.source}→{arrow.target} crosses {box.key}"
                for box in candidates
                if left < box.x + NODE_W
                and right > box.x
                and box.key not in own
                and _crosses(box, (x0, y0), (x1, y1))
            ]
    return faults


def _crosses(box: Box, p: tuple[float, float], q: tuple[float, float]) -> bool:
    """Whether the segment p–q passes through the inside of `box` (Liang–Barsky clip)."""
    (x0, y0), (x1, y1) = p, q
    dx, dy = x1 - x0, y1 - y0
    low, high = 0.0, 1.0
    for edge_p, edge_q in (
        (-dx, x0 - box.x - 1),
        (dx, box.x + NODE_W - 1 - x0),
        (-dy, y0 - box.y - 1),
        (dy, box.y + NODE_H - 1 - y0),
    ):
        if edge_p == 0:
            if edge_q < 0:
                return False
            continue
        t = edge_q / edge_p
        if edge_p < 0:
            low = max(low, t)
        else:
            high = min(high, t)
        if low > high:
            return False
    return True


# --- SVG ---------------------------------------------------------------------------


def _wrap(text: str, width: int = TITLE_LINE, lines: int = 2) -> list[str]:
    words = text.split()
    out: list[str] = []
    current = ""
    for word in words:
        candidate = f"{current} {word}".strip()
        if len(candidate) <= width:
            current = candidate
            continue
        if current:
            out.append(current)
        current = word[:width]
        if len(out) == lines:
            break
    if current and len(out) < lines:
        out.append(current)
    if len(out) == lines and " ".join(out) != " ".join(words):
        out[-1] = out[-1][: width - 1].rstrip() + "…"
    return out or [""]


def _shape(kind: str, x: float, y: float) -> str:
    w, h = NODE_W, NODE_H
    if kind == "question":
        d = 14
        points = (
            f"{x + d},{y} {x + w - d},{y} {x + w},{y + h / 2} "
            f"{x + w - d},{y + h} {x + d},{y + h} {x},{y + h / 2}"
        )
        return f'<polygon class="node-shape" points="{points}"/>'
    radius = h / 2 if kind == "solution" else 3
    return (
        f'<rect class="node-shape" x="{x}" y="{y}" width="{w}" height="{h}" '
        f'rx="{radius}" ry="{radius}"/>'
    )


def _path(points: Sequence[tuple[float, float]], curved: bool) -> str:
    if curved:
        (x0, y0), (bx, _), _, (x1, y1) = points
        return f"M{x0},{y0} C{bx},{y0} {bx},{y1} {x1 + 8},{y1}"
    head, *rest = points
    return f"M{head[0]},{head[1]} " + " ".join(f"L{x},{y}" for x, y in rest)


def _label_at(arrow: Arrow) -> tuple[float, float, str]:
    if arrow.loop and len(arrow.points) > 2 and not arrow.curved:
        # Beside the loop's first bend, where it runs alone between the layers.
        x, y = arrow.points[1]
        return x + 6, y + 4, "start"
    if arrow.curved:
        (x0, y0), (bx, _), _, (x1, y1) = arrow.points
        # The curve's rightmost point (t = 0.5 of the cubic), just right of it.
        return (x0 + x1) / 8 + 0.75 * bx + 4, (y0 + y1) / 2, "start"
    (x0, y0), (x1, y1) = arrow.points[0], arrow.points[1]
    return x0 + (x1 - x0) * 0.6, y0 + (y1 - y0) * 0.6 + 4, "middle"


def render(
    nodes: Sequence[GraphNode],
    *,
    layout: Layout | None = None,
    marks: Marks | None = None,
    selected: str | None = None,
    link: Callable[[GraphNode], Mapping[str, str]] | None = None,
    shades: Mapping[str, Shade] | None = None,
    label: str = "Diagram of the tree",
    zoom: int = 100,
    id_prefix: str = "d",
) -> SafeString:
    """The SVG of `nodes`. `link(node)` gives the attributes of each node's `<a>`
    (designer); without it nodes are plain boxes with a `<title>`."""
    layout = layout or layout_for(nodes)
    marks = marks or Marks()
    shades = shades or {}
    scale = zoom / 100
    marker = f"{id_prefix}-arrow"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="diagram" '
        f'viewBox="0 0 {layout.width:.0f} {layout.height:.0f}" '
        f'width="{layout.width * scale:.0f}" height="{layout.height * scale:.0f}" '
        f'data-width="{layout.width:.0f}" data-height="{layout.height:.0f}" '
        f'role="{"group" if link else "img"}" aria-label="{escape(label)}">',
        f'<defs><marker id="{marker}" class="diagram-arrowhead" viewBox="0 0 10 10" refX="9" '
        'refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z"/></marker></defs>',
        '<g class="diagram-arrows">',
    ]
    for arrow in layout.arrows:
        classes = "arrow arrow-loop" if arrow.loop else "arrow"
        parts.append(
            f'<path class="{classes}" d="{_path(arrow.points, arrow.curved)}" '
            f'marker-end="url(#{marker})"/>'
        )
        text = (("↺ " + arrow.label) if arrow.label else "↺ loop") if arrow.loop else arrow.label
        if text:
            x, y, anchor = _label_at(arrow)
            parts.append(
                f'<text class="arrow-label" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">'
                f"{escape(text[:LABEL_CHARS] + ('…' if len(text) > LABEL_CHARS else ''))}"
                f"<title>{escape(text)}</title></text>"
            )
    parts.append('</g><g class="diagram-nodes">')
    for node in nodes:
        box = layout.boxes.get(node.key)
        if box is None:
            continue
        problems = marks.by_key.get(node.key, [])
        kind_name = KIND_NAMES.get(node.kind, node.kind.title())
        classes = ["node", f"node-{node.kind}"]
        if problems:
            classes.append("node-has-problem")
        if node.key == selected:
            classes.append("node-selected")
        shade = shades.get(node.key)
        if shade is not None:
            classes.append(f"node-shade-{shade.level}")
        x, y = box.x, box.y
        parts.append(f'<g class="{" ".join(classes)}" data-key="{escape(node.key)}">')
        name = f"{kind_name}: {node.title}"
        tooltip = name + "".join(f"\n⚠ {message}" for message in problems)
        if shade is not None:
            tooltip += f"\n{shade.text}"
        if link is None:
            parts.append(f"<title>{escape(tooltip)}</title>")
        if problems:
            parts.append(
                f'<rect class="node-problem-outline" x="{x - 6}" y="{y - 6}" '
                f'width="{NODE_W + 12}" height="{NODE_H + 12}" rx="8" ry="8"/>'
            )
        parts.append(_shape(node.kind, x, y))
        parts.append(
            f'<text class="node-icon" x="{x + 22}" y="{y + NODE_H / 2 + 6}" '
            f'text-anchor="middle">{KIND_ICONS.get(node.kind, "•")}</text>'
        )
        parts.append(
            f'<text class="node-key" x="{x + 38}" y="{y + 17}">{escape(node.key[:28])}</text>'
        )
        for n, line in enumerate(_wrap(node.title)):
            parts.append(
                f'<text class="node-title" x="{x + 38}" y="{y + 35 + n * 16}">{escape(line)}</text>'
            )
        if link is not None:
            # The link lies over the box: a transparent target named "<Kind>: <title>"
            # (SPEC §8), with the problems as its description. Keeping the drawn text
            # outside it keeps its name and its visible text from disagreeing.
            attrs = " ".join(f'{k}="{escape(v)}"' for k, v in link(node).items())
            parts.append(
                f'<a {attrs} id="{id_prefix}-node-{escape(node.key)}" class="node-link" '
                f'aria-label="{escape(name)}"'
                + (' aria-current="true"' if node.key == selected else "")
                + f"><title>{escape(tooltip)}</title>"
                f'<rect class="node-hit" x="{x - 3}" y="{y - 3}" width="{NODE_W + 6}" '
                f'height="{NODE_H + 6}" rx="6" ry="6"/></a>'
            )
        if node.is_start:
            parts.append(
                f'<text class="node-start" x="{x + NODE_W / 2}" y="{y - 8}" '
                'text-anchor="middle">▼ Start</text>'
            )
        if problems:
            parts.append(
                f'<text class="node-problem-mark" x="{x + NODE_W - 6}" y="{y + NODE_H + 18}" '
                f'text-anchor="end">⚠ {len(problems)} problem{"s" if len(problems) != 1 else ""}'
                "</text>"
            )
        if shade is not None:
            parts.append(
                f'<text class="node-shade-text" x="{x + NODE_W - 6}" y="{y + 17}" '
                f'text-anchor="end">{escape(shade.text.split(":")[-1].strip())}</text>'
            )
        parts.append("</g>")
    parts.append("</g></svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every value above is escaped
