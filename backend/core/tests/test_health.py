from django.db import OperationalError


def test_it_reports_ok_when_database_and_channel_layer_answer(anonymous, db):
    response = anonymous.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("status", "checks")} == {
        "status": "ok",
        "checks": {"database": "ok", "channel_layer": "ok"},
    }
    assert isinstance(body["warnings"], list)  # e.g. a calendar year not entered yet (backend.administration)


def test_it_answers_503_naming_the_channel_layer_when_it_is_down(anonymous, db, settings):
    # A real Redis channel layer on a port where nothing listens.
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]}}
    }
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    try:
        response = anonymous.get("/health")
    finally:
        channel_layers.backends.clear()
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "dependency_down"
    assert body["detail"]["checks"]["database"] == "ok"
    assert body["detail"]["checks"]["channel_layer"].startswith("error")


def test_it_answers_503_naming_the_database_when_it_is_down(anonymous, db, monkeypatch):
    class DownConnection:
        def cursor(self):
            raise OperationalError("connection refused")

    # Only the health module's view of the connection is down, so the test's own
    # transaction can still roll back afterwards.
    monkeypatch.setattr("backend.core.health.connection", DownConnection())
    response = anonymous.get("/health")
    assert response.status_code == 503
    checks = response.json()["detail"]["checks"]
    assert checks["database"].startswith("error: OperationalError")
    assert checks["channel_layer"] == "ok"


def test_it_checks_a_redis_channel_layer_from_several_threads_at_once(settings):
    """gunicorn's threaded workers run requests on several threads of one process: their
    health checks take turns on the channel layer instead of failing each other."""
    import socket
    import threading

    import pytest

    from backend.core.health import check_channel_layer

    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        pytest.skip("needs Redis on 127.0.0.1:6379")
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:6379/13"]},
        }
    }
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    errors: list[BaseException] = []

    def check() -> None:
        for _ in range(5):
            try:
                check_channel_layer()
            except BaseException as error:
                errors.append(error)

    try:
        threads = [threading.Thread(target=check) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        channel_layers.backends.clear()
    assert errors == []
