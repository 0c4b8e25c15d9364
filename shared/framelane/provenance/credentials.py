"""The signing identity behind Content Credentials, checked when a worker starts.

The operator provides a certificate chain and either its private key (files, or a Secrets Manager secret) or a
KMS asymmetric key that signs through the SDK's callback signer, so the key never leaves KMS. Without either,
an untrusted development CA and signer are created in the data directory. C2PA validators reject a signing
certificate that is self-signed or lacks the digitalSignature key usage, a C2PA-allowed extended key usage or
the subject/authority key identifiers, so such a chain is refused at start rather than on the first output.
"""

from __future__ import annotations

import datetime
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from framelane.config import Settings

# Extended key usages the C2PA trust model accepts for claim signing certificates.
C2PA_SIGNING_EKUS = {
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ObjectIdentifier("1.3.6.1.5.5.7.3.36"): "documentSigning",
    ObjectIdentifier("1.3.6.1.4.1.62558.2.1"): "c2pa-kp-claimSigning",
}
DEV_ORGANIZATION = "Framelane development (UNTRUSTED)"
DEV_CA_NAME = "Framelane UNTRUSTED development CA"
DEV_SIGNER_NAME = "Framelane UNTRUSTED development signer"
DEV_CHAIN_FILE = "untrusted-dev-signer-chain.pem"
DEV_KEY_FILE = "untrusted-dev-signer.key"
DEV_CA_FILE = "untrusted-dev-ca.pem"

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey


class RemoteKey(Protocol):
    """A key that signs elsewhere (a KMS key, adapters/kms.py): only its public half is seen here."""

    def public_key_der(self) -> bytes: ...

    def sign(self, message: bytes) -> bytes: ...


class SigningSetupError(Exception):
    """The configured signing credentials cannot make Content Credentials that validate."""


@dataclass(frozen=True)
class SigningIdentity:
    """What the C2PA signer needs: the chain, the algorithm and either the key or a signing callback."""

    chain_pem: bytes
    alg: str  # es256, es384, es512, ps256, ed25519
    private_key_pem: bytes | None = None
    sign: Callable[[bytes], bytes] | None = None  # DER or raw signature over the bytes (KMS)
    tsa_url: str | None = None
    development: bool = False


def dev_credentials_dir(settings: Settings) -> Path:
    if settings.c2pa_dev_credentials_dir:
        return Path(settings.c2pa_dev_credentials_dir)
    home = Path(os.environ.get("FRAMELANE_HOME", Path.home() / ".framelane"))
    return home / "content-credentials"


def load_identity(settings: Settings, remote_key: RemoteKey | None = None) -> SigningIdentity | None:
    """The checked identity from settings; None when the operator turned marking off."""
    if settings.content_credentials == "off":
        return None
    chain = _operator_chain(settings)
    if settings.c2pa_kms_key_id:
        if chain is None:
            raise SigningSetupError(
                "FRAMELANE_C2PA_KMS_KEY_ID needs the certificate chain of that key "
                "(FRAMELANE_C2PA_CERT_CHAIN_FILE or the signing secret)"
            )
        if remote_key is None:
            raise SigningSetupError("a KMS key is configured but no KMS client was given")
        alg = check_chain(chain, _public_key(serialization.load_der_public_key(remote_key.public_key_der())))
        return SigningIdentity(chain, alg, sign=remote_key.sign, tsa_url=settings.c2pa_tsa_url)
    key_pem = _operator_key(settings)
    if chain is None and key_pem is None:
        directory = ensure_dev_credentials(dev_credentials_dir(settings))
        chain, key_pem = (directory / DEV_CHAIN_FILE).read_bytes(), (directory / DEV_KEY_FILE).read_bytes()
        development = True
    elif chain is None or key_pem is None:
        raise SigningSetupError("configure both the C2PA certificate chain and its private key (or neither)")
    else:
        development = False
    try:
        private_key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningSetupError(f"the C2PA private key is not an unencrypted PEM key: {exc}") from exc
    alg = check_chain(chain, _public_key(private_key.public_key()))
    pkcs8 = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return SigningIdentity(
        chain, alg, private_key_pem=pkcs8, tsa_url=settings.c2pa_tsa_url, development=development
    )


def _public_key(key: object) -> PublicKey:
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        raise SigningSetupError(f"unsupported C2PA key type {type(key).__name__} (use EC, RSA or Ed25519)")
    return key


def _operator_chain(settings: Settings) -> bytes | None:
    if settings.c2pa_cert_chain_pem:
        return settings.c2pa_cert_chain_pem.encode()
    secret = settings.c2pa_signing_secret
    if secret:
        return secret["certificate_chain"].encode()
    if settings.c2pa_cert_chain_file:
        return _read(settings.c2pa_cert_chain_file, "certificate chain")
    return None


def _operator_key(settings: Settings) -> bytes | None:
    if settings.c2pa_private_key_pem:
        return settings.c2pa_private_key_pem.encode()
    secret = settings.c2pa_signing_secret
    if secret and secret.get("private_key"):
        return secret["private_key"].encode()
    if settings.c2pa_private_key_file:
        return _read(settings.c2pa_private_key_file, "private key")
    return None


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise SigningSetupError(f"cannot read the C2PA {what} {path}: {exc.strerror}") from exc


