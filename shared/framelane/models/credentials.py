"""Content Credentials (C2PA) of a rendered output, as the API shows them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class ContentCredentials(BaseModel):
    """Where a rendered output's signed C2PA manifest lives."""

    format: Literal["embedded", "sidecar"] = Field(
        description="`embedded`: inside the file (MP4, MOV, each PNG frame); `sidecar`: a `.c2pa` manifest "
        "next to it, bound to its hash (WebM)."
    )
    sidecar_url: str | None = Field(
        default=None, description="Signed, expiring link to the `.c2pa` sidecar (format `sidecar` only)."
    )


class CredentialsSigner(BaseModel):
    common_name: str | None = None
    organization: str | None = Field(default=None, description="The certificate issuer's organisation.")
    alg: str | None = Field(default=None, examples=["Es256"])
    time: str | None = Field(default=None, description="Signing time from a time-stamp authority, if any.")


class CredentialsAction(BaseModel):
    action: str = Field(examples=["c2pa.edited"])
    digital_source_type: str | None = Field(
        default=None,
        examples=["http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"],
    )
    software_agent: str | None = Field(default=None, examples=["Framelane 0.1.0"])
    description: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)


class CredentialsIngredient(BaseModel):
    title: str | None = None
    format: str | None = None
    relationship: str | None = Field(default=None, examples=["parentOf"])
    sha256: str | None = Field(default=None, description="Hex sha256 of the ingredient's bytes (the source).")
    has_credentials: bool = Field(
        default=False, description="The ingredient carried its own Content Credentials, kept in the chain."
    )


class ContentCredentialsReport(BaseModel):
    """A rendered output's Content Credentials as validated by the worker right after signing."""

    state: str = Field(
        description="C2PA validation state: `Valid` (intact and signed; `Trusted` when the signer chains to "
        "a configured trust anchor) or `Invalid`.",
        examples=["Valid"],
    )
    format: Literal["embedded", "sidecar"]
    sidecar_url: str | None = None
    signer: CredentialsSigner | None = None
    claim_generator: str | None = Field(default=None, examples=["Framelane 0.1.0"])
    actions: list[CredentialsAction] = Field(default_factory=list)
    ingredients: list[CredentialsIngredient] = Field(default_factory=list)
    validation_codes: list[str] = Field(
        default_factory=list,
        description="Validation status codes that are not successes (e.g. `signingCredential.untrusted`).",
    )
