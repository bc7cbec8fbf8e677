"""Who may do what, for every URL the project has.

The URLs come from the resolver, so a new view is checked the day it is
added: a URL missing from the table below fails the test until someone
writes down who may use it. Each cell is a real request, GET or POST (with a
body the view would accept, so a refusal comes from who asks, not from what
was sent), run and then rolled back. A refused request must leave the
database untouched.

Cells:
  login   302 to the login page with ?next=
  NNN     that status
Admin URLs are checked separately: the index and every model's changelist.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.contrib import admin
from django.urls import reverse

from resolutionflow.tests.matrix import (
    ROLES,
    Route,
    World,
    fingerprint,
    named_urls,
    post,
    print_count,
    rolled_back,
)

pytestmark = pytest.mark.django_db

# Who may do what. Sessions are alice's (`sessions:begin`: her prepared one,
# every other session URL: her active one); bob is another engineer, charlie a
# manager, admin a superuser. Another engineer's session is a 404, never a 403.
TABLE = """
name                     method  anonymous  alice  bob  charlie  admin
home                     GET     login      200    200  200      200
home                     POST    login      405    405  405      405
healthz                  GET     200        200    200  200      200
healthz                  POST    405        405    405  405      405
favicon                  GET     302        302    302  302      302
favicon                  POST    405        405    405  405      405
login                    GET     200        200    200  200      200
login                    POST    200        200    200  200      200
logout                   GET     login      405    405  405      405
logout                   POST    login      302    302  302      302
password_change          GET     login      200    200  200      200
password_change          POST    login      200    200  200      200
password_change_done     GET     login      200    200  200      200
password_change_done     POST    login      405    405  405      405
trees:library            GET     login      200    200  200      200
trees:library            POST    login      405    405  405      405
trees:detail             GET     login      200    200  200      200
trees:detail             POST    login      405    405  405      405
sessions:history         GET     login      200    200  200      200
sessions:history         POST    login      405    405  405      405
sessions:close-form      GET     login      200    404  200      200
sessions:close-form      POST    login      405    405  405      405
sessions:close           GET     login      405    405  405      405
sessions:close           POST    login      303    404  303      303
sessions:complete        GET     login      405    405  405      405
sessions:complete        POST    login      303    404  303      303
sessions:outcome-styles  GET     login      200    200  200      200
sessions:outcome-styles  POST    login      405    405  405      405
sessions:prepare         GET     login      403    403  200      200
sessions:prepare         POST    login      403    403  303      303
sessions:start           GET     login      405    405  405      405
sessions:start           POST    login      303    303  303      303
sessions:detail          GET     login      200    404  200      200
sessions:detail          POST    login      405    405  405      405
sessions:begin           GET     login      405    405  405      405
sessions:begin           POST    login      303    404  303      303
sessions:run             GET     login      200    404  200      200
sessions:run             POST    login      405    405  405      405
sessions:answer          GET     login      405    405  405      405
sessions:answer          POST    login      303    404  303      303
sessions:done            GET     login      405    405  405      405
sessions:done            POST    login      303    404  303      303
sessions:back            GET     login      405    405  405      405
sessions:back            POST    login      303    404  303      303
sessions:notes           GET     login      405    405  405      405
sessions:notes           POST    login      303    404  303      303
sessions:scratchpad      GET     login      405    405  405      405
sessions:scratchpad      POST    login      303    404  303      303
sessions:pause           GET     login      405    405  405      405
sessions:pause           POST    login      303    404  303      303
sessions:resume          GET     login      405    405  405      405
sessions:resume          POST    login      303    404  303      303
sessions:hand-off        GET     login      405    405  405      405
sessions:hand-off        POST    login      303    404  303      303
sessions:edit            GET     login      200    404  200      200
sessions:edit            POST    login      303    404  303      303
sessions:export          GET     login      200    404  200      200
sessions:export          POST    login      405    405  405      405
sessions:history-csv     GET     login      403    403  200      200
sessions:history-csv     POST    login      405    405  405      405
sessions:steps-csv       GET     login      403    403  200      200
sessions:steps-csv       POST    login      405    405  405      405
reports:overview         GET     login      403    403  200      200
reports:overview         POST    login      405    405  405      405
reports:tree             GET     login      403    403  200      200
reports:tree             POST    login      405    405  405      405
reports:csv              GET     login      403    403  200      200
reports:csv              POST    login      405    405  405      405
integrations:ticket-lookup GET   login      200    200  200      200
integrations:ticket-lookup POST  login      405    405  405      405
integrations:deliveries  GET     login      200    404  200      200
integrations:deliveries  POST    login      405    405  405      405
integrations:post        GET     login      405    405  405      405
integrations:post        POST    login      303    404  303      303
integrations:retry       GET     login      405    405  405      405
integrations:retry       POST    login      303    404  303      303
profile                  GET     login      200    200  200      200
profile                  POST    login      405    405  405      405
token-new                GET     login      405    405  405      405
token-new                POST    login      303    303  303      303
token-revoke             GET     login      405    405  405      405
token-revoke             POST    login      303    404  404      404
oidc-login               GET     404        404    404  404      404
oidc-login               POST    405        405    405  405      405
oidc-callback            GET     404        404    404  404      404
oidc-callback            POST    405        405    405  405      405
api:api-root             GET     200        200    200  200      200
api:api-root             POST    405        405    405  405      405
api:not-found            GET     404        404    404  404      404
api:not-found            POST    404        404    404  404      404
api:openapi-json         GET     200        200    200  200      200
api:openapi-json         POST    405        405    405  405      405
api:openapi-view         GET     200        200    200  200      200
api:openapi-view         POST    405        405    405  405      405
api:trees                GET     401        200    200  200      200
api:trees                POST    405        405    405  405      405
api:tree                 GET     401        200    200  200      200
api:tree                 POST    405        405    405  405      405
api:sessions             GET     401        200    200  200      200
api:sessions             POST    401        201    201  201      201
api:session              GET     401        200    404  200      200
api:session              POST    405        405    405  405      405
api:report-summary       GET     401        403    403  200      200
api:report-summary       POST    405        405    405  405      405
api:report-trees         GET     401        403    403  200      200
api:report-trees         POST    405        405    405  405      405
api:report-nodes         GET     401        403    403  400      400
api:report-nodes         POST    405        405    405  405      405
api:report-engineers     GET     401        403    403  200      200
api:report-engineers     POST    405        405    405  405      405
api:report-daily         GET     401        403    403  200      200
api:report-daily         POST    405        405    405  405      405
api:report-outcomes      GET     401        403    403  200      200
api:report-outcomes      POST    405        405    405  405      405
"""


def _parse(table: str) -> dict[tuple[str, str], dict[str, str]]:
    header, *rows = [line.split() for line in table.strip().splitlines()]
    assert header == ["name", "method", *ROLES]
    expected: dict[tuple[str, str], dict[str, str]] = {}
    for name, method, *cells in rows:
        assert (name, method) not in expected, f"{name} {method} is in the table twice"
        expected[name, method] = dict(zip(ROLES, cells, strict=True))
    return expected


EXPECTED = _parse(TABLE)
ROUTES = named_urls()


def _check(world: World, route: Route, method: str, role: str, expected: str) -> str | None:
    """One request; returns what went wrong, or None."""
    client = world.clients[role]
    with rolled_back(client):
        url = world.url(route)
        data = world.valid_post(route.name) if method == "POST" else None
        before = fingerprint()
        response = post(client, route.name, data, url=url) if method == "POST" else client.get(url)
        status = response.status_code
        problem = None
        if expected == "login":
            login = f"{reverse('login')}?next={quote(url, safe='/')}"
            if status != 302 or response.url != login:
                location = response.get("Location")
                problem = f"expected a redirect to {login}, got {status} {location}"
        elif status != int(expected):
            problem = f"expected {expected}, got {status}"
        refused = expected == "login" or int(expected) >= 400
        if problem is None and refused and fingerprint() != before:
            problem = f"refused with {status} but the database changed"
        if "X-Request-ID" not in response:
            problem = "no X-Request-ID header"
    return f"{method} {url} as {role}: {problem}" if problem else None


def test_it_has_an_expectation_for_every_url():
    methods = ("GET", "POST")
    names = {route.name for route in ROUTES}
    missing = sorted(
        f"{name} {method}" for name in names for method in methods if (name, method) not in EXPECTED
    )
    assert not missing, f"add these URLs to TABLE in {__name__}: {missing}"
    stale = sorted(f"{name} {method}" for name, method in EXPECTED if name not in names)
    assert not stale, f"these URLs no longer exist, remove them from TABLE: {stale}"


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_it_lets_each_role_do_only_what_it_may(route):
    world = World.build()
    problems = []
    checks = 0
    for method in ("GET", "POST"):
        row = EXPECTED.get((route.name, method))
        assert row is not None, f"{route.name} {method} is missing from TABLE in {__name__}"
        for role in ROLES:
            checks += 1
            problem = _check(world, route, method, role, row[role])
            if problem:
                problems.append(problem)
    _tally(checks)
    assert not problems, "\n".join(problems)


def test_it_hides_another_engineers_session_entirely():
    """bob, an engineer, gets a 404 for everything of alice's: it never confirms it exists."""
    world = World.build()
    session_routes = [r for r in ROUTES if "session_id" in r.params]
    assert {r.name for r in session_routes} >= {
        "sessions:detail",
        "sessions:run",
        "sessions:export",
        "sessions:close-form",
        "sessions:close",
        "sessions:complete",
        "sessions:scratchpad",
        "sessions:answer",
    }
    problems = []
    for route in session_routes:
        for method in ("GET", "POST"):
            if EXPECTED[route.name, method]["alice"] == "405":
                continue
            problem = _check(world, route, method, "bob", "404")
            if problem:
                problems.append(problem)
    # Every export format, not only the one the table samples.
    for fmt in ("markdown", "text", "html", "psa", "json", "csv"):
        url = reverse("sessions:export", args=[world.active.pk, fmt])
        response = world.clients["bob"].get(url)
        if response.status_code != 404 or "T-1042" in response.content.decode():
            problems.append(f"GET {url} as bob: {response.status_code}")
    _tally(len(session_routes) + 6)
    assert not problems, "\n".join(problems)


