"""Best-effort string cache with a Redis backend and an in-memory TTL fallback, so Redis stays optional."""

import logging
import threading
import time
from typing import Any, Protocol

logger = logging.getLogger(__name__)

KEY_PREFIX = "chatai:"


class CacheBackend(Protocol):
    """Storage used by Cache."""

    name: str

    def get(self, key: str) -> str | None: ...
    def set(self, key: str, value: str, ttl: int | None) -> None: ...
    def delete(self, key: str) -> None: ...
    def ping(self) -> bool: ...
    def close(self) -> None: ...


class MemoryBackend:
    """Thread-safe dict with per-key expiry; per process, lost on restart."""

    name = "memory"

    def __init__(self, max_entries: int = 10_000) -> None:
        self._data: dict[str, tuple[str, float | None]] = {}
        self._lock = threading.Lock()
        self._max_entries = max_entries

    def get(self, key: str) -> str | None:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            value, expires_at = item
            if expires_at is not None and expires_at <= time.monotonic():
                del self._data[key]
                return None
            return value

    def set(self, key: str, value: str, ttl: int | None) -> None:
        expires_at = time.monotonic() + ttl if ttl else None
        with self._lock:
            if len(self._data) >= self._max_entries:
                self._evict()
            self._data[key] = (value, expires_at)

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    def ping(self) -> bool:
        return True

    def close(self) -> None:
        with self._lock:
            self._data.clear()

    def _evict(self) -> None:
        """Drop expired entries, then the oldest ones if still full (caller holds the lock)."""
        now = time.monotonic()
        for key in [k for k, (_, exp) in self._data.items() if exp is not None and exp <= now]:
            del self._data[key]
        while len(self._data) >= self._max_entries:
            del self._data[next(iter(self._data))]


class RedisBackend:
    """Redis via redis-py; errors are logged and treated as cache misses."""

    name = "redis"

    def __init__(self, url: str) -> None:
        import redis  # Imported lazily: only needed when REDIS_URL is set.

        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._client: Any = redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=2, socket_timeout=2)
        self._client.ping()

    def get(self, key: str) -> str | None:
        try:
            value = self._client.get(KEY_PREFIX + key)
        except self._errors as exc:
            logger.warning("redis get failed: %s", exc)
            return None
        return value if isinstance(value, str) else None

    def set(self, key: str, value: str, ttl: int | None) -> None:
        try:
            self._client.set(KEY_PREFIX + key, value, ex=ttl or None)
        except self._errors as exc:
            logger.warning("redis set failed: %s", exc)

    def delete(self, key: str) -> None:
        try:
            self._client.delete(KEY_PREFIX + key)
        except self._errors as exc:
            logger.warning("redis delete failed: %s", exc)

    def ping(self) -> bool:
        try:
            return bool(self._client.ping())
        except self._errors:
            return False

    def close(self) -> None:
        self._client.close()


class Cache:
    """Facade whose backend is chosen at startup; the object itself stays the same for its lifetime."""

    def __init__(self) -> None:
        self._backend: CacheBackend = MemoryBackend()

    @property
    def backend_name(self) -> str:
        return self._backend.name

    def configure(self, redis_url: str) -> None:
        """Use Redis at `redis_url` if reachable, else the in-memory backend."""
        self.close()
        if not redis_url:
            return
        try:
            self._backend = RedisBackend(redis_url)
        except Exception as exc:  # Any failure (bad URL, refused, auth) means: fall back.
            logger.warning("redis unavailable (%s); using in-memory cache", exc)
        else:
            logger.info("cache backend: redis")

    def get(self, key: str) -> str | None:
        return self._backend.get(key)

    def set(self, key: str, value: str, ttl: int | None = None) -> None:
        self._backend.set(key, value, ttl)

    def delete(self, key: str) -> None:
        self._backend.delete(key)

    def ping(self) -> bool:
        return self._backend.ping()

    def close(self) -> None:
        """Release the backend and return to an empty in-memory one."""
        self._backend.close()
        self._backend = MemoryBackend()


_cache = Cache()


def get_cache() -> Cache:
    """The process-wide cache (usable as a FastAPI dependency)."""
    return _cache


def init_cache(redis_url: str) -> Cache:
    """Select the backend at application startup."""
    _cache.configure(redis_url)
    return _cache


def close_cache() -> None:
    """Close the backend at application shutdown."""
    _cache.close()
