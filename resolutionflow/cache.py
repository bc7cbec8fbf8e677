"""The shared cache's backend (REDIS_URL): Django's Redis backend, one client per pool.

Django's `RedisCacheClient.get_client` makes a new `redis.Redis` for every call (each
`get`, `get_many`, `set_many`), and redis-py fills a table of some 170 response
callbacks in each one's constructor: about a tenth of a millisecond, ten times for a
history page. A `redis.Redis` holds nothing of its own but its connection pool, and is
safe to share between threads (each command takes a connection from the pool), so one
per pool serves every call. Everything else is Django's.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class ReusedClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            # The pools live as long as this object: their ids stay theirs.
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str, params: dict) -> None:
        super().__init__(server, params)
        self._class = ReusedClient
