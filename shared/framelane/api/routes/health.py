"""/healthz: no auth; 200 when the API reaches its stores, 503 otherwise."""

from fastapi import APIRouter, Response

from framelane.api.deps import ContextDep
from framelane.models import Health
from framelane.services.health import check_health

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    response_model=Health,
    summary="Health check",
    responses={503: {"model": Health, "description": "A store is unreachable."}},
)
def healthz(ctx: ContextDep, response: Response) -> Health:
    health = check_health(ctx)
    if health.status != "ok":
        response.status_code = 503
    return health
