"""Fixtures shared by every test module.

People mirror healthchecks' alice/bob/charlie: two engineers, a manager and an
admin. `clock` controls the time services record. The browser fixtures give a
Playwright page on the live server, already signed in as a role.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from resolutionflow import clock as clock_module
from resolutionflow.tests.factories import UserFactory

# Playwright's sync API runs an event loop in the test thread; Django's ORM
# guard would otherwise refuse database access from the same thread.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

AXE_SOURCE = (Path(__file__).parent / "tests" / "assets" / "axe.min.js").read_text()
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# --- people -----------------------------------------------------------------


@pytest.fixture
def alice(db):
    """An engineer."""
    return UserFactory(username="alice", groups=["Engineers"])


@pytest.fixture
def bob(db):
    """A second engineer."""
    return UserFactory(username="bob", groups=["Engineers"])


@pytest.fixture
def charlie(db):
    """A manager."""
    return UserFactory(username="charlie", groups=["Managers"])


@pytest.fixture
def admin_user(db):
    """A superuser with access to the Django admin."""
    return UserFactory(username="admin", is_staff=True, is_superuser=True)


@pytest.fixture
def alice_client(alice) -> Client:
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def bob_client(bob) -> Client:
    client = Client()
    client.force_login(bob)
    return client


@pytest.fixture
def charlie_client(charlie) -> Client:
    client = Client()
    client.force_login(charlie)
    return client


@pytest.fixture
def admin_client_logged_in(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


# --- time ---------------------------------------------------------------------


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float = 0, **kwargs: float) -> datetime:
        self.current += timedelta(seconds=seconds, **kwargs)
        return self.current

    def set(self, when: datetime) -> None:
        self.current = when


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock(datetime(2026, 2, 10, 9, 15, 0, 123456, tzinfo=UTC))
    monkeypatch.setattr(clock_module, "_source", fake.now)
    return fake


# --- browser ------------------------------------------------------------------


def pytest_collection_modifyitems(config, items):
    """Skip browser tests, with one note, when Chromium is missing (never in CI)."""
    if (
        os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
        and Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")).exists()
    ):
        return
    if os.environ.get("CI") == "true":
        raise pytest.UsageError("CI=true but Chromium is missing: browser tests cannot run.")
    skip = pytest.mark.skip(reason="Chromium not found (set CHROMIUM_PATH)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser(django_db_setup):
    from django.db import connections
    from playwright.sync_api import sync_playwright

    # Django keeps the serialized-rollback snapshot of the test database on its
    # connection objects, which are per context; starting Playwright's sync API
    # switches this thread to a new context (new connection objects). Carry the
    # snapshot over, or groups and outcomes vanish after the first browser test
    # whenever database tests ran before it.
    snapshots = {
        alias: getattr(connections[alias], "_test_serialized_contents", None)
        for alias in connections
    }
    with sync_playwright() as p:
        for alias, snapshot in snapshots.items():
            if snapshot is not None:
                connections[alias]._test_serialized_contents = snapshot
        browser = p.chromium.launch(
            executable_path=os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium",
            args=CHROMIUM_ARGS,
        )
        yield browser
        browser.close()


@pytest.fixture
def live(live_server, django_db_serialized_rollback):
    """The live server, with the reference data (groups, outcomes) kept between tests."""
    return live_server


@pytest.fixture
def new_page(browser, live) -> Iterator[Callable]:
    """Make a Playwright page on the live server, signed in as `user` (or anonymous)."""
    contexts = []

    def make(user=None, *, javascript: bool = True, viewport=None, **context_options):
        context = browser.new_context(
            base_url=live.url,
            java_script_enabled=javascript,
            viewport=viewport or {"width": 1280, "height": 860},
            **context_options,
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        if user is not None:
            client = Client()
            client.force_login(user)
            cookie = client.cookies[settings.SESSION_COOKIE_NAME]
            context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live.url}])
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def engineer_page(new_page, alice):
    return new_page(alice)


@pytest.fixture
def manager_page(new_page, charlie):
    return new_page(charlie)


@pytest.fixture
def admin_page(new_page, admin_user):
    return new_page(admin_user)


def assert_accessible(page, *, context: str | None = None) -> None:
    """Run axe-core on the page; fail on any serious or critical violation."""
    # Colours measured mid-animation (a dialog fading in) are not what people
    # see: let finite animations and transitions finish first.
    page.wait_for_function(
        """() => document.getAnimations().every(a =>
            a.playState !== 'running' || a.effect.getComputedTiming().iterations === Infinity)"""
    )
    page.evaluate(f"() => {{ {AXE_SOURCE}\n; window.axe = axe; }}")
    results = page.evaluate(
        """async (context) => {
            const r = await window.axe.run(context ? document.querySelector(context) : document,
                {resultTypes: ['violations']});
            return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
              .map(v => ({id: v.id, impact: v.impact, help: v.help,
                          nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}));
        }""",
        context,
    )
    assert results == [], f"axe violations on {page.url}: {results}"


@pytest.fixture
def accessible():
    return assert_accessible


def screenshot(page, name: str) -> None:
    """Save a screenshot under var/screenshots when SCREENSHOTS=1 (to look at them)."""
    if os.environ.get("SCREENSHOTS"):
        out = Path(settings.BASE_DIR) / "var" / "screenshots"
        out.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out / f"{name}.png"), full_page=True)
