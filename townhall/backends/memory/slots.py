"""Connections held open at once (live-event streams), counted per client and in all on
this node: connections are a node's own, so the count is never shared."""

from __future__ import annotations

from townhall.backends.ratelimit import TooManyRequests

# A refused stream's page tries again after this long (its EventSource retries anyway).
RETRY_AFTER_SECONDS = 10.0


class Slot:
    """One held connection; `release` gives it back (twice is harmless)."""

    def __init__(self, slots: ConnectionSlots, key: str) -> None:
        self._slots = slots
        self._key: str | None = key

    def release(self) -> None:
        if self._key is not None:
            self._slots._give_back(self._key)
            self._key = None


class ConnectionSlots:
    def __init__(self, per_client: int, total: int) -> None:
        self.per_client = per_client
        self.total = total
        self.held = 0
        self._by_client: dict[str, int] = {}

    def take(self, key: str, what: str) -> Slot:
        """A slot for client `key`, or TooManyRequests (429 with Retry-After)."""
        mine = self._by_client.get(key, 0)
        if mine >= self.per_client:
            raise TooManyRequests(f"too many {what} open from here ({self.per_client}): close "
                                  "some tabs, or try again later", RETRY_AFTER_SECONDS, what)
        if self.held >= self.total:
            raise TooManyRequests(f"this server has all the {what} it can hold: try again "
                                  "shortly", RETRY_AFTER_SECONDS, what)
        self._by_client[key] = mine + 1
        self.held += 1
        return Slot(self, key)

    def _give_back(self, key: str) -> None:
        self.held -= 1
        left = self._by_client.get(key, 1) - 1
        if left:
            self._by_client[key] = left
        else:
            self._by_client.pop(key, None)
