"""Read and validate Content Credentials with the C2PA SDK's Reader: the worker's report after signing and
`framelane verify FILE`. A zip of PNG frames is valid only when every frame is."""

from __future__ import annotations

import io
import json
import mimetypes
import zipfile
from pathlib import Path
from typing import Any, Literal

import c2pa

from framelane.models import (
    ContentCredentialsReport,
    CredentialsAction,
    CredentialsIngredient,
    CredentialsSigner,
)
from framelane.provenance.manifest import SHA256_KEY

SIDECAR_SUFFIX = ".c2pa"
SIDECAR_TYPES = {".webm", ".mkv"}  # the SDK cannot embed into these: their manifest is a sidecar
_MIME = {".webm": "video/webm", ".mov": "video/quicktime", ".mp4": "video/mp4", ".png": "image/png"}


class NoCredentials(Exception):
    """The file carries no Content Credentials (and no sidecar was found)."""


def verify_path(
    path: str | Path, sidecar: str | Path | None = None, trust_anchors: str | None = None
) -> ContentCredentialsReport:
    """Validate a file, its sidecar (`FILE.c2pa` when present) or, for a zip, each PNG frame in it."""
    path = Path(path)
    if zipfile.is_zipfile(path) and path.suffix.lower() == ".zip":
        return verify_png_zip(path, trust_anchors)
    sidecar_path = Path(sidecar) if sidecar else path.with_name(path.name + SIDECAR_SUFFIX)
    manifest = sidecar_path.read_bytes() if sidecar_path.exists() else None
    if sidecar is not None and manifest is None:
        raise NoCredentials(f"no sidecar at {sidecar}")
    if manifest is None and path.suffix.lower() in SIDECAR_TYPES:
        raise NoCredentials(f"{path.suffix} files carry no embedded credentials and {sidecar_path} is absent")
    with path.open("rb") as stream:
        return read_report(stream, mime_type(path), manifest=manifest, trust_anchors=trust_anchors)


def verify_png_zip(path: str | Path, trust_anchors: str | None = None) -> ContentCredentialsReport:
    """The first frame's report, Invalid if any frame is invalid or unsigned (its codes name the frame)."""
    first: ContentCredentialsReport | None = None
    problems: list[str] = []
    with zipfile.ZipFile(path) as archive:
        for name in sorted(n for n in archive.namelist() if n.lower().endswith(".png")):
            try:
                report = read_report(io.BytesIO(archive.read(name)), "image/png", trust_anchors=trust_anchors)
            except NoCredentials:
                problems.append(f"{name}: no credentials")
                continue
            except zipfile.BadZipFile:
                problems.append(f"{name}: damaged (zip CRC mismatch)")
                continue
            first = first or report
            if report.state == "Invalid":
                problems.extend(f"{name}: {code}" for code in report.validation_codes)
    if first is None:
        raise NoCredentials(f"no PNG frame in {Path(path).name} carries Content Credentials")
    if not problems:
        return first
    return first.model_copy(
        update={"state": "Invalid", "validation_codes": sorted({*first.validation_codes, *problems})}
    )


def mime_type(path: Path) -> str:
    suffix = path.suffix.lower()
    return _MIME.get(suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def read_report(
    stream: Any, mime: str, *, manifest: bytes | None = None, trust_anchors: str | None = None
) -> ContentCredentialsReport:
    """Validate one asset (with its sidecar `manifest`, if any) and summarise its active manifest."""
    context = c2pa.Context.from_dict({"trust": {"trust_anchors": trust_anchors}} if trust_anchors else {})
    try:
        reader = c2pa.Reader.try_create(mime, stream, manifest, context)
    except c2pa.C2paError as exc:
        raise NoCredentials(f"no readable Content Credentials: {exc}") from exc
    if reader is None:
        raise NoCredentials("no Content Credentials found")
    with reader:
        store = json.loads(reader.json())
        active = reader.get_active_manifest() or {}
        state = reader.get_validation_state() or "Invalid"
    return summarize(store, active, state, "sidecar" if manifest is not None else "embedded")


def summarize(
    store: dict[str, Any], active: dict[str, Any], state: str, fmt: Literal["embedded", "sidecar"]
) -> ContentCredentialsReport:
    signature = active.get("signature_info") or {}
    generator = (active.get("claim_generator_info") or [{}])[0]
    return ContentCredentialsReport(
        state=state,
        format=fmt,
        signer=CredentialsSigner(
            common_name=signature.get("common_name"),
            organization=signature.get("issuer"),
            alg=signature.get("alg"),
            time=signature.get("time"),
        )
        if signature
        else None,
        claim_generator=_agent(generator),
        actions=[_action(entry) for entry in _actions(active)],
        ingredients=[_ingredient(entry) for entry in active.get("ingredients") or []],
        validation_codes=[status["code"] for status in store.get("validation_status") or []],
    )


def _actions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    for assertion in manifest.get("assertions") or []:
        if str(assertion.get("label", "")).startswith("c2pa.actions"):
            return list(assertion.get("data", {}).get("actions") or [])
    return []


def _action(entry: dict[str, Any]) -> CredentialsAction:
    parameters = {k: v for k, v in (entry.get("parameters") or {}).items() if k != "ingredients"}
    return CredentialsAction(
        action=entry.get("action", ""),
        digital_source_type=entry.get("digitalSourceType"),
        software_agent=_agent(entry.get("softwareAgent")),
        description=entry.get("description"),
        parameters=parameters,
    )


def _ingredient(entry: dict[str, Any]) -> CredentialsIngredient:
    return CredentialsIngredient(
        title=entry.get("title"),
        format=entry.get("format"),
        relationship=entry.get("relationship"),
        sha256=(entry.get("metadata") or {}).get(SHA256_KEY),
        has_credentials=bool(entry.get("active_manifest")),
    )


def _agent(agent: Any) -> str | None:
    if isinstance(agent, dict):
        return " ".join(str(agent[k]) for k in ("name", "version") if agent.get(k)) or None
    return str(agent) if agent else None
