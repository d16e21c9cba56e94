"""An nginx edge (townhall.edge.NginxEdge) in front of the session's `server`, and a
stub origin whose answers a test chooses."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from townhall.testing.servers import Server
from townhall.testing.edge import NginxEdge


def origin_of(server: Server) -> str:
    return server.base_url.removeprefix("http://")


@pytest.fixture(scope="module")
def edge(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NginxEdge]:
    """nginx (one worker) with the shipped config, in front of the session server."""
    with NginxEdge([origin_of(server)], tmp_path_factory.mktemp("edge")) as running:
        yield running


class StubOrigin:
    """An HTTP origin answering each path with a fixed (status, headers, body), counting
    requests per path."""

    def __init__(self, routes: dict[str, tuple[int, dict[str, str], bytes]]) -> None:
        self.routes = routes
        self.hits: Counter[str] = Counter()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                path = self.path.split("?")[0]
                stub.hits[path] += 1
                status, headers, body = stub.routes.get(path, (404, {}, b"no route"))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> StubOrigin:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
