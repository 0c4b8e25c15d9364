"""The worker's hook: sign a rendered output before it is uploaded, validate it, store the report.

`check_signing_setup` runs when a worker starts, so a bad certificate stops the worker with a clear message
instead of failing every task.
"""

from __future__ import annotations

import threading
from pathlib import Path

from aws_lambda_powertools import Logger

from framelane.adapters.aws import kms_client
from framelane.adapters.kms import KmsKeyUnusable, KmsSigningKey
from framelane.config import Settings
from framelane.engines.base import FrameEngine
from framelane.errors import TaskFailure
from framelane.logs import SERVICE
from framelane.media.formats import OutputSpec
from framelane.models import ContentCredentials, Task, TaskErrorCode
from framelane.provenance.credentials import SigningSetupError, load_identity
from framelane.provenance.facts import engine_facts
from framelane.provenance.manifest import TaskFacts
from framelane.provenance.signing import EMBEDDABLE, Provenance, SigningFailed, SourceFile
from framelane.provenance.verify import NoCredentials, read_report, verify_png_zip
from framelane.services.context import ServiceContext
from framelane.services.credentials import credentials_key, sidecar_key
from framelane.weights import file_sha256

logger = Logger(service=SERVICE, child=True)

_lock = threading.Lock()
_cache: dict[Settings, Provenance | None] = {}

# probe's container names → the MIME type the SDK reads the source as
_SOURCE_TYPES = {
    "mov,mp4,m4a,3gp,3g2,mj2": "video/mp4",
    "matroska,webm": "video/webm",
    "avi": "video/x-msvideo",
}


def check_signing_setup(settings: Settings) -> None:
    """Load and check the signing identity now (worker start); raises SigningSetupError."""
    provenance_for(settings)


def provenance_for(settings: Settings) -> Provenance | None:
    """The process's signer for these settings (None: marking is off)."""
    with _lock:
        if settings not in _cache:
            identity = load_identity(settings, _kms_key(settings))
            if identity is None:
                logger.warning("Content Credentials are OFF: outputs are not marked (operator setting)")
                _cache[settings] = None
            else:
                if identity.development:
                    logger.warning("signing Content Credentials with the UNTRUSTED development CA")
                _cache[settings] = Provenance(identity, _trust_anchors(settings))
        return _cache[settings]


def _trust_anchors(settings: Settings) -> str | None:
    if not settings.c2pa_trust_anchors_file:
        return None
    try:
        return Path(settings.c2pa_trust_anchors_file).read_text()
    except OSError as exc:
        raise SigningSetupError(f"cannot read the C2PA trust anchors: {exc}") from exc


def _kms_key(settings: Settings) -> KmsSigningKey | None:
    if not settings.c2pa_kms_key_id or settings.content_credentials == "off":
        return None
    try:
        return KmsSigningKey(kms_client(settings), settings.c2pa_kms_key_id)
    except KmsKeyUnusable as exc:
        raise SigningSetupError(str(exc)) from exc


def sign_output(
    ctx: ServiceContext, task: Task, source_path: str, target_path: str, spec: OutputSpec, engine: FrameEngine
) -> ContentCredentials | None:
    """Sign `target_path` in place (or store its sidecar), check it validates, store the report."""
    provenance = provenance_for(ctx.settings)
    if provenance is None:
        return None
    if task.task_type is None:
        raise TaskFailure(TaskErrorCode.internal_error, "task has no type")
    facts = TaskFacts(task.id, task.task_type, task.options, engine_facts(engine), file_sha256(source_path))
    container = task.media.container if task.media else None
    source = SourceFile(source_path, _SOURCE_TYPES.get(container or "", "video/mp4"), "source")
    manifest: bytes | None = None
    anchors = provenance.trust_anchors
    try:
        if spec.container is None:
            provenance.sign_png_zip(facts, source, target_path)
            report = verify_png_zip(target_path, anchors)
        elif spec.extension in EMBEDDABLE:
            provenance.sign_embedded(facts, source, target_path, spec.content_type)
            with open(target_path, "rb") as signed:
                report = read_report(signed, spec.content_type, trust_anchors=anchors)
        else:
            manifest = provenance.sign_sidecar(facts, source, target_path, spec.content_type)
            with open(target_path, "rb") as signed:
                report = read_report(signed, spec.content_type, manifest=manifest, trust_anchors=anchors)
    except (SigningFailed, NoCredentials) as exc:
        raise TaskFailure(TaskErrorCode.internal_error, f"Content Credentials: {exc}") from exc
    if report.state == "Invalid":
        raise TaskFailure(
            TaskErrorCode.internal_error,
            f"Content Credentials did not validate: {', '.join(report.validation_codes)}",
        )
    sidecar_url = None
    if manifest is not None:
        key = sidecar_key(task, spec.extension)
        ctx.blobs.put_bytes(key, manifest, "application/c2pa")
        sidecar_url = f"s3://{ctx.blobs.bucket}/{key}"
    credentials = ContentCredentials(format=report.format, sidecar_url=sidecar_url)
    ctx.blobs.put_bytes(credentials_key(task), report.model_dump_json().encode(), "application/json")
    return credentials
