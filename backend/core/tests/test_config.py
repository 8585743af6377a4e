import pytest
from django.core.exceptions import ImproperlyConfigured

from backend.config import DEV_SECRET_KEY, read_config

GOOD_PRODUCTION = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": "x" * 50,
    "JWT_KEYS": "k1:" + "y" * 40,
    "DATABASE_URL": "postgres://app@db:5432/grid",
    "REDIS_URL": "redis://redis:6379/0",
    "ALLOWED_HOSTS": "grid.example.cn",
    "SMS_BACKEND": "tencent",
    **{f"SMS_{name}": "set" for name in ("SECRET_ID", "SECRET_KEY", "APP_ID", "SIGN_NAME", "TEMPLATE_ID")},
}


def test_it_uses_safe_development_defaults():
    config = read_config({})
    assert config.environment == "development"
    assert config.debug is True
    assert config.secret_key == DEV_SECRET_KEY
    assert config.database_is_sqlite
    assert config.redis_url is None


def test_it_accepts_a_complete_production_environment():
    config = read_config(GOOD_PRODUCTION)
    assert config.is_production and not config.debug
    assert config.database["ENGINE"] == "django.db.backends.postgresql"
    assert list(config.jwt_keys) == ["k1"]


@pytest.mark.parametrize(
    "override, complaint",
    [
        ({"SECRET_KEY": DEV_SECRET_KEY}, "SECRET_KEY"),
        ({"DEBUG": "true"}, "DEBUG"),
        ({"DATABASE_URL": "sqlite:////tmp/x.db"}, "SQLite"),
        ({"ALLOWED_HOSTS": "*"}, "ALLOWED_HOSTS"),
        ({"REDIS_URL": ""}, "REDIS_URL"),
        ({"SMS_BACKEND": "console"}, "SMS_BACKEND is console"),
    ],
)
def test_it_refuses_development_defaults_in_production(override, complaint):
    with pytest.raises(ImproperlyConfigured, match=complaint):
        read_config({**GOOD_PRODUCTION, **override})


def test_it_refuses_production_without_jwt_keys():
    environ = dict(GOOD_PRODUCTION)
    del environ["JWT_KEYS"]
    with pytest.raises(ImproperlyConfigured, match="JWT_KEYS"):
        read_config(environ)


def test_it_allows_sqlite_in_production_only_when_explicit():
    config = read_config(
        {**GOOD_PRODUCTION, "DATABASE_URL": "sqlite:////tmp/x.db", "ALLOW_SQLITE_IN_PRODUCTION": "yes"}
    )
    assert config.database_is_sqlite


