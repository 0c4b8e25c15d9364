"""The address guard classifies addresses with no network at all (resolvers are injected)."""

import ipaddress

import pytest

from framelane.config import Settings
from framelane.security.outbound import BlockedAddress, OutboundPolicy, networks, parse_ip_host

PUBLIC = OutboundPolicy(mode="public")
METADATA = ipaddress.ip_address("169.254.169.254")


@pytest.mark.parametrize(
    "spelling",
    [
        "169.254.169.254",
        "2852039166",
        "0xA9FEA9FE",
        "0xa9.0xfe.0xa9.0xfe",
        "0251.0376.0251.0376",
        "169.254.43518",
        "[::ffff:169.254.169.254]",
        "::ffff:a9fe:a9fe",
    ],
)
def test_metadata_address_in_every_spelling(spelling: str) -> None:
    address = parse_ip_host(spelling)
    assert address is not None
    assert not PUBLIC.is_allowed(address)
    with pytest.raises(BlockedAddress):
        PUBLIC.check_host_literal(spelling)


@pytest.mark.parametrize(
    "blocked",
    [
        "10.0.0.1",
        "10.255.255.255",
        "172.16.0.1",
        "172.31.255.254",
        "192.168.1.1",
        "100.64.0.1",
        "100.127.255.254",
        "127.0.0.1",
        "127.9.9.9",
        "0.0.0.0",
        "::1",
        "::",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1",
        "224.0.0.1",
        "255.255.255.255",
        "::ffff:10.0.0.1",
        "::ffff:127.0.0.1",
        "64:ff9b::a9fe:a9fe",
        "2002:a9fe:a9fe::1",
        "fd00:ec2::254",
        "198.18.0.1",
    ],
)
def test_private_loopback_link_local_are_blocked_in_public_mode(blocked: str) -> None:
    assert not PUBLIC.is_allowed(ipaddress.ip_address(blocked))


@pytest.mark.parametrize(
    "public", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "172.32.0.1", "100.128.0.1"]
)
def test_public_addresses_pass_in_public_mode_only(public: str) -> None:
    address = ipaddress.ip_address(public)
    assert PUBLIC.is_allowed(address)
    assert not OutboundPolicy(mode="allowlist").is_allowed(address)


def test_allowlist_admits_only_its_networks() -> None:
    policy = OutboundPolicy(mode="allowlist", allowed_networks=networks(["127.0.0.1/32"]))
    assert policy.is_allowed(ipaddress.ip_address("127.0.0.1"))
    assert policy.is_allowed(ipaddress.ip_address("::ffff:127.0.0.1"))
    assert not policy.is_allowed(ipaddress.ip_address("127.0.0.2"))
    assert not policy.is_allowed(ipaddress.ip_address("::1"))
    assert not policy.is_allowed(ipaddress.ip_address("8.8.8.8"))


def test_allowed_networks_relax_public_mode() -> None:
    policy = OutboundPolicy(mode="public", allowed_networks=networks(["10.1.0.0/16"]))
    assert policy.is_allowed(ipaddress.ip_address("10.1.2.3"))
    assert not policy.is_allowed(ipaddress.ip_address("10.2.0.1"))


def test_resolution_refuses_if_any_address_is_blocked() -> None:
    def rebinding(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "169.254.169.254"]

    with pytest.raises(BlockedAddress):
        PUBLIC.resolve("evil.example", 443, resolver=rebinding)
    assert PUBLIC.resolve("ok.example", 443, resolver=lambda h, p: ["93.184.216.34"]) == [
        ipaddress.ip_address("93.184.216.34")
    ]
    with pytest.raises(BlockedAddress):
        PUBLIC.resolve("nothing.example", 443, resolver=lambda h, p: [])


def test_localhost_names_are_treated_as_loopback() -> None:
    with pytest.raises(BlockedAddress):
        PUBLIC.check_host_literal("localhost")
    with pytest.raises(BlockedAddress):
        PUBLIC.check_host_literal("api.localhost")
    PUBLIC.check_host_literal("cdn.example.com")  # names are checked when resolved, not here


def test_settings_parse_comma_separated_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAMELANE_OUTBOUND_POLICY", "allowlist")
    monkeypatch.setenv("FRAMELANE_ALLOWED_NETWORKS", "127.0.0.1/32, 10.0.0.0/8")
    policy = OutboundPolicy.from_settings(Settings())
    assert policy.mode == "allowlist"
    assert policy.allowed_networks == networks(["127.0.0.1/32", "10.0.0.0/8"])


def test_settings_reject_unknown_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAMELANE_OUTBOUND_POLICY", "everything")
    with pytest.raises(ValueError):
        Settings()


def _stack_settings(**extra: str) -> Settings:
    return Settings(
        outbound_policy="allowlist",
        allowed_networks=("0.0.0.0/0", "::/0"),  # an allowlist that admits everything
        aws_endpoint_url="http://127.0.0.1:5001",
        redis_url="redis://127.0.0.1:6390/0",
        **extra,
    )


@pytest.mark.parametrize(
    ("host", "port"),
    [
        ("127.0.0.1", 5001),  # moto
        ("127.0.0.1", 6390),  # redis
        ("127.0.0.1", 8080),  # the API, from FRAMELANE_DENIED_ENDPOINTS
        ("127.0.0.7", 5001),  # any loopback address reaches a service bound to 127.0.0.1
        ("0.0.0.0", 6390),  # so does the unspecified address
        ("2130706433", 5001),  # 127.0.0.1 spelled as a number
        ("::ffff:127.0.0.1", 6390),
        ("::1", 8080),
        ("localhost", 5001),
    ],
)
def test_own_service_ports_are_refused_whatever_the_allowlist(host: str, port: int) -> None:
    policy = OutboundPolicy.from_settings(_stack_settings(denied_endpoints="localhost:8080"))  # type: ignore[arg-type]
    with pytest.raises(BlockedAddress, match="own service ports"):
        policy.resolve(host, port, resolver=lambda h, p: ["127.0.0.1", "::1"])


def test_other_ports_and_hosts_stay_allowed() -> None:
    policy = OutboundPolicy.from_settings(_stack_settings(denied_endpoints="127.0.0.1:8080,10.0.0.5:9000"))  # type: ignore[arg-type]
    assert policy.resolve("127.0.0.1", 5002) == [ipaddress.ip_address("127.0.0.1")]
    assert policy.resolve("10.0.0.6", 9000) == [ipaddress.ip_address("10.0.0.6")]
    with pytest.raises(BlockedAddress):
        policy.resolve("10.0.0.5", 9000)
    # a name that resolves to the stack's loopback port is refused after resolution (no literal needed)
    with pytest.raises(BlockedAddress, match="own service ports"):
        policy.resolve("sneaky.example", 8080, resolver=lambda h, p: ["93.184.216.34", "127.0.0.1"])


def test_a_public_host_on_a_service_port_number_is_not_confused_with_the_stack() -> None:
    policy = OutboundPolicy.from_settings(_stack_settings())
    address = ipaddress.ip_address("93.184.216.34")
    assert policy.resolve("cdn.example", 6390, resolver=lambda h, p: [str(address)]) == [address]