def _admin_urls() -> list[str]:
    urls = [reverse("admin:index")]
    for model in admin.site._registry:
        opts = model._meta
        urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    return urls


@pytest.mark.parametrize("url", _admin_urls())
def test_it_keeps_the_admin_to_staff(url):
    """Signed-in people who are not staff get the admin's login page; anonymous
    visitors a login page (Django's LoginRequiredMiddleware sends them to the
    app's, except for the admin index, which the admin itself redirects)."""
    world = World.build()
    next_query = f"?next={quote(url, safe='/')}"
    admin_login = reverse("admin:login") + next_query
    app_login = reverse("login") + next_query
    expected = {
        "anonymous": {admin_login, app_login},
        "alice": {admin_login},
        "bob": {admin_login},
        "charlie": {admin_login},
        "admin": None,
    }
    problems = []
    for role, redirects in expected.items():
        response = world.clients[role].get(url)
        if redirects is None:
            ok = response.status_code == 200
        else:
            ok = response.status_code == 302 and response.url in redirects
        if not ok:
            problems.append(
                f"GET {url} as {role}: got {response.status_code} {response.get('Location')}"
            )
    _tally(len(expected))
    assert not problems, "\n".join(problems)


# --- the tree designer's admin URLs (SPEC §8) ------------------------------------------------

