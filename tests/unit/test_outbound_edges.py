"""Edges of the SSRF guard the broad cases in test_outbound.py do not reach: zone ids, trailing dots, NAT64,
addresses the ipaddress module calls global, literals that must never go to DNS, and the refusal messages."""

from __future__ import annotations

import ipaddress

import pytest

from framelane.config import Settings
from framelane.security.outbound import BlockedAddress, OutboundPolicy, networks, parse_ip_host

PUBLIC = OutboundPolicy(mode="public")


@pytest.mark.parametrize("host", ["[fe80::1%eth0]", "fe80::1%25eth0", "fe80::1%a%b"])
def test_a_zone_id_is_dropped_so_the_address_itself_is_judged(host: str) -> None:
    address = parse_ip_host(host)
    assert address == ipaddress.ip_address("fe80::1") and str(address) == "fe80::1"
    with pytest.raises(BlockedAddress):
        PUBLIC.check_host_literal(host)


@pytest.mark.parametrize("host", ["10.0.0.1X", "cdn.example.com", "1.2.3.4.5", "0x1g"])
def test_names_are_not_taken_for_addresses(host: str) -> None:
    assert parse_ip_host(host) is None


@pytest.mark.parametrize("name", ["localhost.", "LOCALHOST", "localhost.localdomain", "a.b.localhost"])
def test_every_spelling_of_localhost_is_loopback(name: str) -> None:
    with pytest.raises(BlockedAddress, match=r"address 127\.0\.0\.1 is not allowed"):
        PUBLIC.check_host_literal(name)


@pytest.mark.parametrize("address", ["192.0.0.9", "192.0.0.10"])
def test_addresses_python_calls_global_are_still_blocked(address: str) -> None:
    """ipaddress counts these IETF-assigned addresses as global; the guard's own list blocks 192.0.0.0/24."""
    assert ipaddress.ip_address(address).is_global
    assert not PUBLIC.is_allowed(ipaddress.ip_address(address))


def test_nat64_addresses_are_judged_by_the_ipv4_inside() -> None:
    policy = OutboundPolicy(mode="allowlist", allowed_networks=networks(["10.0.0.0/8"]))
    assert policy.is_allowed(ipaddress.ip_address("64:ff9b::a00:5"))  # 10.0.0.5
    assert not policy.is_allowed(ipaddress.ip_address("64:ff9b::b00:5"))  # 11.0.0.5


def test_refusal_messages_name_the_address_and_the_policy() -> None:
    with pytest.raises(BlockedAddress) as failure:
        PUBLIC.check_address(ipaddress.ip_address("10.0.0.1"))
    assert str(failure.value) == "address 10.0.0.1 is not allowed by the outbound policy (public)"
    with pytest.raises(BlockedAddress) as failure:
        PUBLIC.resolve("nothing.example", 443, resolver=lambda h, p: [])
    assert str(failure.value) == "host 'nothing.example' did not resolve"


