from django.http import HttpRequest
from ninja import Router

from backend.core.errors import ApiError
from backend.core.health import run_checks, run_warnings
from backend.core.schemas import ErrorOut, HealthOut

router = Router(tags=["health"])


@router.get("/health", auth=None, response={200: HealthOut, 503: ErrorOut}, summary="服务健康检查 Health check")
def health(request: HttpRequest):
    checks = run_checks()
    if any(result != "ok" for result in checks.values()):
        raise ApiError("dependency_down", detail={"checks": checks})
    return {"status": "ok", "checks": checks, "warnings": run_warnings()}
