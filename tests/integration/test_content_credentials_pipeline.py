"""Content Credentials through the whole pipeline: the worker signs before upload, JobOut.output says where the
credentials are, GET /v1/tasks/{id}/credentials serves the validation report, the WebM sidecar link works,
the `label` option burns a visible mark; a KMS key (moto over HTTP) signs through the callback signer."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import av
import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from framelane.adapters.aws import kms_client
from framelane.adapters.kms import KmsSigningKey
from framelane.config import Settings
from framelane.media.samples import make_sample_clip
from framelane.models import TaskType
from framelane.provenance.credentials import SigningSetupError, load_identity
from framelane.provenance.manifest import EngineFacts, TaskFacts
from framelane.provenance.outputs import check_signing_setup
from framelane.provenance.signing import Provenance, SourceFile
from framelane.provenance.verify import read_report, verify_path
from framelane.services.context import ServiceContext
from framelane.services.workspaces import create_workspace
from tests.support.certificates import issue, make_ca
from tests.support.servers import LoopbackServer, loopback_server

from .conftest import Stack
from .pipeline_helpers import thread_worker, wait_for_task

REPORT_KEYS = {"state", "format", "sidecar_url", "signer", "claim_generator", "actions", "ingredients"}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("media") / "clip.mp4"
    return make_sample_clip(path, seconds=0.4, width=160, height=120).read_bytes()


@pytest.fixture
def other_papi(pipeline_api_url: str, pipeline_ctx: ServiceContext) -> Iterator[httpx.Client]:
    other = create_workspace(pipeline_ctx, "other")
    headers = {"Authorization": f"Bearer {other.api_key}"}
    with httpx.Client(base_url=pipeline_api_url, headers=headers, timeout=30) as client:
        yield client


@pytest.fixture
def origin() -> LoopbackServer:
    with loopback_server() as server:
        yield server


def test_webm_output_has_a_sidecar_and_a_credentials_report(
    papi: httpx.Client,
    other_papi: httpx.Client,
    pipeline_ctx: ServiceContext,
    origin: LoopbackServer,
    clip: bytes,
    tmp_path: Path,
) -> None:
    source = origin.serve_bytes("/clip.mp4", clip)
    task_id = papi.post("/v1/tasks/remove-background", json={"source_url": source}).json()["id"]
    assert papi.get(f"/v1/tasks/{task_id}/credentials").status_code == 404  # not rendered yet
    with thread_worker(pipeline_ctx):
        task = wait_for_task(papi, task_id)
    assert task["status"] == "completed", task
    credentials = task["output"]["content_credentials"]
    assert credentials["format"] == "sidecar" and credentials["sidecar_url"].startswith("http://127.0.0.1")
    output = tmp_path / "output.webm"
    output.write_bytes(httpx.get(task["output"]["url"]).content)
    sidecar = httpx.get(credentials["sidecar_url"]).content
    with output.open("rb") as stream:
        downloaded = read_report(stream, "video/webm", manifest=sidecar)
    assert downloaded.state == "Valid" and downloaded.validation_codes == ["signingCredential.untrusted"]

    response = papi.get(f"/v1/tasks/{task_id}/credentials")
    assert response.status_code == 200, response.text
    report = response.json()
    assert set(report) >= REPORT_KEYS
    assert report["state"] == "Valid" and report["format"] == "sidecar"
    assert httpx.get(report["sidecar_url"]).content == sidecar
    assert report["claim_generator"] == "Framelane 0.1.0"
    assert [a["action"] for a in report["actions"]][:2] == ["c2pa.opened", "c2pa.edited"]
    assert report["ingredients"][0]["sha256"] == hashlib.sha256(clip).hexdigest()
    assert "UNTRUSTED" in report["signer"]["common_name"]
    # another workspace cannot see it; an unknown task is 404 too
    other = other_papi.get(f"/v1/tasks/{task_id}/credentials")
    assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"
    assert papi.get("/v1/tasks/task_01J00000000000000000000000/credentials").status_code == 404


def test_mp4_output_embeds_the_credentials_and_the_label_is_burned_in(
    papi: httpx.Client, pipeline_ctx: ServiceContext, origin: LoopbackServer, clip: bytes, tmp_path: Path
) -> None:
    source = origin.serve_bytes("/clip.mp4", clip)
    created = papi.post("/v1/tasks/gaze-redirect", json={"source_url": source, "label": "top_right"})
    assert created.status_code == 202 and created.json()["options"]["label"] == "top_right"
    with thread_worker(pipeline_ctx):
        task = wait_for_task(papi, created.json()["id"])
    assert task["status"] == "completed", task
    assert task["output"]["content_credentials"] == {"format": "embedded", "sidecar_url": None}
    output = tmp_path / "output.mp4"
    output.write_bytes(httpx.get(task["output"]["url"]).content)
    report = verify_path(output)
    assert report.state == "Valid"
    assert any(
        "AI-edited" in (a.description or "") and "top_right" in (a.description or "") for a in report.actions
    )
    with av.open(str(output)) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
    corner = frame[: frame.shape[0] // 4, frame.shape[1] // 2 :]
    elsewhere = frame[frame.shape[0] // 2 :, : frame.shape[1] // 2]
    # the label: a dark box with white letters in the top right, nothing like it in the bottom left
    assert (corner.max(axis=2) < 50).sum() > 150 and (corner.min(axis=2) > 200).sum() > 10
    assert (elsewhere.max(axis=2) < 50).sum() < (corner.max(axis=2) < 50).sum() // 4
    assert papi.get(f"/v1/tasks/{task['id']}/credentials").json()["format"] == "embedded"


def test_a_kms_key_signs_through_the_callback_signer(stack: Stack, clip: bytes, tmp_path: Path) -> None:
    kms = kms_client(stack.settings)
    key_id = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    public_key = serialization.load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    chain = issue(make_ca(), public_key)  # the operator's CA certifies the KMS key
    settings = Settings(
        aws_endpoint_url=stack.settings.aws_endpoint_url,
        c2pa_kms_key_id=key_id,
        c2pa_cert_chain_pem=chain.decode(),
    )
    identity = load_identity(settings, KmsSigningKey(kms, key_id))
    assert identity is not None and identity.private_key_pem is None and identity.sign is not None
    source = tmp_path / "source.mp4"
    source.write_bytes(clip)
    target = tmp_path / "output.mp4"
    target.write_bytes(clip)
    facts = TaskFacts("task_kms", TaskType.super_resolution, {"scale": 1}, EngineFacts("test"), "0" * 64)
    Provenance(identity).sign_embedded(
        facts, SourceFile(str(source), "video/mp4", "source"), str(target), "video/mp4"
    )
    report = verify_path(target)
    assert report.state == "Valid" and report.validation_codes == ["signingCredential.untrusted"]
    assert report.signer is not None and report.signer.common_name == "Test C2PA signer"
    # at worker start, a key that cannot sign stops it with the reason
    symmetric = kms.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(SigningSetupError, match=f"KMS key {symmetric}"):
        check_signing_setup(settings.model_copy(update={"c2pa_kms_key_id": symmetric}))
