"""moto_server as `python -m moto.server` runs it, with DynamoDB requests serialized and, given `--data-dir`,
DynamoDB and S3 kept in a journal there (local/journal.py): replayed on start, appended to before answering.

moto's TransactWriteItems deep-copies every table it touches without a lock, so a write arriving on another
server thread meanwhile fails it with HTTP 500 ("dictionary changed size during iteration"). Real DynamoDB
has no such limit; locally, one DynamoDB request at a time keeps the emulator correct under concurrency.
Other services (SQS long polls, Step Functions) are not serialized.

moto's SendTaskFailure handler also drops the `cause` (the human-readable message a Catch passes on);
`_keep_task_failure_cause` restores it, so failed tasks locally carry the same message as on AWS.
"""

from __future__ import annotations

import argparse
import base64
import copy
import functools
import http.client
import io
import json
import os
import pickle
import sys
import threading
from pathlib import Path
from typing import IO, Any, cast

from moto.dynamodb.models.dynamo_type import DynamoType
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.exceptions import ClientDisconnected
from werkzeug.serving import run_simple
from werkzeug.wsgi import LimitedStream

from framelane.local.journal import Journal, JournaledApp, JournalError, compact, replay


def _keep_task_failure_cause() -> None:
    from moto.core.responses import EmptyResult
    from moto.stepfunctions.responses import StepFunctionResponse

    def send_task_failure(self: StepFunctionResponse) -> Any:
        self.stepfunction_backend.send_task_failure(  # type: ignore[call-arg]  # the executing (parser) backend takes cause
            self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
        )
        return EmptyResult()

    StepFunctionResponse.send_task_failure = send_task_failure  # type: ignore[method-assign]


# Operations whose results are items, counts, keys and capacity: plain JSON, the same bytes either way.
_ITEM_OPERATIONS = {
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactGetItems",
    "TransactWriteItems",
}


def _fast_dynamodb_results() -> None:
    """moto 5.2 shapes every response with a generic, model-driven serializer that costs more than the operation
    itself (a GetItem about 10 ms of CPU, a 50-item Query over 100 ms); the local API's reads waited on it. DynamoDB
    item results are already wire-format JSON, so they are dumped directly: the output shape's members, bytes as
    base64, as the serializer does (tests/unit/test_moto_fast_path.py compares the two). Anything else, or a
    result holding a type JSON lacks (timestamps), goes through moto's serializer unchanged.

    moto also converts every result to plain dicts when it is built (`dynamo_to_dict`, a third of a 50-item
    Query's cost); the fast path writes the stored values straight to JSON instead, so that conversion runs only
    for what takes moto's serializer. Nothing writes between the two: DynamoDB requests are serialized
    (local/journal.py)."""
    from moto import backends
    from moto.core import responses as moto_responses
    from moto.core.responses import ActionResult
    from moto.dynamodb.models.utilities import dynamo_to_dict
    from moto.dynamodb.responses import DynamoResult

    original = DynamoResult.execute_result

    def keep_result(self: DynamoResult, result: object) -> None:
        ActionResult.__init__(self, result)

    def execute_result(self: DynamoResult, context: Any) -> Any:
        operation = context.operation_model
        if operation.name in _ITEM_OPERATIONS and isinstance(self.result, dict):
            members = operation.output_shape.members
            try:
                body = json.dumps({k: v for k, v in self.result.items() if k in members}, default=_wire_value)
            except TypeError:
                pass
            else:
                return 200, {"Content-Type": "application/x-amz-json-1.0"}, body
        ActionResult.__init__(self, dynamo_to_dict(self.result))
        return original(self, context)

    DynamoResult.__init__ = keep_result  # type: ignore[method-assign]
    DynamoResult.execute_result = execute_result  # type: ignore[method-assign,assignment]
    # per request, the dispatcher lists moto's package directory and every handler lists its class's methods;
    # neither changes while the server runs
    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules
    moto_responses.method_names_from_class = functools.cache(moto_responses.method_names_from_class)  # type: ignore[attr-defined]


_query_keys = threading.local()  # the key conditions of the Query this thread is answering, if any


