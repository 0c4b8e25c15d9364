"""The console in a real browser (Debian's chromium driven by Playwright) against the real pipeline on loopback.

Each test signs in with a fresh workspace's key; media are tiny generated clips; renderers use the test-only
colour-negating engine, transcription the real offline engine. Screenshots land in the test's tmp folder.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect, sync_playwright

from framelane.engines import super_resolution
from framelane.engines.base import EngineRegistry
from framelane.ids import new_task_id
from framelane.media.samples import make_sample_clip
from framelane.models import (
    JobOutput,
    Task,
    TaskStatus,
    TaskType,
    Transcript,
    TranscriptWord,
    WorkspaceCreated,
    utc_now,
)
from framelane.services.context import ServiceContext
from framelane.services.workspaces import create_workspace
from tests.support.servers import LoopbackServer, loopback_server

from .pipeline_helpers import thread_worker, wait_for_task

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "console"
XSS_SCRIPT = "<script>window.__xss = 'script'</script>"
XSS_IMG = '"><img src=x onerror="window.__xss = \'img\'; alert(1)">'
# Collects what must never happen: a dialog, a CSP violation (our own code needs no exception either).
WATCH = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--autoplay-policy=no-user-gesture-required"]
        )
        yield instance
        instance.close()


@pytest.fixture
def console_workspace(pipeline_ctx: ServiceContext) -> WorkspaceCreated:
    return create_workspace(pipeline_ctx, "console")


@pytest.fixture
def capi(pipeline_api_url: str, console_workspace: WorkspaceCreated) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {console_workspace.api_key}"}
    with httpx.Client(base_url=pipeline_api_url, headers=headers, timeout=30) as client:
        yield client


@pytest.fixture
def dialogs() -> list[str]:
    return []


def open_page(browser: Browser, dialogs: list[str], width: int = 1280, height: int = 900) -> Page:
    page = browser.new_page(viewport={"width": width, "height": height}, accept_downloads=True)
    page.add_init_script(WATCH)

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("console", lambda message: print("console:", message.type, message.text))
    page.set_default_timeout(30_000)
    return page


@pytest.fixture
def page(browser: Browser, dialogs: list[str]) -> Iterator[Page]:
    page = open_page(browser, dialogs)
    yield page
    assert page.evaluate("window.__violations") == []
    page.context.close()


def sign_in(page: Page, api_url: str, key: str, hash_: str = "#/tasks") -> None:
    page.goto(f"{api_url}/console{hash_}")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#nav")).to_be_visible()


def shoot(page: Page, tmp_path: Path, name: str, *, keep: bool = False) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if keep and os.environ.get("FRAMELANE_CONSOLE_DOCS"):  # refresh the committed screenshots on demand
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS / path.name)
    return path


@pytest.fixture
def origin() -> Iterator[LoopbackServer]:
    with loopback_server() as server:
        yield server


def _set_range(page: Page, selector: str, value: int) -> None:
    page.eval_on_selector(
        selector,
        "(el, v) => { el.value = String(v); el.dispatchEvent(new Event('input', {bubbles: true})); }",
        value,
    )


def _patch(image: Image.Image, fx: float, fy: float) -> np.ndarray:
    """Mean colour of a 9×9 patch at a fraction of the image's width and height."""
    x, y = int(image.width * fx), int(image.height * fy)
    return np.asarray(image.convert("RGB"), dtype=np.float32)[y - 4 : y + 5, x - 4 : x + 5].mean(axis=(0, 1))


def _stage_image(page: Page) -> Image.Image:
    return Image.open(io.BytesIO(page.locator(".stage").screenshot()))


def _videos(page: Page) -> list[dict[str, Any]]:
    return list(
        page.evaluate(
            "[...document.querySelectorAll('.stage video')].map(v => ({paused: v.paused, t: v.currentTime, d: v.duration}))"
        )
    )


