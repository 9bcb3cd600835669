"""The process-wide runtime: settings, the database engine and the Redis client, set up once per role."""

from __future__ import annotations

import redis as redis_lib
from sqlalchemy import orm as sa_orm

from scrm import db, inline
from scrm.config import Settings

_fake_servers: dict[str, object] = {}


def make_redis(url: str) -> redis_lib.Redis:
    """A Redis client; `memory://` (or `memory://name`) is an in-process stand-in shared by name."""
    if url.startswith("memory://"):
        import fakeredis

        name = url[len("memory://"):] or "default"
        server = _fake_servers.setdefault(name, fakeredis.FakeServer())
        return fakeredis.FakeRedis(server=server, decode_responses=True)  # type: ignore[arg-type]
    return redis_lib.Redis.from_url(url, decode_responses=True, socket_timeout=5,
                                    socket_connect_timeout=3, health_check_interval=30)


class Runtime:
    """What every role shares: settings, Redis, and the key prefix."""

    def __init__(self, settings: Settings, redis: redis_lib.Redis) -> None:
        self.settings, self._redis = settings, redis

    @property
    def redis(self) -> redis_lib.Redis:
        """The Redis client (refused inside an inline attempt: see scrm.inline)."""
        inline.check("redis")
        return self._redis

    @redis.setter
    def redis(self, client: redis_lib.Redis) -> None:
        self._redis = client

    def key(self, *parts: object) -> str:
        """A Redis key under the configured prefix: `scrm:<area>:...`."""
        return ":".join([self.settings.redis.prefix, *(str(p) for p in parts)])


_runtime: Runtime | None = None


def init(settings: Settings) -> Runtime:
    """Bind the database engine and Redis client for this process."""
    global _runtime
    db.init_engine(settings.database.url, echo=settings.database.echo, pool_size=settings.database.pool_size)
    # The models' mappers are configured here, once, not inside the first request or batch that uses one
    # (about 0.1-0.3 s of CPU that would otherwise land on it).
    import scrm.models  # noqa: F401
    sa_orm.configure_mappers()
    _runtime = Runtime(settings=settings, redis=make_redis(settings.redis.url))
    return _runtime


def get() -> Runtime:
    """The runtime set up by init()."""
    if _runtime is None:
        raise RuntimeError("runtime not initialised: call scrm.runtime.init(settings) first")
    return _runtime