# The admin's own checks: anyone not staff gets its login page ("admin-login"; anonymous
# visitors may get the app's, as above); staff need `view_treeversion` (and `view_tree`) to
# look and `change_treeversion` to edit. `viewer` is staff with the view permissions only.
DESIGNER_TABLE = """
name                                  method  anonymous  alice        charlie      viewer  admin
admin:trees_treeversion_designer      GET     login      admin-login  admin-login  200     200
admin:trees_treeversion_designer      POST    login      admin-login  admin-login  405     405
admin:trees_treeversion_designer_add  GET     login      admin-login  admin-login  405     405
admin:trees_treeversion_designer_add  POST    login      admin-login  admin-login  403     302
admin:trees_treeversion_designer_save GET     login      admin-login  admin-login  405     405
admin:trees_treeversion_designer_save POST    login      admin-login  admin-login  403     302
admin:trees_treeversion_designer_delete GET   login      admin-login  admin-login  405     405
admin:trees_treeversion_designer_delete POST  login      admin-login  admin-login  403     302
admin:trees_treeversion_restore       GET     login      admin-login  admin-login  405     405
admin:trees_treeversion_restore       POST    login      admin-login  admin-login  403     302
admin:trees_tree_compare              GET     login      admin-login  admin-login  200     200
admin:trees_tree_compare              POST    login      admin-login  admin-login  405     405
admin:trees_tree_duplicate            GET     login      admin-login  admin-login  403     200
admin:trees_tree_duplicate            POST    login      admin-login  admin-login  403     302
"""
DESIGNER_ROLES = ("anonymous", "alice", "charlie", "viewer", "admin")