def check_chain(chain_pem: bytes, public_key: PublicKey) -> str:
    """Refuse a chain C2PA validators would reject; the signing algorithm for its key."""
    try:
        certificates = x509.load_pem_x509_certificates(chain_pem)
    except ValueError as exc:
        raise SigningSetupError(f"the C2PA certificate chain is not PEM: {exc}") from exc
    leaf = certificates[0]
    subject = leaf.subject.rfc4514_string()
    if leaf.issuer == leaf.subject:
        raise SigningSetupError(
            f"the C2PA signing certificate ({subject}) is self-signed; C2PA needs one issued by a CA"
        )
    if len(certificates) > 1:
        try:
            leaf.verify_directly_issued_by(certificates[1])
        except (ValueError, TypeError, InvalidSignature) as exc:
            raise SigningSetupError(
                f"the C2PA certificate chain is out of order: {subject} is not issued by the next certificate"
            ) from exc
    now = datetime.datetime.now(datetime.UTC)
    if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
        raise SigningSetupError(
            f"the C2PA signing certificate ({subject}) is not valid now "
            f"({leaf.not_valid_before_utc:%Y-%m-%d} .. {leaf.not_valid_after_utc:%Y-%m-%d})"
        )
    _check_extensions(leaf, subject)
    if leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
        raise SigningSetupError(
            f"the C2PA private key does not belong to the signing certificate ({subject})"
        )
    return _algorithm(public_key)


def _check_extensions(leaf: x509.Certificate, subject: str) -> None:
    extensions = {extension.oid: extension.value for extension in leaf.extensions}
    constraints = extensions.get(x509.oid.ExtensionOID.BASIC_CONSTRAINTS)
    if isinstance(constraints, x509.BasicConstraints) and constraints.ca:
        raise SigningSetupError(f"the C2PA signing certificate ({subject}) is a CA certificate")
    usage = extensions.get(x509.oid.ExtensionOID.KEY_USAGE)
    if not isinstance(usage, x509.KeyUsage) or not usage.digital_signature:
        raise SigningSetupError(
            f"the C2PA signing certificate ({subject}) lacks the digitalSignature key usage"
        )
    extended = extensions.get(x509.oid.ExtensionOID.EXTENDED_KEY_USAGE)
    allowed = ", ".join(C2PA_SIGNING_EKUS.values())
    if not isinstance(extended, x509.ExtendedKeyUsage) or not any(
        oid in C2PA_SIGNING_EKUS for oid in extended
    ):
        raise SigningSetupError(
            f"the C2PA signing certificate ({subject}) needs an extended key usage C2PA accepts ({allowed})"
        )
    for oid, name in (
        (x509.oid.ExtensionOID.SUBJECT_KEY_IDENTIFIER, "subject key identifier"),
        (x509.oid.ExtensionOID.AUTHORITY_KEY_IDENTIFIER, "authority key identifier"),
    ):
        if oid not in extensions:
            raise SigningSetupError(f"the C2PA signing certificate ({subject}) has no {name}")


def _algorithm(public_key: PublicKey) -> str:
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        curves = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}
        if public_key.curve.name not in curves:
            raise SigningSetupError(
                f"unsupported EC curve {public_key.curve.name} (use P-256, P-384 or P-521)"
            )
        return curves[public_key.curve.name]
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < 2048:
            raise SigningSetupError("RSA signing keys need at least 2048 bits")
        return "ps256"
    return "ed25519"


# --- the untrusted development CA --------------------------------------------------------------------


def ensure_dev_credentials(directory: Path) -> Path:
    """Create (once) an untrusted development CA and a signer it issued; returns the directory.

    Made in a temporary sibling and renamed into place, so workers starting together agree on one set.
    An expired signer is replaced.
    """
    chain = directory / DEV_CHAIN_FILE
    if chain.exists() and (directory / DEV_KEY_FILE).exists():
        leaf = x509.load_pem_x509_certificate(chain.read_bytes())
        if leaf.not_valid_after_utc > datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1):
            return directory
        shutil.rmtree(directory, ignore_errors=True)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".dev-credentials-", dir=directory.parent))
    try:
        _write_dev_credentials(staging)
        try:
            staging.rename(directory)
        except OSError:  # another process won the race: use its set
            if not (directory / DEV_KEY_FILE).exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory


def _write_dev_credentials(directory: Path) -> None:
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(DEV_CA_NAME)
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(DEV_SIGNER_NAME))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (directory / DEV_CHAIN_FILE).write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    (directory / DEV_CA_FILE).write_bytes(ca.public_bytes(pem))
    key_path = directory / DEV_KEY_FILE
    key_path.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    (directory / "README.txt").write_text(
        "UNTRUSTED development credentials for Content Credentials (C2PA), made by Framelane's local stack.\n"
        "Validators report outputs signed with them as signingCredential.untrusted. The CA's key was thrown\n"
        "away after issuing the signer. Production: configure your own chain and key (docs/OPERATIONS.md).\n"
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, DEV_ORGANIZATION),
        ]
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )
