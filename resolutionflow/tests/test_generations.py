"""Generation tokens (resolutionflow.generations) and the release digest
(resolutionflow.release): what cached values and fragments are keyed by."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.http import HttpResponse

from resolutionflow import generations, release


@pytest.fixture(autouse=True)
def shared(settings):
    settings.SHARED_CACHE = True  # one test process stands for the app servers


@pytest.fixture
def reads(monkeypatch) -> list[tuple[str, list[str]]]:
    """Every round trip that reads the shared cache: (method, keys)."""
    seen: list[tuple[str, list[str]]] = []
    inside = []  # the local-memory cache's get_many calls its own get

    def spy(method: str, call, keys_of):
        def read(keys, *args, **kwargs):
            if not inside:
                seen.append((method, keys_of(keys)))
            inside.append(method)
            try:
                return call(keys, *args, **kwargs)
            finally:
                inside.pop()

        return read

    monkeypatch.setattr(cache, "get", spy("get", cache.get, lambda key: [key]))
    monkeypatch.setattr(cache, "get_many", spy("get_many", cache.get_many, list))
    return seen


def in_a_request(view) -> object:
    """`view()` run as a request's view, behind GenerationsMiddleware."""
    result = {}

    def get_response(request):
        result["value"] = view()
        return HttpResponse()

    generations.GenerationsMiddleware(get_response)(object())
    return result["value"]


def test_a_request_reads_each_generation_once(reads):
    def view():
        first = generations.token("history")
        both = generations.tokens("history", "permissions")
        again = generations.token("permissions")
        return first, both, again

    first, both, again = in_a_request(view)
    assert both == {"history": first, "permissions": again}
    assert reads == [
        ("get_many", ["generation:history"]),
        ("get_many", ["generation:permissions"]),
    ]
    # Outside a request nothing is kept: each call asks the cache.
    reads.clear()
    generations.token("history")
    generations.token("history")
    assert len(reads) == 2


@pytest.mark.django_db
def test_a_request_sees_its_own_renewal_and_the_next_request_anyone_elses():
    def renewing():
        before = generations.token("history")
        generations.renew("history")
        return before, generations.token("history")

    before, after = in_a_request(renewing)
    assert before != after
    assert generations.token("history") == after

    def renewed_elsewhere():
        mine = generations.token("history")
        cache.set("generation:history", "another-process")  # another app server's renewal
        return mine, generations.token("history")

    assert in_a_request(renewed_elsewhere) == (after, after)
    assert in_a_request(lambda: generations.token("history")) == "another-process"


@pytest.mark.django_db
def test_both_permission_sets_come_in_one_round_trip(charlie, reads):
    get_user_model().objects.get(pk=charlie.pk).has_perm("flow_sessions.view_reports")  # cached
    reads.clear()
    user = get_user_model().objects.get(pk=charlie.pk)
    assert in_a_request(lambda: user.has_perm("flow_sessions.view_reports"))
    assert [method for method, _ in reads] == ["get_many", "get_many"]  # the token, both sets
    assert sorted(key.split(":")[1] for key in reads[1][1]) == ["group", "user"]


def project_at(root, settings, *, templates: bool) -> None:
    """A project of its own under `root`: its apps' folders, and `root/templates` if asked."""
    settings.BASE_DIR = root
    settings.STATICFILES_DIRS = []
    backend = "django.template.backends.django.DjangoTemplates"
    settings.TEMPLATES = [{"BACKEND": backend, "DIRS": [root / "templates"]}] if templates else []


def test_the_release_digest_follows_an_edited_template(tmp_path, settings):
    from django.template.autoreload import reset_loaders

    (tmp_path / "templates").mkdir()
    page = tmp_path / "templates" / "page.html"
    page.write_text("<p>one</p>")
    project_at(tmp_path, settings, templates=True)
    first = release.digest("page.html")
    page.write_text("<p>two</p>")
    assert release.digest("page.html") == first  # once per process (a deployment restarts)
    reset_loaders()  # what the development server does when a template is edited
    assert release.digest("page.html") != first


def test_the_release_digest_covers_the_apps_code(tmp_path, settings):
    (tmp_path / "sessions").mkdir()
    code = tmp_path / "sessions" / "views.py"
    code.write_text("ANSWER = 1\n")
    project_at(tmp_path, settings, templates=False)
    first = release._compute()
    code.write_text("ANSWER = 2\n")
    second = release._compute()
    assert second != first
    (tmp_path / "sessions" / "tests").mkdir()
    (tmp_path / "sessions" / "tests" / "test_views.py").write_text("x = 1\n")
    (tmp_path / "sessions" / "__pycache__").mkdir()
    (tmp_path / "sessions" / "__pycache__" / "views.cpython-311.pyc").write_bytes(b"\0")
    assert release._compute() == second  # neither tests nor bytecode count