def test_a_literal_is_never_resolved_and_a_name_is_resolved_with_its_port() -> None:
    asked: list[tuple[str, int]] = []

    def resolver(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return ["10.0.0.1"]  # a rebinding answer: must not replace the literal

    assert PUBLIC.resolve("93.184.216.34", 443, resolver=resolver) == [ipaddress.ip_address("93.184.216.34")]
    assert asked == []
    with pytest.raises(BlockedAddress):
        PUBLIC.resolve("cdn.example", 8443, resolver=resolver)
    assert asked == [("cdn.example", 8443)]


def _stack(**extra: object) -> OutboundPolicy:
    settings = Settings(
        outbound_policy="allowlist",
        allowed_networks=("0.0.0.0/0", "::/0"),
        aws_endpoint_url="http://127.0.0.1:5001",
        redis_url="redis://127.0.0.1:6390/0",
        **extra,  # type: ignore[arg-type]
    )
    return OutboundPolicy.from_settings(settings)


@pytest.mark.parametrize(
    "host,port",
    [
        ("::ffff:127.0.0.7", 5001),  # another loopback address, inside IPv6
        ("::ffff:10.0.0.5", 9000),  # the denied address itself, inside IPv6
    ],
)
def test_own_endpoints_are_refused_in_ipv4_mapped_form(host: str, port: int) -> None:
    policy = _stack(denied_endpoints="10.0.0.5:9000")
    with pytest.raises(BlockedAddress) as failure:
        policy.resolve(host, port)
    assert str(failure.value) == (
        f"{ipaddress.ip_address(host)}:{port} is one of this deployment's own service ports (its AWS endpoint, "
        "Redis or API); tasks may not reach it"
    )


def test_an_endpoint_without_a_host_does_not_hide_the_ones_after_it() -> None:
    policy = OutboundPolicy.from_settings(
        Settings(
            outbound_policy="allowlist",
            allowed_networks=("0.0.0.0/0",),
            aws_endpoint_url="http:///no-host",
            denied_endpoints="127.0.0.1:8080",  # type: ignore[arg-type]
        )
    )
    with pytest.raises(BlockedAddress, match="own service ports"):
        policy.resolve("127.0.0.1", 8080)


def test_unassigned_ipv6_space_is_refused() -> None:
    """ipaddress calls 4000::/3 global, but it is reserved (unassigned): nothing legitimate lives there."""
    assert ipaddress.ip_address("4000::1").is_global
    assert not PUBLIC.is_allowed(ipaddress.ip_address("4000::1"))


def test_endpoints_without_a_port_use_their_scheme_default() -> None:
    policy = OutboundPolicy.from_settings(
        Settings(
            outbound_policy="allowlist",
            allowed_networks=("0.0.0.0/0",),
            aws_endpoint_url="http://127.0.0.1",
            redis_url="redis://127.0.0.1/0",
            denied_endpoints="",  # type: ignore[arg-type]
        )
    )
    for port in (80, 6379):
        with pytest.raises(BlockedAddress, match="own service ports"):
            policy.resolve("127.0.0.1", port)
    assert policy.resolve("127.0.0.1", 443) == [ipaddress.ip_address("127.0.0.1")]


def test_the_system_resolver_answers_for_a_name() -> None:
    """`localhost` comes from /etc/hosts (no network): the name itself is looked up, on the asked port."""
    policy = OutboundPolicy(mode="allowlist", allowed_networks=networks(["127.0.0.1/32"]))
    assert policy.resolve("localhost", 8080) == [ipaddress.ip_address("127.0.0.1")]
    with pytest.raises(BlockedAddress):
        PUBLIC.resolve("localhost", 8080)


@pytest.mark.parametrize(
    "aws,redis,port",
    [
        ("https://127.0.0.1", "redis://127.0.0.1:6390/0", 443),
        ("http://127.0.0.1:5001", "rediss://127.0.0.1/0", 6379),
        ("http://localhost.:5001", "redis://127.0.0.1:6390/0", 5001),  # a trailing dot is still localhost
    ],
)
def test_every_scheme_default_and_spelling_of_the_stack_is_denied(aws: str, redis: str, port: int) -> None:
    policy = OutboundPolicy.from_settings(
        Settings(
            outbound_policy="allowlist",
            allowed_networks=("0.0.0.0/0",),
            aws_endpoint_url=aws,
            redis_url=redis,
        )
    )
    with pytest.raises(BlockedAddress, match="own service ports"):
        policy.resolve("127.0.0.1", port)


def test_an_endpoint_given_by_another_name_denies_no_port_wholesale() -> None:
    """Only localhost names are taken; another name must not turn into "every address on that port"."""
    policy = OutboundPolicy.from_settings(
        Settings(
            outbound_policy="allowlist",
            allowed_networks=("0.0.0.0/0",),
            aws_endpoint_url="http://moto.internal:5001",
        )
    )
    assert policy.resolve("93.184.216.34", 5001) == [ipaddress.ip_address("93.184.216.34")]


def test_networks_accept_host_bits() -> None:
    """`10.1.2.3/16` in FRAMELANE_ALLOWED_NETWORKS means 10.1.0.0/16 (an operator's typo must not stop the API)."""
    assert networks(["10.1.2.3/16"]) == (ipaddress.ip_network("10.1.0.0/16"),)