def test_upload_progress_players_and_wipe(
    page: Page,
    pipeline_api_url: str,
    pipeline_ctx: ServiceContext,
    console_workspace: WorkspaceCreated,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    dialogs: list[str],
) -> None:
    clip = make_sample_clip(tmp_path / "clip.mp4", seconds=2, width=320, height=180, audio=False)
    monkeypatch.setenv("FRAMELANE_TEST_ENGINE_DELAY", "0.06")  # ~3 s of work, so progress is visible
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    sign_in(page, pipeline_api_url, console_workspace.api_key, "#/new")
    page.set_input_files("#source-file", str(clip))
    expect(page.locator("#file-name")).to_contain_text("clip.mp4")
    page.get_by_label("Gaze redirect").check()
    page.get_by_label("Intensity").fill("0.5")
    shoot(page, tmp_path, "new-task", keep=True)

    with thread_worker(pipeline_ctx, "console-worker"):
        page.get_by_role("button", name="Start task").click()  # presigned PUT to the bucket, then the task
        expect(page).to_have_url(re.compile(r"/console#/tasks/task_\w+$"))
        seen: set[int] = set()
        deadline = time.monotonic() + 120
        while page.locator("#task-status").inner_text() != "completed":
            assert time.monotonic() < deadline, "the task did not complete in the console"
            assert page.locator("#task-status").inner_text() not in {"failed", "cancelled"}
            seen.add(int(page.locator("#progress-bar").get_attribute("aria-valuenow") or 0))
            time.sleep(0.1)
    expect(page.locator("#progress-percent")).to_have_text("100 %")
    assert any(0 < p < 100 for p in seen), f"no progress between 0 and 100 was shown: {sorted(seen)}"
    expect(page.locator("#progress-elapsed")).to_have_text(re.compile(r"^\d+ s$"))
    expect(page.locator("#task-meta")).to_contain_text("320×180")
    key = console_workspace.api_key
    assert page.evaluate("sessionStorage.getItem('framelane.apiKey')") == key  # this tab only
    assert page.evaluate("document.cookie + JSON.stringify(localStorage)") == "{}"
    assert not any(key in url for url in requested), "the key must never be in a URL"
    output = httpx.get(page.locator("#task-download").get_attribute("href") or "")
    assert output.status_code == 200 and output.content[4:8] == b"ftyp"  # the download is the output mp4

    page.wait_for_function(
        "() => [...document.querySelectorAll('.stage video')].every(v => v.readyState >= 2)"
    )
    page.get_by_role("button", name="Play").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.stage video')].every(v => !v.paused && v.currentTime > 0.3)"
    )
    page.get_by_role("button", name="Pause").click()
    players = _videos(page)
    assert all(v["paused"] for v in players), players
    assert abs(players[0]["t"] - players[1]["t"]) < 0.15, players
    _set_range(page, "#compare-seek", 500)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.stage video')].every(v => !v.seeking && Math.abs(v.currentTime - v.duration / 2) < 0.1)"
    )
    shoot(page, tmp_path, "compare", keep=True)

    page.get_by_text("Wipe", exact=True).click()
    expect(page.locator(".stage")).to_have_class("stage wipe")
    _set_range(page, "#wipe", 0)
    only_after = _stage_image(page)
    _set_range(page, "#wipe", 100)
    only_before = _stage_image(page)
    _set_range(page, "#wipe", 50)
    half = _stage_image(page)
    shoot(page, tmp_path, "wipe", keep=True)
    left_before, right_after = _patch(only_before, 0.25, 0.55), _patch(only_after, 0.75, 0.55)
    assert np.abs(_patch(only_before, 0.75, 0.55) - right_after).max() > 40  # the negated output differs
    assert np.abs(_patch(half, 0.25, 0.55) - left_before).max() < 8  # left of the line: before
    assert np.abs(_patch(half, 0.75, 0.55) - right_after).max() < 8  # right of the line: after
    assert dialogs == [] and page.evaluate("window.__xss") is None


