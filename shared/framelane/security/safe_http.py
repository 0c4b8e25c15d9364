"""Outbound HTTP that cannot be steered into private networks (ingest downloads, webhook deliveries).

Each hop resolves the host, checks EVERY address with the outbound policy, then connects to the checked
address itself (so a second DNS answer cannot swap it), sending the original Host header and TLS SNI.
Redirects are followed by hand, at most `max_redirects`, each hop checked again.

Hand-written on urllib3 on purpose: HTTP clients (httpx, requests) resolve and connect in one step, so there is
no point at which every resolved address can be checked and then pinned for the connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import urllib3

from framelane.security.outbound import BlockedAddress, OutboundPolicy, Resolver

REDIRECT_CODES = {301, 302, 303, 307, 308}


class FetchError(Exception):
    """The fetch failed: blocked address, unreachable host, bad status, too large, too many redirects."""

    def __init__(self, message: str, *, status: int | None = None, too_large: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.too_large = too_large


@dataclass(frozen=True)
class FetchLimits:
    connect_timeout: float = 5
    read_timeout: float = 30
    max_redirects: int = 5


@dataclass
class SafeResponse:
    url: str
    status: int
    headers: dict[str, str]
    raw: urllib3.BaseHTTPResponse

    def iter_bytes(self, max_bytes: int, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """The body in chunks; FetchError(too_large) as soon as it passes `max_bytes`."""
        declared = self.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise FetchError(
                f"source is {int(declared)} bytes, over the {max_bytes}-byte limit", too_large=True
            )
        total = 0
        for chunk in self.raw.stream(chunk_size):
            total += len(chunk)
            if total > max_bytes:
                raise FetchError(f"source is over the {max_bytes}-byte limit", too_large=True)
            yield chunk


class SafeHttpClient:
    def __init__(self, policy: OutboundPolicy, limits: FetchLimits, resolver: Resolver | None = None) -> None:
        self.policy = policy
        self.limits = limits
        self._resolver = resolver

    @contextmanager
    def request(
        self, method: str, url: str, *, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> Iterator[SafeResponse]:
        """Send the request, following redirects for GET/HEAD only; the response is closed on exit."""
        current = url
        for _hop in range(self.limits.max_redirects + 1):
            response = self._send_once(method, current, body=body, headers=headers or {})
            location = response.headers.get("location")
            if response.status in REDIRECT_CODES and location and method in {"GET", "HEAD"}:
                response.drain_conn()
                response.release_conn()
                current = urljoin(current, location)
                continue
            try:
                yield SafeResponse(
                    url=current,
                    status=response.status,
                    headers={k.lower(): v for k, v in response.headers.items()},
                    raw=response,
                )
            finally:
                response.release_conn()
            return
        raise FetchError(f"more than {self.limits.max_redirects} redirects")

    def _send_once(
        self, method: str, url: str, *, body: bytes | None, headers: dict[str, str]
    ) -> urllib3.BaseHTTPResponse:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in {"http", "https"} or not parts.hostname:
            raise FetchError(f"refusing to fetch {scheme or 'scheme-less'} URL")
        port = parts.port or (443 if scheme == "https" else 80)
        try:
            addresses = self.policy.resolve(parts.hostname, port, resolver=self._resolver)
        except BlockedAddress as exc:
            raise FetchError(str(exc)) from exc
        address = str(addresses[0])
        timeout = urllib3.Timeout(connect=self.limits.connect_timeout, read=self.limits.read_timeout)
        pool: urllib3.HTTPConnectionPool
        if scheme == "https":
            pool = urllib3.HTTPSConnectionPool(
                address,
                port,
                timeout=timeout,
                server_hostname=parts.hostname,
                assert_hostname=parts.hostname,
                retries=False,
                maxsize=1,
            )
        else:
            pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False, maxsize=1)
        path = parts.path or "/"
        if parts.query:
            path = f"{path}?{parts.query}"
        host_header = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
        if ":" in parts.hostname:  # IPv6 literal
            host_header = f"[{parts.hostname}]" + (f":{parts.port}" if parts.port else "")
        try:
            return pool.urlopen(
                method,
                path,
                body=body,
                headers={"Host": host_header, "User-Agent": "Framelane/1", **headers},
                redirect=False,
                preload_content=False,
                assert_same_host=False,
            )
        except urllib3.exceptions.HTTPError as exc:
            raise FetchError(f"could not reach {parts.hostname}: {type(exc).__name__}") from exc
