"""Backends going away for a moment (Redis restarting, PostgreSQL failing over) are
expected, not bugs: periodic work notes the outage once, as a warning without a
traceback, and its end, then carries on. Live audio never waits for either."""

from __future__ import annotations

import logging

from redis.exceptions import RedisError
from sqlalchemy.exc import InterfaceError, OperationalError

log = logging.getLogger(__name__)

BACKEND_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError, OperationalError,
                                                   InterfaceError)


class Outage:
    """One kind of periodic work's view of its backends: down, or up."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.down = False

    def failed(self, exc: BaseException) -> None:
        if not self.down:
            first_line = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
            log.warning("%s: a backend is unavailable (%s); carrying on without it",
                        self.what, first_line)
        self.down = True

    def ok(self) -> bool:
        """Note a success; True if it ends an outage."""
        if self.down:
            log.info("%s: backends are back", self.what)
            self.down = False
            return True
        return False
