"""Real HTTP servers on loopback for sources, redirects and webhook receivers; canaries must see nothing."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


# A route answers (status, headers, body) for a recorded request.
Route = Callable[[Recorded], tuple[int, dict[str, str], bytes]]


@dataclass
class LoopbackServer:
    host: str
    port: int
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def serve_bytes(self, path: str, data: bytes, content_type: str = "video/mp4") -> str:
        self.routes[path] = lambda _: (200, {"Content-Type": content_type}, data)
        return self.url + path

    def respond(self, path: str, route: Route) -> str:
        self.routes[path] = route
        return self.url + path

    def received(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]


class _IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


@contextmanager
def loopback_server(host: str = "127.0.0.1") -> Iterator[LoopbackServer]:
    state = LoopbackServer(host, 0)

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            recorded = Recorded(
                self.command,
                self.path,
                {k.lower(): v for k, v in self.headers.items()},
                self.rfile.read(length) if length else b"",
            )
            state.requests.append(recorded)
            route = state.routes.get(self.path)
            status, headers, body = route(recorded) if route else (404, {}, b"not found")
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_HEAD = _handle

        def log_message(self, *_: Any) -> None:
            pass

    server_class = _IPv6Server if ":" in host else ThreadingHTTPServer
    server = server_class((host, 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def hanging_server() -> Iterator[str]:
    """Accepts connections and never answers until the block ends: keeps a fetch (and its task) in flight."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/slow.mp4"
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        listener.close()
