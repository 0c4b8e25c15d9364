"""All DynamoDB access: one single table holding workspaces, API keys, tasks, idempotency records, webhooks.

Key design (PK / SK):
    WS#{ws}                 WORKSPACE           the workspace
    APIKEY#{sha256(key)}    APIKEY              an API key, by hash only
    WS#{ws}                 TASK#{task_id}      a task; ULID ids make SK order = creation order
    WS#{ws}                 WEBHOOK#{id}        a workspace webhook endpoint
    IDEM#{ws}#{key}         IDEM                an idempotency record (TTL `expires_at_epoch`)
    RENDERS                 TASK#{task_id}      a render waiting on the broker (dispatch record, TTL)
Task filters are key conditions on sparse GSIs, never FilterExpressions, so every page is full:
    GSI1 by type (WS#{ws}#TYPE#{t}), GSI2 by status (WS#{ws}#STATUS#{s}), GSI3 by both.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from framelane.models import (
    DYNAMODB_MAX_INTEGER,
    DYNAMODB_MIN_MAGNITUDE,
    ApiKeyRecord,
    Job,
    JobStatus,
    RenderDispatch,
    TaskType,
    WebhookAttempt,
    WebhookEndpoint,
    Workspace,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Key = dict[str, Any]

TABLE_KEY_ATTRIBUTES = ("PK", "SK")
TASK_INDEXES = {"GSI1": ("GSI1PK", "GSI1SK"), "GSI2": ("GSI2PK", "GSI2SK"), "GSI3": ("GSI3PK", "GSI3SK")}
TTL_ATTRIBUTE = "expires_at_epoch"

_MAX_INT = Decimal(DYNAMODB_MAX_INTEGER)
_MIN_MAGNITUDE = Decimal(repr(DYNAMODB_MIN_MAGNITUDE))
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


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
    return {name: _plain(_deserializer.deserialize(value)) for name, value in item.items()}


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def task_index_keys(job: Job) -> dict[str, str]:
    ws, task_type, status = job.workspace_id, job.task_type, job.status
    sort = f"TASK#{job.id}"
    return {
        "GSI1PK": f"WS#{ws}#TYPE#{task_type}",
        "GSI1SK": sort,
        "GSI2PK": f"WS#{ws}#STATUS#{status}",
        "GSI2SK": sort,
        "GSI3PK": f"WS#{ws}#TYPE#{task_type}#STATUS#{status}",
        "GSI3SK": sort,
    }


class DynamoStore:
    """The DynamoDB adapter. Methods speak in domain models; nothing above this module sees boto3."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self.table_name = table_name

    # --- table lifecycle (local stack and tests; CDK owns it on AWS) ------------------------------------

    def create_table(self) -> None:
        attribute_names = [*TABLE_KEY_ATTRIBUTES, *(a for pair in TASK_INDEXES.values() for a in pair)]
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
                    for name, (pk, sk) in TASK_INDEXES.items()
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
                            "PK": _s(f"WS#{workspace.id}"),
                            "SK": _s("WORKSPACE"),
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
                    "PK": _s(f"APIKEY#{api_key.key_hash}"),
                    "SK": _s("APIKEY"),
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
                Key={"PK": _s(f"APIKEY#{key_hash}"), "SK": _s("APIKEY")},
                ConditionExpression="attribute_exists(PK)",
            )
        except ClientError as exc:
            _raise_condition_failed(exc, swallow=True)
            return False
        return True

    def get_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        item = self._get({"PK": _s(f"APIKEY#{key_hash}"), "SK": _s("APIKEY")})
        return None if item is None else ApiKeyRecord.model_validate(item)

    def get_workspace(self, workspace_id: str) -> Workspace | None:
        item = self._get({"PK": _s(f"WS#{workspace_id}"), "SK": _s("WORKSPACE")})
        return None if item is None else Workspace.model_validate(item)

    # --- tasks ----------------------------------------------------------------------------------------------

    def _task_item(self, job: Job) -> dict[str, Any]:
        return {
            "PK": _s(f"WS#{job.workspace_id}"),
            "SK": _s(f"TASK#{job.id}"),
            "entity": _s("task"),
            **{name: _s(value) for name, value in task_index_keys(job).items()},
            **_to_attr_values(job.model_dump(mode="json")),
        }

    def put_task(self, job: Job) -> None:
        try:
            self._client.put_item(
                TableName=self.table_name,
                Item=self._task_item(job),
                ConditionExpression="attribute_not_exists(PK)",
            )
        except ClientError as exc:
            _raise_condition_failed(exc)

    def get_task(self, workspace_id: str, task_id: str) -> Job | None:
        item = self._get({"PK": _s(f"WS#{workspace_id}"), "SK": _s(f"TASK#{task_id}")})
        return None if item is None else Job.model_validate(item)

    def query_tasks(
        self,
        workspace_id: str,
        *,
        task_type: TaskType | None,
        status: JobStatus | None,
        limit: int,
        start_key: Key | None,
    ) -> tuple[list[Job], bool]:
        """Newest first. Reads `limit + 1` items: the extra one only decides `has_more`."""
        index: str | None
        if task_type and status:
            index, pk_name, pk_value = "GSI3", "GSI3PK", f"WS#{workspace_id}#TYPE#{task_type}#STATUS#{status}"
        elif task_type:
            index, pk_name, pk_value = "GSI1", "GSI1PK", f"WS#{workspace_id}#TYPE#{task_type}"
        elif status:
            index, pk_name, pk_value = "GSI2", "GSI2PK", f"WS#{workspace_id}#STATUS#{status}"
        else:
            index, pk_name, pk_value = None, "PK", f"WS#{workspace_id}"
        sk_name = "SK" if index is None else TASK_INDEXES[index][1]
        params: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :task)",
            "ExpressionAttributeNames": {"#pk": pk_name, "#sk": sk_name},
            "ExpressionAttributeValues": {":pk": _s(pk_value), ":task": _s("TASK#")},
            "ScanIndexForward": False,
            "Limit": limit + 1,
        }
        if index is not None:
            params["IndexName"] = index
        if start_key is not None:
            params["ExclusiveStartKey"] = {name: _s(value) for name, value in start_key.items()}
        items = self._client.query(**params)["Items"]
        jobs = [Job.model_validate(_from_item(item)) for item in items[:limit]]
        return jobs, len(items) > limit

    @staticmethod
    def task_page_key(job: Job, *, task_type: TaskType | None, status: JobStatus | None) -> Key:
        """The ExclusiveStartKey that continues a query after `job` on the index the filters select."""
        key: Key = {"PK": f"WS#{job.workspace_id}", "SK": f"TASK#{job.id}"}
        index_keys = task_index_keys(job)
        index = "GSI3" if task_type and status else "GSI1" if task_type else "GSI2" if status else None
        if index is not None:
            for name in TASK_INDEXES[index]:
                key[name] = index_keys[name]
        return key

    def transition_task(self, to: Job, *, from_statuses: set[JobStatus]) -> Job:
        """Store `to` only if the stored task's status is still one of `from_statuses`."""
        values = {f":s{i}": _s(str(s)) for i, s in enumerate(sorted(from_statuses))}
        try:
            self._client.put_item(
                TableName=self.table_name,
                Item=self._task_item(to),
                ConditionExpression=f"attribute_exists(PK) AND #status IN ({', '.join(values)})",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            _raise_condition_failed(exc)
        return to

    # --- idempotency ----------------------------------------------------------------------------------------

    def _idem_key(self, workspace_id: str, key: str) -> dict[str, Any]:
        return {"PK": _s(f"IDEM#{workspace_id}#{key}"), "SK": _s("IDEM")}

    def claim_idempotency_key(
        self, record: IdempotencyRecord, now: int
    ) -> tuple[IdempotencyRecord | None, IdempotencyRecord | None]:
        """Claim the key with one conditional put: `(holder, None)` when someone else holds it, else
        `(None, previous)` where `previous` is the lapsed or expired record this claim replaced, if any.

        A record is free when absent, expired, or an in-progress claim whose lock lapsed (its owner died).
        """
        try:
            response = self._client.put_item(
                TableName=self.table_name,
                Item={
                    **self._idem_key(record.workspace_id, record.key),
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
            )
            old = response.get("Attributes")
            return None, None if not old else self._idem_record(record, _from_item(old))
        except ClientError as exc:
            _raise_condition_failed(exc, swallow=True)
        existing = self._get(self._idem_key(record.workspace_id, record.key))
        if existing is None:  # expired and removed between our put and get: try once more
            return self.claim_idempotency_key(record, now)
        return self._idem_record(record, existing), None

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
                Key=self._idem_key(record.workspace_id, record.key),
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
            _raise_condition_failed(exc)

    def unlock_idempotency_key(self, record: IdempotencyRecord) -> None:
        """Lapse our claim's lock now, keeping the claim (and the task id it names): the client's retry takes the
        key over at once and adopts that task instead of being told 409 until the lock runs out."""
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key=self._idem_key(record.workspace_id, record.key),
                UpdateExpression="SET locked_until = :lapsed",
                ConditionExpression="lock_token = :token",
                ExpressionAttributeValues={":lapsed": _n(0), ":token": _s(record.lock_token or "")},
            )
        except ClientError as exc:
            _raise_condition_failed(exc, swallow=True)

    def release_idempotency_key(self, record: IdempotencyRecord) -> None:
        """Give the key back after a failed create so the client's retry is not told 409 for a minute."""
        try:
            self._client.delete_item(
                TableName=self.table_name,
                Key=self._idem_key(record.workspace_id, record.key),
                ConditionExpression="lock_token = :token",
                ExpressionAttributeValues={":token": _s(record.lock_token or "")},
            )
        except ClientError as exc:
            _raise_condition_failed(exc, swallow=True)

    # --- webhook endpoints ----------------------------------------------------------------------------------

    def put_webhook_endpoint(self, endpoint: WebhookEndpoint) -> None:
        self._client.put_item(
            TableName=self.table_name,
            Item={
                "PK": _s(f"WS#{endpoint.workspace_id}"),
                "SK": _s(f"WEBHOOK#{endpoint.id}"),
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
            ExpressionAttributeValues={":pk": _s(f"WS#{workspace_id}"), ":prefix": _s("WEBHOOK#")},
        )
        return [WebhookEndpoint.model_validate(_from_item(item)) for page in pages for item in page["Items"]]

    def get_webhook_endpoint(self, workspace_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        item = self._get({"PK": _s(f"WS#{workspace_id}"), "SK": _s(f"WEBHOOK#{endpoint_id}")})
        return None if item is None else WebhookEndpoint.model_validate(item)

    def disable_webhook_endpoint(self, workspace_id: str, endpoint_id: str) -> None:
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key={"PK": _s(f"WS#{workspace_id}"), "SK": _s(f"WEBHOOK#{endpoint_id}")},
                UpdateExpression="SET disabled = :true",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues={":true": {"BOOL": True}},
            )
        except ClientError as exc:
            _raise_condition_failed(exc, swallow=True)

    def delivery_started(self, workspace_id: str, delivery_id: str) -> bool:
        """Whether Notify already started this delivery (one terminal event to one destination)."""
        return self._get({"PK": _s(f"WS#{workspace_id}"), "SK": _s(f"EVENT#{delivery_id}")}) is not None

    def record_delivery_started(
        self, workspace_id: str, delivery_id: str, ttl_seconds: int = 30 * 24 * 3600
    ) -> None:
        self._client.put_item(
            TableName=self.table_name,
            Item={
                "PK": _s(f"WS#{workspace_id}"),
                "SK": _s(f"EVENT#{delivery_id}"),
                "entity": _s("event"),
                TTL_ATTRIBUTE: _n(int(time.time()) + ttl_seconds),
            },
        )

    def record_webhook_attempt(self, attempt: WebhookAttempt) -> None:
        endpoint = attempt.endpoint_id or "request"
        self._client.put_item(
            TableName=self.table_name,
            Item={
                "PK": _s(f"WS#{attempt.workspace_id}"),
                "SK": _s(f"DELIVERY#{attempt.event_id}#{endpoint}#{attempt.attempt:04d}"),
                "entity": _s("webhook_attempt"),
                TTL_ATTRIBUTE: _n(int(attempt.attempted_at.timestamp()) + 30 * 24 * 3600),
                **_to_attr_values(attempt.model_dump(mode="json")),
            },
        )

    def list_webhook_attempts(self, workspace_id: str, event_id: str) -> list[WebhookAttempt]:
        response = self._client.query(
            TableName=self.table_name,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
            ExpressionAttributeValues={
                ":pk": _s(f"WS#{workspace_id}"),
                ":prefix": _s(f"DELIVERY#{event_id}#"),
            },
            ConsistentRead=True,
        )
        return [WebhookAttempt.model_validate(_from_item(item)) for item in response["Items"]]

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
                ":pk": _s(f"WS#{workspace_id}"),
                ":prefix": _s("DELIVERY#"),
                ":endpoint": _s(endpoint_id),
            },
            "ScanIndexForward": False,
        }
        if start_key is not None:
            params["ExclusiveStartKey"] = {name: _s(value) for name, value in start_key.items()}
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
                Key={"PK": _s(f"WS#{workspace_id}"), "SK": _s(f"WEBHOOK#{endpoint_id}")},
                ConditionExpression="attribute_exists(PK)",
            )
        except ClientError as exc:
            _raise_condition_failed(exc, swallow=True)
            return False
        return True

    # --- render dispatch records (the broker's source of truth) -----------------------------------------

    @staticmethod
    def _dispatch_key(task_id: str) -> dict[str, Any]:
        return {"PK": _s("RENDERS"), "SK": _s(f"TASK#{task_id}")}

    def put_render_dispatch(self, record: RenderDispatch, ttl_seconds: int) -> None:
        self._client.put_item(
            TableName=self.table_name,
            Item={
                **self._dispatch_key(record.task_id),
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
                Key=self._dispatch_key(task_id),
                UpdateExpression="SET entry_id = :entry",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues={":entry": _s(entry_id)},
            )
        except ClientError as exc:
            _raise_condition_failed(exc, swallow=True)
            return False
        return True

    def get_render_dispatch(self, task_id: str) -> RenderDispatch | None:
        item = self._get(self._dispatch_key(task_id))
        return None if item is None else RenderDispatch.model_validate(item)

    def list_render_dispatches(self) -> list[RenderDispatch]:
        paginator = self._client.get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table_name,
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": _s("RENDERS")},
            ConsistentRead=True,
        )
        return [RenderDispatch.model_validate(_from_item(item)) for page in pages for item in page["Items"]]

    def delete_render_dispatch(self, task_id: str) -> None:
        self._client.delete_item(TableName=self.table_name, Key=self._dispatch_key(task_id))

    # --- helpers --------------------------------------------------------------------------------------------

    def _get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        item = self._client.get_item(TableName=self.table_name, Key=key, ConsistentRead=True).get("Item")
        return None if item is None else _from_item(item)


def _raise_condition_failed(exc: ClientError, *, swallow: bool = False) -> None:
    if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
        raise exc
    if not swallow:
        raise ConditionFailed(str(exc)) from exc
