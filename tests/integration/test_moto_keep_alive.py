"""The local moto server keeps a connection open between requests (local/moto_server.py): each request's body
is read to its end, whether or not the application read it, so the next request on the connection is parsed
from its first byte; a chunked body or a client asking to close still ends the connection."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

from framelane.local.moto_server import _KeepAliveRequestHandler


def _echo_path_ignoring_body(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """Answers with the request's method and path and never reads the body (as an early error would)."""
    body = f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def _read_body(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


@pytest.fixture
def server() -> Iterator[tuple[str, int]]:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        handler = _read_body if environ["PATH_INFO"] == "/echo-body" else _echo_path_ignoring_body
        return handler(environ, start_response)

    serving = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_KeepAliveRequestHandler)
    thread = threading.Thread(target=serving.serve_forever, daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", serving.server_port
    finally:
        serving.shutdown()
        thread.join(10)


def _request(connection: http.client.HTTPConnection, method: str, path: str, **kwargs: Any) -> bytes:
    connection.request(method, path, **kwargs)
    return connection.getresponse().read()


def test_requests_share_one_connection_even_when_a_body_was_not_read(server: tuple[str, int]) -> None:
    connection = http.client.HTTPConnection(*server, timeout=10)
    assert _request(connection, "POST", "/echo-body", body=b"first") == b"first"
    socket = connection.sock
    # the application ignores this body; the next request line must not be read out of it
    assert (
        _request(connection, "POST", "/ignored", body=b"GET /smuggled HTTP/1.1\r\n\r\n" * 4000)
        == b"POST /ignored"
    )
    assert _request(connection, "GET", "/second") == b"GET /second"
    assert _request(connection, "POST", "/echo-body", body=b"last") == b"last"
    assert connection.sock is socket  # never reconnected
    connection.close()


def test_a_chunked_body_or_a_close_request_ends_the_connection(server: tuple[str, int]) -> None:
    connection = http.client.HTTPConnection(*server, timeout=10)
    connection.request("POST", "/echo-body", body=iter([b"chunk", b"ed"]), encode_chunked=True)
    response = connection.getresponse()
    assert response.read() == b"chunked"
    assert response.will_close

    connection = http.client.HTTPConnection(*server, timeout=10)
    connection.request("GET", "/bye", headers={"Connection": "close"})
    response = connection.getresponse()
    assert response.read() == b"GET /bye"
    assert response.will_close
