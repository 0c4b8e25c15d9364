"""Sign files with the C2PA SDK: embedded (MP4, MOV, PNG), or a sidecar `.c2pa` manifest bound to the bytes'
hash for types the SDK cannot embed into (WebM); a zip of PNG frames gets each frame signed."""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import c2pa

from framelane.provenance.credentials import SigningIdentity
from framelane.provenance.manifest import SOURCE_LABEL, TaskFacts, manifest_definition, source_ingredient

EMBEDDABLE = {"mp4": "video/mp4", "mov": "video/quicktime", "png": "image/png"}
SIDECAR = {"webm": "video/webm"}
_ALGORITHMS = {
    "es256": c2pa.C2paSigningAlg.ES256,
    "es384": c2pa.C2paSigningAlg.ES384,
    "es512": c2pa.C2paSigningAlg.ES512,
    "ps256": c2pa.C2paSigningAlg.PS256,
    "ed25519": c2pa.C2paSigningAlg.ED25519,
}
# Thumbnails would decode and re-encode every PNG frame: several times the cost of signing it.
SDK_SETTINGS: dict[str, Any] = {"builder": {"thumbnail": {"enabled": False}}}


@dataclass(frozen=True)
class SourceFile:
    """The task's source: the parent ingredient of every output."""

    path: str
    mime: str
    title: str


class SigningFailed(Exception):
    """The SDK refused to sign (a bug or an unsupported file, never the caller's input)."""


class Provenance:
    """One per process: the signer and the SDK context, reused for every output."""

    def __init__(self, identity: SigningIdentity, trust_anchors: str | None = None) -> None:
        self.identity = identity
        self.trust_anchors = trust_anchors  # PEM CAs the self-check trusts: the report then reads Trusted
        self._context = c2pa.Context.from_dict(SDK_SETTINGS)
        if identity.sign is not None:
            self._signer = c2pa.Signer.from_callback(
                identity.sign, _ALGORITHMS[identity.alg], identity.chain_pem.decode(), identity.tsa_url
            )
        elif identity.private_key_pem is None:
            raise SigningFailed("the signing identity has neither a key nor a signing callback")
        else:
            self._signer = c2pa.Signer.from_info(
                c2pa.C2paSignerInfo(
                    _ALGORITHMS[identity.alg],
                    identity.chain_pem,
                    identity.private_key_pem,
                    identity.tsa_url.encode() if identity.tsa_url else None,
                )
            )

    def sign_embedded(self, facts: TaskFacts, source: SourceFile, target: str, mime: str) -> None:
        """Rewrite `target` with the manifest inside it (MP4, MOV, PNG)."""
        builder = self._builder(facts, source, Path(target).name, mime)
        try:
            with _replacing(target) as signed, open(target, "rb") as original, open(signed, "w+b") as out:
                builder.sign(self._signer, mime, original, out)
        except c2pa.C2paError as exc:
            raise SigningFailed(f"could not sign {Path(target).name}: {exc}") from exc

    def sign_sidecar(self, facts: TaskFacts, source: SourceFile, target: str, mime: str) -> bytes:
        """The manifest store for `target`, bound to a hash of its bytes; `target` is left as it is."""
        builder = self._builder(facts, source, Path(target).name, mime)
        builder.set_no_embed()
        try:
            with open(target, "rb") as original:
                manifest: bytes = builder.sign(self._signer, mime, original, io.BytesIO())
                return manifest
        except c2pa.C2paError as exc:
            raise SigningFailed(f"could not sign {Path(target).name}: {exc}") from exc

    def sign_png_zip(self, facts: TaskFacts, source: SourceFile, target: str) -> int:
        """Sign every PNG frame of the zip, in order; returns the number of frames."""
        ingredient = self._ingredient_archive(source, facts.source_sha256)
        frames = 0
        try:
            with (
                _replacing(target) as rewritten,
                zipfile.ZipFile(target) as original,
                zipfile.ZipFile(rewritten, "w", compression=zipfile.ZIP_STORED) as out,
            ):
                for info in original.infolist():
                    data = original.read(info)
                    if info.filename.lower().endswith(".png"):
                        builder = c2pa.Builder(
                            manifest_definition(facts, info.filename, "image/png", frame=frames),
                            context=self._context,
                        )
                        builder.add_ingredient_from_archive(io.BytesIO(ingredient))
                        signed = io.BytesIO()
                        builder.sign(self._signer, "image/png", io.BytesIO(data), signed)
                        data = signed.getvalue()
                        frames += 1
                    out.writestr(info, data)
        except c2pa.C2paError as exc:
            raise SigningFailed(f"could not sign the PNG frames: {exc}") from exc
        return frames

    def _builder(self, facts: TaskFacts, source: SourceFile, title: str, mime: str) -> c2pa.Builder:
        builder = c2pa.Builder(manifest_definition(facts, title, mime), context=self._context)
        self._add_source(builder, source, facts.source_sha256)
        return builder

    def _ingredient_archive(self, source: SourceFile, sha256: str) -> bytes:
        """The source ingredient once, reused for every frame (reading the source per frame would dominate)."""
        builder = c2pa.Builder({"title": "ingredient"}, context=self._context)
        self._add_source(builder, source, sha256)
        archive = io.BytesIO()
        builder.write_ingredient_archive(SOURCE_LABEL, archive)
        return archive.getvalue()

    @staticmethod
    def _add_source(builder: c2pa.Builder, source: SourceFile, sha256: str) -> None:
        with open(source.path, "rb") as handle:
            builder.add_ingredient(source_ingredient(source.title, sha256), source.mime, handle)


@contextmanager
def _replacing(target: str) -> Iterator[str]:
    """A path to write the signed file to: it replaces `target` once the block ends without an error, and never
    outlives a failure (a half-signed output is never left next to, or instead of, the original)."""
    partial = f"{target}.signing"
    try:
        yield partial
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