def _query_reads_one_partition() -> None:
    """moto's Query sorts every item of the table (all workspaces, comparing through DynamoType) and then keeps
    those with the queried hash key: a list of 50 tasks cost 60 ms of moto's CPU at 1,000 items and grew with
    the table. While a Query runs, `all_items` hands it only the items its hash key conditions can match, in the
    order it would have sorted them; moto then applies every condition, filter and limit itself, unchanged
    (tests/unit/test_moto_fast_path.py compares pages with moto's own on the same table). Keys that are not
    strings take moto's path.

    A Query of the table itself without a projection also answers with the stored items rather than deep copies
    of them (a third of a 50-task list's cost): its response turns them into JSON right away, and nothing writes
    meanwhile (DynamoDB requests are serialized, local/journal.py)."""
    from moto.dynamodb.models import table as table_module
    from moto.dynamodb.models.table import Table

    original_query, original_all_items = Table.query, Table.all_items

    def query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        if index_name:
            _query_keys.conditions = list(kwargs.get("hash_key_conditions") or [])
        else:
            _query_keys.conditions = [(self.hash_key_attr, hash_key)]
        _query_keys.shares_items = not index_name and not args[5]  # args[5]: the projection expressions
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            _query_keys.conditions, _query_keys.shares_items = None, False

    def all_items(self: Table) -> Any:
        conditions = getattr(_query_keys, "conditions", None)
        if (
            not conditions
            or not self.range_key_attr
            or any(v is None or v.type != "S" for _, v in conditions)
        ):
            return original_all_items(self)
        if len(conditions) == 1 and conditions[0][0] == self.hash_key_attr:
            candidates = list(self.items.get(conditions[0][1], {}).values())
        else:
            candidates = [
                item
                for partition in self.items.values()
                for item in partition.values()
                if all(_same_string(item.attrs.get(name), value.value) for name, value in conditions)
            ]
        if any(item.hash_key.type != "S" or item.range_key.type != "S" for item in candidates):
            return original_all_items(self)
        # moto's order: (hash, range) through DynamoType, which for strings is the strings' order
        return sorted(candidates, key=lambda item: (item.hash_key.value, item.range_key.value))

    class QueryCopies:
        """`copy` as moto's table module sees it: a sharing Query's results are not deep-copied."""

        copy = staticmethod(copy.copy)

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            return value if getattr(_query_keys, "shares_items", False) else copy.deepcopy(value, memo)

    Table.query = query  # type: ignore[method-assign]
    Table.all_items = all_items  # type: ignore[method-assign]
    table_module.copy = QueryCopies  # type: ignore[assignment,attr-defined]


def _same_string(attribute: Any, value: str) -> bool:
    return attribute is not None and attribute.type == "S" and attribute.value == value


def _parse_each_definition_once() -> None:
    """moto's Step Functions parses the state machine's ASL with ANTLR (pure Python, about 80 ms of CPU) and then
    builds its evaluation components from the syntax tree (about 18 ms more) on every StartExecution, in the
    server process every request shares: at a few creates a second the API's reads queued behind it. Both depend
    on the definition only, so the components are built once and kept pickled; every execution gets its own copy
    (an unpickling, about 1 ms), so executions share no state, as before. A definition whose components do not
    pickle has them built fresh each time."""
    from moto.stepfunctions.parser.asl.parse import asl_parser
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

    original = asl_parser.AmazonStateLanguageParser.parse

    @functools.lru_cache(maxsize=64)
    def parsed(definition: str) -> tuple[Any, bytes | None]:
        tree = original(definition)[1]  # a definition that does not parse raises, and is not cached
        try:
            return tree, pickle.dumps(Preprocessor().visit(tree))
        except (pickle.PicklingError, TypeError, AttributeError):
            return tree, None

    def parse(definition: str) -> tuple[Any, Any]:
        tree, components = parsed(definition)
        return (Preprocessor().visit(tree) if components is None else pickle.loads(components)), tree  # noqa: S301 (pickled by this process)

    asl_parser.AmazonStateLanguageParser.parse = staticmethod(parse)  # type: ignore[method-assign]


def _parse_each_json_path_once() -> None:
    """Every state's InputPath, ResultPath and Parameters binding built a new jsonpath-ng parser (its PLY tables
    and all) to parse its path, per execution, per state. A parsed path is an immutable expression (find and
    update read it, they change the data), so each distinct path is parsed once."""
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    json_path.parse = functools.lru_cache(maxsize=1024)(json_path.parse)  # type: ignore[attr-defined]
    result_path.parse = functools.lru_cache(maxsize=1024)(result_path.parse)  # type: ignore[attr-defined]


def _reuse_step_functions_clients() -> None:
    """moto's Step Functions built a new boto3 client (loading its service model from disk) for every SQS message
    a callback step sent; the clients are kept per region and service instead (boto3 clients are thread-safe)."""
    import sys

    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (  # noqa: F401 (loads it)
        state_task_service_sqs,
    )
    from moto.stepfunctions.parser.asl.utils import boto_client

    original = boto_client.boto_client_for
    clients: dict[tuple[str, str], Any] = {}

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        # the original signs with fixed test credentials whatever `state_credentials` says
        if (region, service) not in clients:
            clients[(region, service)] = original(region, service, state_credentials)
        return clients[(region, service)]

    for name, module in list(sys.modules.items()):
        if (
            name.startswith("moto.stepfunctions.parser")
            and getattr(module, "boto_client_for", None) is original
        ):
            module.boto_client_for = boto_client_for  # type: ignore[attr-defined]


