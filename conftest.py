"""Fixtures shared by every test module.

People mirror healthchecks' alice/bob/charlie: two engineers, a manager and an
admin. `clock` controls the time services record. The browser fixtures give a
Playwright page on the live server, already signed in as a role.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import django.test
import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.color import no_style
from django.db import connections
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


# Production keeps Django's PBKDF2 (a million iterations, about half a second
# per hash on a slow core); tests only need passwords that check, not ones that
# resist brute force. This halves the suite's time.
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def pytest_configure(config):
    settings.PASSWORD_HASHERS = FAST_HASHERS
    # The API's per-caller rate limit counts in a cache every test of a worker
    # shares: off here, on in the tests of the limit itself (api/tests).
    settings.API_RATE_LIMIT = 1_000_000
    # pytest-django builds every transactional test (browser tests, race
    # tests) on django.test.TransactionTestCase, looked up at each test.
    django.test.TransactionTestCase = KeepReferenceData


# --- the database between transactional tests --------------------------------------


class ReferenceData:
    """The rows the migrations leave in a test database (groups, permissions, outcomes).

    After a transactional test Django empties every table (a TRUNCATE of all of
    them) and, with serialized rollback, reloads these rows one save at a time
    before the next: about a second per browser test, most of their setup.
    `reset()` instead empties only the tables the test wrote to and leaves the
    reference rows alone; when a test changed those (or emptying the others
    cascaded into them), it falls back to Django's flush and reload.
    """

    _by_alias: dict[str, ReferenceData] = {}

    def __init__(self, alias: str) -> None:
        connection = connections[alias]
        self.alias = alias
        counts = self._counts(connection)
        self.tables = sorted(table for table, n in counts.items() if n)
        self.checksum = self._checksum(connection)
        self.snapshot = connection.creation.serialize_db_to_string()

    @classmethod
    def of(cls, alias: str) -> ReferenceData:
        """Taken at the first transactional test, before it writes: the migrated state."""
        if alias not in cls._by_alias:
            cls._by_alias[alias] = cls(alias)
        return cls._by_alias[alias]

    def reset(self) -> None:
        connection = connections[self.alias]
        dirty = [t for t, n in self._counts(connection).items() if n and t not in self.tables]
        if dirty:
            connection.ops.execute_sql_flush(
                connection.ops.sql_flush(no_style(), dirty, allow_cascade=True)
            )
        if self._checksum(connection) != self.checksum:
            call_command(
                "flush",
                verbosity=0,
                interactive=False,
                database=self.alias,
                reset_sequences=False,
                inhibit_post_migrate=True,
            )
            connection.creation.deserialize_db_from_string(self.snapshot)

    @staticmethod
    def _counts(connection) -> dict[str, int]:
        tables = sorted(connection.introspection.django_table_names(only_existing=True))
        quote = connection.ops.quote_name
        sql = " UNION ALL ".join(
            f"SELECT {i}, COUNT(*) FROM {quote(table)}" for i, table in enumerate(tables)
        )
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return {tables[i]: n for i, n in cursor.fetchall()}

    def _checksum(self, connection) -> str:
        digest = hashlib.sha256()
        with connection.cursor() as cursor:
            for table in self.tables:
                cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)} ORDER BY 1")
                digest.update(repr(cursor.fetchall()).encode())
        return digest.hexdigest()


class KeepReferenceData(django.test.TransactionTestCase):
    """A TransactionTestCase that keeps the reference rows instead of reloading them."""

    @classmethod
    def _fixture_setup(cls) -> None:
        for alias in cls._databases_names(include_mirrors=False):
            ReferenceData.of(alias)
        # The reference rows are already there (see _fixture_teardown), so
        # serialized rollback has nothing to reload.
        serialized, cls.serialized_rollback = cls.serialized_rollback, False
        try:
            super()._fixture_setup()
        finally:
            cls.serialized_rollback = serialized

    def _fixture_teardown(self) -> None:
        for alias in self._databases_names(include_mirrors=False):
            ReferenceData.of(alias).reset()


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    """Each test starts with an empty cache: the history's cached cards and totals
    (sessions.cards) are keyed by rows that another test's rollback took away."""
    yield
    cache.clear()


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


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """Print the tallies an xdist worker collected (see matrix.print_count)."""
    reporter = node.config.pluginmanager.getplugin("terminalreporter")
    worker = getattr(node, "workerinput", {}).get("workerid", "")
    # A module may be shared between workers (worksteal): each line is that
    # worker's part of its module's tally.
    for line in getattr(node, "workeroutput", {}).get("tallies", []):
        reporter.write_line(f"[{worker}] {line}" if worker else line)


@pytest.fixture(scope="session")
def browser(django_db_setup):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium",
            args=CHROMIUM_ARGS,
        )
        yield browser
        browser.close()
        # Playwright's sync API gave this thread a context of its own, and its
        # database connections with it: close them while they can be reached,
        # or dropping the test database finds them still open (under xdist,
        # database tests may run on a worker after its first browser test).
        connections.close_all()


@pytest.fixture
def live(live_server, transactional_db):
    """The live server; the reference data (groups, outcomes) stays (KeepReferenceData)."""
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
        # Every document of the context gets axe-core before its own scripts,
        # so assert_accessible never has to send and evaluate 650 KB again.
        context.add_init_script(AXE_SOURCE)
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
