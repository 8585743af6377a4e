from django.urls import path, re_path

from backend.open311 import views

FMT = r"\.(?P<fmt>json|xml)$"

urlpatterns = [
    re_path(r"^discovery" + FMT, views.discovery),
    re_path(r"^services" + FMT, views.services),
    re_path(r"^services/(?P<code>[\w.-]{1,16})" + FMT, views.service_definition),
    re_path(r"^requests" + FMT, views.requests_),
    re_path(r"^requests/(?P<number>[\w-]{1,20})" + FMT, views.request_one),
    re_path(r"^tokens/(?P<token_id>[\w-]{1,40})" + FMT, views.token),
    path("media/<str:token>", views.media, name="open311-media"),
]
