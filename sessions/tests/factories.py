from __future__ import annotations

import factory

from resolutionflow.tests.factories import UserFactory
from sessions.models import Decision, Outcome, Session, SessionChange
from trees.models import Choice, Node, Tree, TreeVersion

VPN_TREE = {
    "slug": "vpn",
    "name": "VPN won't connect",
    "baseline_minutes": 35,
    "start": "client-installed",
    "nodes": [
        {
            "key": "client-installed",
            "kind": "question",
            "title": "Is the VPN client installed?",
            "choices": [
                {"label": "Yes", "next": "reset-creds"},
                {"label": "No", "next": "install-client"},
            ],
        },
        {
            "key": "reset-creds",
            "kind": "action",
            "title": "Reset the VPN credentials",
            "command": "Reset-VpnUser -Identity $user",
            "next": "works-now",
        },
        {
            "key": "works-now",
            "kind": "question",
            "title": "Does it connect now?",
            "choices": [
                {"label": "Yes", "next": "done"},
                {"label": "No", "next": "client-installed"},
            ],
        },
        {"key": "install-client", "kind": "solution", "title": "Install the VPN client"},
        {"key": "done", "kind": "solution", "title": "Credentials reset fixed it"},
    ],
}


def build_version(
    spec: dict = VPN_TREE,
    *,
    tree: Tree | None = None,
    number: int = 1,
    status: str = TreeVersion.Status.PUBLISHED,
) -> TreeVersion:
    """A tree version from an interchange-format dict (SPEC §2.1), straight through the ORM."""
    if tree is None:
        tree, _ = Tree.objects.get_or_create(
            slug=spec["slug"],
            defaults={"name": spec["name"], "baseline_minutes": spec.get("baseline_minutes")},
        )
    version = TreeVersion.objects.create(tree=tree, number=number, status=status)
    nodes = {}
    for position, data in enumerate(spec["nodes"]):
        nodes[data["key"]] = Node.objects.create(
            version=version,
            key=data["key"],
            kind=data["kind"],
            title=data["title"],
            body=data.get("body", ""),
            command=data.get("command", ""),
            is_start=data["key"] == spec["start"],
            position=position,
        )
    for data in spec["nodes"]:
        node = nodes[data["key"]]
        if "next" in data:
            node.next = nodes[data["next"]]
            node.save(update_fields=["next"])
        for position, choice in enumerate(data.get("choices", [])):
            Choice.objects.create(
                node=node, label=choice["label"], target=nodes[choice["next"]], position=position
            )
    return version


def outcome(code: str) -> Outcome:
    return Outcome.objects.get(code=code)


class OutcomeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Outcome

    code = factory.Sequence(lambda n: f"custom{n}")
    label = factory.Sequence(lambda n: f"Custom {n}")
    kind = Outcome.Kind.SUCCESS
    order = 100


class SessionFactory(factory.django.DjangoModelFactory):
    """A prepared session (not started) on a published version of the VPN tree."""

    class Meta:
        model = Session

    engineer = factory.SubFactory(UserFactory)
    version = factory.LazyFunction(
        lambda: (
            TreeVersion.objects.filter(tree__slug="vpn", status="published").first()
            or build_version()
        )
    )
    tree = factory.LazyAttribute(lambda s: s.version.tree)
    ticket_ref = factory.Sequence(lambda n: f"T-{1000 + n}")
    client = "Acme Ltd"
    started_at = None
    completed_at = None
    # A completed session has its totals (the database insists on active time).
    duration_seconds = factory.LazyAttribute(
        lambda s: (
            round((s.completed_at - s.started_at).total_seconds())
            if s.completed_at and s.started_at
            else None
        )
    )
    active_seconds = factory.LazyAttribute(lambda s: s.duration_seconds)


class DecisionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Decision

    session = factory.SubFactory(SessionFactory)
    seq = factory.Sequence(lambda n: n + 1)
    node = factory.LazyAttribute(lambda d: d.session.version.nodes.get(is_start=True))
    node_key = factory.LazyAttribute(lambda d: d.node.key)
    node_kind = factory.LazyAttribute(lambda d: d.node.kind)
    node_title = factory.LazyAttribute(lambda d: d.node.title)
    entered_at = factory.LazyAttribute(lambda d: d.session.started_at)
    tree = factory.LazyAttribute(lambda d: d.session.tree)
    session_started_at = factory.LazyAttribute(lambda d: d.session.started_at)


class SessionChangeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SessionChange

    session = factory.SubFactory(SessionFactory)
    field = "outcome"
    old_value = ""
    new_value = "resolved"
    changed_at = factory.LazyAttribute(lambda c: c.session.completed_at)
    source = "admin"
