"""A KMS asymmetric key that signs C2PA claims: the private key never leaves KMS."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_kms.literals import SigningAlgorithmSpecType

# KMS key spec → (signing algorithm, digest). KMS signs RAW messages up to 4 KiB (a C2PA claim usually is);
# a longer one is sent as its digest.
RAW_LIMIT = 4096
_ALGORITHMS: dict[str, tuple[SigningAlgorithmSpecType, str]] = {
    "ECC_NIST_P256": ("ECDSA_SHA_256", "sha256"),
    "ECC_NIST_P384": ("ECDSA_SHA_384", "sha384"),
    "ECC_NIST_P521": ("ECDSA_SHA_512", "sha512"),
    "RSA_2048": ("RSASSA_PSS_SHA_256", "sha256"),
    "RSA_3072": ("RSASSA_PSS_SHA_256", "sha256"),
    "RSA_4096": ("RSASSA_PSS_SHA_256", "sha256"),
}


class KmsKeyUnusable(Exception):
    """The KMS key cannot be read or cannot sign C2PA claims."""


class KmsSigningKey:
    def __init__(self, client: KMSClient, key_id: str) -> None:
        self._client = client
        self.key_id = key_id
        try:
            description = client.get_public_key(KeyId=key_id)
        except ClientError as exc:
            raise KmsKeyUnusable(f"KMS key {key_id}: {exc}") from exc
        spec = str(description.get("KeySpec") or description.get("CustomerMasterKeySpec"))
        if spec not in _ALGORITHMS:
            raise KmsKeyUnusable(
                f"KMS key {key_id} has key spec {spec}; C2PA signing needs one of {sorted(_ALGORITHMS)}"
            )
        self._public_key = description["PublicKey"]
        self._algorithm, self._digest = _ALGORITHMS[spec]

    def public_key_der(self) -> bytes:
        return self._public_key

    def sign(self, message: bytes) -> bytes:
        """A DER signature over the message (the SDK turns ECDSA DER into COSE's raw form)."""
        if len(message) <= RAW_LIMIT:
            response = self._client.sign(
                KeyId=self.key_id, Message=message, MessageType="RAW", SigningAlgorithm=self._algorithm
            )
        else:
            response = self._client.sign(
                KeyId=self.key_id,
                Message=hashlib.new(self._digest, message).digest(),
                MessageType="DIGEST",
                SigningAlgorithm=self._algorithm,
            )
        return response["Signature"]
