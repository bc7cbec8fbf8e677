"""The foundation: settings safety, login everywhere, health check, navigation, layout."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from html.parser import HTMLParser
from unittest import mock
from urllib.parse import quote

import pytest
from django.conf import settings
from django.contrib.messages import constants as message_levels
from django.contrib.messages.storage.base import Message
from django.contrib.messages.storage.cookie import CookieStorage
from django.db import OperationalError
from django.http import HttpResponse
from django.template import engines, loader
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.views.defaults import server_error

from resolutionflow import views
from resolutionflow.tests.factories import DEFAULT_PASSWORD, UserFactory
from resolutionflow.timestamps import html_datetime

LOGIN_URL = "/accounts/login/"
# The API authenticates by itself (401 in JSON, never a redirect: the access
# matrix checks it), and the OpenID Connect views are how one signs in.
PUBLIC_URL_NAMES = {"login", "healthz", "favicon", "oidc-login", "oidc-callback"}


def _is_public(name: str) -> bool:
    return name in PUBLIC_URL_NAMES or name.startswith("api:")


SAMPLE_VALUES = {
    "slug": lambda: "x",
    "str": lambda: "x",
    "path": lambda: "x",
    "int": lambda: "1",
    "uuid": lambda: str(uuid.uuid4()),
    "uuidstr": lambda: str(uuid.uuid4()),  # django-ninja's UUID converter
}
CONVERTER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")


# --- helpers ----------------------------------------------------------------


def _app_urls() -> list[tuple[str, str]]:
    """(name, concrete URL) for every route outside the admin, converters filled in."""
    found: list[tuple[str, str]] = []

    def walk(patterns, prefix: str, namespace: str | None) -> None:
        for entry in patterns:
            route = str(entry.pattern)
            if isinstance(entry, URLResolver):
                if entry.namespace == "admin":
                    continue
                walk(entry.url_patterns, prefix + route, entry.namespace or namespace)
            elif isinstance(entry, URLPattern):
                assert not route.startswith("^"), (
                    f"{route!r} is a regex route: give this test a sample URL for it"
                )
                url = "/" + CONVERTER.sub(
                    lambda m: SAMPLE_VALUES[m["converter"] or "str"](), prefix + route
                )
                name = f"{namespace}:{entry.name}" if namespace else entry.name
                found.append((name or url, url))

    walk(get_resolver().url_patterns, "", None)
    return found


class _NavLinks(HTMLParser):
    """Collects the text of links inside <nav> elements."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.in_link = False
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "nav":
            self.depth += 1
        elif tag == "a" and self.depth:
            self.in_link = True
            self.links.append("")

    def handle_endtag(self, tag):
        if tag == "nav":
            self.depth -= 1
        elif tag == "a":
            self.in_link = False

    def handle_data(self, data):
        if self.in_link:
            self.links[-1] += data.strip()


def _nav_labels(html: str) -> set[str]:
    parser = _NavLinks()
    parser.feed(html)
    return set(parser.links)


def _run_setup(env_overrides: dict[str, str], *, drop: tuple[str, ...] = ()):
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(env_overrides, DJANGO_SETTINGS_MODULE="resolutionflow.settings")
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


# --- settings -----------------------------------------------------------------


def test_it_refuses_to_start_without_secret_key_when_debug_is_off():
    result = _run_setup({"DEBUG": "False", "ALLOWED_HOSTS": "rf.example.com"}, drop=("SECRET_KEY",))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY" in result.stderr


def test_it_refuses_to_start_without_allowed_hosts_when_debug_is_off():
    result = _run_setup({"DEBUG": "False", "SECRET_KEY": "s" * 50}, drop=("ALLOWED_HOSTS",))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "ALLOWED_HOSTS" in result.stderr


def test_it_starts_with_debug_off_when_secret_key_and_allowed_hosts_are_set():
    result = _run_setup(
        {"DEBUG": "False", "SECRET_KEY": "s" * 50, "ALLOWED_HOSTS": "rf.example.com"}
    )
    assert result.returncode == 0, result.stderr


# --- login required everywhere -----------------------------------------------


