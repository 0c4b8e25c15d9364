"""Which addresses an outbound fetch (ingest, webhook delivery) may reach: the SSRF guard.

`public` (default) allows globally routable addresses plus `FRAMELANE_ALLOWED_NETWORKS`; `allowlist` allows
only those networks (egress-controlled deployments and every test run).

Whatever the networks allow, a deployment's own service ports (its AWS endpoint, Redis, and the
`FRAMELANE_DENIED_ENDPOINTS` the local stack adds for its API) are never reachable: an allowlist that lets tasks
fetch from loopback must not let them talk to the stack's moto, redis or API.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from framelane.config import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

# Blocked in `public` mode even where the ipaddress module calls them global.
_ALWAYS_BLOCKED = [
    ipaddress.ip_network(cidr)
    for cidr in (
        "0.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT / shared address space
        "169.254.0.0/16",  # link-local, cloud metadata 169.254.169.254
        "192.0.0.0/24",
        "198.18.0.0/15",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
        "fd00:ec2::/32",  # AWS IMDS over IPv6 (fd00:ec2::254)
    )
]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Addresses that reach a service listening on 127.0.0.1 (or on every interface) of this machine.
_THIS_HOST = [ipaddress.ip_network(cidr) for cidr in ("127.0.0.0/8", "0.0.0.0/8", "::1/128", "::/128")]
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$", re.IGNORECASE)


class BlockedAddress(Exception):
    """The target resolves to an address the outbound policy refuses."""


def parse_ip_host(host: str) -> IPAddress | None:
    """The IP address a URL host denotes, including the legacy decimal/hex/octal IPv4 spellings.

    `2852039166`, `0xA9FEA9FE` and `0251.0376.0251.0376` all mean 169.254.169.254 to most HTTP stacks, so
    they must be classified as that address, not passed through as "a hostname".
    """
    candidate = host.strip().strip("[]")
    if "%" in candidate:  # IPv6 zone id
        candidate = candidate.split("%", 1)[0]
    try:
        return ipaddress.ip_address(candidate)
    except ValueError:
        pass
    if _NUMERIC_HOST.match(candidate):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(candidate))
        except OSError:
            return None
    return None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if address.sixtofour is not None:
            return address.sixtofour
    return None


@dataclass(frozen=True)
class OutboundPolicy:
    mode: Literal["public", "allowlist"] = "public"
    allowed_networks: tuple[IPNetwork, ...] = field(default_factory=tuple)
    denied_endpoints: frozenset[tuple[IPAddress, int]] = frozenset()

    @classmethod
    def from_settings(cls, settings: Settings) -> OutboundPolicy:
        return cls(
            mode=settings.outbound_policy,
            allowed_networks=networks(settings.allowed_networks),
            denied_endpoints=service_endpoints(settings),
        )

    def is_allowed(self, address: IPAddress) -> bool:
        embedded = _embedded_ipv4(address)
        candidates: list[IPAddress] = [address] if embedded is None else [address, embedded]
        if any(self._in_allowlist(candidate) for candidate in candidates):
            return True
        if self.mode == "allowlist":
            return False
        return all(_is_public(candidate) for candidate in candidates)

    def check_address(self, address: IPAddress) -> None:
        if not self.is_allowed(address):
            raise BlockedAddress(f"address {address} is not allowed by the outbound policy ({self.mode})")

    def check_endpoint(self, address: IPAddress, port: int) -> None:
        """`check_address`, then refuse the deployment's own service ports on that address."""
        self.check_address(address)
        if any(_same_endpoint(address, port, denied) for denied in self.denied_endpoints):
            raise BlockedAddress(
                f"{address}:{port} is one of this deployment's own service ports (its AWS endpoint, Redis or "
                "API); tasks may not reach it"
            )

    def check_host_literal(self, host: str) -> None:
        """Refuse a URL whose host is an IP literal the policy blocks; host names are checked on resolution."""
        address = parse_ip_host(host)
        if address is not None:
            self.check_address(address)
        elif host.lower().rstrip(".") in {"localhost", "localhost.localdomain"} or host.lower().endswith(
            ".localhost"
        ):
            self.check_address(ipaddress.ip_address("127.0.0.1"))

    def resolve(self, host: str, port: int, resolver: Resolver | None = None) -> list[IPAddress]:
        """Resolve `host` and return its addresses, refusing if ANY of them is blocked (no DNS-rebinding pick)."""
        literal = parse_ip_host(host)
        if literal is not None:
            self.check_endpoint(literal, port)
            return [literal]
        addresses = [ipaddress.ip_address(a) for a in (resolver or _system_resolver)(host, port)]
        if not addresses:
            raise BlockedAddress(f"host {host!r} did not resolve")
        for address in addresses:
            self.check_endpoint(address, port)
        return addresses

    def _in_allowlist(self, address: IPAddress) -> bool:
        return any(address.version == net.version and address in net for net in self.allowed_networks)


def _on_this_host(address: IPAddress) -> bool:
    embedded = _embedded_ipv4(address)
    return any(
        candidate.version == net.version and candidate in net
        for candidate in (address, *([] if embedded is None else [embedded]))
        for net in _THIS_HOST
    )


def _same_endpoint(address: IPAddress, port: int, denied: tuple[IPAddress, int]) -> bool:
    """Same port, and an address that reaches the denied one: itself (or its IPv4 inside IPv6), or, for a
    service on this host, any loopback or unspecified address (127.0.0.2 and 0.0.0.0 reach 127.0.0.1 too)."""
    denied_address, denied_port = denied
    if port != denied_port:
        return False
    embedded = _embedded_ipv4(address)
    if denied_address in (address, embedded):
        return True
    return _on_this_host(denied_address) and _on_this_host(address)


def service_endpoints(settings: Settings) -> frozenset[tuple[IPAddress, int]]:
    """The deployment's own endpoints tasks must never reach: the AWS endpoint (moto locally), the Redis URL,
    and `FRAMELANE_DENIED_ENDPOINTS` (`host:port` entries). Hosts given by name are taken only for `localhost`;
    other names resolve to private addresses the policy refuses anyway unless an allowlist admits them."""
    endpoints: set[tuple[IPAddress, int]] = set()
    urls = [settings.aws_endpoint_url, settings.redis_url]
    urls += [f"tcp://{entry}" for entry in settings.denied_endpoints]
    for url in filter(None, urls):
        parts = urlsplit(url)
        if not parts.hostname:
            continue
        default_port = {"http": 80, "https": 443, "redis": 6379, "rediss": 6379}.get(parts.scheme)
        port = parts.port or default_port
        host = parts.hostname.lower().rstrip(".")
        address = ipaddress.ip_address("127.0.0.1") if host == "localhost" else parse_ip_host(host)
        if address is not None and port is not None:
            endpoints.add((address, port))
    return frozenset(endpoints)


def _is_public(address: IPAddress) -> bool:
    if not address.is_global or address.is_multicast or address.is_reserved:
        return False
    return not any(address.version == net.version and address in net for net in _ALWAYS_BLOCKED)


def _system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise BlockedAddress(f"host {host!r} did not resolve: {exc}") from exc
    return sorted({str(info[4][0]) for info in infos})


def networks(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)