_email_parse_headers = http.client.parse_headers


def _parse_headers(fp: Any, _class: Any = http.client.HTTPMessage) -> Any:
    """`http.client.parse_headers` (how http.server reads every request's headers, and http.client every
    response's: moto's own SQS calls from Step Functions) runs the `email` package's feed parser, a fifth of the
    server's CPU per request. Plain `Name: value` lines are stored as that parser stores them (compat32:
    value without leading blanks and line end); anything else, a folded line or a line without a colon,
    goes to the original (tests/unit/test_moto_fast_path.py compares the two)."""
    lines = http.client._read_headers(fp)  # type: ignore[attr-defined]  # the original's own reader
    message = _class()
    for raw in lines:
        if raw in (b"\r\n", b"\n", b""):
            break
        line = raw.decode("iso-8859-1")
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            return _email_parse_headers(io.BytesIO(b"".join(lines)), _class)
        message.set_raw(name, value.lstrip(" \t").rstrip("\r\n"))
    return message


class _KeepAliveRequestHandler(MotoRequestHandler):
    """werkzeug's development server closes the connection after every response (http.server cannot drain an
    unread request body before the next request line), so each call from the API, the pollers and the workers
    opened a new TCP connection and the server started a new thread for it. Here a request whose body has a
    known length is answered on a connection that stays open: the body is read to its end after the response
    (whatever the application left of it), then the next request is read. A chunked request body, a length
    that does not parse or a client asking to close still closes it (tests/integration/test_moto_keep_alive.py).

    No access log line per request either: writing it cost the server a tenth of its time under load."""

    _request_body: LimitedStream | None = None
    # headers and body go out in separate writes: on a connection that stays open, Nagle's algorithm would hold
    # the body back until the client's delayed ACK (40 ms per request)
    disable_nagle_algorithm = True

    def handle_one_request(self) -> None:
        self._request_body = None  # none read yet: an error answered while parsing closes the connection
        super().handle_one_request()

    def run_wsgi(self) -> None:
        length = self.headers.get("Content-Length") or "0"
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower() or not length.isdigit():
            super().run_wsgi()  # werkzeug's way: answer, then close
            return
        self._request_body = LimitedStream(cast("IO[bytes]", self.rfile), int(length))
        # after the response werkzeug reads whatever else the socket holds (the next request, here): it gets an
        # empty file instead, and this request's body is drained below
        socket_file, self.rfile = self.rfile, io.BytesIO()
        try:
            super().run_wsgi()
        finally:
            self.rfile = socket_file
        try:
            self._request_body.exhaust()
        except ClientDisconnected:
            self.close_connection = True

    def make_environ(self) -> Any:
        environ = super().make_environ()
        if self._request_body is not None:
            environ["wsgi.input"] = self._request_body
        return environ

    def send_header(self, keyword: str, value: str) -> None:
        keep_open = self._request_body is not None and not self.close_connection  # unless the client closes
        if keep_open and keyword.lower() == "connection" and value.lower() == "close":
            return  # this request's body is drained after the response
        super().send_header(keyword, value)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


def _wire_value(value: object) -> object:
    """A stored DynamoDB value (moto's DynamoType, an object with `to_json`, bytes) as its wire JSON."""
    if isinstance(value, DynamoType):
        if value.type in ("B", "BS"):
            return {
                value.type: _base64(value.value) if value.type == "B" else [_base64(v) for v in value.value]
            }
        return {value.type: value.value}  # maps and lists hold DynamoTypes: json.dumps comes back here
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if hasattr(value, "to_json"):
        return value.to_json()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _base64(value: str | bytes) -> str:
    """moto keeps binary values as the base64 text that arrived, or as bytes after a projection."""
    return base64.b64encode(value).decode() if isinstance(value, bytes) else value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    parser.add_argument("--journal-dir", type=Path, help="Keep DynamoDB and S3 here (replayed on start).")
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    _keep_task_failure_cause()
    _fast_dynamodb_results()
    _query_reads_one_partition()
    _parse_each_definition_once()
    _parse_each_json_path_once()
    _reuse_step_functions_clients()
    http.client.parse_headers = _parse_headers
    moto = DomainDispatcherApplication(create_backend_app)
    journal = None
    if args.journal_dir is not None:
        try:
            replayed = replay(moto, args.journal_dir)
            kept = compact(moto, args.journal_dir)
        except JournalError as exc:
            print(f"the data directory cannot be opened: {exc}", file=sys.stderr, flush=True)
            raise SystemExit(3) from exc
        print(f"journal: {replayed} records replayed, compacted to {kept}", flush=True)
        journal = Journal(args.journal_dir)
    app = JournaledApp(moto, journal)
    run_simple(args.host, args.port, app, threaded=True, request_handler=_KeepAliveRequestHandler)


if __name__ == "__main__":
    main()
