"""A write-ahead journal for the local stack's moto server: DynamoDB and S3 survive a stop, a crash or SIGKILL.

moto keeps every table and object in memory. A snapshot on a timer (its backends pickle) would lose what was
acknowledged since the last one, so instead every mutating request that succeeded is appended to a journal
*before* its response leaves the server, and the journal is replayed into a fresh moto on start:
- DynamoDB: the request itself (target and JSON body). Replayed in the same order against the same state, each
  write has the same effect, conditional ones included (only successful writes are recorded, under the lock
  that already serializes DynamoDB).
- S3: the object's resulting state, not the request (presigned URLs expire, multipart upload ids are random):
  its bytes as a content-addressed file under `objects/`, its headers in the journal. Deletes are recorded too.
  Bucket creation is recorded; CORS and the upload notification are set again by every start.
SQS messages and Step Functions executions are not journaled: they belong to executions that do not survive
a restart, and `framelane local` re-drives unfinished tasks with fresh executions (local/resume.py).

A record is on disk (the kernel's page cache) when the response is sent, so killing any process loses nothing
acknowledged; a background thread fsyncs once a second, so a power cut loses at most the last second, as
Redis's `appendfsync everysec` does. Start-up compacts the journal to the current state (one put per item and
object), so it grows with the data, not with the history.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from xml.etree import ElementTree

JOURNAL_NAME = "journal.jsonl"
DYNAMODB_WRITES = {
    "CreateTable",
    "UpdateTable",
    "DeleteTable",
    "UpdateTimeToLive",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
}
_TABLE_SCHEMA = {"CreateTable", "UpdateTable", "DeleteTable", "UpdateTimeToLive"}
_KEPT_HEADERS = (
    "content-type",
    "content-encoding",
    "content-disposition",
    "content-language",
    "cache-control",
)
FSYNC_INTERVAL = 1.0

WsgiApp = Callable[[dict[str, Any], Any], Iterable[bytes]]


class JournalError(RuntimeError):
    """The journal cannot be read or replayed: the data directory is damaged."""


class Journal:
    """Appends records (one JSON line each, one write) and object files under `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.objects = directory / "objects"
        self.objects.mkdir(parents=True, exist_ok=True)
        self.path = directory / JOURNAL_NAME
        self._lock = threading.Lock()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._dirty = False
        self._closed = threading.Event()
        threading.Thread(target=self._sync_every_second, name="journal-fsync", daemon=True).start()

    def append(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        with self._lock:
            written = os.write(self._fd, line)
            if written != len(line):
                raise OSError(f"journal write was short ({written} of {len(line)} bytes)")
            self._dirty = True

    def store_object(self, data: bytes) -> str:
        """Content-addressed, written before the record that names it (and fsynced with the next batch)."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.objects / digest
        if not target.exists():
            partial = target.with_suffix(".tmp")
            partial.write_bytes(data)
            os.replace(partial, target)
        return digest

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            os.fsync(self._fd)
            os.close(self._fd)

    def _sync_every_second(self) -> None:
        while not self._closed.wait(FSYNC_INTERVAL):
            with self._lock:
                if not self._dirty or self._closed.is_set():
                    continue
                self._dirty = False
                fd = self._fd
            os.fdatasync(fd)


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """Every complete record; a last line cut short (a power cut mid-write) is dropped, anything else unreadable
    is damage and stops the start."""
    if not path.exists():
        return
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.endswith(b"\n"):
                return  # torn tail: never acknowledged
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise JournalError(f"{path} line {number} is not a journal record ({exc})") from exc
            if not isinstance(record, dict) or "t" not in record:
                raise JournalError(f"{path} line {number} is not a journal record")
            yield record


class JournaledApp:
    """WSGI middleware around moto's app: records successful mutations of DynamoDB and S3 before answering."""

    def __init__(self, app: WsgiApp, journal: Journal | None) -> None:
        self.app = app
        self.journal = journal
        self._dynamodb = (
            threading.Lock()
        )  # moto's TransactWriteItems is not thread-safe; the order is the log's
        self._s3 = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.startswith("DynamoDB_"):
            with self._dynamodb:
                return self._dynamodb_call(environ, start_response, target.split(".", 1)[-1])
        if self.journal is not None and _is_s3_write(environ):
            with self._s3:
                return self._s3_call(environ, start_response)
        return self.app(environ, start_response)

    def _dynamodb_call(self, environ: dict[str, Any], start_response: Any, operation: str) -> list[bytes]:
        if self.journal is None or operation not in DYNAMODB_WRITES:
            return list(self.app(environ, start_response))
        body = _read_body(environ)
        status, headers, chunks = call(self.app, environ)
        if status.startswith("200"):
            self.journal.append(
                {"t": "ddb", "target": environ["HTTP_X_AMZ_TARGET"], "body": body.decode("utf-8")}
            )
        start_response(status, headers)
        return chunks

    def _s3_call(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = _read_body(environ)
        status, headers, chunks = call(self.app, environ)
        if status[:1] == "2" and self.journal is not None:
            for record in self._s3_records(self.journal, environ, body):
                self.journal.append(record)
        start_response(status, headers)
        return chunks

    def _s3_records(self, journal: Journal, environ: dict[str, Any], body: bytes) -> list[dict[str, Any]]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        bucket, _, key = path.lstrip("/").partition("/")
        if not key:
            if method == "PUT" and not query:
                return [{"t": "s3bucket", "bucket": bucket}]
            if method == "POST" and "delete" in query:
                return [{"t": "s3del", "bucket": bucket, "key": k} for k in _deleted_keys(body)]
            return []
        if method == "DELETE":
            return [{"t": "s3del", "bucket": bucket, "key": key}]
        status, headers, chunks = call(self.app, s3_environ("GET", bucket, key))
        if not status.startswith("200"):
            return []
        kept = {
            name.lower(): value
            for name, value in headers
            if name.lower() in _KEPT_HEADERS or name.lower().startswith("x-amz-meta-")
        }
        digest = journal.store_object(b"".join(chunks))
        return [{"t": "s3put", "bucket": bucket, "key": key, "object": digest, "headers": kept}]


def _is_s3_write(environ: dict[str, Any]) -> bool:
    """A mutating S3 request whose result is state: object PUT/copy, multipart completion, deletes, new bucket.
    Multipart parts and upload creation are not state until the upload completes."""
    method = environ["REQUEST_METHOD"]
    if method not in {"PUT", "POST", "DELETE"} or not _service_is_s3(environ):
        return False
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    if method == "PUT":
        return "uploadId" not in query
    if method == "POST":
        return "uploadId" in query or "delete" in query
    return "uploadId" not in query


def _service_is_s3(environ: dict[str, Any]) -> bool:
    """By the signature's credential scope; a presigned URL (no Authorization header) is S3's."""
    auth = environ.get("HTTP_AUTHORIZATION")
    if auth:
        return "/s3/" in auth
    query = parse_qs(environ.get("QUERY_STRING", ""))
    credential = query.get("X-Amz-Credential")
    if credential:
        return "/s3/" in credential[0]
    return "AWSAccessKeyId" in query  # SigV2 presigned URLs, as boto3 makes them for S3


def _deleted_keys(body: bytes) -> list[str]:
    root = ElementTree.fromstring(body)  # noqa: S314 (the request already passed moto's parser)
    return [element.text or "" for element in root.iter() if element.tag.rsplit("}", 1)[-1] == "Key"]


def _read_body(environ: dict[str, Any]) -> bytes:
    """Read the request body once and put it back, so moto and the journal both see it."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body: bytes = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def call(app: WsgiApp, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], list[bytes]]:
    """Run a WSGI app to completion: (status line, headers, body chunks)."""
    response: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        response.update(status=status, headers=headers)

    chunks = list(app(environ, start_response))
    return response["status"], response["headers"], chunks


def _environ(method: str, path: str, service: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": os.environ.get("MOTO_PORT", "5000"),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": f"127.0.0.1:{os.environ.get('MOTO_PORT', '5000')}",
        "HTTP_AUTHORIZATION": (
            f"AWS4-HMAC-SHA256 Credential=testing/20260101/{region}/{service}/aws4_request, "
            "SignedHeaders=host, Signature=0"
        ),
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in headers.items():
        if name.lower() == "content-type":
            environ["CONTENT_TYPE"] = value
        else:
            environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def s3_environ(
    method: str, bucket: str, key: str = "", headers: dict[str, str] | None = None, body: bytes = b""
) -> dict[str, Any]:
    return _environ(method, f"/{bucket}/{key}" if key else f"/{bucket}", "s3", headers or {}, body)


def dynamodb_environ(target: str, body: str) -> dict[str, Any]:
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": target}
    return _environ("POST", "/", "dynamodb", headers, body.encode())


def replay(app: WsgiApp, directory: Path) -> int:
    """Apply every record to a fresh moto app (before it serves); returns how many. A record moto refuses
    means the journal does not describe a state this code can rebuild: damage, reported with its number."""
    count = 0
    for count, record in enumerate(read_records(directory / JOURNAL_NAME), start=1):
        environ = _record_environ(directory, record, count)
        status, _, chunks = call(app, environ)
        if not status[:1] == "2" and not (record["t"] == "s3bucket" and status.startswith("409")):
            raise JournalError(
                f"journal record {count} ({record['t']}) could not be replayed: {status} "
                f"{b''.join(chunks)[:300]!r}"
            )
    return count


def _record_environ(directory: Path, record: dict[str, Any], number: int) -> dict[str, Any]:
    kind = record["t"]
    try:
        if kind == "ddb":
            return dynamodb_environ(record["target"], record["body"])
        if kind == "s3bucket":
            return s3_environ("PUT", record["bucket"])
        if kind == "s3del":
            return s3_environ("DELETE", record["bucket"], record["key"])
        if kind == "s3put":
            data = (directory / "objects" / record["object"]).read_bytes()
            if hashlib.sha256(data).hexdigest() != record["object"]:
                raise JournalError(f"object file {record['object']} does not match its hash")
            return s3_environ("PUT", record["bucket"], record["key"], record["headers"], data)
    except (KeyError, OSError) as exc:
        raise JournalError(f"journal record {number} ({kind}) is incomplete: {exc!r}") from exc
    raise JournalError(f"journal record {number} has an unknown kind {kind!r}")


def compact(app: WsgiApp, directory: Path) -> int:
    """Rewrite the journal as the state `app` now holds (after `replay`): the table definitions, one put per item,
    one put per live object; object files nothing names any more are removed. Returns the records kept."""
    records = list(read_records(directory / JOURNAL_NAME))
    kept = [r for r in records if r["t"] == "ddb" and r["target"].split(".", 1)[-1] in _TABLE_SCHEMA]
    target_prefix = kept[0]["target"].split(".", 1)[0] if kept else "DynamoDB_20120810"
    for table in _dynamodb_json(app, f"{target_prefix}.ListTables", {}).get("TableNames", []):
        start: dict[str, Any] | None = None
        while True:
            page = _dynamodb_json(
                app,
                f"{target_prefix}.Scan",
                {"TableName": table, **({"ExclusiveStartKey": start} if start else {})},
            )
            for item in page.get("Items", []):
                body = json.dumps({"TableName": table, "Item": item}, separators=(",", ":"))
                kept.append({"t": "ddb", "target": f"{target_prefix}.PutItem", "body": body})
            start = page.get("LastEvaluatedKey")
            if not start:
                break
    objects: dict[tuple[str, str], dict[str, Any]] = {}
    for record in records:
        if record["t"] == "s3bucket" and record not in kept:
            kept.append(record)
        elif record["t"] == "s3put":
            objects[(record["bucket"], record["key"])] = record
        elif record["t"] == "s3del":
            objects.pop((record["bucket"], record["key"]), None)
    kept.extend(objects.values())
    partial = directory / (JOURNAL_NAME + ".tmp")
    with partial.open("wb") as out:
        for record in kept:
            out.write((json.dumps(record, separators=(",", ":")) + "\n").encode())
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, directory / JOURNAL_NAME)
    _fsync_directory(directory)
    named = {record["object"] for record in objects.values()}
    (directory / "objects").mkdir(exist_ok=True)
    for path in (directory / "objects").iterdir():
        if path.name not in named:
            path.unlink()
    return len(kept)


def _dynamodb_json(app: WsgiApp, target: str, body: dict[str, Any]) -> dict[str, Any]:
    status, _, chunks = call(app, dynamodb_environ(target, json.dumps(body)))
    if not status.startswith("200"):
        raise JournalError(f"{target} failed while compacting the journal: {status}")
    result: dict[str, Any] = json.loads(b"".join(chunks))
    return result


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
