"""The node's Redis client after Redis restarts (townhall/backends/redis/client.py)
against a real redis-server: the first command and the first pipeline on a connection
pooled before the restart go through. With redis-py's defaults they raised
"Connection closed by server", and a listener's beacon got a 503 though Redis was back
(tests/system/test_outages.py, once in a clean-clone CI run)."""

from __future__ import annotations

from townhall.backends.redis.client import connect
from townhall.testing.services import redis_service


async def test_commands_on_connections_pooled_before_a_restart_go_through() -> None:
    with redis_service() as service:
        client = connect(service.url)
        try:
            # Two pooled connections, both made before the restart.
            async with client.pipeline(transaction=False) as pipe:
                await client.set("before", "1")
                await pipe.incr("count").execute()
            service.stop()
            service.start()  # empty: it keeps nothing on disk
            assert await client.get("before") is None
            async with client.pipeline(transaction=False) as pipe:
                assert await pipe.incr("count").execute() == [1]
        finally:
            await client.aclose()