def test_it_finds_the_app_urls_to_check():
    names = {name for name, _ in _app_urls()}
    assert {"home", "trees:library", "sessions:run", "reports:overview"} <= names


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name,url",
    # Named by the route alone: the sample UUIDs are new on every collection,
    # and pytest-xdist needs the same ids in every worker.
    [pytest.param(n, u, id=n) for n, u in _app_urls() if not _is_public(n)],
)
def test_it_redirects_anonymous_users_to_login(client, name, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response.url == f"{LOGIN_URL}?next={quote(url, safe='/')}"


@pytest.mark.django_db
def test_it_sends_anonymous_admin_visitors_to_the_admin_login(client):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response.url == "/admin/login/?next=/admin/"


@pytest.mark.django_db
def test_it_serves_the_login_page_anonymously(client):
    assert {name for name, _ in _app_urls()} >= PUBLIC_URL_NAMES
    response = client.get(LOGIN_URL)
    assert response.status_code == 200
    assert 'for="id_username">Username</label>' in response.content.decode()


# --- health check -------------------------------------------------------------


@pytest.mark.django_db
def test_it_reports_healthy_anonymously(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok", "database": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_it_reports_503_when_the_database_is_down():
    def unavailable(*args, **kwargs):
        raise OperationalError("connection refused")

    with mock.patch.object(views.connection, "cursor", unavailable):
        response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "unavailable"


# --- the favicon --------------------------------------------------------------


def test_it_sends_browsers_asking_for_favicon_ico_to_the_logo(client):
    response = client.get("/favicon.ico")

    assert response.status_code == 302
    assert response["Location"] == "/static/img/logo.svg"
    assert "max-age=86400" in response["Cache-Control"]
    assert client.post("/favicon.ico").status_code == 405


@pytest.mark.django_db
def test_it_names_the_icon_on_app_and_admin_pages(alice_client, admin_client_logged_in):
    icon = '<link rel="icon" href="/static/img/logo.svg" type="image/svg+xml">'

    assert icon in alice_client.get("/").content.decode()
    for url in ["/admin/", "/admin/trees/tree/", "/admin/trees/tree/add/", "/admin/login/"]:
        html = admin_client_logged_in.get(url, follow=True).content.decode()
        assert html.count(icon) == 1, url
    assert icon in Client().get("/admin/login/").content.decode()


# --- navigation per role ------------------------------------------------------


def test_it_shows_engineers_trees_and_history_only(alice_client):
    response = alice_client.get("/")
    assert response.status_code == 200
    labels = _nav_labels(response.content.decode())
    assert {"Trees", "History"} <= labels
    assert not labels & {"Prepare", "Reports", "Admin"}


def test_it_shows_managers_prepare_and_reports(charlie_client):
    labels = _nav_labels(charlie_client.get("/").content.decode())
    assert {"Trees", "History", "Prepare", "Reports"} <= labels
    assert "Admin" not in labels


def test_it_shows_admins_the_admin_link(admin_client_logged_in):
    labels = _nav_labels(admin_client_logged_in.get("/").content.decode())
    assert "Admin" in labels


def test_it_marks_the_current_section(db):
    request = RequestFactory().get(reverse("sessions:history"))
    request.user = UserFactory(username="erin", groups=["Engineers"])
    html = loader.render_to_string("base.html", request=request)
    history = reverse("sessions:history")
    assert f'href="{history}" aria-current="page">History<' in html
    assert f'href="{reverse("trees:library")}">Trees<' in html


def test_it_marks_only_the_most_specific_section(db):
    request = RequestFactory().get(reverse("sessions:prepare"))
    request.user = UserFactory(username="morgan", groups=["Managers"])
    html = loader.render_to_string("base.html", request=request)
    assert f'href="{reverse("sessions:prepare")}" aria-current="page">Prepare<' in html
    assert f'href="{reverse("sessions:history")}">History<' in html


# --- login and logout ---------------------------------------------------------


def test_it_logs_in_with_the_right_password(alice):
    client = Client()
    response = client.post(LOGIN_URL, {"username": "alice", "password": DEFAULT_PASSWORD})
    assert response.status_code == 302
    assert response.url == reverse("home")
    assert client.get("/").status_code == 200


def test_it_shows_an_error_for_a_wrong_password(alice):
    client = Client()
    response = client.post(LOGIN_URL, {"username": "alice", "password": "wrong"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'role="alert"' in html
    assert "Please enter a correct username and password" in html
    assert client.get("/").status_code == 302


def test_it_logs_out_with_a_post_only(alice_client):
    assert alice_client.get("/accounts/logout/").status_code == 405
    assert alice_client.get("/").status_code == 200
    response = alice_client.post("/accounts/logout/")
    assert response.status_code == 302
    assert response.url == reverse("login")
    assert alice_client.get("/").status_code == 302


def test_it_offers_logout_as_a_post_form(alice_client):
    html = alice_client.get("/").content.decode()
    assert re.search(
        r'<form method="post" action="/accounts/logout/">\s*<input type="hidden" '
        r'name="csrfmiddlewaretoken"',
        html,
    )
    assert 'href="/accounts/password/"' in html


def test_it_changes_the_password(alice, alice_client):
    response = alice_client.post(
        reverse("password_change"),
        {
            "old_password": DEFAULT_PASSWORD,
            "new_password1": "a-much-longer-passphrase-2026",
            "new_password2": "a-much-longer-passphrase-2026",
        },
    )
    assert response.status_code == 302
    assert response.url == reverse("password_change_done")
    alice.refresh_from_db()
    assert alice.check_password("a-much-longer-passphrase-2026")
    assert "Your password has been changed" in alice_client.get(response.url).content.decode()


def test_it_shows_password_change_errors_on_the_field(alice_client):
    response = alice_client.post(
        reverse("password_change"),
        {"old_password": "wrong", "new_password1": "x", "new_password2": "y"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="id_old_password_error"' in html
    assert re.search(r'<input[^>]*aria-invalid="true"[^>]*id="id_old_password"', html)


# --- layout -------------------------------------------------------------------


def test_it_renders_the_layout_landmarks_and_htmx_csrf_header(alice_client):
    html = alice_client.get("/").content.decode()
    assert '<a class="skip-link" href="#main">' in html
    assert '<main id="main"' in html
    assert "<footer" in html
    assert re.search(r"""hx-headers='\{"X-CSRFToken": "[A-Za-z0-9]{32,}"\}'""", html)
    assert 'name="viewport"' in html
    assert re.search(r'<script src="/static/js/htmx\.min\.js" defer></script>', html)
    assert re.search(r'<script src="/static/js/app\.js" defer></script>', html)


@pytest.mark.parametrize("path", ["/", "/accounts/password/", "/no-such-page/"])
def test_it_has_no_inline_scripts_or_styles(alice_client, path):
    html = alice_client.get(path).content.decode()
    assert not re.search(r"<script(?![^>]*\ssrc=)[^>]*>", html)
    assert " style=" not in html
    assert "<style" not in html
    assert not re.search(r"<[^>]*\son[a-z]+=", html)


def test_it_renders_django_messages_as_toasts(alice_client):
    response = HttpResponse()
    storage = CookieStorage(RequestFactory().get("/"))
    storage.add(message_levels.SUCCESS, "Session closed as Resolved.")
    storage.update(response)
    alice_client.cookies.update(response.cookies)
    html = alice_client.get("/").content.decode()
    region = html.split(
        '<div id="toast-region" class="toast-region" role="status" aria-live="polite">', 1
    )[1].split("<template", 1)[0]
    assert "Session closed as Resolved." in region
    assert 'data-level="success"' in region
    assert "Session closed as Resolved." not in alice_client.get("/").content.decode()


def test_it_greets_by_first_name_and_offers_to_start_a_session(db):
    erin = UserFactory(username="erin", first_name="Erin", groups=["Engineers"])
    client = Client()
    client.force_login(erin)
    html = client.get("/").content.decode()
    assert re.search(r"Good (morning|afternoon|evening)</span>, Erin</h1>", html)
    assert f'href="{reverse("trees:library")}"' in html
    assert "Start a session" in html


def test_it_shows_an_empty_state_without_active_sessions(alice_client):
    html = alice_client.get("/").content.decode()
    assert "No active sessions" in html
    assert "Browse trees" in html


def test_it_lists_active_sessions_with_resume_links(alice, alice_client, bob):
    mine = _active_session(alice, ticket="T-1042", client_name="Acme Ltd")
    theirs = _active_session(bob, ticket="T-9999", client_name="Other Co")
    html = alice_client.get("/").content.decode()
    assert "No active sessions" not in html
    assert "VPN won&#x27;t connect" in html
    assert "T-1042" in html and "Acme Ltd" in html
    assert f'href="{reverse("sessions:run", args=[mine.pk])}"' in html
    assert f'datetime="{html_datetime(mine.started_at)}" data-relative' in html
    assert "T-9999" not in html
    assert str(theirs.pk) not in html


def test_it_renders_the_active_sessions_banner(alice):
    sessions = [_active_session(alice, ticket=f"T-{n}") for n in range(5)]
    html = loader.render_to_string(
        "sessions/_active_sessions_banner.html", {"active_sessions": sessions}
    )
    assert "You have 5 active sessions" in html
    assert html.count("Resume") == 3
    assert "See all 5" in html
    assert loader.render_to_string("sessions/_active_sessions_banner.html", {}).strip() == ""
    one = loader.render_to_string(
        "sessions/_active_sessions_banner.html", {"active_sessions": sessions[:1]}
    )
    assert "You have an active session" in one
    assert f'href="{reverse("sessions:run", args=[sessions[0].pk])}"' in one


def test_it_shows_managers_the_team_kpis_of_the_last_week(charlie_client, alice_client):
    manager_home = charlie_client.get("/").content.decode()
    engineer_home = alice_client.get("/").content.decode()

    assert 'id="team-kpis-heading"' in manager_home
    assert "Team, last 7 days" in manager_home
    assert 'id="team-kpis-heading"' not in engineer_home


def test_the_home_kpis_tag_gives_figures_to_managers_only(alice, charlie):
    template = engines["django"].from_string(
        "{% load report_tags %}{% home_kpis as kpis %}[{{ kpis.filter.days }}]"
    )
    request = RequestFactory().get("/")
    assert template.render({}) == "[]"
    request.user = alice
    assert template.render({"request": request}) == "[]"
    request.user = charlie
    assert template.render({"request": request}) == "[7]"


# --- error pages --------------------------------------------------------------


def test_it_renders_404_in_the_app_layout(alice_client):
    response = alice_client.get("/no-such-page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Page not found" in html
    assert 'class="nav-link"' in html


def test_it_renders_403_and_409_pages(alice):
    request = RequestFactory().get("/")
    request.user = alice
    forbidden = loader.render_to_string("403.html", request=request)
    assert "You don't have access to this page" in forbidden
    conflict = loader.render_to_string(
        "409.html",
        {"message": "This session was already completed.", "next_url": "/sessions/x/"},
        request=request,
    )
    assert "This session was already completed." in conflict
    assert 'href="/sessions/x/"' in conflict


def test_it_renders_the_500_page_without_any_context():
    response = server_error(RequestFactory().get("/"))
    html = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong" in html
    assert 'href="/static/css/app.css"' in html


def test_it_can_deliver_messages_out_of_band_to_htmx_requests():
    html = loader.render_to_string(
        "_messages.html",
        {"oob": True, "messages": [Message(message_levels.WARNING, "Session already closed.")]},
    )
    assert '<div id="toast-region" hx-swap-oob="beforeend">' in html
    assert 'data-level="warning"' in html
    assert "Session already closed." in html
    assert 'role="status"' not in html


def _active_session(engineer, *, ticket: str = "", client_name: str = ""):
    from django.utils import timezone

    from sessions.models import Session
    from trees.models import Node, Tree, TreeVersion

    tree, _ = Tree.objects.get_or_create(slug="vpn", defaults={"name": "VPN won't connect"})
    version, _ = TreeVersion.objects.get_or_create(
        tree=tree, number=1, defaults={"status": TreeVersion.Status.PUBLISHED}
    )
    Node.objects.get_or_create(
        version=version,
        key="done",
        defaults={"kind": Node.Kind.SOLUTION, "title": "Fixed", "is_start": True},
    )
    return Session.objects.create(
        engineer=engineer,
        tree=tree,
        version=version,
        ticket_ref=ticket,
        client=client_name,
        started_at=timezone.now(),
    )
