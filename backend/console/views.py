"""The console's pages are shells: each page's script reads everything it shows from the
JSON API with the signed-in user's token (console.js), so the pages hold no data and no
permission logic of their own."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

IDLE_MINUTES = 30  # a command-room screen left alone signs out (console.js)

PAGES = {
    "room": "指挥室 Command room",
    "event": "事件 Event",
    "desk": "审批台 Secretary's desk",
    "triage": "分拣 Triage",
    "login": "登录 Sign in",
}


def page(name: str):
    def view(request: HttpRequest, **kwargs) -> HttpResponse:
        return render(
            request, "console/page.html", {"page": name, "title": PAGES[name], "idle_minutes": IDLE_MINUTES, **kwargs}
        )

    view.__name__ = f"console_{name}"
    return view


def home(request: HttpRequest) -> HttpResponse:
    """``/``: where a person goes from here, the console or the API docs."""
    return render(request, "console/home.html")
