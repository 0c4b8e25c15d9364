"""All DynamoDB access: one single table holding workspaces, API keys, tasks, idempotency records, webhooks.

The key design (and the one place that builds keys) is framelane.adapters.keys.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from framelane.adapters import keys
from framelane.models import (
    DYNAMODB_MAX_INTEGER,
    DYNAMODB_MIN_MAGNITUDE,
    ApiKeyRecord,
    RenderDispatch,
    Task,
    TaskStatus,
    TaskType,
    WebhookAttempt,
    WebhookEndpoint,
    Workspace,
    WorkspaceLimits,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Key = keys.Key
TTL_ATTRIBUTE = keys.TTL_ATTRIBUTE

_MAX_INT = Decimal(DYNAMODB_MAX_INTEGER)
_MIN_MAGNITUDE = Decimal(repr(DYNAMODB_MIN_MAGNITUDE))
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


# Reads whose items botocore would walk attribute by attribute against the service model.
_ITEM_READS = {"GetItem": "Item", "Query": "Items", "Scan": "Items"}
_BINARY = re.compile(rb'"BS?"\s*:')  # a binary value's type (or a map key that looks like one)


def _items_as_sent(
    operation_model: Any, response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any
) -> None:
    """Hand botocore's parser the response without its items, and the items as the wire's JSON: the parser's
    model-driven walk cost about half of a 50-task list's CPU in the API, for the same dicts (string, number,
    bool, null, list, map and set values are already what it would return). A response that may hold binary
    values (botocore decodes their base64) or is not a success is parsed by botocore as it stands."""
    body = response_dict.get("body")
    if response_dict.get("status_code") != 200 or not isinstance(body, bytes) or _BINARY.search(body):
        return
    document = json.loads(body)
    field = _ITEM_READS[operation_model.name]
    if field not in document:
        return
    customized_response_dict[field] = document.pop(field)
    response_dict["body"] = json.dumps(document).encode()


class ConditionFailed(Exception):
    """A conditional write lost: the item was not in the expected state."""


@dataclass(frozen=True)
class IdempotencyRecord:
    workspace_id: str
    key: str
    state: Literal["in_progress", "completed"]
    fingerprint: str
    lock_token: str | None
    locked_until: int
    expires_at_epoch: int
    task_id: str | None = None


def _storable_decimal(text: str) -> Decimal:
    """DynamoDB numbers cannot be smaller in size than 1e-130: such a float is stored as 0."""
    value = Decimal(text)
    return Decimal(0) if value and abs(value) < _MIN_MAGNITUDE else value


def _to_attr_values(document: dict[str, Any]) -> dict[str, Any]:
    """JSON-able dict → DynamoDB attribute values (floats become Decimals, as DynamoDB requires)."""
    plain = json.loads(json.dumps(document), parse_float=_storable_decimal)
    return {name: _serializer.serialize(value) for name, value in plain.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        # DynamoDB keeps no int/float distinction: integral values in the integer range come back as ints.
        if value == value.to_integral_value() and abs(value) < _MAX_INT:
            return int(value)
        return float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_plain(v) for v in value]
    return value


def _from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _from_attr_value(value) for name, value in item.items()}


def _from_attr_value(value: dict[str, Any]) -> Any:
    """A wire attribute value as plain Python, as `_plain(deserialize(value))` gives it, without boto3's
    Decimal for every string, map and list (a quarter of the API's CPU for a page of 50 tasks). Numbers other
    than non-negative integers of up to 18 digits, sets and binary values take that path."""
    ((kind, raw),) = value.items()
    if kind == "S" or kind == "BOOL":
        return raw
    if kind == "M":
        return {name: _from_attr_value(member) for name, member in raw.items()}
    if kind == "L":
        return [_from_attr_value(member) for member in raw]
    if kind == "NULL":
        return None
    if kind == "N" and raw.isdigit() and len(raw) <= 18:  # within int64: no rounding question
        return int(raw)
    return _plain(_deserializer.deserialize(value))  # type: ignore[arg-type]  # a wire attribute value


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _key(key: Key) -> dict[str, Any]:
    return {name: _s(value) for name, value in key.items()}


class DynamoStore:
    """The DynamoDB adapter. Methods speak in domain models; nothing above this module sees boto3."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self.table_name = table_name
        for operation in _ITEM_READS:
            client.meta.events.register(
                f"before-parse.dynamodb.{operation}", _items_as_sent, unique_id=f"framelane-{operation}"
            )

    # --- table lifecycle (local stack and tests; CDK owns it on AWS) ------------------------------------

    def create_table(self) -> None:
        attribute_names = [*keys.TABLE_KEY, *(a for pair in keys.TASK_INDEXES.values() for a in pair)]
        try:
            self._client.create_table(
                TableName=self.table_name,
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in attribute_names],
                KeySchema=[
                    {"AttributeName": "PK", "KeyType": "HASH"},
                    {"AttributeName": "SK", "KeyType": "RANGE"},
                ],
                GlobalSecondaryIndexes=[
                    {
                        "IndexName": name,
                        "KeySchema": [
                            {"AttributeName": pk, "KeyType": "HASH"},
                            {"AttributeName": sk, "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "ALL"},
                    }
                    for name, (pk, sk) in keys.TASK_INDEXES.items()
                ],
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceInUseException":
                raise
        self._client.get_waiter("table_exists").wait(TableName=self.table_name)
        self._client.update_time_to_live(
            TableName=self.table_name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
        )

    def ping(self) -> None:
        self._client.describe_table(TableName=self.table_name)

    # --- workspaces and API keys --------------------------------------------------------------------------

    def put_workspace(self, workspace: Workspace, api_key: ApiKeyRecord) -> None:
        """Workspace and its first key in one transaction: a workspace never exists without a key."""
        self._client.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": {
                            **_key(keys.workspace(workspace.id)),
                            "entity": _s("workspace"),
                            **_to_attr_values(workspace.model_dump(mode="json")),
                        },
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
                self._api_key_put(api_key),
            ]
        )

    def put_api_key(self, api_key: ApiKeyRecord) -> None:
        self._client.transact_write_items(TransactItems=[self._api_key_put(api_key)])

    def _api_key_put(self, api_key: ApiKeyRecord) -> Any:
        return {
            "Put": {
                "TableName": self.table_name,
                "Item": {
                    **_key(keys.api_key(api_key.key_hash)),
                    "entity": _s("api_key"),
                    **_to_attr_values(api_key.model_dump(mode="json")),
                },
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }

    def delete_api_key(self, key_hash: str) -> bool:
        try:
            self._client.delete_item(
                TableName=self.table_name,
                Key=_key(keys.api_key(key_hash)),
                ConditionExpression="attribute_exists(PK)",
            )
        except ClientError as exc:
            _reraise_unless_condition_failed(exc)
            return False
        return True

    def get_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        item = self._get(keys.api_key(key_hash))
        return None if item is None else ApiKeyRecord.model_validate(item)

    def get_workspace(self, workspace_id: str) -> Workspace | None:
        item = self._get(keys.workspace(workspace_id))
        return None if item is None else Workspace.model_validate(item)

    def set_workspace_limits(self, workspace_id: str, limits: WorkspaceLimits) -> bool:
        """Replace the workspace's limit overrides; False when there is no such workspace."""
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key=_key(keys.workspace(workspace_id)),
                UpdateExpression="SET limits = :limits",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues=_to_attr_values({":limits": limits.model_dump(mode="json")}),
            )
        except ClientError as exc:
            _reraise_unless_condition_failed(exc)
            return False
        return True

    # --- tasks ----------------------------------------------------------------------------------------------

    def _task_item(self, task: Task) -> dict[str, Any]:
        return {
            **_key(keys.task(task.workspace_id, task.id)),
            "entity": _s("task"),
            **_key(keys.task_index_keys(task)),
            **_to_attr_values(task.model_dump(mode="json")),
        }

    def put_task(self, task: Task) -> None:
        try:
            self._client.put_item(
                TableName=self.table_name,
                Item=self._task_item(task),
                ConditionExpression="attribute_not_exists(PK)",
            )
        except ClientError as exc:
            _reraise_unless_condition_failed(exc)
            raise ConditionFailed(f"task {task.id} exists") from exc

    def get_task(self, workspace_id: str, task_id: str) -> Task | None:
        item = self._get(keys.task(workspace_id, task_id))
        return None if item is None else Task.model_validate(item)

    def query_tasks(
        self,
        workspace_id: str,
        *,
        task_type: TaskType | None,
        status: TaskStatus | None,
        limit: int,
        start_key: Key | None,
    ) -> tuple[list[Task], bool]:
        """Newest first. Reads `limit + 1` items: the extra one only decides `has_more`."""
        selected = keys.task_query(workspace_id, task_type, status)
        params: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :task)",
            "ExpressionAttributeNames": {"#pk": selected.pk_name, "#sk": selected.sk_name},
            "ExpressionAttributeValues": {":pk": _s(selected.pk_value), ":task": _s(keys.TASK_PREFIX)},
            "ScanIndexForward": False,
            "Limit": limit + 1,
        }
        if selected.index is not None:
            params["IndexName"] = selected.index
        if start_key is not None:
            params["ExclusiveStartKey"] = _key(start_key)
        items = self._client.query(**params)["Items"]
        tasks = [Task.model_validate(_from_item(item)) for item in items[:limit]]
        return tasks, len(items) > limit

    def scan_tasks(self) -> Iterator[Task]:
        """Every task of every workspace (a full scan: the local stack's restart, never a request path)."""
        paginator = self._client.get_paginator("scan")
        pages = paginator.paginate(
            TableName=self.table_name,
            FilterExpression="entity = :task",
            ExpressionAttributeValues={":task": _s("task")},
            ConsistentRead=True,
        )
        for page in pages:
            for item in page["Items"]:
                yield Task.model_validate(_from_item(item))

    @staticmethod
    def task_page_key(task: Task, *, task_type: TaskType | None, status: TaskStatus | None) -> Key:
        """The ExclusiveStartKey that continues a listing after `task`."""
        return keys.task_page_key(task, task_type, status)

    def transition_task(self, to: Task, changed: set[str], *, from_statuses: set[TaskStatus]) -> Task:
        """Write the `changed` fields of `to` (one UpdateItem: the fields nobody changed are left as stored)
        only if the stored task's status is still one of `from_statuses`; returns the task as stored now."""
        document = to.model_dump(mode="json", include=changed)
        if "status" in changed:
            document.update(keys.task_index_keys(to))
        values = _to_attr_values({f"v{i}": value for i, value in enumerate(document.values())})
        names = {f"#f{i}": name for i, name in enumerate(document)}
        statuses = {f":s{i}": _s(str(s)) for i, s in enumerate(sorted(from_statuses))}
        try:
            response = self._client.update_item(
                TableName=self.table_name,
                Key=_key(keys.task(to.workspace_id, to.id)),
                UpdateExpression="SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(document))),
                ConditionExpression=f"attribute_exists(PK) AND #status IN ({', '.join(statuses)})",
                ExpressionAttributeNames={**names, "#status": "status"},
                ExpressionAttributeValues={
                    **{f":{name}": value for name, value in values.items()},
                    **statuses,
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            _reraise_unless_condition_failed(exc)
            raise ConditionFailed(f"task {to.id} is no longer in {sorted(from_statuses)}") from exc
        return Task.model_validate(_from_item(response["Attributes"]))

    # --- idempotency ----------------------------------------------------------------------------------------

    def claim_idempotency_key(
        self, record: IdempotencyRecord, now: int
    ) -> tuple[IdempotencyRecord | None, IdempotencyRecord | None]:
        """Claim the key with one conditional put: `(holder, None)` when someone else holds it, else
        `(None, previous)` where `previous` is the lapsed or expired record this claim replaced, if any.

        A record is free when absent, expired, or an in-progress claim whose lock lapsed (its owner died).
        A lost claim gets the holder back from the failed write itself (ReturnValuesOnConditionCheckFailure).
        """
        try:
            response = self._client.put_item(
                TableName=self.table_name,
                Item={
                    **_key(keys.idempotency(record.workspace_id, record.key)),
                    "entity": _s("idempotency"),
                    "workspace_id": _s(record.workspace_id),
                    "idempotency_key": _s(record.key),
                    "state": _s(record.state),
                    "fingerprint": _s(record.fingerprint),
                    "lock_token": _s(record.lock_token or ""),
                    "locked_until": _n(record.locked_until),
                    "task_id": _s(record.task_id or ""),
                    TTL_ATTRIBUTE: _n(record.expires_at_epoch),
                },
                ConditionExpression=(
                    "attribute_not_exists(PK) OR #ttl < :now OR (#state = :in_progress AND locked_until < :now)"
                ),
                ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE, "#state": "state"},
                ExpressionAttributeValues={":now": _n(now), ":in_progress": _s("in_progress")},
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            _reraise_unless_condition_failed(exc)
            holder: dict[str, Any] = exc.response["Item"]  # type: ignore[typeddict-item]
            return self._idem_record(record, _from_item(holder)), None
        old = response.get("Attributes")
        return None, None if not old else self._idem_record(record, _from_item(old))

    @staticmethod
    def _idem_record(claim: IdempotencyRecord, item: dict[str, Any]) -> IdempotencyRecord:
        return IdempotencyRecord(
            workspace_id=claim.workspace_id,
            key=claim.key,
            state=item["state"],
            fingerprint=item["fingerprint"],
            lock_token=item.get("lock_token") or None,
            locked_until=item["locked_until"],
            expires_at_epoch=item[TTL_ATTRIBUTE],
            task_id=item.get("task_id") or None,
        )

    def complete_idempotency_key(self, record: IdempotencyRecord, task_id: str) -> None:
        """Mark our claim completed for `task_id`; ConditionFailed if another request took the key over."""
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key=_key(keys.idempotency(record.workspace_id, record.key)),
                UpdateExpression="SET #state = :completed, task_id = :task REMOVE lock_token",
                ConditionExpression="lock_token = :token",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={
                    ":completed": _s("completed"),
                    ":task": _s(task_id),
                    ":token": _s(record.lock_token or ""),
                },
            )
        except ClientError as exc:
            _reraise_unless_condition_failed(exc)
            raise ConditionFailed(f"idempotency key {record.key} was taken over") from exc

    def unlock_idempotency_key(self, record: IdempotencyRecord) -> None:
        """Lapse our claim's lock now, keeping the claim (and the task id it names): the client's retry takes the
        key over at once and adopts that task instead of being told 409 until the lock runs out."""
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key=_key(keys.idempotency(record.workspace_id, record.key)),
                UpdateExpression="SET locked_until = :lapsed",
                ConditionExpression="lock_token = :token",
                ExpressionAttributeValues={":lapsed": _n(0), ":token": _s(record.lock_token or "")},
            )
        except ClientError as exc:
            _reraise_unless_condition_failed(exc)

    def release_idempotency_key(self, record: IdempotencyRecord) -> None:
        """Give the key back after a failed create so the client's retry is not told 409 for a minute."""
        try:
            self._client.delete_item(
                TableName=self.table_name,
                Key=_key(keys.idempotency(record.workspace_id, record.key)),
                ConditionExpression="lock_token = :token",
                ExpressionAttributeValues={":token": _s(record.lock_token or "")},
            )
        except ClientError as exc:
            _reraise_unless_condition_failed(exc)

    # --- webhook endpoints ----------------------------------------------------------------------------------

    def put_webhook_endpoint(self, endpoint: WebhookEndpoint) -> None:
        self._client.put_item(
            TableName=self.table_name,
            Item={
                **_key(keys.webhook_endpoint(endpoint.workspace_id, endpoint.id)),
                "entity": _s("webhook_endpoint"),
                **_to_attr_values(endpoint.model_dump(mode="json")),
            },
            ConditionExpression="attribute_not_exists(PK)",
        )

    def list_webhook_endpoints(self, workspace_id: str) -> list[WebhookEndpoint]:
        paginator = self._client.get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table_name,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
            ExpressionAttributeValues=_key_prefix(keys.webhook_endpoints(workspace_id)),
        )
        return [WebhookEndpoint.model_validate(_from_item(item)) for page in pages for item in page["Items"]]

    def get_webhook_endpoint(self, workspace_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        item = self._get(keys.webhook_endpoint(workspace_id, endpoint_id))
        return None if item is None else WebhookEndpoint.model_validate(item)

    def disable_webhook_endpoint(self, workspace_id: str, endpoint_id: str) -> None:
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key=_key(keys.webhook_endpoint(workspace_id, endpoint_id)),
                UpdateExpression="SET disabled = :true",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues={":true": {"BOOL": True}},
            )
        except ClientError as exc:
            _reraise_unless_condition_failed(exc)

    def delivery_started(self, workspace_id: str, delivery_id: str) -> bool:
        """Whether Notify already started this delivery (one terminal event to one destination)."""
        return self._get(keys.delivery_started(workspace_id, delivery_id)) is not None

    def record_delivery_started(
        self, workspace_id: str, delivery_id: str, ttl_seconds: int = 30 * 24 * 3600
    ) -> None:
        self._client.put_item(
            TableName=self.table_name,
            Item={
                **_key(keys.delivery_started(workspace_id, delivery_id)),
                "entity": _s("event"),
                TTL_ATTRIBUTE: _n(int(time.time()) + ttl_seconds),
            },
        )

    def record_webhook_attempt(self, attempt: WebhookAttempt) -> None:
        key = keys.webhook_attempt(
            attempt.workspace_id, attempt.event_id, attempt.endpoint_id, attempt.attempt
        )
        self._client.put_item(
            TableName=self.table_name,
            Item={
                **_key(key),
                "entity": _s("webhook_attempt"),
                TTL_ATTRIBUTE: _n(int(attempt.attempted_at.timestamp()) + 30 * 24 * 3600),
                **_to_attr_values(attempt.model_dump(mode="json")),
            },
        )

    def event_attempts(self, workspace_id: str, event_id: str) -> list[WebhookAttempt]:
        """Every recorded attempt to deliver one event, to any destination (a few per destination)."""
        pages = self._client.get_paginator("query").paginate(
            TableName=self.table_name,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
            ExpressionAttributeValues={
                ":pk": _s(keys.webhook_attempts(workspace_id)["PK"]),
                ":prefix": _s(f"{keys.DELIVERY_PREFIX}{event_id}#"),
            },
            ConsistentRead=True,
        )
        return [WebhookAttempt.model_validate(_from_item(item)) for page in pages for item in page["Items"]]

    def query_endpoint_attempts(
        self, workspace_id: str, endpoint_id: str, *, limit: int, start_key: Key | None
    ) -> tuple[list[WebhookAttempt], Key | None]:
        """Newest event first. Attempts are keyed by event, so this filters on the endpoint and reads on
        until `limit` match (attempts expire after 30 days, which bounds the reading); returns the position
        after the last one when more may follow."""
        params: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            "FilterExpression": "endpoint_id = :endpoint",
            "ExpressionAttributeValues": {
                **_key_prefix(keys.webhook_attempts(workspace_id)),
                ":endpoint": _s(endpoint_id),
            },
            "ScanIndexForward": False,
        }
        if start_key is not None:
            params["ExclusiveStartKey"] = _key(start_key)
        found: list[dict[str, Any]] = []
        while True:
            page = self._client.query(**params)
            found.extend(page["Items"])
            if len(found) > limit or "LastEvaluatedKey" not in page:
                break
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        attempts = [WebhookAttempt.model_validate(_from_item(item)) for item in found[:limit]]
        last = found[limit - 1] if len(found) > limit else None
        return attempts, ({"PK": last["PK"]["S"], "SK": last["SK"]["S"]} if last else None)

    def delete_webhook_endpoint(self, workspace_id: str, endpoint_id: str) -> bool:
        try:
            self._client.delete_item(
                TableName=self.table_name,
                Key=_key(keys.webhook_endpoint(workspace_id, endpoint_id)),
                ConditionExpression="attribute_exists(PK)",
            )
        except ClientError as exc:
            _reraise_unless_condition_failed(exc)
            return False
        return True

    # --- render dispatch records (the broker's source of truth) -----------------------------------------

    def put_render_dispatch(self, record: RenderDispatch, ttl_seconds: int) -> None:
        self._client.put_item(
            TableName=self.table_name,
            Item={
                **_key(keys.render_dispatch(record.unit_id)),
                "entity": _s("render_dispatch"),
                TTL_ATTRIBUTE: _n(int(record.dispatched_at.timestamp()) + ttl_seconds),
                **_to_attr_values(record.model_dump(mode="json", exclude_none=True)),
            },
        )

    def set_render_entry(self, task_id: str, entry_id: str) -> bool:
        """Record the stream entry now carrying the render; False when the record is gone (task answered)."""
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key=_key(keys.render_dispatch(task_id)),
                UpdateExpression="SET entry_id = :entry",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues={":entry": _s(entry_id)},
            )
        except ClientError as exc:
            _reraise_unless_condition_failed(exc)
            return False
        return True

    def get_render_dispatch(self, task_id: str) -> RenderDispatch | None:
        item = self._get(keys.render_dispatch(task_id))
        return None if item is None else RenderDispatch.model_validate(item)

    def list_render_dispatches(self) -> list[RenderDispatch]:
        paginator = self._client.get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table_name,
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": _s(keys.RENDER_DISPATCHES)},
            ConsistentRead=True,
        )
        return [RenderDispatch.model_validate(_from_item(item)) for page in pages for item in page["Items"]]

    def delete_render_dispatch(self, task_id: str) -> None:
        self._client.delete_item(TableName=self.table_name, Key=_key(keys.render_dispatch(task_id)))

    # --- helpers --------------------------------------------------------------------------------------------

    def _get(self, key: Key) -> dict[str, Any] | None:
        item = self._client.get_item(TableName=self.table_name, Key=_key(key), ConsistentRead=True).get(
            "Item"
        )
        return None if item is None else _from_item(item)


def _key_prefix(key: Key) -> dict[str, Any]:
    """`:pk` and `:prefix` for a `PK = :pk AND begins_with(SK, :prefix)` query."""
    return {":pk": _s(key["PK"]), ":prefix": _s(key["SK"])}


def _reraise_unless_condition_failed(exc: ClientError) -> None:
    """Conditional writes that lose are expected; any other error is not."""
    if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
        raise exc
