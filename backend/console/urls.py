from django.urls import path

from backend.console import views

app_name = "console"
urlpatterns = [
    path("", views.page("room"), name="room"),
    path("login", views.page("login"), name="login"),
    path("desk", views.page("desk"), name="desk"),
    path("triage", views.page("triage"), name="triage"),
    path("events/<uuid:event_id>", views.page("event"), name="event"),
]
