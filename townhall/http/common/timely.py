"""Connections that must send their request in time (uvicorn's h11 protocol, extended).

uvicorn closes a keep-alive connection idle after a response, but never one that has
not finished sending a request: a fresh connection that sends nothing, or a byte every
few seconds (95 s and more, seen in the security review), holds a socket and a
protocol object for ever. Here every request must arrive whole, headers and body,
within `request_timeout` seconds of the connection opening or of the previous response;
otherwise the connection is closed (the app, if it was reading the body, sees a
disconnect). Responses may take as long as they need (live-event streams, blocking
playlist reloads).
"""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

_RECEIVED = (h11.DONE, h11.MUST_CLOSE, h11.CLOSED, h11.ERROR)


class TimelyH11Protocol(H11Protocol):
    request_timeout = 60.0  # set by timely_protocol()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline: asyncio.TimerHandle | None = None
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.request_timeout, self._too_slow)

    def _disarm(self) -> None:
        if getattr(self, "_deadline", None) is not None:
            self._deadline.cancel()  # type: ignore[union-attr]
            self._deadline = None

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.cycle is not None and self.conn.their_state in _RECEIVED:
            self._disarm()  # the whole request is in

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request on this connection has the same time

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.logger.info("closing a connection that did not send its request within "
                             "%g s", self.request_timeout)
            self.transport.close()


def timely_protocol(request_timeout: float) -> type[TimelyH11Protocol]:
    """The protocol class for uvicorn.run(http=...), with this request timeout."""
    return type("TimelyH11Protocol", (TimelyH11Protocol,), {"request_timeout": request_timeout})