def _designer_world():
    from django.contrib.auth.models import Permission
    from django.test import Client

    from resolutionflow.tests.factories import UserFactory
    from trees import services as tree_services

    world = World.build()
    viewer = UserFactory(username="viewer", is_staff=True)
    viewer.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_treeversion", "view_tree", "view_node"])
    )
    world.clients["viewer"] = Client()
    world.clients["viewer"].force_login(viewer)
    published = world.version
    draft = tree_services.version_create_draft(tree=published.tree)
    node = draft.nodes.order_by("position").last()
    other = draft.nodes.exclude(pk=node.pk).order_by("position").first()
    with_tree = {"object_id": published.tree_id}
    urls = {
        "admin:trees_treeversion_designer": ({"object_id": draft.pk}, {}),
        "admin:trees_treeversion_designer_add": (
            {"object_id": draft.pk},
            {"kind": "solution", "title": "Call the vendor"},
        ),
        "admin:trees_treeversion_designer_save": (
            {"object_id": draft.pk, "node_id": node.pk},
            {
                "seen": tree_services.node_digest(node),
                "key": node.key,
                "kind": node.kind,
                "title": "Renamed",
            },
        ),
        "admin:trees_treeversion_designer_delete": (
            {"object_id": draft.pk, "node_id": node.pk},
            {"retarget": str(other.pk)},
        ),
        # The tree has a draft, so a restore is refused with a message (and a redirect).
        "admin:trees_treeversion_restore": ({"object_id": published.pk}, {}),
        "admin:trees_tree_compare": (with_tree, {}),
        "admin:trees_tree_duplicate": (with_tree, {"name": "Copy", "slug": "copy-of-tree"}),
    }
    return world, urls


def test_it_lets_each_role_use_the_designer_only_as_the_admin_allows():
    header, *rows = [line.split() for line in DESIGNER_TABLE.strip().splitlines()]
    assert header == ["name", "method", *DESIGNER_ROLES]
    world, urls = _designer_world()
    from trees.models import Tree, TreeVersion

    older = {"changelist", "add", "history", "delete", "change", "validate", "publish"}
    older |= {"export", "import", "new_draft", "autocomplete"}
    names = {
        f"admin:{pattern.name}"
        for model in (Tree, TreeVersion)
        for pattern in admin.site._registry[model].get_urls()
        if getattr(pattern, "name", None) and pattern.name.split("_", 2)[-1] not in older
    }
    assert names == set(urls), "add the new designer URL to DESIGNER_TABLE"
    problems = []
    for name, method, *cells in rows:
        kwargs, body = urls[name]
        url = reverse(name, kwargs=kwargs)
        if name == "admin:trees_tree_compare":
            url += "?a=1&b=2"
        for role, expected in zip(DESIGNER_ROLES, cells, strict=True):
            client = world.clients[role]
            with rolled_back(client):
                before = fingerprint()
                response = client.post(url, body) if method == "POST" else client.get(url)
                status = response.status_code
                location = response.get("Location", "")
                if expected == "login":
                    ok = status == 302 and "login/?next=" in location
                elif expected == "admin-login":
                    ok = status == 302 and location.startswith(reverse("admin:login"))
                else:
                    ok = status == int(expected)
                refused = expected in ("login", "admin-login") or int(expected) >= 400
                if ok and refused and fingerprint() != before:
                    problems.append(f"{method} {url} as {role}: refused but the database changed")
            if not ok:
                problems.append(f"{method} {url} as {role}: expected {expected}, got {status}")
    _tally(len(rows) * len(DESIGNER_ROLES))
    assert not problems, "\n".join(problems)


# --- the count -----------------------------------------------------------------------------

_COUNT = {"checks": 0}


def _tally(checks: int) -> None:
    _COUNT["checks"] += checks


@pytest.fixture(scope="module", autouse=True)
def _print_the_count(request):
    yield
    if _COUNT["checks"]:
        print_count(request.config, f"access matrix: {_COUNT['checks']} (URL × role) checks")
