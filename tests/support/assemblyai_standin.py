"""A local AssemblyAI stand-in: the v2 transcript API subset the official SDK uses (upload, create, get) and
the webhook call, on loopback. Transcripts are real: the stand-in runs the offline engine on the audio."""

from __future__ import annotations

import json
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from framelane.transcription.offline import transcribe_offline

API_KEY = "standin-key"


@dataclass
class StandIn:
    url: str = ""
    fail_with: str | None = None  # make every transcript end in status "error" with this message
    send_webhooks: bool = True
    uploads: dict[str, bytes] = field(default_factory=dict)
    transcripts: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)  # create-transcript bodies, as sent
    webhook_calls: list[tuple[str, int]] = field(default_factory=list)  # (url, our API's status code)

    def _process(self, transcript_id: str, body: dict[str, Any]) -> None:
        record = self.transcripts[transcript_id]
        record["status"] = "processing"
        time.sleep(0.2)
        if self.fail_with:
            record.update(status="error", error=self.fail_with)
        else:
            record.update(self._recognize(transcript_id, body), status="completed")
        webhook = body.get("webhook_url")
        if webhook and self.send_webhooks:
            request = urllib.request.Request(  # noqa: S310 (our API on loopback)
                webhook,
                data=json.dumps({"transcript_id": transcript_id, "status": record["status"]}).encode(),
                headers={
                    "Content-Type": "application/json",
                    body["webhook_auth_header_name"]: body["webhook_auth_header_value"],
                },
                method="POST",
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                    self.webhook_calls.append((webhook, response.status))
            except urllib.error.HTTPError as exc:
                self.webhook_calls.append((webhook, exc.code))

    def _audio(self, url: str) -> bytes:
        """An upload to the stand-in, or a URL it fetches as AssemblyAI does (a presigned S3 URL on loopback)."""
        if url.startswith(f"{self.url}/files/"):
            return self.uploads[url.rsplit("/", 1)[1]]
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (moto on loopback)
            data: bytes = response.read()
        return data

    def _recognize(self, transcript_id: str, body: dict[str, Any]) -> dict[str, Any]:
        audio = self._audio(body["audio_url"])
        with tempfile.NamedTemporaryFile(suffix=".audio") as handle:
            handle.write(audio)
            handle.flush()
            result = transcribe_offline(
                transcript_id, handle.name, {"language_code": body.get("language_code")}
            )
        speaker = "A" if body.get("speaker_labels") else None
        words = [
            {
                "text": w.text,
                "start": int(w.start * 1000),
                "end": int(w.end * 1000),
                "confidence": w.confidence,
                "speaker": speaker,
            }
            for w in result.words
        ]
        data: dict[str, Any] = {
            "text": result.text,
            "words": words,
            "language_code": result.language_code,
            "audio_duration": round(result.audio_duration),
            "confidence": 0.9,
            "utterances": [
                {
                    "speaker": "A",
                    "text": result.text,
                    "start": words[0]["start"],
                    "end": words[-1]["end"],
                    "confidence": 0.9,
                    "words": words,
                }
            ]
            if speaker and words
            else None,
        }
        if body.get("summarization"):
            data["summary"] = result.text.split(".")[0]
        if body.get("entity_detection"):
            data["entities"] = []
        if body.get("sentiment_analysis"):
            data["sentiment_analysis_results"] = []
        if body.get("auto_chapters"):
            data["chapters"] = []
        return data


@contextmanager
def assemblyai_standin() -> Iterator[StandIn]:
    state = StandIn()

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: int, payload: dict[str, Any]) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def do_POST(self) -> None:
            if self.headers.get("Authorization") != API_KEY:
                self._reply(401, {"error": "Authentication error, API token missing/invalid"})
            elif self.path == "/v2/upload":
                upload_id = uuid.uuid4().hex
                state.uploads[upload_id] = self._body()
                self._reply(200, {"upload_url": f"{state.url}/files/{upload_id}"})
            elif self.path == "/v2/transcript":
                body = json.loads(self._body())
                state.requests.append(body)
                transcript_id = uuid.uuid4().hex
                state.transcripts[transcript_id] = {
                    "id": transcript_id,
                    "status": "queued",
                    "audio_url": body["audio_url"],
                    "webhook_url": body.get("webhook_url"),
                }
                threading.Thread(target=state._process, args=(transcript_id, body), daemon=True).start()
                self._reply(200, state.transcripts[transcript_id])
            else:
                self._reply(404, {"error": "not found"})

        def do_GET(self) -> None:
            transcript_id = self.path.rsplit("/", 1)[1]
            if self.path.startswith("/v2/transcript/") and transcript_id in state.transcripts:
                self._reply(200, state.transcripts[transcript_id])
            else:
                self._reply(404, {"error": "Transcript not found"})

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
