"""Content Credentials on every output format, read back with the C2PA SDK's Reader: MP4 (super resolution)
and MOV embed the manifest, WebM gets a sidecar bound to its hash, each PNG frame of a zip carries its own.
Real engines, real PyAV renders, the untrusted development signer."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import c2pa
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import ec

from framelane.cli import cli
from framelane.config import Settings
from framelane.engines import background, super_resolution
from framelane.engines.base import FrameEngine
from framelane.engines.label import with_label
from framelane.media.formats import H264_MP4, PNG_ZIP, PRORES_4444_MOV, VP9_ALPHA_WEBM, OutputSpec
from framelane.media.probe import probe
from framelane.media.samples import make_sample_clip
from framelane.media.transcode import render
from framelane.models import TaskType
from framelane.provenance.credentials import SigningSetupError, load_identity
from framelane.provenance.facts import engine_facts
from framelane.provenance.manifest import (
    ALGORITHMICALLY_ENHANCED,
    COMPOSITE_WITH_TRAINED,
    EngineFacts,
    TaskFacts,
)
from framelane.provenance.outputs import check_signing_setup, provenance_for
from framelane.provenance.signing import Provenance, SigningFailed, SourceFile
from framelane.provenance.verify import verify_path
from framelane.weights import SELFIE_SEGMENTATION, file_sha256
from tests.support.certificates import issue, make_ca

ONLY_UNTRUSTED = {"signingCredential.untrusted"}  # the development CA is not a trust anchor


@pytest.fixture(scope="module")
def provenance(tmp_path_factory: pytest.TempPathFactory) -> Provenance:
    identity = load_identity(Settings(c2pa_dev_credentials_dir=str(tmp_path_factory.mktemp("c2pa") / "dev")))
    assert identity is not None
    return Provenance(identity)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_sample_clip(tmp_path_factory.mktemp("media") / "clip.mp4", seconds=0.4, width=160, height=120)


CASES = {
    "mp4-super_resolution": (TaskType.super_resolution, {"scale": 1.5, "mode": "fast"}, H264_MP4),
    "webm-remove_background": (TaskType.remove_background, {"output_format": "webm"}, VP9_ALPHA_WEBM),
    "mov-remove_background": (TaskType.remove_background, {"output_format": "mov"}, PRORES_4444_MOV),
    "png-remove_background": (TaskType.remove_background, {"output_format": "png"}, PNG_ZIP),
}


def _engine(task_type: TaskType, options: dict[str, Any], clip: Path) -> FrameEngine:
    factory = background.create if task_type is TaskType.remove_background else super_resolution.create
    return with_label(factory(options, probe(str(clip))), options.get("label"))


def _signed_output(
    provenance: Provenance, source: Path, case: str, tmp_path: Path, label: str | None = None
) -> tuple[Path, TaskFacts]:
    task_type, options, spec = CASES[case]
    options = {**options, **({"label": label} if label else {})}
    engine = _engine(task_type, options, source)
    target = tmp_path / f"output.{spec.extension}"
    render(str(source), str(target), engine, spec)
    facts = TaskFacts("task_test", task_type, options, engine_facts(engine), file_sha256(source))
    _sign(provenance, facts, source, target, spec)
    return target, facts


def _sign(provenance: Provenance, facts: TaskFacts, source: Path, target: Path, spec: OutputSpec) -> None:
    origin = SourceFile(str(source), "video/mp4", "source")
    if spec.container is None:
        provenance.sign_png_zip(facts, origin, str(target))
    elif spec is VP9_ALPHA_WEBM:
        manifest = provenance.sign_sidecar(facts, origin, str(target), spec.content_type)
        target.with_name(target.name + ".c2pa").write_bytes(manifest)
    else:
        provenance.sign_embedded(facts, origin, str(target), spec.content_type)


def _task_assertion(path: Path) -> dict[str, Any]:
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            reader = c2pa.Reader("image/png", io.BytesIO(archive.read(archive.namelist()[-1])))
    elif path.suffix == ".webm":
        reader = c2pa.Reader("video/webm", path.open("rb"), path.with_name(path.name + ".c2pa").read_bytes())
    else:
        reader = c2pa.Reader(str(path))
    with reader:
        manifest = reader.get_active_manifest()
    return next(a["data"] for a in manifest["assertions"] if a["label"] == "com.framelane.task")


@pytest.mark.parametrize("case", list(CASES))
def test_every_output_format_signs_and_validates(
    case: str, provenance: Provenance, clip: Path, tmp_path: Path
) -> None:
    output, facts = _signed_output(provenance, clip, case, tmp_path, label="bottom_left")
    report = verify_path(output)
    assert report.state == "Valid", report
    assert set(report.validation_codes) <= ONLY_UNTRUSTED
    assert report.format == ("sidecar" if output.suffix == ".webm" else "embedded")
    assert report.claim_generator == "Framelane 0.1.0"
    assert report.signer is not None and "UNTRUSTED" in (report.signer.common_name or "")
    # the parent ingredient is the source, by its hash
    (ingredient,) = report.ingredients
    assert ingredient.relationship == "parentOf"
    assert ingredient.sha256 == hashlib.sha256(clip.read_bytes()).hexdigest()
    # opened first, then the algorithmic edits with their IPTC digital source type, then the visible label
    assert report.actions[0].action == "c2pa.opened"
    source_types = {a.digital_source_type for a in report.actions}
    expected = (
        COMPOSITE_WITH_TRAINED if facts.task_type is TaskType.remove_background else ALGORITHMICALLY_ENHANCED
    )
    assert expected in source_types
    assert any("AI-edited" in (a.description or "") for a in report.actions)
    assert all(a.software_agent == "Framelane 0.1.0" for a in report.actions)
    task = _task_assertion(output)
    assert task["task_id"] == "task_test" and task["options"] == facts.options
    if facts.task_type is TaskType.remove_background:
        assert task["model"] == SELFIE_SEGMENTATION.name
        assert task["weights_sha256"] == {f.name: f.sha256 for f in SELFIE_SEGMENTATION.files}
    else:
        assert task["engine"].endswith("FastUpscaler") and task["model"] is None


def test_every_png_frame_of_the_zip_carries_its_own_credentials(
    provenance: Provenance, clip: Path, tmp_path: Path
) -> None:
    output, _ = _signed_output(provenance, clip, "png-remove_background", tmp_path)
    with zipfile.ZipFile(output) as archive:
        names = sorted(archive.namelist())
        assert len(names) == 10
        for index, name in enumerate(names):
            with c2pa.Reader("image/png", io.BytesIO(archive.read(name))) as reader:
                assert reader.get_validation_state() == "Valid"
                manifest = reader.get_active_manifest()
            assert manifest["title"] == name
            task = next(a["data"] for a in manifest["assertions"] if a["label"] == "com.framelane.task")
            assert task["frame"] == index


@pytest.mark.parametrize("case", list(CASES))
def test_flipping_a_byte_of_the_media_fails_validation(
    case: str, provenance: Provenance, clip: Path, tmp_path: Path
) -> None:
    output, _ = _signed_output(provenance, clip, case, tmp_path)
    if output.suffix == ".zip":  # one frame's pixels changed, the zip rewritten (its CRCs made to match)
        with zipfile.ZipFile(output) as archive:
            frames = {name: archive.read(name) for name in archive.namelist()}
        frames["frame_000004.png"] = _flip_middle_byte(frames["frame_000004.png"])
        with zipfile.ZipFile(output, "w") as archive:
            for name, data in frames.items():
                archive.writestr(name, data)
    else:
        output.write_bytes(_flip_middle_byte(output.read_bytes()))  # media samples
    report = verify_path(output)
    assert report.state == "Invalid"
    assert set(report.validation_codes) - ONLY_UNTRUSTED, report.validation_codes


def _flip_middle_byte(data: bytes) -> bytes:
    flipped = bytearray(data)
    flipped[len(flipped) // 2] ^= 0x01
    return bytes(flipped)


def test_a_source_with_credentials_keeps_them_as_the_ingredients(
    provenance: Provenance, clip: Path, tmp_path: Path
) -> None:
    # an upstream tool signed the source (here: a Framelane edit of the clip)
    (tmp_path / "upstream").mkdir()
    credentialed, _ = _signed_output(provenance, clip, "mp4-super_resolution", tmp_path / "upstream")
    with c2pa.Reader(str(credentialed)) as reader:
        upstream_label = json.loads(reader.json())["active_manifest"]
    output, _ = _signed_output(provenance, credentialed, "webm-remove_background", tmp_path)
    report = verify_path(output)
    assert report.state == "Valid" and set(report.validation_codes) <= ONLY_UNTRUSTED
    (ingredient,) = report.ingredients
    assert ingredient.has_credentials
    assert ingredient.sha256 == hashlib.sha256(credentialed.read_bytes()).hexdigest()
    with c2pa.Reader("video/webm", output.open("rb"), (tmp_path / "output.webm.c2pa").read_bytes()) as reader:
        store = json.loads(reader.json())
    assert upstream_label in store["manifests"]  # the chain is not broken
    assert store["manifests"][store["active_manifest"]]["ingredients"][0]["active_manifest"] == upstream_label


def test_an_operator_ca_is_trusted_when_given_as_trust_anchor(clip: Path, tmp_path: Path) -> None:
    ca = make_ca()
    key = ec.generate_private_key(ec.SECP256R1())
    identity = load_identity(
        Settings(
            c2pa_cert_chain_pem=issue(ca, key.public_key()).decode(),
            c2pa_private_key_pem=_pem(key),
        )
    )
    assert identity is not None
    output, _ = _signed_output(Provenance(identity), clip, "mp4-super_resolution", tmp_path)
    assert verify_path(output).validation_codes == ["signingCredential.untrusted"]
    trusted = verify_path(output, trust_anchors=ca.pem().decode())
    assert trusted.state == "Trusted" and trusted.validation_codes == []


def _pem(key: ec.EllipticCurvePrivateKey) -> str:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def test_framelane_verify_prints_the_summary_checks_a_sidecar_and_fails_on_damage(
    provenance: Provenance, clip: Path, tmp_path: Path
) -> None:
    output, _ = _signed_output(provenance, clip, "webm-remove_background", tmp_path)
    runner = CliRunner()
    result = runner.invoke(cli, ["verify", str(output)])
    assert result.exit_code == 0, result.output
    assert "Content Credentials Valid (sidecar)" in result.output
    assert "compositeWithTrainedAlgorithmicMedia" in result.output
    assert f"sha256 {hashlib.sha256(clip.read_bytes()).hexdigest()}" in result.output
    assert "signingCredential.untrusted" in result.output
    moved = tmp_path / "elsewhere.c2pa"
    output.with_name("output.webm.c2pa").rename(moved)
    assert runner.invoke(cli, ["verify", str(output)]).exit_code == 1  # no sidecar: nothing to check
    assert runner.invoke(cli, ["verify", str(output), "--sidecar", str(moved)]).exit_code == 0
    output.write_bytes(_flip_middle_byte(output.read_bytes()))
    damaged = runner.invoke(cli, ["verify", str(output), "--sidecar", str(moved), "--json"])
    assert damaged.exit_code == 1 and json.loads(damaged.output)["state"] == "Invalid"


def test_the_worker_trusts_the_configured_trust_anchors_and_refuses_a_missing_file(tmp_path: Path) -> None:
    ca = make_ca()
    key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "anchors.pem").write_bytes(ca.pem())
    settings = Settings(
        c2pa_cert_chain_pem=issue(ca, key.public_key()).decode(),
        c2pa_private_key_pem=_pem(key),
        c2pa_trust_anchors_file=str(tmp_path / "anchors.pem"),
    )
    provenance = provenance_for(settings)
    assert provenance is not None and provenance.trust_anchors == ca.pem().decode()
    with pytest.raises(SigningSetupError, match="trust anchors"):
        check_signing_setup(
            settings.model_copy(update={"c2pa_trust_anchors_file": str(tmp_path / "none.pem")})
        )


@pytest.mark.parametrize("kind", ["embedded", "png_zip"])
def test_a_failed_signing_leaves_the_output_as_it_was(
    provenance: Provenance, clip: Path, tmp_path: Path, kind: str
) -> None:
    """The signed copy is written next to the output and only replaces it on success: a failure leaves neither
    a half-signed output nor the partial file."""
    facts = TaskFacts("task_test", TaskType.remove_background, {}, EngineFacts("test"), file_sha256(clip))
    origin = SourceFile(str(clip), "video/mp4", "source")
    if kind == "embedded":
        target = tmp_path / "output.mp4"
        target.write_bytes(b"not an mp4 at all" * 64)
    else:
        target = tmp_path / "output.zip"
        with zipfile.ZipFile(target, "w") as archive:
            archive.writestr("frame_000001.png", b"not a png" * 64)
    before = target.read_bytes()
    with pytest.raises(SigningFailed):
        if kind == "embedded":
            provenance.sign_embedded(facts, origin, str(target), "video/mp4")
        else:
            provenance.sign_png_zip(facts, origin, str(target))
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]
