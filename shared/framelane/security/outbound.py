"""Which addresses an outbound fetch (ingest, webhook delivery) may reach: the SSRF guard.

`public` (default) allows globally routable addresses plus `FRAMELANE_ALLOWED_NETWORKS`; `allowlist` allows
only those networks (egress-controlled deployments and every test run).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

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

    @classmethod
    def from_settings(cls, settings: Settings) -> OutboundPolicy:
        return cls(
            mode=settings.outbound_policy,
            allowed_networks=networks(settings.allowed_networks),
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
            self.check_address(literal)
            return [literal]
        addresses = [ipaddress.ip_address(a) for a in (resolver or _system_resolver)(host, port)]
        if not addresses:
            raise BlockedAddress(f"host {host!r} did not resolve")
        for address in addresses:
            self.check_address(address)
        return addresses

    def _in_allowlist(self, address: IPAddress) -> bool:
        return any(address.version == net.version and address in net for net in self.allowed_networks)


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
