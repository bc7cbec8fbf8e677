"""What the access-control, CSRF and hostile-input tests share.

- `named_urls()` walks the URL resolver (namespaces included), so a view added
  tomorrow shows up in every one of those tests without anyone listing it.
- `World` builds the people and the real objects the URLs point at: alice's
  active and prepared sessions, a published tree, an outcome, and fills each
  route's arguments from them by the argument's name.
- `fingerprint()` is the database's state in one value: the row count of every
  table of ours and a checksum of the session, step and audit rows.
"""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.apps import apps
from django.db import connection, transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from api.models import ApiToken
from api.services import token_create
from resolutionflow.tests.factories import UserFactory
from sessions import services
from sessions.models import Decision, Handoff, Pause, Session, SessionChange
from sessions.tests.factories import build_version
from trees.models import TreeVersion

ROLES = ("anonymous", "alice", "bob", "charlie", "admin")
# Apps whose tables a request could write to by mistake.
WATCHED_APPS = (
    "flow_sessions",
    "trees",
    "auth",
    "sessions",
    "axes",
    "admin",
    "integrations",
    "django_tasks_db",
    "api",
)
# The rows a refused request could change in place (not only add or remove).
CHECKSUMMED = (Session, Decision, SessionChange, Pause, Handoff)
# How each checksummed model names the session its rows belong to.
LINK_TO_SESSION = {
    Session: "pk",
    Decision: "session",
    SessionChange: "session",
    Pause: "session",
    Handoff: "session",
}


@dataclass(frozen=True)
class Route:
    name: str  # "sessions:run"
    route: str  # "sessions/<uuid:session_id>/run/"
    params: tuple[str, ...]  # ("session_id",)


def named_urls(*, include_admin: bool = False) -> list[Route]:
    """Every URL pattern of the project, by its namespaced name.

    An unnamed pattern is an error: it could not be given an expectation.
    """
    found: list[Route] = []

    def walk(patterns, prefix: str, namespace: str) -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                if entry.namespace == "admin" and not include_admin:
                    continue
                inner = namespace
                if entry.namespace:
                    inner = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
                walk(entry.url_patterns, prefix + str(entry.pattern), inner)
            elif isinstance(entry, URLPattern):
                route = prefix + str(entry.pattern)
                assert entry.name, f"the URL pattern {route!r} has no name"
                name = f"{namespace}:{entry.name}" if namespace else entry.name
                found.append(Route(name, route, tuple(entry.pattern.converters)))

    walk(get_resolver().url_patterns, "", "")
    return found


