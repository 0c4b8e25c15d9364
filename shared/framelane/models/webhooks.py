"""Webhooks: endpoint bodies and records, the delivery payload, delivery inputs and recorded attempts."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from framelane.models.api import JobOut
from framelane.models.common import MAX_URL_LENGTH, Timestamp, _check_http_url


class WebhookEvent(StrEnum):
    task_completed = "task.completed"
    task_failed = "task.failed"
    task_progress = "task.progress"


class WebhookEndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Annotated[
        str,
        Field(min_length=1, max_length=MAX_URL_LENGTH, json_schema_extra={"format": "uri"}),
        AfterValidator(_check_http_url),
    ]
    events: list[WebhookEvent] = Field(
        default_factory=lambda: [WebhookEvent.task_completed, WebhookEvent.task_failed],
        min_length=1,
        max_length=3,
        description="Events this endpoint receives.",
        json_schema_extra={"uniqueItems": True},
    )


class WebhookEndpointOut(BaseModel):
    id: str = Field(examples=["wh_01J8QR2K5VKDGN2T4FBM3CZYX9"])
    url: str
    events: list[WebhookEvent]
    created_at: Timestamp
    disabled: bool = Field(default=False, description="True once the endpoint answered 410 Gone.")


class WebhookEndpointCreated(WebhookEndpointOut):
    secret: str = Field(description="Signing secret (`whsec_…`); shown once.")


class WebhookEndpoint(WebhookEndpointCreated):
    """A webhook endpoint as stored."""

    workspace_id: str


class WebhookEndpointList(BaseModel):
    data: list[WebhookEndpointOut]


class WebhookPayload(BaseModel):
    """The body of every webhook delivery."""

    type: WebhookEvent
    id: str = Field(description="Event id (`evt_…`); also the `webhook-id` header, stable across retries.")
    created_at: Timestamp
    data: JobOut


class NotifyMessage(BaseModel):
    """Ask the notifier to deliver one event for a task to every subscribed destination."""

    task_id: str
    workspace_id: str
    event: WebhookEvent


class WebhookDeliveryInput(BaseModel):
    """Input of one webhook delivery execution (one destination, one event)."""

    workspace_id: str
    endpoint_id: str | None = Field(default=None, description="None for a per-request webhook_url.")
    url: str
    event_id: str
    body: str = Field(description="The exact JSON body that is signed and sent on every attempt.")
    attempt: int = 1


class WebhookDeliveryResult(BaseModel):
    """What a delivery step returns: delivered, gave up, or when to try again."""

    delivered: bool
    retry_in_seconds: int | None = None
    attempt: int


class WebhookAttempt(BaseModel):
    """One recorded delivery attempt."""

    workspace_id: str
    event_id: str
    endpoint_id: str | None
    url: str
    attempt: int
    status_code: int | None
    error: str | None
    delivered: bool
    attempted_at: Timestamp


class WebhookAttemptOut(BaseModel):
    """One delivery attempt to an endpoint, as the API shows it."""

    event_id: str
    attempt: int = Field(description="1 for the first try, then 2, 3, … for the retries.")
    url: str
    status_code: int | None = Field(description="The endpoint's HTTP status; null when no answer came.")
    error: str | None
    delivered: bool
    attempted_at: Timestamp
    next_retry_at: Timestamp | None = Field(
        default=None, description="When the retry after this failed attempt is (or was) due; null if none."
    )


class WebhookAttemptPage(BaseModel):
    data: list[WebhookAttemptOut]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` to fetch the next page.")
    has_more: bool = False
