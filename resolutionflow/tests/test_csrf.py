"""Every state-changing request needs a CSRF token, htmx ones included.

The POST URLs come from the access matrix (itself generated from the URL
resolver), so a new form is covered as soon as it has a row there. Each is
sent, by someone allowed to use it and with a body it would accept, without a
token in four ways (no cookie at all; the cookie but no token; an htmx request
with its headers but no X-CSRFToken; a wrong token): each must be a 403 that
changes nothing. The same request with the right token then goes through, so
the 403s are the CSRF check's and nobody else's.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from resolutionflow.tests.matrix import (
    World,
    fingerprint,
    named_urls,
    print_count,
    rolled_back,
)
from resolutionflow.tests.test_access_matrix import EXPECTED
from trees import services as tree_services

pytestmark = pytest.mark.django_db

# Who sends each POST: the first of these the matrix lets through.
SENDERS = ("alice", "charlie", "admin", "anonymous")
HTMX = {"HX-Request": "true", "HX-Current-URL": "http://testserver/", "HX-Target": "step"}
_COUNT = {"requests": 0, "forms": 0}


def _state_changing() -> list[tuple[str, str]]:
    """(URL name, sender) for every URL the matrix says accepts a POST from someone."""
    found = []
    for route in named_urls():
        if route.name.startswith("api:"):
            # The API answers in JSON, not with the CSRF failure page: its session
            # writes are checked in api/tests/test_security.py.
            continue
        row = EXPECTED[route.name, "POST"]
        sender = next(
            (role for role in SENDERS if row[role] not in {"405", "403", "404", "login"}), None
        )
        if sender is not None:
            found.append((route.name, sender))
    return found


STATE_CHANGING = _state_changing()


def test_it_finds_the_state_changing_urls():
    names = {name for name, _ in STATE_CHANGING}
    assert {
        "login",
        "logout",
        "password_change",
        "sessions:start",
        "sessions:prepare",
        "sessions:answer",
        "sessions:done",
        "sessions:back",
        "sessions:notes",
        "sessions:scratchpad",
        "sessions:close",
        "sessions:complete",
        "sessions:begin",
        "integrations:post",
        "integrations:retry",
        "sessions:pause",
        "sessions:resume",
        "sessions:hand-off",
        "sessions:edit",
    } <= names
    assert "sessions:history" not in names  # GET only


def _token(client: Client) -> str:
    """The CSRF cookie a page gives (what base.html puts in hx-headers)."""
    page = reverse("home") if client.session.get("_auth_user_id") else reverse("login")
    assert client.get(page).status_code == 200
    return client.cookies[settings.CSRF_COOKIE_NAME].value


def _attempts(client: Client, url: str, data: dict) -> dict[str, object]:
    """The four ways of sending without a valid token; returns the responses."""
    results = {}
    client.cookies.pop(settings.CSRF_COOKIE_NAME, None)
    results["no cookie"] = client.post(url, data)
    _token(client)
    results["cookie, no token"] = client.post(url, data)
    results["htmx, no token"] = client.post(url, data, headers=HTMX)
    results["wrong token"] = client.post(url, data, headers={**HTMX, "X-CSRFToken": "x" * 32})
    return results


@pytest.mark.parametrize("name,sender", STATE_CHANGING, ids=[n for n, _ in STATE_CHANGING])
def test_it_refuses_state_changes_without_a_csrf_token(name, sender):
    world = World.build(enforce_csrf_checks=True)
    route = next(r for r in named_urls() if r.name == name)
    client = world.clients[sender]
    url = world.url(route)
    problems = []

    with rolled_back(client):
        data = world.valid_post(name)
        before = fingerprint()
        for how, response in _attempts(client, url, data).items():
            _COUNT["requests"] += 1
            if response.status_code != 403:
                problems.append(f"{how}: {response.status_code}")
            elif "This form has expired" not in response.content.decode():
                problems.append(f"{how}: 403 without the CSRF failure page")
        if fingerprint() != before:
            problems.append("the database changed")

    # The control: the same request with the token, in the header (htmx) or
    # in the form (plain post), is not refused.
    for how in ("header", "form"):
        with rolled_back(client):
            data = world.valid_post(name)
            token = _token(client)
            if how == "header":
                response = client.post(url, data, headers={**HTMX, "X-CSRFToken": token})
            else:
                response = client.post(url, {**data, "csrfmiddlewaretoken": token})
            if response.status_code == 403:
                problems.append(f"refused even with a valid token in the {how}")
    _COUNT["forms"] += 1
    assert not problems, f"POST {url} as {sender}: " + "; ".join(problems)


@pytest.fixture
def draft_version(db):
    from trees.tests.factories import published_tree

    return tree_services.version_create_draft(tree=published_tree())


def test_it_protects_the_admin_forms_too(draft_version):
    world = World.build(enforce_csrf_checks=True)
    client = world.clients["admin"]
    targets = [
        (reverse("admin:trees_treeversion_publish", args=[draft_version.pk]), {}),
        (reverse("admin:trees_tree_import"), {"publish": "on"}),
        (reverse("admin:trees_tree_new_draft", args=[draft_version.tree_id]), {}),
        (
            reverse("admin:trees_treeversion_designer_add", args=[draft_version.pk]),
            {"kind": "solution", "title": "Forged"},
        ),
        (
            reverse(
                "admin:trees_treeversion_designer_save",
                args=[draft_version.pk, draft_version.nodes.first().pk],
            ),
            {"title": "Forged"},
        ),
        (
            reverse(
                "admin:trees_treeversion_designer_delete",
                args=[draft_version.pk, draft_version.nodes.last().pk],
            ),
            {},
        ),
        (reverse("admin:trees_treeversion_restore", args=[draft_version.pk]), {}),
        (
            reverse("admin:trees_tree_duplicate", args=[draft_version.tree_id]),
            {"name": "Forged", "slug": "forged"},
        ),
        (
            reverse("admin:trees_tag_changelist"),
            {"action": "delete_selected", "_selected_action": ["1"], "post": "yes"},
        ),
        (reverse("admin:logout"), {}),
    ]
    problems = []
    with rolled_back(client):
        before = fingerprint()
        for url, data in targets:
            for how, response in _attempts(client, url, data).items():
                _COUNT["requests"] += 1
                if response.status_code != 403:
                    problems.append(f"POST {url} ({how}): {response.status_code}")
        assert fingerprint() == before
    anonymous = Client(enforce_csrf_checks=True)
    response = anonymous.post(reverse("admin:login"), {"username": "admin", "password": "x"})
    _COUNT["requests"] += 1
    if response.status_code != 403:
        problems.append(f"POST admin login: {response.status_code}")
    _COUNT["forms"] += len(targets) + 1
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="module", autouse=True)
def _print_the_count(request):
    yield
    if _COUNT["requests"]:
        print_count(
            request.config,
            f"CSRF: {_COUNT['requests']} requests without a valid token to {_COUNT['forms']} "
            "state-changing URLs, all refused with 403",
        )