@dataclass
class World:
    """The people and objects every URL is checked against."""

    alice: object
    bob: object
    charlie: object
    admin: object
    version: TreeVersion
    active: Session  # alice's, running
    prepared: Session  # alice's, prepared by charlie, not started
    clients: dict[str, Client] = field(default_factory=dict)
    token: ApiToken | None = None  # alice's API token (`token-revoke`)

    @classmethod
    def build(cls, **client_options) -> World:
        # The people sign in with force_login (conftest makes hashing cheap).
        alice = UserFactory(username="alice", groups=["Engineers"])
        bob = UserFactory(username="bob", groups=["Engineers"])
        charlie = UserFactory(username="charlie", groups=["Managers"])
        admin = UserFactory(username="admin", is_staff=True, is_superuser=True)
        version = build_version()
        active = services.session_create(
            tree=version.tree, engineer=alice, ticket_ref="T-1042", client="Acme Ltd"
        )
        prepared = services.session_prepare(
            tree=version.tree, engineer=alice, by=charlie, ticket_ref="T-2001"
        )
        world = cls(alice, bob, charlie, admin, version, active, prepared)
        world.token = token_create(user=alice, name="PSA sync").token
        for role in ROLES:
            client = Client(**client_options)
            if role != "anonymous":
                client.force_login(getattr(world, role))
            world.clients[role] = client
        return world

    # --- arguments of the routes, from real objects ------------------------------

    def kwargs_for(self, route: Route) -> dict[str, object]:
        """Real values for the route's arguments, chosen by the argument's name.

        `sessions:begin` starts a prepared session, so it gets that one; every
        other session URL gets alice's active session.
        """
        session = self.prepared if route.name == "sessions:begin" else self.active
        samples = {
            "session_id": session.pk,
            "slug": self.version.tree.slug,
            "fmt": "json",
            "table": "summary",
            "token_id": self.token.pk if self.token else 0,
            "rest": "no-such-endpoint",
        }
        missing = [p for p in route.params if p not in samples]
        assert not missing, (
            f"{route.name}: no sample value for {missing}; add one to World.kwargs_for"
        )
        return {p: samples[p] for p in route.params}

    def url(self, route: Route) -> str:
        return reverse(route.name, kwargs=self.kwargs_for(route))

    def open_step(self, session: Session | None = None) -> Decision:
        return (session or self.active).decisions.get(exited_at__isnull=True)

    def answer_yes(self) -> Decision:
        """Move alice's session on to the action step (so Done and Back apply)."""
        step = self.open_step()
        services.decision_answer(
            session=self.active,
            decision_id=step.pk,
            choice_id=step.node.choices.get(label="Yes").pk,
        )
        return self.open_step()

    def valid_post_fields(self, name: str) -> tuple[str, ...]:
        """The field names of `valid_post(name)`, without its side effects (no step answered)."""
        with transaction.atomic():
            sid = transaction.savepoint()
            fields = tuple(self.valid_post(name))
            transaction.savepoint_rollback(sid)
        return fields

    def valid_post(self, name: str) -> dict[str, object]:
        """A POST body that the view accepts from someone allowed to use it.

        Valid bodies make the access checks meaningful: a refusal then comes
        from who is asking, not from what was sent.
        """
        if name == "sessions:answer":
            step = self.open_step()
            return {"decision": step.pk, "choice": step.node.choices.get(label="Yes").pk}
        if name == "sessions:done":
            return {"decision": self.answer_yes().pk, "notes": "Reset done."}
        if name == "sessions:back":
            return {"decision": self.answer_yes().pk}
        if name == "sessions:notes":
            return {"decision": self.open_step().pk, "notes": "Client installed, v5.2."}
        if name == "sessions:scratchpad":
            return {"scratchpad": "User on hotel wifi."}
        if name == "sessions:hand-off":
            return {"colleague": self.bob.pk, "note": "Creds reset, still failing."}
        if name == "sessions:edit":
            # Only the ticket: a field left out of the post keeps what is saved.
            return {"ticket_ref": "T-1043", "back": "run"}
        if name == "sessions:close":
            return {"outcome": "resolved", "outcome_notes": "Fixed.", "next": "/sessions/"}
        if name == "sessions:complete":
            return {"outcome": "resolved", "outcome_notes": "Fixed."}
        if name == "sessions:start":
            return {"session_id": str(uuid.uuid4()), "ticket_ref": "T-3001", "client": "Acme"}
        if name == "api:sessions":  # sent as JSON (see `post`)
            return {"tree": self.version.tree.slug, "ticket_ref": "T-3003", "client": "Acme"}
        if name == "token-new":
            return {"name": "PSA sync", "days": 90, "form_id": str(uuid.uuid4())}
        if name == "sessions:prepare":
            return {
                "engineer": self.alice.pk,
                "tree": self.version.tree.slug,
                "session_id": str(uuid.uuid4()),
                "ticket_ref": "T-3002",
            }
        return {}


def post(client: Client, route_name: str, data: dict, **extra):
    """POST `data` as the view expects it: JSON for the API, a form for everything else."""
    if route_name.startswith("api:"):
        url = extra.pop("url")
        return client.post(url, json.dumps(data), content_type="application/json", **extra)
    return client.post(extra.pop("url"), data, **extra)


@contextmanager
def rolled_back(*clients: Client) -> Iterator[None]:
    """Run a request (or several) and undo everything: database rows and cookies."""
    saved = [copy.deepcopy(client.cookies) for client in clients]

    class _Undo(Exception):
        pass

    try:
        with transaction.atomic():
            yield
            raise _Undo
    except _Undo:
        pass
    finally:
        for client, cookies in zip(clients, saved, strict=True):
            client.cookies = cookies


def fingerprint(session: Session | None = None) -> tuple[dict[str, int], str]:
    """Row counts of every table of ours, and a checksum of the rows a request could touch.

    The counts catch a row added or removed anywhere. The checksum covers every
    column of the session, step and audit rows: of `session` only when the
    request names one (a request on one session's URL touches that session's
    rows, and the hostile-input sweep sends thousands of them), of every
    session otherwise.
    """
    models = [m for m in apps.get_models() if m._meta.app_label in WATCHED_APPS]
    quote = connection.ops.quote_name
    # One query for every count: this runs around every refused request.
    sql = " UNION ALL ".join(
        f"SELECT {i}, COUNT(*) FROM {quote(m._meta.db_table)}" for i, m in enumerate(models)
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        counts = {models[i]._meta.label: n for i, n in cursor.fetchall()}
    # Plain tuples, without building model instances.
    rows = [
        list(
            model.objects.filter(**({LINK_TO_SESSION[model]: session.pk} if session else {}))
            .order_by("pk")
            .values_list()
        )
        for model in CHECKSUMMED
    ]
    checksum = hashlib.sha256(repr(rows).encode()).hexdigest()
    return counts, checksum


def print_count(config, line: str) -> None:
    """Print a tally on the terminal even while pytest captures output (as `capsys.disabled()`).

    The access, CSRF, hostile-input and concurrency tests print what they
    tried, so a run's log shows the figures the acceptance criteria ask for.
    """
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:
        # An xdist worker's terminal is not shown: conftest's
        # pytest_testnodedown prints the line on the controller's.
        workeroutput.setdefault("tallies", []).append(line)
        return
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():
        print(f"\n{line}", flush=True)
