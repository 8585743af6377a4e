from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path, re_path

from backend.api import api
from backend.console.views import home
from backend.core.errors import ApiError
from backend.ops import views as ops_views
from media.views import photo_file

admin.site.site_header = "基层治理四平台 管理后台"
admin.site.site_title = "基层治理四平台"
admin.site.index_title = "管理"


def api_not_found(request: HttpRequest, *args, **kwargs) -> JsonResponse:
    error = ApiError("not_found")
    return JsonResponse(error.body(), status=error.status, json_dumps_params={"ensure_ascii": False})


urlpatterns = [
    path("api/v1/", api.urls),
    path("files/<str:token>", photo_file, name="photo-file"),
    path("metrics", ops_views.metrics, name="metrics"),
    path("healthz/live", ops_views.live, name="healthz-live"),
    path("healthz/ready", ops_views.ready, name="healthz-ready"),
    re_path(r"^api/", api_not_found),
    path("admin/", admin.site.urls),
    path("open311/v2/", include("backend.open311.urls")),
    path("console/", include("backend.console.urls")),
    path("", home, name="home"),
]


def handler500(request: HttpRequest) -> JsonResponse:
    error = ApiError("internal_error")
    return JsonResponse(error.body(), status=500, json_dumps_params={"ensure_ascii": False})


def handler404(request: HttpRequest, exception: Exception) -> JsonResponse:
    return api_not_found(request)