def test_bad_option_shows_the_api_message_keyboard_and_labels(
    browser: Browser,
    dialogs: list[str],
    pipeline_api_url: str,
    console_workspace: WorkspaceCreated,
    capi: httpx.Client,
    tmp_path: Path,
) -> None:
    page = open_page(browser, dialogs, width=375, height=812)
    sign_in(page, pipeline_api_url, console_workspace.api_key, "#/new")
    dropped = page.evaluate_handle(
        "() => { const d = new DataTransfer();"
        " d.items.add(new File([new Uint8Array(2048)], 'dropped.mp4', {type: 'video/mp4'})); return d; }"
    )
    page.dispatch_event("#drop-zone", "drop", {"dataTransfer": dropped})
    expect(page.locator("#file-name")).to_contain_text("dropped.mp4")  # a file dragged in is taken
    page.reload()  # start again with a URL source
    source = "http://127.0.0.1:9/never-fetched.mp4"  # refused by validation before any fetch
    page.get_by_label("…or the URL of a video").fill(source)
    page.get_by_label("Gaze redirect").check()
    page.get_by_label("Intensity").fill("7")
    page.get_by_role("button", name="Start task").click()
    expected = capi.post("/v1/tasks/gaze-redirect", json={"source_url": source, "intensity": 7}).json()
    (detail,) = expected["error"]["details"]
    field = page.locator('.options[data-task-type="gaze_redirect"] .field[data-field="intensity"]')
    expect(field.locator(".field-error")).to_have_text(detail["msg"])  # the API's own words, by the field
    expect(page.get_by_label("Intensity")).to_have_attribute("aria-invalid", "true")
    assert capi.get("/v1/tasks").json()["data"] == []  # nothing was created
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways scrolling at 375 px
    shoot(page, tmp_path, "bad-option-375px", keep=True)

    # every visible control has a label, and the keyboard reaches each of them
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
        .filter(el => el.offsetParent !== null || el.type === 'file')
        .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
        .map(el => el.id || el.name)"""
    )
    assert unlabelled == []
    page.locator("#main").focus()
    reached = set()
    for _ in range(40):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement.id || document.activeElement.name"))
    for control in ["source-file", "source-url", "task_type", "opt-gaze_redirect-intensity", "submit-task"]:
        assert control in reached, (control, reached)
    page.get_by_label("Super resolution").focus()
    page.keyboard.press("Space")
    expect(page.get_by_label("Scale")).to_be_visible()  # the options follow the chosen type
    page.context.close()
    assert dialogs == []


def test_task_list_filters_and_pages(
    page: Page, pipeline_api_url: str, console_workspace: WorkspaceCreated, capi: httpx.Client, tmp_path: Path
) -> None:
    missing = "http://127.0.0.1:9/missing.mp4"  # nothing listens: ingest fails these with invalid_source
    for _ in range(11):
        assert capi.post("/v1/tasks/transcribe", json={"source_url": missing}).status_code == 202
    for _ in range(2):
        task = capi.post("/v1/tasks/gaze-redirect", json={"source_url": missing}).json()
        capi.post(f"/v1/tasks/{task['id']}/cancel")
    sign_in(page, pipeline_api_url, console_workspace.api_key)
    page.get_by_label("Per page").select_option("10")
    rows = page.locator("#task-rows tr")
    expect(rows).to_have_count(10)
    page.get_by_role("button", name="Older →").click()
    expect(page.locator("#page-label")).to_have_text("Page 2")
    expect(rows).to_have_count(3)
    page.get_by_role("button", name="← Newer").click()
    expect(rows).to_have_count(10)

    page.get_by_label("Type").select_option("gaze_redirect")
    expect(rows).to_have_count(2)
    expect(page.locator("#task-rows .badge")).to_have_text(["cancelled", "cancelled"])
    page.get_by_label("Type").select_option("transcribe")
    page.get_by_label("Status").select_option("failed")
    expect(rows).to_have_count(10, timeout=60_000)  # ingest fails them one by one; the list refreshes
    page.get_by_role("button", name="Older →").click()
    expect(rows).to_have_count(1)
    expect(page.locator("#task-rows .badge")).to_have_text(["failed"])
    page.get_by_label("Status").select_option("completed")
    expect(page.locator("#tasks-empty")).to_be_visible()
    page.get_by_label("Status").select_option("")
    page.get_by_label("Type").select_option("")
    expect(rows).to_have_count(10)
    shoot(page, tmp_path, "tasks", keep=True)


def spoken_clip(text: str, tmp_path: Path) -> Path:
    """An mp4 with a moving picture and espeak-ng saying `text` (AAC), so captions play over video."""
    wav = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(wav), text], check=True, capture_output=True)
    path = tmp_path / "speech.mp4"
    with av.open(str(wav)) as source, av.open(str(path), "w", format="mp4") as out:
        seconds = float(source.duration or 0) / av.time_base
        audio = out.add_stream("aac", rate=16000)
        video = out.add_stream("libx264", rate=10, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = 320, 180, "yuv420p"
        resampler = av.AudioResampler(format="fltp", layout="mono", rate=16000)
        for frame in source.decode(audio=0):
            for chunk in resampler.resample(frame):
                out.mux(audio.encode(chunk))
        out.mux(audio.encode(None))
        for i in range(int(seconds * 10) + 1):
            shade = np.full((180, 320, 3), (40, 60 + (i * 5) % 120, 140), dtype=np.uint8)
            picture = av.VideoFrame.from_ndarray(shade, format="rgb24")
            picture.pts, picture.time_base = i, Fraction(1, 10)
            out.mux(video.encode(picture))
        out.mux(video.encode(None))
    return path


def test_transcript_captions_seek_and_downloads(
    page: Page,
    pipeline_api_url: str,
    console_workspace: WorkspaceCreated,
    capi: httpx.Client,
    origin: LoopbackServer,
    tmp_path: Path,
) -> None:
    clip = spoken_clip(
        "Please send the report to the team before noon. My favorite color is green.", tmp_path
    )
    source = origin.serve_bytes("/speech.mp4", clip.read_bytes())
    created = capi.post("/v1/tasks/transcribe", json={"source_url": source, "language_code": "en"}).json()
    task = wait_for_task(capi, created["id"], timeout=180)
    assert task["status"] == "completed", task
    sign_in(page, pipeline_api_url, console_workspace.api_key, f"#/tasks/{task['id']}")
    phrases = page.locator(".transcript .phrase")
    expect(phrases).to_have_count(2)  # one per sentence
    expect(phrases.nth(1)).to_contain_text("green")
    page.wait_for_function(
        "() => { const t = document.querySelector('#transcript-player').textTracks[0];"
        " return t && t.mode === 'showing' && t.cues && t.cues.length > 0; }"
    )
    cues = page.evaluate(
        "[...document.querySelector('#transcript-player').textTracks[0].cues].map(c => c.text)"
    )
    assert "report" in " ".join(cues)  # the VTT export is the <track>

    start = float(phrases.nth(1).get_attribute("data-start") or "nan")
    assert start > 1
    phrases.nth(1).click()
    page.wait_for_function(
        "(start) => document.querySelector('#transcript-player').currentTime >= start - 0.05", arg=start
    )
    expect(phrases.nth(1)).to_have_class(re.compile(r"\bactive\b"))
    page.evaluate("document.querySelector('#transcript-player').pause()")

    with page.expect_download() as download:
        page.get_by_role("button", name="SRT").click()
    srt = Path(download.value.path()).read_text()
    assert srt == capi.get(f"/v1/tasks/{task['id']}/transcript", params={"format": "srt"}).text
    assert download.value.suggested_filename == f"{task['id']}.srt"
    page.evaluate("document.querySelector('#transcript-player').currentTime = 1.2")
    shoot(page, tmp_path, "transcript", keep=True)


def test_metadata_and_transcript_are_escaped(
    page: Page,
    pipeline_api_url: str,
    pipeline_ctx: ServiceContext,
    console_workspace: WorkspaceCreated,
    capi: httpx.Client,
    dialogs: list[str],
    tmp_path: Path,
) -> None:
    """Hostile text from the API (metadata, a transcript as an engine could return it) stays text."""
    metadata = {"title": XSS_SCRIPT, "note": XSS_IMG, XSS_IMG[:40]: "key too"}
    created = capi.post(
        "/v1/tasks/remove-background", json={"source_url": "http://127.0.0.1:9/x.mp4", "metadata": metadata}
    )
    assert created.status_code == 202, created.text
    # A completed transcribe task whose stored transcript carries the payloads (as AssemblyAI could send them).
    ws = console_workspace.workspace_id
    task_id = new_task_id()
    words = [
        TranscriptWord(text=text, start=i * 0.5, end=i * 0.5 + 0.4, confidence=0.9)
        for i, text in enumerate(["Hello", XSS_SCRIPT, "and", XSS_IMG + "."])
    ]
    transcript = Transcript(
        task_id=task_id,
        engine="assemblyai",
        language_code="en",
        audio_duration=2,
        text=" ".join(w.text for w in words),
        words=words,
    )
    clip = make_sample_clip(tmp_path / "clip.mp4", seconds=2)
    pipeline_ctx.blobs.upload_file(str(clip), f"sources/{ws}/{task_id}", "video/mp4")
    pipeline_ctx.blobs.put_bytes(
        f"outputs/{ws}/{task_id}/transcript.json", transcript.model_dump_json().encode()
    )
    now = utc_now()
    pipeline_ctx.store.put_task(
        Task(
            id=task_id,
            workspace_id=ws,
            status=TaskStatus.completed,
            task_type=TaskType.transcribe,
            created_at=now,
            updated_at=now,
            completed_at=now,
            progress_percent=100,
            metadata={"speaker": XSS_IMG},
            output=JobOutput(url="pending", duration=2, size_bytes=1),
            source_key=f"sources/{ws}/{task_id}",
            output_key=f"outputs/{ws}/{task_id}/transcript.json",
        )
    )

    sign_in(page, pipeline_api_url, console_workspace.api_key, f"#/tasks/{created.json()['id']}")
    expect(page.locator("#task-meta")).to_contain_text(XSS_SCRIPT)
    expect(page.locator("#task-meta")).to_contain_text(XSS_IMG)
    page.goto(f"{pipeline_api_url}/console#/tasks/{task_id}")
    expect(page.locator(".transcript")).to_contain_text(XSS_SCRIPT)
    expect(page.locator(".transcript")).to_contain_text(XSS_IMG)
    page.wait_for_function("() => document.querySelector('#transcript-player').textTracks[0].cues.length > 0")
    page.evaluate("document.querySelector('#transcript-player').currentTime = 0.6")
    page.wait_for_timeout(500)  # give any injected handler its chance to run
    injected = page.evaluate(
        "[...document.querySelectorAll('img, script:not([src]), [onerror]')].map(e => e.outerHTML)"
    )
    assert injected == []
    assert page.evaluate("window.__xss") is None and dialogs == []
    shoot(page, tmp_path, "escaped")


def _wait_ready(page: Page, selector: str) -> None:
    page.wait_for_function(
        "(s) => [...document.querySelectorAll(s)].every(v => v.readyState >= 2)", arg=selector
    )


def test_alpha_background_detail_crops_and_credentials(
    page: Page,
    pipeline_api_url: str,
    pipeline_ctx: ServiceContext,
    console_workspace: WorkspaceCreated,
    capi: httpx.Client,
    origin: LoopbackServer,
    tmp_path: Path,
) -> None:
    clip = make_sample_clip(tmp_path / "clip.mp4", seconds=1, width=320, height=180, audio=False)
    source = origin.serve_bytes("/clip.mp4", clip.read_bytes())
    with thread_worker(pipeline_ctx, "console-viewer"):
        matte = capi.post("/v1/tasks/remove-background", json={"source_url": source}).json()
        assert wait_for_task(capi, matte["id"])["status"] == "completed"
    real = EngineRegistry()
    super_resolution.register(real)  # the real fast upscaler (×2), so the crops compare real detail
    with thread_worker(pipeline_ctx, "console-upscaler", registry=real):
        upscaled = capi.post("/v1/tasks/super-resolution", json={"source_url": source, "mode": "fast"}).json()
        assert wait_for_task(capi, upscaled["id"])["status"] == "completed"

    sign_in(page, pipeline_api_url, console_workspace.api_key, f"#/tasks/{matte['id']}")
    frame = page.locator(".after-frame")
    expect(frame).to_have_class(re.compile(r"\bchecker\b"))
    _wait_ready(page, ".stage video")
    report = capi.get(f"/v1/tasks/{matte['id']}/credentials").json()
    panel = page.locator("#credentials")
    expect(panel).to_be_visible()  # the worker's report on the signed WebM: a sidecar manifest
    expect(panel).to_contain_text(report["signer"]["common_name"])
    expect(panel).to_contain_text("sidecar")
    expect(panel).to_contain_text("signingCredential.untrusted")  # the local development CA, said plainly
    expect(panel.locator("#credentials-actions")).to_contain_text("compositeWithTrainedAlgorithmicMedia")
    expect(panel.locator("#credentials-ingredients")).to_contain_text("parentOf")
    shoot(page, tmp_path, "remove-background", keep=True)
    page.get_by_label("Colour").fill("#ff3366")
    expect(frame).to_have_css("background-color", "rgb(255, 51, 102)")
    expect(frame).not_to_have_class(re.compile(r"\bchecker\b"))
    page.get_by_role("button", name="Checkerboard").click()
    expect(frame).to_have_class(re.compile(r"\bchecker\b"))

    page.goto(f"{pipeline_api_url}/console#/tasks/{upscaled['id']}")
    crops = page.locator(".crop video")
    expect(crops).to_have_count(2)
    _wait_ready(page, ".stage video, .crop video")
    _set_range(page, "#crop-x", 0)
    _set_range(page, "#crop-y", 100)
    size = page.eval_on_selector(".crop", "el => el.clientWidth")
    for i in range(2):  # both at the output's pixel size, the box kept inside the 640×360 picture
        style = crops.nth(i).get_attribute("style") or ""
        assert "width: 640px" in style and f"translate(0px, {size - 360:g}px)" in style, style
    after = page.locator(".after-pane video")
    after.click(position={"x": 5, "y": 5})  # the crop follows a click on the output
    assert int(page.locator("#crop-x").input_value()) < 5 and int(page.locator("#crop-y").input_value()) < 5
    page.get_by_role("button", name="Play").click()
    page.wait_for_function("() => document.querySelector('.after-pane video').currentTime > 0.3")
    page.get_by_role("button", name="Pause").click()
    times = page.evaluate(
        "[...document.querySelectorAll('.stage video, .crop video')].map(v => v.currentTime)"
    )
    assert max(times) - min(times) < 0.15, times
    _set_range(page, "#crop-x", 45)
    _set_range(page, "#crop-y", 50)
    shoot(page, tmp_path, "super-resolution", keep=True)

    # an output without credentials (the route answers 404) hides the panel
    missing = {"error": {"code": "not_found", "message": "this output has no Content Credentials"}}
    page.route("**/credentials", lambda route: route.fulfill(status=404, json=missing))
    page.reload()
    expect(page.locator(".crop video")).to_have_count(2)
    expect(page.locator("#credentials")).to_be_hidden()


def test_webhook_endpoints_show_each_delivery_attempt(
    page: Page,
    pipeline_api_url: str,
    pipeline_ctx: ServiceContext,
    console_workspace: WorkspaceCreated,
    capi: httpx.Client,
    origin: LoopbackServer,
    tmp_path: Path,
) -> None:
    answers = iter([500])
    hook = origin.respond("/hook", lambda _: (next(answers, 200), {}, b""))
    sign_in(page, pipeline_api_url, console_workspace.api_key, "#/webhooks")
    page.get_by_label("Endpoint URL").fill("http://127.0.0.2/hook")  # refused (not allowed), never fetched
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.locator('[data-error-for="url"]')).to_contain_text("127.0.0.2")
    page.get_by_label("Endpoint URL").fill(hook)
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.locator("#webhook-status")).to_contain_text("whsec_")
    (endpoint,) = capi.get("/v1/webhooks").json()["data"]

    clip = make_sample_clip(tmp_path / "clip.mp4", seconds=1, audio=False)
    source = origin.serve_bytes("/clip.mp4", clip.read_bytes())
    with thread_worker(pipeline_ctx, "console-hooks"):
        task = capi.post("/v1/tasks/gaze-redirect", json={"source_url": source}).json()
        assert wait_for_task(capi, task["id"])["status"] == "completed"
    deadline = time.monotonic() + 60
    while len(capi.get(f"/v1/webhooks/{endpoint['id']}/attempts").json()["data"]) < 2:
        assert time.monotonic() < deadline, "the retry was not recorded"
        time.sleep(0.3)

    page.reload()
    rows = page.locator(f'[data-endpoint-id="{endpoint["id"]}"] tbody tr')
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator("td").nth(2)).to_have_text("200")
    expect(rows.nth(0).locator("td").nth(4)).to_have_text("—")
    expect(rows.nth(1).locator("td").nth(2)).to_have_text("500")
    expect(rows.nth(1).locator("td").nth(4)).not_to_have_text("—")  # when the retry was due
    shoot(page, tmp_path, "webhooks", keep=True)


def test_cancel_from_the_task_page(
    page: Page,
    pipeline_api_url: str,
    pipeline_ctx: ServiceContext,
    console_workspace: WorkspaceCreated,
    capi: httpx.Client,
    origin: LoopbackServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clip = make_sample_clip(tmp_path / "clip.mp4", seconds=1, audio=False)
    source = origin.serve_bytes("/clip.mp4", clip.read_bytes())
    monkeypatch.setenv("FRAMELANE_TEST_ENGINE_DELAY", "0.4")  # ~10 s of work: cancelled while processing
    # a worker takes the entry and settles it, so no stream entry is left behind for later tests
    with thread_worker(pipeline_ctx, "console-cancel"):
        task = capi.post("/v1/tasks/gaze-redirect", json={"source_url": source}).json()
        sign_in(page, pipeline_api_url, console_workspace.api_key, f"#/tasks/{task['id']}")
        expect(page.locator("#task-status")).to_have_text("processing", timeout=60_000)
        cancel = page.get_by_role("button", name="Cancel")
        cancel.click()
        expect(page.locator("#task-status")).to_have_text("cancelled")
        expect(cancel).to_be_hidden()
        assert capi.get(f"/v1/tasks/{task['id']}").json()["status"] == "cancelled"
    page.set_viewport_size({"width": 375, "height": 812})
    for view in (f"#/tasks/{task['id']}", "#/tasks", "#/webhooks"):  # usable at 375 px: no sideways page
        page.goto(f"{pipeline_api_url}/console{view}")
        expect(page.locator("#main h1:visible")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, view
        shoot(page, tmp_path, f"375px-{view.count('/')}-{view.split('/')[1]}")
