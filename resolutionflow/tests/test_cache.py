"""The shared cache: Redis through REDIS_URL, tested against a real redis-server.

bin/test starts a throwaway one (no persistence) and names it in TEST_REDIS_URL.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid

import pytest

from resolutionflow.cache import RedisCache

REDIS_URL = os.environ.get("TEST_REDIS_URL", "")


@pytest.fixture
def redis_url() -> str:
    if not REDIS_URL:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but TEST_REDIS_URL is not set (bin/test starts Redis).")
        pytest.skip("no redis-server (bin/test starts one when it is installed)")
    return REDIS_URL


def app_server_cache(url: str, prefix: str) -> RedisCache:
    """The cache one app server process would build from the settings."""
    return RedisCache(url, {"KEY_PREFIX": prefix, "TIMEOUT": 60})


def test_settings_use_redis_when_redis_url_is_set_and_memory_otherwise(redis_url):
    probe = (
        "from django.conf import settings; "
        "print(settings.CACHES['default']['BACKEND'], settings.SHARED_CACHE, "
        "settings.SESSION_ENGINE)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "resolutionflow.settings"}

    def backend(**extra) -> str:
        run = subprocess.run(
            [sys.executable, "-c", f"import django; django.setup(); {probe}"],
            env={k: v for k, v in {**env, **extra}.items() if v is not None},
            capture_output=True,
            text=True,
            check=True,
        )
        return run.stdout.strip()

    # With Redis every app server shares the cache: the history's totals and lists,
    # the permission sets and the signed-in sessions are read from it.
    assert backend(REDIS_URL=redis_url).split() == [
        "resolutionflow.cache.RedisCache",
        "True",
        "django.contrib.sessions.backends.cached_db",
    ]
    # Without, each process's own memory: nothing that another process could make
    # stale is kept there (a signed-out session stays signed out everywhere).
    assert backend(REDIS_URL=None).split() == [
        "django.core.cache.backends.locmem.LocMemCache",
        "False",
        "django.contrib.sessions.backends.db",
    ]


def test_two_app_servers_share_the_cache_and_count_atomically(redis_url):
    prefix = f"test-{uuid.uuid4().hex}"
    first, second = app_server_cache(redis_url, prefix), app_server_cache(redis_url, prefix)
    first.set("fragment", "<li>card</li>")
    assert second.get("fragment") == "<li>card</li>"
    second.delete("fragment")
    assert first.get("fragment") is None

    # A rate limit counts with incr: 8 threads on two "servers", no lost update.
    first.set("hits", 0)

    def hit(cache: RedisCache) -> None:
        for _ in range(50):
            cache.incr("hits")

    threads = [threading.Thread(target=hit, args=(c,)) for c in (first, second) * 4]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert second.get("hits") == 400
    first.delete("hits")


def test_every_call_shares_one_redis_client_and_its_connections(redis_url):
    cache = app_server_cache(redis_url, f"test-{uuid.uuid4().hex}")
    cache.set_many({"a": 1, "b": 2})
    assert cache.get_many(["a", "b", "c"]) == {"a": 1, "b": 2}
    client = cache._cache.get_client(write=True)
    assert cache._cache.get_client() is client  # one server: reads and writes alike
    assert cache.get("a") == 1
    # Threads share it too: each command borrows a connection from the pool.
    found = []
    threads = [threading.Thread(target=lambda: found.append(cache.get("b"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert found == [2] * 8
    assert cache._cache.get_client() is client
    cache.delete_many(["a", "b"])
