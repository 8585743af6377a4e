"""The operations settings read from the environment, with clear errors."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from backend.config import read_config


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"METRICS_TOKEN": "short"}, "METRICS_TOKEN"),
        ({"SENTRY_DSN": "not-a-dsn"}, "SENTRY_DSN"),
        ({"SENTRY_TRACES_SAMPLE_RATE": "2"}, "SENTRY_TRACES_SAMPLE_RATE"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
        ({"WORKER_METRICS_PORT": "70000"}, "WORKER_METRICS_PORT"),
    ],
)
def test_it_refuses_a_bad_value_naming_the_variable(environ, named):
    with pytest.raises(ImproperlyConfigured, match=named):
        read_config(environ)


def test_logs_are_json_in_production_and_text_in_development():
    assert read_config({}).log_json is False
    assert read_config({"LOG_FORMAT": "json"}).log_json is True
    production = {
        "DJANGO_ENV": "production",
        "DEBUG": "false",
        "SECRET_KEY": "x" * 40,
        "JWT_KEYS": "k1:" + "y" * 40,
        "DATABASE_URL": "postgres://u@h/db",
        "ALLOWED_HOSTS": "grid.example.cn",
        "REDIS_URL": "redis://h:6379/0",
        "ALLOW_CONSOLE_SMS_IN_PRODUCTION": "true",
    }
    assert read_config(production).log_json is True
