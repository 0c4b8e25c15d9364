"""Routers per resource. Resource ids in paths use the `id` convertor, so `/v1/tasks/gaze-redirect` or
`/v1/webhooks/signing-secret` never also match `/{task_id}` (which would make a 405's `Allow` list GET there)."""

from typing import Annotated

from fastapi import Path
from starlette.convertors import StringConvertor, register_url_convertor

RESOURCE_ID = "[a-z]+_[0-9A-Za-z]+"  # a prefixed ULID (framelane.ids): `task_01J…`, `wh_01J…`


class _ResourceIdConvertor(StringConvertor):
    regex = RESOURCE_ID


register_url_convertor("id", _ResourceIdConvertor())

TaskId = Annotated[str, Path(pattern=f"^{RESOURCE_ID}$", examples=["task_01J8QR2K5VKDGN2T4FBM3CZYX7"])]
EndpointId = Annotated[str, Path(pattern=f"^{RESOURCE_ID}$", examples=["wh_01J8QR2K5VKDGN2T4FBM3CZYX9"])]