@pytest.mark.parametrize(
    "environ, complaint",
    [
        ({"DEBUG": "maybe"}, "DEBUG='maybe'"),
        ({"DJANGO_ENV": "staging"}, "DJANGO_ENV"),
        ({"ACCESS_TOKEN_MINUTES": "ten"}, "ACCESS_TOKEN_MINUTES"),
        ({"ACCESS_TOKEN_MINUTES": "0"}, "ACCESS_TOKEN_MINUTES=0: expected a number between 1 and 60"),
        ({"RETENTION_ACCESS_LOG_DAYS": "100"}, "RETENTION_ACCESS_LOG_DAYS=100: expected a number of at least 180$"),
        ({"DATABASE_URL": "mysql://root@db/x"}, "DATABASE_URL"),
        ({"DATABASE_URL": "nonsense"}, "DATABASE_URL"),
        ({"REDIS_URL": "http://redis"}, "REDIS_URL"),
        ({"JWT_KEYS": "short:abc"}, "JWT_KEYS"),
        ({"JWT_KEYS": "nokid"}, "JWT_KEYS"),
        ({"EVIDENCE_WAIT_HOURS": "1.5"}, "EVIDENCE_WAIT_HOURS"),
        ({"EVIDENCE_WAIT_HOURS": "0"}, "EVIDENCE_WAIT_HOURS=0: expected a number between 1 and 720"),
        ({"EVIDENCE_WAIT_HOURS": "10000"}, "EVIDENCE_WAIT_HOURS"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL='LOUD'"),
        ({"MEDIA_DECODE_IN_POOL": "sometimes"}, "MEDIA_DECODE_IN_POOL='sometimes'"),
        ({"JWT_ISSUER": ""}, "JWT_ISSUER"),
        ({"JWT_AUDIENCE": " api "}, "JWT_AUDIENCE"),
    ],
)
def test_it_names_the_variable_of_a_malformed_value(environ, complaint):
    with pytest.raises(ImproperlyConfigured, match=complaint):
        read_config(environ)


def test_it_reads_several_jwt_keys_in_order():
    config = read_config({"JWT_KEYS": f"new:{'a' * 32}, old:{'b' * 32}"})
    assert list(config.jwt_keys) == ["new", "old"]


def test_postgresql_connections_keep_prepared_statements_unless_told_not_to():
    options = read_config({"DATABASE_URL": "postgres://app@db:5432/grid"}).database["OPTIONS"]
    assert options["prepare_threshold"] == 5 and "plan_cache_mode=force_generic_plan" in options["options"]
    kept = read_config({"DATABASE_URL": "postgres://app@db:5432/grid?options=-c%20search_path%3Dgrid"}).database[
        "OPTIONS"
    ]
    assert kept["options"].startswith("-c search_path=grid") and "plan_cache_mode" in kept["options"]
    off = read_config({"DATABASE_URL": "postgres://app@db:5432/grid", "DB_PREPARED_STATEMENTS": "false"}).database
    assert "prepare_threshold" not in off.get("OPTIONS", {})  # Django's default: nothing is prepared
    assert "OPTIONS" not in read_config({}).database or "prepare_threshold" not in read_config({}).database["OPTIONS"]


def test_postgresql_connections_price_random_reads_as_ssds_do_unless_told_otherwise():
    options = read_config({"DATABASE_URL": "postgres://app@db:5432/grid"}).database["OPTIONS"]["options"]
    assert "-c random_page_cost=1.1" in options
    chosen = read_config({"DATABASE_URL": "postgres://app@db:5432/grid", "DB_RANDOM_PAGE_COST": "2"}).database
    assert "-c random_page_cost=2" in chosen["OPTIONS"]["options"]
    server = read_config({"DATABASE_URL": "postgres://app@db:5432/grid", "DB_RANDOM_PAGE_COST": "server"}).database
    assert "random_page_cost" not in server.get("OPTIONS", {}).get("options", "")
    assert "random_page_cost" not in str(read_config({}).database.get("OPTIONS", {}))  # SQLite has no planner costs
    for wrong in ("0", "-1", "fast", "1000"):
        with pytest.raises(ImproperlyConfigured, match="DB_RANDOM_PAGE_COST"):
            read_config({"DATABASE_URL": "postgres://app@db:5432/grid", "DB_RANDOM_PAGE_COST": wrong})


def test_a_pool_replaces_kept_connections_when_asked_for():
    postgres = read_config({"DATABASE_URL": "postgres://app@db:5432/grid", "DB_POOL_SIZE": "10"}).database
    assert postgres["CONN_MAX_AGE"] == 0  # Django refuses a pool beside kept connections
    assert postgres["OPTIONS"]["pool"] == {"min_size": 1, "max_size": 10, "timeout": 10}
    assert postgres["OPTIONS"]["prepare_threshold"] == 5  # pooled connections keep what they prepared
    sqlite = read_config({"DB_POOL_SIZE": "10"}).database
    assert sqlite["CONN_MAX_AGE"] == 0 and "pool" not in sqlite.get("OPTIONS", {})
    kept = read_config({"DATABASE_URL": "postgres://app@db:5432/grid"}).database
    assert kept["CONN_MAX_AGE"] == 60 and "pool" not in kept["OPTIONS"]
    with pytest.raises(ImproperlyConfigured, match="DB_POOL_SIZE"):
        read_config({"DB_POOL_SIZE": "-1"})


def test_it_reads_how_long_reports_wait_for_their_photos():
    assert read_config({}).evidence_wait_hours == 24
    assert read_config({"EVIDENCE_WAIT_HOURS": "48"}).evidence_wait_hours == 48


def test_it_reads_the_log_level_and_the_photo_decoding_place():
    assert (read_config({}).log_level, read_config({}).media_decode_in_pool) == ("INFO", False)
    assert read_config({"LOG_LEVEL": "warning"}).log_level == "WARNING"
    assert read_config({"MEDIA_DECODE_IN_POOL": "yes"}).media_decode_in_pool is True
    assert read_config(GOOD_PRODUCTION).media_decode_in_pool is True  # on by default in production
    assert read_config({**GOOD_PRODUCTION, "MEDIA_DECODE_IN_POOL": "off"}).media_decode_in_pool is False


def test_it_reads_the_token_issuer_and_audience():
    config = read_config({"JWT_ISSUER": "shangcheng", "JWT_AUDIENCE": "grid-api"})
    assert (config.jwt_issuer, config.jwt_audience) == ("shangcheng", "grid-api")


def test_it_allows_the_console_sms_sender_in_production_only_when_explicit():
    config = read_config({**GOOD_PRODUCTION, "SMS_BACKEND": "console", "ALLOW_CONSOLE_SMS_IN_PRODUCTION": "true"})
    assert config.sms["BACKEND"] == "console"


@pytest.mark.django_db
def test_the_running_connection_prices_random_reads_as_configured():
    """The option reaches the database session itself (PostgreSQL), not only the settings."""
    import os

    from django.db import connection

    if connection.vendor != "postgresql":
        assert "random_page_cost" not in str(connection.settings_dict.get("OPTIONS", {}))
        return
    wanted = os.environ.get("DB_RANDOM_PAGE_COST", "1.1")
    with connection.cursor() as cursor:
        cursor.execute("SHOW random_page_cost")
        shown = cursor.fetchone()[0]
    if wanted == "server":
        assert "random_page_cost" not in connection.settings_dict["OPTIONS"].get("options", "")
    else:
        assert float(shown) == float(wanted)
