"""The signing identity: operator chains C2PA would reject are refused at worker start, with a clear reason;
without operator credentials an untrusted development CA and signer are made once in the data directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from framelane.config import Settings
from framelane.engines.base import EngineRegistry
from framelane.provenance.credentials import (
    DEV_CA_FILE,
    DEV_CHAIN_FILE,
    DEV_KEY_FILE,
    SigningSetupError,
    load_identity,
)
from framelane.services.context import build_context
from framelane.worker.runtime import worker_from_settings
from tests.support.certificates import issue, make_ca, write_key


def _operator(tmp_path: Path, chain: bytes, key: ec.EllipticCurvePrivateKey) -> Settings:
    (tmp_path / "chain.pem").write_bytes(chain)
    return Settings(
        c2pa_cert_chain_file=str(tmp_path / "chain.pem"),
        c2pa_private_key_file=str(write_key(key, tmp_path / "key.pem")),
        c2pa_dev_credentials_dir=str(tmp_path / "dev"),
    )


def test_a_ca_issued_operator_certificate_is_accepted(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    identity = load_identity(_operator(tmp_path, issue(make_ca(), key.public_key()), key))
    assert identity is not None and identity.alg == "es384" and not identity.development
    assert not (tmp_path / "dev").exists()


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("self_signed", "is self-signed; C2PA needs one issued by a CA"),
        ("no_digital_signature", "lacks the digitalSignature key usage"),
        ("no_eku", "needs an extended key usage C2PA accepts"),
        ("no_key_identifiers", "has no subject key identifier"),
        ("other_key", "private key does not belong to the signing certificate"),
    ],
)
def test_an_operator_certificate_c2pa_would_reject_stops_the_worker_at_start(
    case: str, reason: str, tmp_path: Path
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    ca = make_ca()
    chain = {
        "self_signed": lambda: issue(None, key.public_key(), self_key=key),
        "no_digital_signature": lambda: issue(ca, key.public_key(), digital_signature=False),
        "no_eku": lambda: issue(ca, key.public_key(), eku=False),
        "no_key_identifiers": lambda: issue(ca, key.public_key(), key_identifiers=False),
        "other_key": lambda: issue(ca, ec.generate_private_key(ec.SECP256R1()).public_key()),
    }[case]()
    settings = _operator(tmp_path, chain, key)
    with pytest.raises(SigningSetupError, match=reason):
        load_identity(settings)
    # the worker refuses to start on it (before it touches Redis)
    with pytest.raises(SigningSetupError, match=reason):
        worker_from_settings(build_context(settings), EngineRegistry())


def test_a_chain_without_its_key_is_refused(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "chain.pem").write_bytes(issue(make_ca(), key.public_key()))
    with pytest.raises(SigningSetupError, match="both the C2PA certificate chain and its private key"):
        load_identity(Settings(c2pa_cert_chain_file=str(tmp_path / "chain.pem")))


def test_marking_off_is_an_explicit_setting(tmp_path: Path) -> None:
    assert load_identity(Settings(content_credentials="off", c2pa_dev_credentials_dir=str(tmp_path))) is None
    assert not any(tmp_path.iterdir())


def test_development_credentials_are_made_once_clearly_untrusted_and_pass_the_checks(tmp_path: Path) -> None:
    settings = Settings(c2pa_dev_credentials_dir=str(tmp_path / "dev"))
    first = load_identity(settings)
    assert first is not None and first.development and first.alg == "es256"
    chain = x509.load_pem_x509_certificates((tmp_path / "dev" / DEV_CHAIN_FILE).read_bytes())
    assert "UNTRUSTED" in chain[0].subject.rfc4514_string()
    assert "UNTRUSTED" in chain[1].subject.rfc4514_string()
    assert (tmp_path / "dev" / DEV_CA_FILE).exists()
    assert (tmp_path / "dev" / DEV_KEY_FILE).stat().st_mode & 0o077 == 0
    second = load_identity(settings)
    assert second is not None and second.chain_pem == first.chain_pem  # reused, not re-made
