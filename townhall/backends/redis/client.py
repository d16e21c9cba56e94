"""The one Redis client a node shares between its Redis adapters."""

from __future__ import annotations

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from townhall import limits


def connect(url: str) -> redis.Redis:
    """A client whose commands and pipelines are sent once more on a fresh connection
    after a connection error (limits.REDIS_COMMAND_RETRIES): a connection pooled before
    Redis restarted is dead, and redis-py's from_url retries nothing by default."""
    return redis.Redis.from_url(
        url, retry=Retry(NoBackoff(), limits.REDIS_COMMAND_RETRIES),
        retry_on_error=[RedisConnectionError, RedisTimeoutError])
